"""Every order-entry rule refused with Bybit's code, and a refusal changes nothing."""

from __future__ import annotations

import pytest

from oms.sim.entry import Refused
from tests.sim.entry_kit import Desk, desk

BTC = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001", "price": "64000"}
ETH = {"symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.1", "price": "3300"}
SPOT = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001", "price": "64000"}

#: (name, category, request, code)
CREATE_REFUSALS = [
    ("category not traded", "option", BTC, 10001),
    ("no symbol", "linear", {**BTC, "symbol": ""}, 10001),
    ("unknown symbol", "linear", {**BTC, "symbol": "NOPEUSDT"}, 10001),
    ("unknown spot symbol", "spot", {**SPOT, "symbol": "NOPEUSDT"}, 170121),
    ("bad side", "linear", {**BTC, "side": "buy"}, 10001),
    ("qty as a JSON number", "linear", {**BTC, "qty": 0.001}, 10001),
    ("qty not a number", "linear", {**BTC, "qty": "1e-3"}, 10001),
    ("limit without price", "linear", {**BTC, "price": None}, 10001),
    ("qty off the step", "linear", {**BTC, "qty": "0.0015"}, 10001),
    ("qty above the max", "linear", {**BTC, "qty": "12.001"}, 10001),
    ("market qty above the max", "linear", {**BTC, "orderType": "Market", "qty": "1.201"}, 10001),
    ("price off the tick", "linear", {**BTC, "price": "64000.05"}, 10001),
    ("price above the max", "linear", {**BTC, "side": "Sell", "price": "65000001"}, 110003),
    ("buy above the band", "linear", {**BTC, "price": "69000"}, 110003),
    ("sell below the band", "linear", {**BTC, "side": "Sell", "price": "61000"}, 110003),
    ("below min notional", "linear", {**BTC, "symbol": "DOGEUSDT", "qty": "1", "price": "0.15"},
     110094),
    ("orderLinkId too long", "linear", {**BTC, "orderLinkId": "x" * 37}, 10001),
    ("orderLinkId bad chars", "linear", {**BTC, "orderLinkId": "a b"}, 10001),
    ("orderLinkId taken", "linear", {**BTC, "orderLinkId": "taken"}, 110072),
    ("spot orderLinkId taken", "spot", {**SPOT, "orderLinkId": "taken"}, 170141),
    ("hedge without positionIdx", "linear", ETH, 10001),
    ("one-way with positionIdx 1", "linear", {**BTC, "positionIdx": 1}, 10001),
    ("positionIdx a bool", "linear", {**ETH, "positionIdx": True}, 10001),
    ("reduce-only on a flat leg", "linear", {**BTC, "symbol": "DOGEUSDT", "qty": "100",
                                             "price": "0.15", "reduceOnly": True}, 110017),
    ("reduce-only that opens (hedge)", "linear", {**ETH, "positionIdx": 1, "reduceOnly": True},
     110017),
    ("reduce-only that adds (one-way)", "linear", {**BTC, "reduceOnly": True}, 110017),
    ("reduceOnly not a bool", "linear", {**BTC, "reduceOnly": 1}, 10001),
    ("rise trigger below last", "linear", {**BTC, "triggerPrice": "60000", "triggerDirection": 1},
     110092),
    ("fall trigger above last", "linear", {**BTC, "triggerPrice": "66000", "triggerDirection": 2},
     110093),
    ("trigger off the tick", "linear", {**BTC, "triggerPrice": "66000.01", "triggerDirection": 1},
     10001),
    ("take-profit below a buy", "linear", {**BTC, "takeProfit": "63000"}, 10001),
    ("stop-loss above a buy", "linear", {**BTC, "stopLoss": "64500"}, 10001),
    ("partial TP/SL mode", "linear", {**BTC, "takeProfit": "66000", "tpslMode": "Partial"}, 10001),
    ("TP/SL on a reduce-only order", "linear", {**BTC, "side": "Sell", "price": "66000",
                                                "reduceOnly": True, "stopLoss": "67000"}, 10001),
    ("RPI", "linear", {**BTC, "timeInForce": "RPI"}, 110119),
    ("unknown time in force", "linear", {**BTC, "timeInForce": "GTX"}, 10001),
    ("slippage on a limit order", "linear", {**BTC, "slippageToleranceType": "Percent",
                                             "slippageTolerance": "1"}, 10001),
    ("slippage out of range", "linear", {**BTC, "orderType": "Market", "slippageToleranceType":
                                         "Percent", "slippageTolerance": "11"}, 10001),
    ("spot qty off the step", "spot", {**SPOT, "qty": "0.0000001"}, 170137),
    ("spot below the min value", "spot", {**SPOT, "qty": "0.000001"}, 170140),
    ("spot price off the tick", "spot", {**SPOT, "price": "64000.001"}, 170134),
    ("spot buy above the band", "spot", {**SPOT, "price": "69000"}, 170193),
    ("spot buy beyond the wallet", "spot", {**SPOT, "qty": "1.9"}, 170131),
    ("spot conditional", "spot", {**SPOT, "triggerPrice": "66000"}, 10001),
]  # fmt: skip


