"""Real, unchanged ccxt (only its ``urls["api"]`` point at the sandbox) against the sandbox:
every unified call below matches the sandbox's own state exactly, and Bybit's errors
become the ccxt exceptions ccxt maps them to.

ccxt gives floats in its unified fields and Bybit's strings in ``info``: the strings are
compared with the sandbox's exactly (as ``Decimal``), the floats with the exact value
converted, never with a tolerance."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from oms.sim.wire import fmt
from tests.clients.conftest import ccxt_for
from tests.sandbox.client import between_ticks

TERMINAL = {"Filled", "Cancelled", "Rejected", "Deactivated", "PartiallyFilledCanceled"}
ALL = {"paginate": True}  # ccxt follows nextPageCursor itself


def as_float(text: str) -> float:
    return float(Decimal(text))


def unified_symbol(symbol: str) -> str:
    return f"{symbol.removesuffix('USDT')}/USDT:USDT"


def test_load_markets_lists_the_sandbox_symbols_with_their_steps(traded):
    markets = ccxt_for(traded.rest_url).load_markets()
    specs = {s.symbol: s for s in traded.exchange.specs}
    assert {m["id"] for m in markets.values()} == set(specs)
    for spec in specs.values():
        market = markets[unified_symbol(spec.symbol)]
        assert (market["type"], market["linear"], market["settle"]) == ("swap", True, "USDT")
        assert market["active"] is True
        assert market["info"]["lotSizeFilter"]["qtyStep"] == fmt(spec.qty_step)
        assert market["info"]["priceFilter"]["tickSize"] == fmt(spec.tick)
        assert market["precision"]["amount"] == float(spec.qty_step)
        assert market["precision"]["price"] == float(spec.tick)
        assert market["limits"]["amount"]["min"] == float(spec.qty_step)


def _check_order(order, want):
    info = order["info"]
    assert info["orderStatus"] == want["status"]
    for name in ("qty", "price", "cumExecQty", "leavesQty", "cumExecValue", "cumExecFee"):
        assert Decimal(info[name]) == Decimal(want[name]), name
    assert info["avgPrice"] == want["avgPrice"]
    assert (order["clientOrderId"] or "") == want["orderLinkId"]
    assert order["symbol"] == unified_symbol(want["symbol"])
    assert order["side"] == want["side"].lower()
    assert order["amount"] == as_float(want["qty"])
    assert order["filled"] == as_float(want["cumExecQty"])
    assert order["timestamp"] == int(want["createdTime"])


def test_fetch_open_orders_are_the_open_orders(traded):
    truth = traded.truth()["orders"]
    orders = ccxt_for(traded.rest_url).fetch_open_orders(params=ALL)
    want = {i: o for i, o in truth.items() if o["status"] not in TERMINAL}
    assert want, "the seeded trading left no open order"
    assert sorted(o["id"] for o in orders) == sorted(want)
    for order in orders:
        assert order["status"] == "open"
        _check_order(order, want[order["id"]])


def test_fetch_closed_orders_are_the_filled_orders(traded):
    truth = traded.truth()["orders"]
    orders = ccxt_for(traded.rest_url).fetch_closed_orders(params=ALL)
    want = {i: o for i, o in truth.items() if o["status"] == "Filled"}
    assert len(want) > 50, "too few to need a second page"
    assert sorted(o["id"] for o in orders) == sorted(want)
    for order in orders:
        assert order["status"] == "closed"
        _check_order(order, want[order["id"]])


def test_fetch_my_trades_are_the_trade_executions(traded):
    truth = traded.truth()["executions"]
    trades = ccxt_for(traded.rest_url).fetch_my_trades(params=ALL)
    want = {i: e for i, e in truth.items() if e["execType"] == "Trade"}
    assert len(want) > 100, "too few to need a second page"
    assert sorted(t["id"] for t in trades) == sorted(want)
    for trade in trades:
        execution = want[trade["id"]]
        assert trade["order"] == execution["orderId"]
        assert trade["symbol"] == unified_symbol(execution["symbol"])
        assert trade["side"] == execution["side"].lower()
        assert trade["amount"] == as_float(execution["execQty"])
        assert trade["price"] == as_float(execution["execPrice"])
        assert trade["timestamp"] == int(execution["execTime"])
        assert trade["takerOrMaker"] == ("maker" if execution["isMaker"] else "taker")
        assert Decimal(trade["info"]["execFee"]) == Decimal(execution["execFee"])
        assert trade["fee"]["cost"] == as_float(execution["execFee"])


def test_fetch_positions_are_the_open_legs(traded):
    truth = traded.truth()["positions"]
    positions = ccxt_for(traded.rest_url).fetch_positions()
    want = {(p["symbol"], p["positionIdx"]): p for p in truth.values() if p["size"] != "0"}
    assert len(want) >= 2, "the seeded trading left too few open legs"
    got = {(p["info"]["symbol"], p["info"]["positionIdx"]): p for p in positions}
    assert sorted(got) == sorted(want)
    for key, position in got.items():
        leg = want[key]
        assert position["symbol"] == unified_symbol(leg["symbol"])
        assert position["side"] == ("long" if leg["side"] == "Buy" else "short")
        assert position["contracts"] == as_float(leg["size"])
        assert Decimal(position["info"]["size"]) == Decimal(leg["size"])
        assert Decimal(position["info"]["avgPrice"]) == Decimal(leg["entryPrice"])
        assert position["entryPrice"] == as_float(leg["entryPrice"])
        assert position["hedged"] is (leg["positionIdx"] != 0)


def test_fetch_balance_is_the_wallet(traded):
    balance, wallet = between_ticks(traded.exchange, ccxt_for(traded.rest_url).fetch_balance)
    assert balance["info"]["result"]["list"] == [wallet]  # the wallet frame's own row
    (coin,) = wallet["coin"]
    used = (
        Decimal(coin["locked"]) + Decimal(coin["totalPositionIM"]) + Decimal(coin["totalOrderIM"])
    )
    total = Decimal(coin["walletBalance"])
    assert balance["USDT"]["total"] == float(total)
    assert balance["USDT"]["used"] == float(used)
    assert balance["USDT"]["free"] == float(total - used)
    assert total != 100_000, "the seeded trading moved no money"


@pytest.mark.parametrize(
    ("credentials", "code"),
    [({"key": "not-the-key"}, 10003), ({"secret": "not-the-secret"}, 10004)],
)
def test_bad_credentials_are_authentication_errors(traded, credentials, code):
    exchange = ccxt_for(traded.rest_url, **credentials)
    with pytest.raises(ccxt.AuthenticationError, match=f'"retCode":{code},"retMsg":'):
        exchange.fetch_balance()


def test_a_route_the_sandbox_does_not_emulate_is_permission_denied(traded):
    exchange = ccxt_for(traded.rest_url)
    before = traded.stats()["frames"]
    with pytest.raises(ccxt.PermissionDenied, match="10005"):
        exchange.set_leverage(5, "BTC/USDT:USDT")
    assert traded.stats()["frames"] == before  # nothing changed


def test_an_unknown_route_and_a_bad_parameter_are_bad_requests(traded):
    exchange = ccxt_for(traded.rest_url)
    with pytest.raises(ccxt.BadRequest, match="10017"):
        exchange.publicGetV5MarketKline({"category": "linear", "symbol": "BTCUSDT"})
    with pytest.raises(ccxt.BadRequest, match="10001"):
        exchange.privateGetV5OrderRealtime({"category": "linear"})  # no symbol or coin


def test_rate_limits_and_clock_skew_reach_ccxt_as_bybit_sends_them(faulty):
    exchange = ccxt_for(faulty.rest_url)
    exchange.load_markets()
    faulty.faults.rest_rate_limit = 1
    with pytest.raises(ccxt.RateLimitExceeded, match="10006"):
        exchange.fetch_positions()
    faulty.faults.rest_forbidden = 1
    with pytest.raises(ccxt.RateLimitExceeded, match="403"):
        exchange.fetch_positions()
    faulty.faults.rest_clock_skew_ms = 60_000
    with pytest.raises(ccxt.InvalidNonce, match="10002"):
        exchange.fetch_positions()
    faulty.faults.rest_clock_skew_ms = 0
    assert isinstance(exchange.fetch_positions(), list)  # all over: it answers again
