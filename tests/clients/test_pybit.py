"""Real, unchanged pybit against the sandbox: its private WebSocket (pointed at the sandbox
through the one URL constant it builds the address from) connects, authenticates and gets
every subscription acknowledged, connection after connection; its HTTP client (its
``endpoint`` set to the sandbox) reads the state and raises Bybit's errors with their
retCode and retMsg."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING

import pytest
from pybit import unified_trading
from pybit.exceptions import InvalidRequestError

from oms.sandbox import Sandbox
from tests.clients.conftest import pybit_http_for
from tests.sandbox.client import KEY, SECRET, between_ticks

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

CONNECTIONS = 30
TIMEOUT = 10.0
STREAMS = ("order_stream", "execution_stream", "position_stream", "wallet_stream")


class _Acks(logging.Handler):
    """Collects the req_ids of the subscriptions pybit logs as acknowledged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.req_ids: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("Subscription to ") and text.endswith(" successful."):
            sent = json.loads(text.removeprefix("Subscription to ").removesuffix(" successful."))
            self.req_ids.add(sent["req_id"])


@pytest.fixture
def acks() -> Iterator[_Acks]:
    logger = logging.getLogger("pybit._websocket_stream")
    handler, level = _Acks(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _wait(predicate, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"pybit hung: {what}"
        time.sleep(0.005)


def _one_connection(acks: _Acks, frames: list[dict[str, object]]) -> None:
    """Connect, authenticate, subscribe the four private streams, wait for every ack,
    close. (pybit itself may block for good when it loses an ack: run it on a thread.)"""
    ws = unified_trading.WebSocket(
        testnet=True, channel_type="private", api_key=KEY, api_secret=SECRET
    )
    try:
        for stream in STREAMS:
            getattr(ws, stream)(frames.append)
        sent = set(ws.subscriptions)
        _wait(lambda: ws.auth, "no auth ack")
        _wait(lambda: sent <= acks.req_ids, "a subscription ack was lost")
    finally:
        ws.exit()


def _bounded(work: Callable[[], None], timeout: float) -> str | None:
    """Run ``work`` on a daemon thread; what went wrong (it raised, or it still runs after
    ``timeout``), or None."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return f"pybit hung for {timeout} s"
    return repr(errors[0]) if errors else None


def test_pybit_private_connections_never_hang(monkeypatch, acks):
    """pybit sends a subscribe before it records its req_id; with the sandbox's default
    latency every ack still finds its request, on every one of many quick connections.
    (With ``latency_ms=0`` pybit lost an ack and hung within ~80 such connections.)"""
    with Sandbox(KEY, SECRET, seed=31) as sandbox:
        sandbox.start_trading(50)  # frames flow meanwhile, as on a live account
        monkeypatch.setattr(unified_trading, "PRIVATE_WSS", sandbox.ws_url)
        frames: list[dict[str, object]] = []
        for n in range(CONNECTIONS):
            failure = _bounded(lambda: _one_connection(acks, frames), 2 * TIMEOUT)
            assert failure is None, f"connection {n}: {failure}"
        sandbox.stop_trading()
        assert len(acks.req_ids) == CONNECTIONS * len(STREAMS)
        assert {f["topic"] for f in frames} <= {"order", "execution", "position", "wallet"}


def test_pybit_http_reads_the_sandbox_state():
    with Sandbox(KEY, SECRET, seed=32) as sandbox:
        sandbox.step(200)
        session = pybit_http_for(sandbox.rest_url)
        body = session.get_positions(category="linear", settleCoin="USDT", limit=200)
        want = {k for k, p in sandbox.truth()["positions"].items() if p["size"] != "0"}
        got = {f"{p['symbol']}:{p['positionIdx']}" for p in body["result"]["list"]}
        assert got == want
        wallet, row = between_ticks(
            sandbox.exchange,
            lambda: session.get_wallet_balance(accountType="UNIFIED", coin="USDT"),
        )
        assert wallet["result"]["list"] == [row]
        assert session.get_server_time()["retCode"] == 0


@pytest.mark.parametrize(
    ("call", "code", "message"),
    [
        (lambda s: s.get_open_orders(category="linear"), 10001, "Missing some parameters"),
        (lambda s: s.get_wallet_balance(accountType="SPOT"), 10001, "accountType only"),
        (lambda s: s.get_kline(category="linear", symbol="BTCUSDT"), 10017, "Route not found."),
        (
            lambda s: s.set_leverage(
                category="linear", symbol="BTCUSDT", buyLeverage="5", sellLeverage="5"
            ),
            10005,
            "Permission denied",
        ),
    ],
)
def test_pybit_http_raises_bybits_errors_with_code_and_message(call, code, message):
    with Sandbox(KEY, SECRET, seed=33) as sandbox:
        with pytest.raises(InvalidRequestError) as caught:
            call(pybit_http_for(sandbox.rest_url))
        assert caught.value.status_code == code
        assert message in caught.value.message
        assert f"(ErrCode: {code})" in str(caught.value)


@pytest.mark.parametrize(("credentials", "code"), [({"key": "x"}, 10003), ({"secret": "y"}, 10004)])
def test_pybit_http_shows_key_and_signature_errors(credentials, code):
    with Sandbox(KEY, SECRET, seed=34) as sandbox:
        session = pybit_http_for(sandbox.rest_url, **credentials)
        with pytest.raises(InvalidRequestError) as caught:
            session.get_positions(category="linear", settleCoin="USDT")
        assert caught.value.status_code == code


def test_pybit_http_waits_out_a_rate_limit_by_the_reset_header(faulty):
    faulty.faults.rest_rate_limit = 1
    body = pybit_http_for(faulty.rest_url).get_positions(category="linear", settleCoin="USDT")
    assert body["retCode"] == 0  # pybit slept until X-Bapi-Limit-Reset-Timestamp, then retried
    assert faulty.faults.rest_rate_limit == 0
