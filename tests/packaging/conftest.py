"""The ``slow`` marker of the packaging tests (registered here: ``--strict-markers``), and
the wheel they test, built in the background from the moment the session knows one of
them will run (``tests.packaging.wheelhouse``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.packaging.wheelhouse import Build

_BUILD = pytest.StashKey[Build]()
_HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: builds a wheel and installs it into a new virtual environment (minutes "
        "of one core, in the background); `make test` and CI run it, `-m 'not slow'` "
        "leaves it out locally",
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(Path(item.path).resolve().parent == _HERE for item in session.items):
        session.config.stash[_BUILD] = Build()


def pytest_sessionfinish(session: pytest.Session) -> None:
    build = session.config.stash.get(_BUILD, None)
    if build is not None:
        build.stop()


@pytest.fixture(scope="session")
def build(request: pytest.FixtureRequest) -> Build:
    """The background build (started here if collection did not start it)."""
    config = request.config
    if _BUILD not in config.stash:
        config.stash[_BUILD] = Build()
    return config.stash[_BUILD]
