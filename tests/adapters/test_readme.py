"""The README's integration examples (pybit, ccxt, websocket-client), run as written
against the sandbox: only the names the README says to provide are given (KEY, SECRET,
DB, REST_URL, WS_URL), and pybit's URL constant points at the sandbox."""

from __future__ import annotations

from typing import Any

import pybit.unified_trading
import pytest

from tests.adapters.conftest import KEY, SECRET, differences, history_in_the_past
from tests.readme import README, python_blocks

SECTION = "## Using oms with pybit / ccxt / websocket-client"


def blocks() -> list[str]:
    return python_blocks(SECTION)


def test_the_section_has_the_three_examples():
    found = blocks()
    assert len(found) == 3
    assert "attach(ws, account" in found[0]
    assert "privateGetV5OrderRealtime" in found[1]
    assert "websocket.WebSocketApp" in found[2]


@pytest.mark.parametrize("number", [0, 1, 2], ids=["pybit", "ccxt", "websocket-client"])
def test_the_example_runs_against_the_sandbox(number, sandbox, tmp_path, monkeypatch, capsys):
    sandbox.step(40)
    history_in_the_past(sandbox)
    monkeypatch.setattr(pybit.unified_trading, "PRIVATE_WSS", sandbox.ws_url)
    db = f"sqlite:///{tmp_path / 'oms.db'}"
    space: dict[str, Any] = {
        "__name__": "readme_integration",
        "KEY": KEY,
        "SECRET": SECRET,
        "DB": db,
        "REST_URL": sandbox.rest_url,
        "WS_URL": sandbox.ws_url,
    }
    # the later blocks reuse the first one's imports, not its socket
    code = (_imports(blocks()[0]) if number else "") + blocks()[number]
    exec(compile(code, f"{README}:integration block {number + 1}", "exec"), space)  # noqa: S102
    assert differences(db, sandbox) == []  # whichever way it was fed, it equals the truth
    out = capsys.readouterr().out
    if number == 0:
        assert "subscribed running" in out
    if number == 2:
        assert "2 resyncs" in out


def _imports(code: str) -> str:
    return "".join(
        line + "\n" for line in code.splitlines() if line.startswith(("from ", "import "))
    )
