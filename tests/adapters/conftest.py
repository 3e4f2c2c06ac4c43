"""Real pybit against the embedded sandbox on 127.0.0.1.

``QuickSandbox`` answers each control message (auth, subscribe, ping) after ``REPLY_DELAY_S``:
the sandbox otherwise replies within microseconds, and pybit sends a subscribe before it
records its ``req_id``, so about one plain pybit connection in ten then fails on its own
reply (any real network is slower than that). Test-only, until the sandbox has a latency
of its own.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

import pybit.unified_trading
import pytest
from pybit.unified_trading import WebSocket

from oms.bybit.signing import Credentials, Secret
from oms.cli.demo import compare_with_truth, load_ledger
from oms.sandbox import Sandbox
from oms.sandbox.exchange import wall_ms

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

KEY = "adapter-" + secrets.token_hex(6)
SECRET = "adapter-secret-" + secrets.token_hex(20)
SEED = 20251208
REPLY_DELAY_S = 0.003
#: Upper bounds, never expected durations.
WAIT_S = 45.0
POLL_S = 0.05


class QuickSandbox(Sandbox):
    """The sandbox, answering control messages a few ms late (see the module docstring)."""

    def _reply(self, client: Any, request: dict[str, Any], body: dict[str, Any]) -> None:
        time.sleep(REPLY_DELAY_S)  # on the sandbox's event loop: a slow link, in effect
        super()._reply(client, request, body)


def credentials() -> Credentials:
    return Credentials(KEY, Secret(SECRET))


def wait_for(predicate: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_S)


def history_in_the_past(sandbox: Sandbox) -> None:
    """The sandbox stamps a burst ahead of the wall clock: let it fall into the past
    before a resync asks for executions up to now."""
    wait_for(lambda: sandbox.exchange.now_ms() <= wall_ms(), "the sandbox's history in the past")


def differences(db: str, sandbox: Sandbox) -> list[str]:
    """How the database (as a restart loads it) differs from the sandbox's truth."""
    return compare_with_truth(load_ledger(db), sandbox.truth())


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
    with QuickSandbox(KEY, SECRET, seed=SEED) as box:
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
