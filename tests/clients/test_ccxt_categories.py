"""Real, unchanged ccxt against a sandbox trading linear, inverse and spot: its
``load_markets`` (which asks every category's instruments, twice for the derivatives)
lists each traded symbol under its own unified symbol and type with the sandbox's steps
and ticks, and ``fetch_balance`` reads every coin of the multi-coin wallet row."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from oms.sandbox import Sandbox
from oms.sim.wire import fmt
from tests.clients.conftest import ccxt_for
from tests.sandbox.client import KEY, SECRET, between_ticks

if TYPE_CHECKING:
    from collections.abc import Iterator

    from oms.sandbox.model import SymbolSpec

CATEGORIES = ("linear", "inverse", "spot")
#: ccxt's ``linear`` flag per category (None: not a contract)
LINEAR = {"linear": True, "inverse": False, "spot": None}


@pytest.fixture(scope="module")
def every_category() -> Iterator[Sandbox]:
    # the market stands still (tick_ms=0): a ticker read over REST and the exchange's
    # prices read next are of one moment
    with Sandbox(KEY, SECRET, seed=23, categories=CATEGORIES, tick_ms=0) as sandbox:
        sandbox.step(300)
        yield sandbox


def unified(spec: SymbolSpec) -> tuple[str, str]:
    """(ccxt's unified symbol, ccxt's market type) of a sandbox symbol."""
    base = spec.base_coin
    if spec.category == "spot":
        return f"{base}/USDT", "spot"
    if spec.category == "inverse":
        return f"{base}/USD:{base}", "swap"
    return f"{base}/USDT:USDT", "swap"


def test_the_sandbox_trades_every_category_asked_for(every_category):
    assert every_category.exchange.categories == CATEGORIES
    stats = every_category.stats()
    assert stats["steps"] >= 300


def test_load_markets_lists_every_category_with_its_steps(every_category):
    markets = ccxt_for(every_category.rest_url).load_markets()
    specs = every_category.exchange.specs
    assert {s.category for s in specs} == set(CATEGORIES)
    assert len(markets) == len(specs)  # BTCUSDT twice: the perpetual and the spot pair
    for spec in specs:
        symbol, kind = unified(spec)
        market = markets[symbol]
        assert market["id"] == spec.symbol
        assert market["type"] == kind
        assert market["active"] is True
        assert market["linear"] is LINEAR[spec.category]
        assert market["precision"]["price"] == float(spec.tick)
        assert market["info"]["priceFilter"]["tickSize"] == fmt(spec.tick)
        lots = market["info"]["lotSizeFilter"]
        if spec.category == "spot":
            assert lots["basePrecision"] == fmt(spec.qty_step)
            assert "contractType" not in market["info"]
        else:
            assert lots["qtyStep"] == fmt(spec.qty_step)
            assert market["settle"] == spec.settle_coin
        assert market["precision"]["amount"] == float(spec.qty_step)


def test_fetch_balance_reads_every_coin_of_the_wallet(every_category):
    exchange = ccxt_for(every_category.rest_url)
    balance, wallet = between_ticks(every_category.exchange, exchange.fetch_balance)
    assert balance["info"]["result"]["list"] == [wallet]
    coins = {str(c["coin"]): c for c in wallet["coin"]}  # type: ignore[union-attr]
    assert {"USDT", "BTC"} <= set(coins)
    for coin, row in coins.items():
        assert balance[coin]["total"] == float(Decimal(row["walletBalance"]))


def test_fetch_ticker_of_each_category_is_the_sandbox_price(every_category):
    exchange = ccxt_for(every_category.rest_url)
    exchange.load_markets()
    for spec in every_category.exchange.specs:
        symbol, _kind = unified(spec)
        ticker = exchange.fetch_ticker(symbol)
        last, mark, _index = every_category.exchange.prices(spec.symbol, spec.category)
        # on the tick grid as Bybit prints it ("65008.0" with a 0.1 tick): equal in value
        assert Decimal(ticker["info"]["lastPrice"]) == last
        assert ticker["last"] == float(last)
        if spec.category == "spot":
            assert "markPrice" not in ticker["info"]
        else:
            assert Decimal(ticker["info"]["markPrice"]) == mark
