"""Real, unchanged pybit trading against the sandbox, only its URLs changed (HTTP: its
``endpoint``; WebSocketTrading: the ``TRADE_WSS`` constant it builds its address from),
while an ``oms.Account`` follows the account over the private stream and background
trading runs as another program on it. At the end the account's orders, fills and
positions equal the sandbox's truth."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from pybit import _websocket_trading
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import WebSocketTrading

from oms.sandbox import Sandbox
from tests.clients.conftest import pybit_http_for
from tests.clients.following import BACKGROUND_RATE, away, by_link, ends_equal, followed
from tests.sandbox.client import KEY, SECRET

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

WAIT_S = 20.0


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'oms.db'}"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(KEY, SECRET, seed=41) as box:
        yield box


def test_pybit_http_places_amends_cancels_and_batches_while_oms_follows(sandbox, db):
    session = pybit_http_for(sandbox.rest_url)
    with followed(sandbox, db) as account:
        sandbox.start_trading(BACKGROUND_RATE)
        placed = session.place_order(
            category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.002",
            price=away(sandbox, "BTCUSDT", "Buy"), orderLinkId="pb-limit",
        )  # fmt: skip
        assert placed["retCode"] == 0
        order_id = placed["result"]["orderId"]
        amended = session.amend_order(
            category="linear", symbol="BTCUSDT", orderLinkId="pb-limit", qty="0.004"
        )
        assert amended["result"] == {"orderId": order_id, "orderLinkId": "pb-limit"}
        market = session.place_order(
            category="linear", symbol="ETHUSDT", side="Buy", orderType="Market", qty="0.05",
            positionIdx=1, orderLinkId="pb-market",
        )  # fmt: skip
        assert market["retCode"] == 0
        batch = session.place_batch_order(
            category="linear",
            request=[
                {"symbol": "BTCUSDT", "side": "Sell", "orderType": "Limit", "qty": "0.001",
                 "price": away(sandbox, "BTCUSDT", "Sell"), "orderLinkId": "pb-batch-1"},
                {"symbol": "SOLUSDT", "side": "Buy", "orderType": "Limit", "qty": "1",
                 "price": away(sandbox, "SOLUSDT", "Buy"), "positionIdx": 1,
                 "orderLinkId": "pb-batch-2"},
                {"symbol": "SOLUSDT", "side": "Buy", "orderType": "Limit", "qty": "1",
                 "price": away(sandbox, "SOLUSDT", "Buy"), "orderLinkId": "pb-batch-3"},
            ],
        )  # fmt: skip
        codes = [item["code"] for item in batch["retExtInfo"]["list"]]
        assert codes == [0, 0, 10001]  # hedge mode without positionIdx
        with pytest.raises(InvalidRequestError) as caught:  # the same orderLinkId again
            session.place_order(
                category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit",
                qty="0.002", price=away(sandbox, "BTCUSDT", "Buy"), orderLinkId="pb-limit",
            )  # fmt: skip
        assert caught.value.status_code == 110072
        cancelled = session.cancel_order(category="linear", symbol="BTCUSDT", orderId=order_id)
        assert cancelled["result"]["orderId"] == order_id
        everything = session.cancel_all_orders(category="linear", symbol="SOLUSDT")
        assert "pb-batch-2" in {o["orderLinkId"] for o in everything["result"]["list"]}
        ends_equal(account, db, sandbox)
    assert by_link(sandbox, "pb-limit")["status"] == "Cancelled"
    assert by_link(sandbox, "pb-limit")["qty"] == "0.004"
    assert by_link(sandbox, "pb-market")["status"] == "Filled"
    assert by_link(sandbox, "pb-batch-2")["status"] == "Cancelled"
    assert by_link(sandbox, "pb-batch-1")["status"] == "New"


class _Acks:
    """What pybit's trade client hands its callbacks, by orderLinkId or op."""

    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def ok(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.replies.append(message)

    def error(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.errors.append(message)

    def wait(self, replies: int, errors: int = 0) -> None:
        deadline = time.monotonic() + WAIT_S
        while len(self.replies) < replies or len(self.errors) < errors:
            assert time.monotonic() < deadline, (self.replies, self.errors)
            time.sleep(0.01)


def _trade_client(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> WebSocketTrading:
    monkeypatch.setattr(_websocket_trading, "TRADE_WSS", sandbox.trade_url)
    client = WebSocketTrading(testnet=True, api_key=KEY, api_secret=SECRET)
    deadline = time.monotonic() + WAIT_S
    while not client.auth:
        assert time.monotonic() < deadline, "pybit's trade socket did not log in"
        time.sleep(0.01)
    return client


def test_pybit_websocket_trading_places_amends_and_cancels_while_oms_follows(
    sandbox, db, monkeypatch
):
    acks = _Acks()
    with followed(sandbox, db) as account:
        client = _trade_client(sandbox, monkeypatch)
        try:
            sandbox.start_trading(BACKGROUND_RATE)
            client.place_order(
                acks.ok, acks.error, category="linear", symbol="BTCUSDT", side="Buy",
                orderType="Limit", qty="0.002", price=away(sandbox, "BTCUSDT", "Buy"),
                orderLinkId="ws-limit",
            )  # fmt: skip
            acks.wait(1)
            order_id = acks.replies[0]["data"]["orderId"]
            assert acks.replies[0]["op"] == "order.create"
            assert acks.replies[0]["header"]["X-Bapi-Limit"] == "10"
            new_price = away(sandbox, "BTCUSDT", "Buy", "0.06")
            client.amend_order(
                acks.ok, acks.error, category="linear", symbol="BTCUSDT", orderId=order_id,
                price=new_price,
            )  # fmt: skip
            client.place_order(
                acks.ok, acks.error, category="linear", symbol="DOGEUSDT", side="Sell",
                orderType="Market", qty="100", orderLinkId="ws-market",
            )  # fmt: skip
            acks.wait(3)
            client.place_batch_order(
                acks.ok, acks.error, category="linear",
                request=[
                    {"symbol": "BTCUSDT", "side": "Sell", "orderType": "Limit", "qty": "0.001",
                     "price": away(sandbox, "BTCUSDT", "Sell"), "orderLinkId": "ws-batch"},
                ],
            )  # fmt: skip
            client.place_order(  # a duplicate: the error callback
                acks.ok, acks.error, category="linear", symbol="BTCUSDT", side="Buy",
                orderType="Limit", qty="0.002", price=away(sandbox, "BTCUSDT", "Buy"),
                orderLinkId="ws-limit",
            )  # fmt: skip
            acks.wait(4, errors=1)
            assert acks.errors[0]["retCode"] == 110072
            client.cancel_order(
                acks.ok, acks.error, category="linear", symbol="BTCUSDT", orderLinkId="ws-limit"
            )
            client.cancel_batch_order(
                acks.ok, acks.error, category="linear",
                request=[{"symbol": "BTCUSDT", "orderLinkId": "ws-batch"}],
            )  # fmt: skip
            acks.wait(6, errors=1)
            assert [r["retCode"] for r in acks.replies] == [0] * 6
            ends_equal(account, db, sandbox)
        finally:
            client.exit()
    assert by_link(sandbox, "ws-limit")["status"] == "Cancelled"
    assert by_link(sandbox, "ws-limit")["price"] == new_price
    assert by_link(sandbox, "ws-market")["status"] == "Filled"
    assert by_link(sandbox, "ws-batch")["status"] == "Cancelled"


def test_pybit_sleeps_until_the_reset_timestamp_of_a_spent_budget_then_places():
    """Bybit's 10006 comes with the time the oldest request leaves the window; pybit
    sleeps until then and resends. A reset given too early would fail again (pybit
    gives up after its retries); the order is placed once."""
    with Sandbox(KEY, SECRET, seed=43, rate_limits={"order/create": 1}) as box:
        session = pybit_http_for(box.rest_url)
        for n in range(3):
            answer = session.place_order(
                category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit",
                qty="0.001", price=away(box, "BTCUSDT", "Buy"), orderLinkId=f"pb-rate-{n}",
            )  # fmt: skip
            assert answer["retCode"] == 0
            assert answer["result"]["orderLinkId"] == f"pb-rate-{n}"
        links = [o["orderLinkId"] for o in box.truth()["orders"].values()]
        assert sorted(links) == ["pb-rate-0", "pb-rate-1", "pb-rate-2"]
