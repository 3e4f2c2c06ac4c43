"""Real ccxt (create_order, edit_order, cancel_order, fetch_order, create_orders) and pybit
(HTTP place_batch_order, amend_order, cancel_order, cancel_all_orders; WebSocketTrading)
trading against ``python -m oms.sandbox`` (a real process, background trading on as
another program on the account), only their URLs changed, while an ``oms.Account``
follows it over the private stream (the README's example adds pybit's place_order).

The process's truth is not reachable from here, so the end check is what any user can
do: every order the clients placed has, in oms, the status, quantities and fills ccxt's
``fetch_order`` reports, and oms's open orders and positions are the venue's REST view."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from pybit import _websocket_trading
from pybit.unified_trading import WebSocketTrading

from oms import Account, StreamSettings
from tests.clients.conftest import ccxt_for, pybit_http_for
from tests.sandbox.process import sandbox_process, stop

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

WAIT_S = 20.0
#: ccxt's fetchOrder asks its caller to confirm it knows Bybit's 500-order window
ACK = {"acknowledged": True}


def wait(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.05)


@pytest.fixture
def running() -> Iterator[dict[str, str]]:
    with sandbox_process("--rate", "10", "--seed", "12", "--tick-ms", "100") as (process, urls):
        yield urls
        assert "stopped (SIGTERM)" in stop(process)


def _price(exchange: Any, symbol: str, share: str) -> float:
    """A price ``share`` below the last price, on the symbol's tick (ccxt takes floats)."""
    last = Decimal(str(exchange.fetch_ticker(symbol)["last"]))
    return float(exchange.price_to_precision(symbol, last * (1 - Decimal(share))))


class _Acks:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.replies: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.replies.append(message)


def test_ccxt_and_pybit_trade_python_m_oms_sandbox_while_oms_follows(
    running, tmp_path, monkeypatch
):
    urls = running
    key, secret = urls["key"], urls["secret"]
    exchange = ccxt_for(urls["rest"], key, secret)
    exchange.load_markets()
    stream = StreamSettings(url=urls["stream"], api_key=key, api_secret=secret)
    db = f"sqlite:///{tmp_path / 'oms.db'}"
    with Account(db, stream=stream, rest_url=urls["rest"]) as account:
        wait(lambda: account.health().resyncs >= 1, "the account's first resync")
        symbol = "BTC/USDT:USDT"
        limit = exchange.create_order(
            symbol, "limit", "buy", 0.002, _price(exchange, symbol, "0.05"),
            {"clientOrderId": "px-limit"},
        )  # fmt: skip
        exchange.edit_order(
            limit["id"], symbol, "limit", "buy", 0.003, _price(exchange, symbol, "0.06")
        )
        market = exchange.create_order(
            symbol, "market", "sell", 0.001, None, {"clientOrderId": "px-mkt"}
        )
        monkeypatch.setattr(_websocket_trading, "TRADE_WSS", urls["trade"])
        acks = _Acks()
        client = WebSocketTrading(testnet=True, api_key=key, api_secret=secret)
        wait(lambda: client.auth, "pybit's trade socket logs in")
        client.place_order(
            acks, category="linear", symbol="DOGEUSDT", side="Buy", orderType="Market",
            qty="100", orderLinkId="px-ws",
        )  # fmt: skip
        wait(lambda: acks.replies, "the trade socket's ack")
        ws_id = acks.replies[0]["data"]["orderId"]
        exchange.cancel_order(limit["id"], symbol)
        placed = {limit["id"]: symbol, market["id"]: symbol, ws_id: "DOGE/USDT:USDT"}
        placed |= _batches_and_cancel_all(exchange, pybit_http_for(urls["rest"], key, secret))
        for order_id, on in placed.items():
            venue = exchange.fetch_order(order_id, on, ACK)["info"]
            wait(
                lambda order_id=order_id, venue=venue: (
                    (o := account.order(order_id)) is not None
                    and (o.status.value, o.qty, o.cum_exec_qty)
                    == (venue["orderStatus"], Decimal(venue["qty"]), Decimal(venue["cumExecQty"]))
                ),
                f"oms agrees with the venue on {venue['orderLinkId']}",
            )
            fills = account.fills(order_id)
            assert sum((f.exec_qty for f in fills), Decimal(0)) == Decimal(venue["cumExecQty"])
        assert account.order(limit["id"]).status.value == "Cancelled"
        assert account.order(limit["id"]).qty == Decimal("0.003")  # the edit arrived
        client.exit()
        session = pybit_http_for(urls["rest"], key, secret)
        for name in ("BTCUSDT", "DOGEUSDT"):  # the background trades on: compare when still
            wait(lambda name=name: _agrees(account, session, name), f"{name} positions agree")
        assert account.health().state == "running"


def _batches_and_cancel_all(exchange: Any, session: Any) -> dict[str, str]:
    """ccxt's create_orders and pybit's place_batch_order, amend_order, cancel_order and
    cancel_all_orders on DOGEUSDT; the ids placed, with ccxt's symbol."""
    doge = "DOGE/USDT:USDT"
    low = _price(exchange, doge, "0.05")
    batch = exchange.create_orders(
        [
            {"symbol": doge, "type": "limit", "side": "buy", "amount": 100, "price": low,
             "params": {"clientOrderId": f"px-cx-{n}"}}
            for n in (1, 2)
        ]
    )  # fmt: skip
    placed = session.place_batch_order(
        category="linear",
        request=[{"symbol": "DOGEUSDT", "side": "Buy", "orderType": "Limit", "qty": "300",
                  "price": exchange.price_to_precision(doge, low), "orderLinkId": "px-pb-1"}],
    )  # fmt: skip
    assert placed["retExtInfo"]["list"] == [{"code": 0, "msg": "OK"}]
    pb_id = placed["result"]["list"][0]["orderId"]
    amended = session.amend_order(category="linear", symbol="DOGEUSDT", orderId=pb_id, qty="400")
    assert amended["retCode"] == 0
    session.cancel_order(category="linear", symbol="DOGEUSDT", orderId=batch[0]["id"])
    gone = session.cancel_all_orders(category="linear", symbol="DOGEUSDT")["result"]["list"]
    assert {batch[1]["id"], pb_id} <= {row["orderId"] for row in gone}
    return {batch[0]["id"]: doge, batch[1]["id"]: doge, pb_id: doge}


def _agrees(account: Account, session: Any, symbol: str) -> bool:
    """oms's open orders and net position of ``symbol`` equal the venue's REST view now."""
    account.drain()
    rows = session.get_open_orders(category="linear", symbol=symbol, limit=50)["result"]["list"]
    legs = session.get_positions(category="linear", symbol=symbol)["result"]["list"]
    venue_net = sum(
        (Decimal(r["size"]) * (1 if r["side"] == "Buy" else -1) for r in legs if r["size"]),
        Decimal(0),
    )
    # the process trades BTCUSDT in linear and spot too: the linear ones here
    ours = {o.order_id for o in account.open_orders(symbol) if o.category == "linear"}
    net = account.net_position(symbol, category="linear")
    return ours == {r["orderId"] for r in rows} and net == venue_net
