"""The sandbox's public market REST routes from its market: tickers, the order book,
recent trades, and instruments-info listing the instrument rules order entry applies."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from oms.sandbox import Sandbox
from oms.sandbox.public_wire import decimals, text
from oms.sim.wire import fmt
from tests.sandbox.client import KEY, SECRET, rest_get

if TYPE_CHECKING:
    from collections.abc import Iterator

INSTRUMENTS = "/v5/market/instruments-info"


@pytest.fixture
def all_categories() -> Iterator[Sandbox]:
    market = {"categories": ("linear", "inverse", "spot"), "tick_ms": 0}  # moves on tick()
    with Sandbox(KEY, SECRET, seed=21, **market) as running:
        yield running


def _get(sandbox, path: str, query: str) -> dict:
    body = rest_get(sandbox.rest_url, path, query, signed=False)
    assert body["retCode"] == 0, body
    return body["result"]


@pytest.mark.parametrize(("category", "symbol", "key"), [
    ("linear", "BTCUSDT", "BTCUSDT"), ("inverse", "BTCUSD", "inverse:BTCUSD"),
    ("spot", "BTCUSDT", "spot:BTCUSDT"),
])  # fmt: skip
def test_the_order_book_is_the_markets_book(all_categories, category, symbol, key):
    sandbox = all_categories
    sandbox.tick(20)
    got = _get(sandbox, "/v5/market/orderbook", f"category={category}&symbol={symbol}&limit=200")
    with sandbox.exchange.lock:
        book = sandbox.exchange.markets.book(key)
    spec = sandbox.exchange.venue.specs[key]
    p, q = decimals(spec.tick), decimals(spec.qty_step)
    assert got["s"] == symbol
    assert got["b"] == [[text(lv.price, p), text(lv.size, q)] for lv in book.bids[:200]]
    assert got["a"] == [[text(lv.price, p), text(lv.size, q)] for lv in book.asks[:200]]
    assert (got["u"], got["seq"], got["cts"]) == (book.update_id, book.seq, book.time)
    assert got["ts"] >= got["cts"]
    default = _get(sandbox, "/v5/market/orderbook", f"category={category}&symbol={symbol}")
    assert len(default["b"]) == (1 if category == "spot" else 25)


@pytest.mark.parametrize("query", [
    "category=linear", "category=linear&symbol=NOPEUSDT", "category=spot&symbol=BTCUSDT&limit=201",
    "category=linear&symbol=BTCUSDT&limit=501", "category=linear&symbol=BTCUSDT&limit=0",
    "symbol=BTCUSDT",
])  # fmt: skip
def test_the_order_book_refuses_bad_parameters(all_categories, query):
    body = rest_get(all_categories.rest_url, "/v5/market/orderbook", query, signed=False)
    assert body["retCode"] == 10001, body


def test_recent_trades_are_the_tape_newest_first(all_categories):
    sandbox = all_categories
    sandbox.tick(40)
    got = _get(sandbox, "/v5/market/recent-trade", "category=linear&symbol=BTCUSDT&limit=30")
    with sandbox.exchange.lock:
        tape = sandbox.exchange.markets.recent_trades("BTCUSDT", 30)
    assert got["category"] == "linear"
    assert [r["execId"] for r in got["list"]] == [t.trade_id for t in tape]
    row, trade = got["list"][0], tape[0]
    assert row == {
        "execId": trade.trade_id, "symbol": "BTCUSDT", "price": text(trade.price, 1),
        "size": text(trade.qty, 3), "side": trade.side, "time": str(trade.time),
        "isBlockTrade": False, "isRPITrade": False, "seq": str(trade.seq),
    }  # fmt: skip
    spot = _get(sandbox, "/v5/market/recent-trade", "category=spot&symbol=BTCUSDT&limit=60")
    assert all(r["symbol"] == "BTCUSDT" for r in spot["list"])
    too_many = "category=spot&symbol=BTCUSDT&limit=61"
    assert (
        rest_get(sandbox.rest_url, "/v5/market/recent-trade", too_many, signed=False)["retCode"]
        == 10001
    )


def test_tickers_are_the_markets_tickers(all_categories):
    sandbox = all_categories
    sandbox.tick(30)
    linear = {
        r["symbol"]: r for r in _get(sandbox, "/v5/market/tickers", "category=linear")["list"]
    }
    assert set(linear) == {s.symbol for s in sandbox.exchange.specs_of("linear")}
    with sandbox.exchange.lock:
        now = sandbox.exchange.markets.ticker("BTCUSDT")
    row = linear["BTCUSDT"]
    assert Decimal(row["lastPrice"]) == now.last
    assert Decimal(row["markPrice"]) == now.mark
    assert Decimal(row["indexPrice"]) == now.index
    assert Decimal(row["bid1Price"]) == now.bid1.price
    assert Decimal(row["ask1Size"]) == now.ask1.size
    assert Decimal(row["volume24h"]) == now.volume24h
    assert Decimal(row["fundingRate"]) == now.funding_rate
    assert row["nextFundingTime"] == str(now.next_funding_time)
    assert Decimal(row["openInterest"]) == now.open_interest
    (spot,) = _get(sandbox, "/v5/market/tickers", "category=spot&symbol=BTCUSDT")["list"]
    assert "markPrice" not in spot
    assert "fundingRate" not in spot
    assert Decimal(spot["bid1Price"]) > 0


def test_instruments_list_the_rules_order_entry_applies(all_categories):
    for spec in all_categories.exchange.specs:
        query = f"category={spec.category}&symbol={spec.symbol}"
        (row,) = _get(all_categories, INSTRUMENTS, query)["list"]
        lots = row["lotSizeFilter"]
        assert lots["minOrderQty"] == fmt(spec.min_order_qty)
        assert lots["maxOrderQty"] == fmt(spec.max_order_qty)
        if spec.category == "spot":
            assert lots["minOrderAmt"] == fmt(spec.min_notional_value)
            assert lots["maxOrderAmt"] == fmt(spec.max_order_amt)
        else:
            assert lots["maxMktOrderQty"] == fmt(spec.max_mkt_order_qty)
            assert lots["minNotionalValue"] == fmt(spec.min_notional_value)
            assert row["priceFilter"]["minPrice"] == fmt(spec.min_price)
            assert row["priceFilter"]["maxPrice"] == fmt(spec.max_price)
