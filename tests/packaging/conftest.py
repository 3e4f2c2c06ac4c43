"""The ``slow`` marker of the packaging tests (registered here: ``--strict-markers``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: builds a wheel and installs it into a new virtual environment (tens of "
        "seconds); `make test` and CI run it, `-m 'not slow'` leaves it out locally",
    )
