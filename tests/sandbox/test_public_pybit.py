"""Real pybit ``WebSocket(channel_type=...)`` on the sandbox's public channels, pointed at
them by its URL constant only (``unified_trading.PUBLIC_WSS``): its merged order book is
the market's book, and its trade, ticker and liquidation callbacks get the fields
pybit's README and Bybit's examples read."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from pybit import unified_trading

from oms.sandbox.public_wire import decimals, text
from tests.sandbox.client import TIMEOUT
from tests.sandbox.public_harness import PublicHarness

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


class Seen:
    """What pybit's callbacks received (on pybit's thread), by topic."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.messages.setdefault(message["topic"], []).append(message)

    def of(self, topic: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages.get(topic, []))


def wait(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.01)


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[PublicHarness]:
    with PublicHarness(seed=9) as running:
        url = f"ws://127.0.0.1:{running.port}/v5/public/{{CHANNEL_TYPE}}"
        monkeypatch.setattr(unified_trading, "PUBLIC_WSS", url)
        yield running


@pytest.fixture
def linear(harness: PublicHarness) -> Iterator[unified_trading.WebSocket]:
    ws = unified_trading.WebSocket(testnet=False, channel_type="linear")
    yield ws
    ws.exit()


def _merged(seen: Seen, topic: str) -> dict[str, list[list[str]]]:
    """pybit's merged book of ``topic`` as a book (pybit appends new levels at the end)."""
    data = seen.of(topic)[-1]["data"]
    return {
        "b": sorted(data["b"], key=lambda lv: Decimal(lv[0]), reverse=True),
        "a": sorted(data["a"], key=lambda lv: Decimal(lv[0])),
    }


def _printed(harness: PublicHarness, key: str, depth: int) -> dict[str, list[list[str]]]:
    spec, book = harness.exchange.venue.specs[key], harness.book(key)
    p, q = decimals(spec.tick), decimals(spec.qty_step)
    return {
        "b": [[text(lv.price, p), text(lv.size, q)] for lv in book.bids[:depth]],
        "a": [[text(lv.price, p), text(lv.size, q)] for lv in book.asks[:depth]],
    }


def test_pybits_merged_order_book_is_the_markets_book(
    harness: PublicHarness, linear: unified_trading.WebSocket
):
    seen = Seen()
    linear.orderbook_stream(depth=50, symbol="BTCUSDT", callback=seen)
    linear.orderbook_stream(depth=1, symbol="ETHUSDT", callback=seen)
    wait(lambda: bool(seen.of("orderbook.50.BTCUSDT")), "the depth-50 snapshot")
    wait(lambda: bool(seen.of("orderbook.1.ETHUSDT")), "the depth-1 snapshot")
    for _ in range(5):
        harness.tick(8)
        want = _printed(harness, "BTCUSDT", 50)
        wait(lambda w=want: _merged(seen, "orderbook.50.BTCUSDT") == w, "pybit's book")  # type: ignore[misc]
        top = _printed(harness, "ETHUSDT", 1)
        wait(lambda t=top: _merged(seen, "orderbook.1.ETHUSDT") == t, "pybit's best levels")  # type: ignore[misc]
    last = seen.of("orderbook.50.BTCUSDT")[-1]
    assert last["type"] == "snapshot"  # pybit hands its merged book on as a snapshot
    assert last["data"]["s"] == "BTCUSDT"
    assert len(last["data"]["b"]) == 50


@pytest.mark.parametrize(("channel", "symbol", "key"), [
    ("spot", "BTCUSDT", "spot:BTCUSDT"), ("inverse", "BTCUSD", "inverse:BTCUSD"),
])  # fmt: skip
def test_pybit_books_on_the_spot_and_inverse_channels(
    harness: PublicHarness, channel: str, symbol: str, key: str
):
    ws = unified_trading.WebSocket(testnet=False, channel_type=channel)
    try:
        seen = Seen()
        ws.orderbook_stream(depth=200, symbol=symbol, callback=seen)
        topic = f"orderbook.200.{symbol}"
        wait(lambda: bool(seen.of(topic)), "the snapshot")
        harness.tick(10)
        want = _printed(harness, key, 200)
        wait(lambda: _merged(seen, topic) == want, f"pybit's {channel} book")
    finally:
        ws.exit()


def test_pybit_trade_and_ticker_streams(harness: PublicHarness, linear: unified_trading.WebSocket):
    trades, tickers = Seen(), Seen()
    linear.trade_stream(symbol=["BTCUSDT", "ETHUSDT"], callback=trades)
    linear.ticker_stream(symbol="BTCUSDT", callback=tickers)
    wait(lambda: bool(tickers.of("tickers.BTCUSDT")), "the ticker snapshot")
    wait(lambda: harness.streams.subscribers("linear", "publicTrade.BTCUSDT") == 1, "trades")
    harness.tick(20)
    tape = [t.trade_id for t in harness.markets.recent_trades("BTCUSDT", 1000)[::-1]]
    wait(
        lambda: (
            bool(got := [t["i"] for m in trades.of("publicTrade.BTCUSDT") for t in m["data"]])
            and got[-1] == tape[-1]
        ),
        "every trade",
    )
    items = [t for m in trades.of("publicTrade.BTCUSDT") for t in m["data"]]
    assert [t["i"] for t in items] == tape[-len(items) :]
    for t in items:  # what pybit's examples print
        assert t["S"] in ("Buy", "Sell")
        assert Decimal(t["p"]) > 0
        assert Decimal(t["v"]) > 0
    now = harness.markets.ticker("BTCUSDT")
    wait(
        lambda: Decimal(tickers.of("tickers.BTCUSDT")[-1]["data"]["lastPrice"]) == now.last,
        "ticker",
    )
    data = tickers.of("tickers.BTCUSDT")[-1]["data"]  # pybit's merged snapshot
    assert Decimal(data["markPrice"]) == now.mark
    assert Decimal(data["bid1Price"]) == now.bid1.price
    assert Decimal(data["fundingRate"]) == now.funding_rate


def test_pybit_liquidation_streams(harness: PublicHarness, linear: unified_trading.WebSocket):
    old, new = Seen(), Seen()
    symbols = [s.symbol for s in harness.exchange.specs_of("linear")]
    linear.liquidation_stream(symbol=symbols, callback=old)
    linear.all_liquidation_stream(symbol=symbols, callback=new)
    for symbol in symbols:
        for kind in ("liquidation", "allLiquidation"):
            topic = f"{kind}.{symbol}"
            wait(lambda t=topic: harness.streams.subscribers("linear", t) == 1, topic)  # type: ignore[misc]
    for _ in range(100):  # about one liquidation per 33 steps and symbol
        harness.tick(5)
        if old.messages:
            break
    wait(lambda: bool(old.messages) and bool(new.messages), "a liquidation on both feeds")
    (first,) = next(iter(old.messages.values()))[:1]
    assert {"price", "side", "size", "symbol", "updatedTime"} <= set(first["data"])
    item = next(iter(new.messages.values()))[0]["data"][0]
    assert item["S"] in ("Buy", "Sell")
    assert Decimal(item["p"]) > 0
    assert Decimal(item["v"]) > 0
