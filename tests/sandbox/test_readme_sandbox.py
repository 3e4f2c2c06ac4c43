"""The README's sandbox example, run as written against ``python -m oms.sandbox`` (a real
process, as a user starts it): unchanged pybit places an order over the sandbox's REST
API while an ``oms.Account`` follows the private stream, and the example prints what oms
saw beside what the venue reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.readme import README, python_blocks
from tests.sandbox.process import sandbox_process, stop

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator

SECTION = "## The sandbox"


def blocks() -> list[str]:
    return python_blocks(SECTION)


@pytest.fixture
def running() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    with sandbox_process("--rate", "0", "--seed", "5", "--categories", "linear") as found:
        yield found


def test_the_section_has_the_pybit_example():
    found = blocks()
    assert "session.place_order(" in found[0]
    assert "Account(DB, stream=stream" in found[0]


def test_the_pybit_example_runs_against_python_m_oms_sandbox(running, tmp_path, capsys):
    process, urls = running
    assert set(urls) >= {"stream", "trade", "public", "rest", "key", "secret"}
    assert urls["public"].endswith("/v5/public/linear")
    space: dict[str, Any] = {
        "__name__": "readme_sandbox",
        "KEY": urls["key"],
        "SECRET": urls["secret"],
        "DB": f"sqlite:///{tmp_path / 'oms.db'}",
        "WS_URL": urls["stream"],
        "REST_URL": urls["rest"],
    }
    exec(compile(blocks()[0], f"{README}:sandbox block 1", "exec"), space)  # noqa: S102
    printed = capsys.readouterr().out.split()
    assert printed == ["Filled", "0.01", "0.01", "0.01"]  # as the README says it prints
    assert "stopped (SIGTERM)" in stop(process)