@pytest.fixture
def held() -> Desk:
    """A long BTCUSDT position of 0.01 and an order whose orderLinkId is "taken"."""
    d = desk()
    d.create(symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01")
    d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.001", price="60000",
             orderLinkId="taken")  # fmt: skip
    d.venue.take()
    return d


@pytest.mark.parametrize(
    ("category", "request_", "code"),
    [case[1:] for case in CREATE_REFUSALS],
    ids=[case[0] for case in CREATE_REFUSALS],
)
def test_a_refused_create_raises_its_code_and_changes_nothing(held, category, request_, code):
    before = held.state()
    with pytest.raises(Refused) as refused:
        held.entry.create(category, {k: v for k, v in request_.items() if v is not None})
    assert refused.value.code == code, refused.value.message
    assert refused.value.message
    assert held.state() == before
    assert held.venue.take() == []


def test_the_hedge_mode_message_is_bybits(held):
    with pytest.raises(Refused) as refused:
        held.entry.create("linear", ETH)
    assert refused.value.message == "position idx not match position mode"
    with pytest.raises(Refused) as refused:
        held.entry.create("linear", {**BTC, "symbol": "DOGEUSDT", "qty": "100", "price": "0.15",
                                     "reduceOnly": True})  # fmt: skip
    assert refused.value.message == "Reduce-only rule not satisfied"


def test_a_reduce_only_order_is_capped_to_the_position(held):
    ack = held.entry.create("linear", {**BTC, "side": "Sell", "qty": "0.05", "price": "66000",
                                       "reduceOnly": True})  # fmt: skip
    o = held.venue.orders[ack["orderId"]]
    assert (o.qty, o.reduce_only) == (held.venue.legs["BTCUSDT", 0].net, True)


def test_digit_strings_and_string_flags_read_as_pybit_and_ccxt_send_them(held):
    ack = held.entry.create("linear", {**ETH, "positionIdx": "1", "reduceOnly": "false",
                                       "unknownField": [1, 2]})  # fmt: skip
    assert held.venue.orders[ack["orderId"]].leg.idx == 1


@pytest.mark.parametrize(
    ("op", "category", "request_", "code"),
    [
        ("cancel", "linear", {"symbol": "BTCUSDT", "orderId": "nope"}, 110001),
        ("cancel", "spot", {"symbol": "BTCUSDT", "orderLinkId": "nope"}, 170213),
        ("cancel", "linear", {"symbol": "BTCUSDT"}, 10001),
        ("cancel", "linear", {"symbol": "ETHUSDT", "orderLinkId": "taken"}, 110001),
        ("amend", "linear", {"symbol": "BTCUSDT", "orderId": "nope", "qty": "0.002"}, 110001),
        ("amend", "linear", {"symbol": "BTCUSDT", "orderLinkId": "taken"}, 34040),
        ("amend", "linear", {"symbol": "BTCUSDT", "orderLinkId": "taken", "price": "60000"},
         34040),
        ("amend", "linear", {"symbol": "BTCUSDT", "orderLinkId": "taken", "qty": "0.0005"},
         10001),
        ("amend", "linear", {"symbol": "BTCUSDT", "orderLinkId": "taken", "price": "69000"},
         110003),
        ("amend", "linear", {"symbol": "BTCUSDT", "orderLinkId": "taken",
                             "triggerPrice": "70000"}, 10001),
        ("cancel_all", "linear", {}, 10001),
        ("cancel_all", "linear", {"symbol": "BTCUSDT", "orderFilter": "Nope"}, 10001),
        ("cancel_all", "spot", {"settleCoin": "USDT"}, 10001),
        ("cancel_all", "option", {"symbol": "BTCUSDT"}, 10001),
    ],
)  # fmt: skip
def test_a_refused_cancel_or_amend_changes_nothing(held, op, category, request_, code):
    before = held.state()
    with pytest.raises(Refused) as refused:
        getattr(held.entry, op)(category, request_)
    assert refused.value.code == code, refused.value.message
    assert held.state() == before


def test_the_balance_bounds_what_orders_may_open():
    d = desk()
    d.create(symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01")
    order = {**BTC, "qty": "12", "price": "60000"}  # 12 BTC at 60000, 10x: 72000 USDT of margin
    d.entry.create("linear", order)
    with pytest.raises(Refused) as refused:
        d.entry.create("linear", order)
    assert (refused.value.code, refused.value.message) == (110007, "Insufficient available balance")
    # a reduce-only order needs no margin
    d.entry.create("linear", {**BTC, "side": "Sell", "qty": "0.01", "price": "65500",
                              "reduceOnly": True})  # fmt: skip


def test_at_most_ten_conditional_orders_per_symbol():
    d = desk()
    for n in range(10):
        d.entry.create("linear", {**BTC, "triggerPrice": str(66000 + n), "triggerDirection": 1})
    with pytest.raises(Refused) as refused:
        d.entry.create("linear", {**BTC, "triggerPrice": "66100", "triggerDirection": 1})
    assert refused.value.code == 110009
