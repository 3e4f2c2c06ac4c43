"""Real pybit against the embedded sandbox on 127.0.0.1 (whose default latency of a few
ms stands in for a real network: pybit sends a subscribe before it records its
``req_id``, and a reply within microseconds would hang about one connection in ten).
Waiting, the sandbox's history and the comparison with its truth are the e2e suite's."""

from __future__ import annotations

import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

import pybit.unified_trading
import pytest
from pybit.unified_trading import WebSocket

from oms.bybit.signing import Credentials, Secret
from oms.sandbox import Sandbox
from tests.e2e.conftest import database_differences as differences
from tests.e2e.conftest import history_in_the_past
from tests.e2e.conftest import wait_for as e2e_wait_for

__all__ = ["credentials", "differences", "history_in_the_past", "wait_equal", "wait_for"]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

KEY = "adapter-" + secrets.token_hex(6)
SECRET = "adapter-secret-" + secrets.token_hex(20)
SEED = 20251208
#: Upper bounds, never expected durations.
WAIT_S = 45.0


def credentials() -> Credentials:
    return Credentials(KEY, Secret(SECRET))


def wait_for(predicate: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    """The e2e suite's wait, with this suite's bound."""
    e2e_wait_for(predicate, what, timeout)


def wait_equal(account: Any, db: str, sandbox: Sandbox) -> None:
    """Drain the account until its database equals the truth (trading has stopped)."""
    last: list[str] = []

    def equal() -> bool:
        nonlocal last
        account.drain(10)
        last = differences(db, sandbox)
        return not last

    deadline = time.monotonic() + WAIT_S
    while not equal():
        if time.monotonic() >= deadline:
            pytest.fail(f"the account never equalled the truth: {last[:10]}")
        time.sleep(0.2)


def pybit_socket(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> WebSocket:
    """A real pybit private WebSocket, connected to the sandbox (pybit's URL constant
    pointed at it, as a user points pybit at testnet)."""
    monkeypatch.setattr(pybit.unified_trading, "PRIVATE_WSS", sandbox.ws_url)
    return WebSocket(
        channel_type="private",
        testnet=True,
        api_key=KEY,
        api_secret=SECRET,
        ping_interval=5,
        ping_timeout=2,
        **kwargs,
    )


def close_socket(ws: WebSocket) -> None:
    ws.exit()
    if ws.wst is not None:
        ws.wst.join(10)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'oms.db'}"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(KEY, SECRET, seed=SEED) as box:
        yield box


@pytest.fixture(autouse=True)
def _no_thread_left_behind() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 10
    while True:
        # pybit's own daemon threads (its ping timer, a thread it reconnects on) end
        # in their own time; ours must be gone.
        left = [
            t
            for t in set(threading.enumerate()) - before
            if t.is_alive() and t.name.startswith("oms-")
        ]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    assert left == []
