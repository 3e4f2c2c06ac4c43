"""``oms.sim.entry.OrderEntry``: market and limit orders against the market, cancel, amend
and cancel-all, with the frames Bybit pushes for each."""

from __future__ import annotations

import pytest

from oms.sim.entry import Refused
from oms.sim.wire import fmt
from tests.sim.entry_kit import D, desk


def test_a_market_order_walks_the_book_in_one_match_one_execution_per_level():
    d = desk()
    asks = d.markets.book("BTCUSDT").asks
    qty = asks[0].size + asks[1].size + asks[2].size - D("0.001")
    ack = d.create(symbol="BTCUSDT", side="Buy", orderType="Market", qty=fmt(qty), orderLinkId="m1")
    frames = d.frames()
    assert [t for t, _ in frames] == ["order", "execution", "position", "wallet"]
    (order,) = frames[0][1]
    assert order["orderId"] == ack["orderId"]
    assert (order["orderLinkId"], order["orderStatus"], order["cumExecQty"]) == (
        "m1",
        "Filled",
        fmt(qty),
    )
    fills = frames[1][1]
    assert [(f["execPrice"], f["execQty"]) for f in fills] == [
        (fmt(asks[0].price), fmt(asks[0].size)),
        (fmt(asks[1].price), fmt(asks[1].size)),
        (fmt(asks[2].price), fmt(asks[2].size - D("0.001"))),
    ]
    assert len({f["seq"] for f in fills}) == 1
    assert not any(f["isMaker"] for f in fills)
    assert all(D(f["feeRate"]) == D("0.00055") for f in fills)
    assert frames[2][1][0]["size"] == fmt(qty)
    book = d.markets.book("BTCUSDT")  # the taken levels are gone, the last one in part
    assert book.asks[0] == type(asks[2])(asks[2].price, D("0.001"))
    assert d.markets.ticker("BTCUSDT").last == asks[2].price
    assert d.entry.owns(ack["orderId"])


def test_a_market_order_beyond_its_slippage_tolerance_cancels_its_rest():
    d = desk()
    asks = d.markets.book("BTCUSDT").asks
    ack = d.create(
        symbol="BTCUSDT",
        side="Buy",
        orderType="Market",
        qty=fmt(asks[0].size + asks[1].size + asks[2].size),
        slippageToleranceType="TickSize",
        slippageTolerance="1",
    )
    orders = d.orders()
    (last,) = [o for o in orders if o["orderId"] == ack["orderId"]][-1:]
    assert last["orderStatus"] == "Cancelled"
    assert last["rejectReason"] == "EC_CancelForNoFullFill"
    assert asks[1].price == asks[0].price + D("0.1")  # one tick of tolerance: two levels
    assert D(last["cumExecQty"]) == asks[0].size + asks[1].size
    assert last["leavesQty"] == "0"


def test_a_resting_limit_order_announces_new_then_fills_as_maker_when_traded_through():
    d = desk()
    bid, _ = d.best()
    ack = d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.004", price=fmt(bid))
    frames = d.frames()
    assert [t for t, _ in frames] == ["order", "position"]
    assert frames[0][1][0]["orderStatus"] == "New"
    fills = []
    for _ in range(300):
        d.tick()
        fills += [e for t, data in d.frames() if t == "execution" for e in data
                  if e["orderId"] == ack["orderId"]]  # fmt: skip
        if d.venue.orders[ack["orderId"]].status == "Filled":
            break
    assert d.venue.orders[ack["orderId"]].status == "Filled"
    assert all(f["isMaker"] and f["execPrice"] == fmt(bid) for f in fills)
    assert all(D(f["feeRate"]) == D("0.0002") for f in fills)
    assert sum(D(f["execQty"]) for f in fills) == D("0.004")


def test_a_crossing_limit_order_takes_up_to_its_price_then_rests():
    d = desk()
    asks = d.markets.book("BTCUSDT").asks
    price = asks[1].price
    qty = asks[0].size + asks[1].size + D("0.005")
    ack = d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty=fmt(qty), price=fmt(price))
    frames = d.frames()
    order = frames[0][1][0]
    assert (order["orderStatus"], order["leavesQty"]) == ("PartiallyFilled", "0.005")
    assert [f["execPrice"] for f in frames[1][1]] == [fmt(asks[0].price), fmt(price)]
    o = d.venue.orders[ack["orderId"]]
    assert o.is_open
    assert o.order_id in d.entry.matcher.working


@pytest.mark.parametrize(
    ("tif", "reason"),
    [("PostOnly", "EC_PostOnlyWillTakeLiquidity"), ("IOC", None), ("FOK", None)],
)
def test_post_only_ioc_and_fok_on_entry(tif, reason):
    d = desk()
    bid, ask = d.best()
    crossing = d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.001",
                        price=fmt(ask), timeInForce=tif)  # fmt: skip
    order = d.orders()[-1]
    assert order["orderId"] == crossing["orderId"]
    if reason:
        assert (order["orderStatus"], order["rejectReason"]) == ("Cancelled", reason)
        assert order["cancelType"] == "UNKNOWN"
    else:
        assert order["orderStatus"] == "Filled"
    missing = d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.001",
                       price=fmt(bid - 1), timeInForce=tif)  # fmt: skip
    order = d.orders()[-1]
    assert order["orderId"] == missing["orderId"]
    expected = {"PostOnly": "New", "IOC": "Cancelled", "FOK": "Cancelled"}[tif]
    assert order["orderStatus"] == expected
    if tif != "PostOnly":
        assert order["rejectReason"] == (
            "EC_NoImmediateQtyToFill" if tif == "IOC" else "EC_CancelForNoFullFill"
        )


def test_a_fok_that_cannot_fill_in_full_takes_nothing():
    d = desk()
    asks = d.markets.book("BTCUSDT").asks
    d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty=fmt(asks[0].size + D("0.001")),
             price=fmt(asks[0].price), timeInForce="FOK")  # fmt: skip
    assert d.orders()[-1]["cumExecQty"] == "0"
    assert d.markets.book("BTCUSDT").asks[0] == asks[0]


def test_cancel_by_id_or_link_id_then_the_order_is_gone():
    d = desk()
    bid, _ = d.best()
    a = d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.001",
                 price=fmt(bid - 10), orderLinkId="keep-1")  # fmt: skip
    d.frames()
    done = d.entry.cancel("linear", {"symbol": "BTCUSDT", "orderLinkId": "keep-1"})
    assert done == a
    frames = d.frames()
    assert [t for t, _ in frames] == ["order", "position"]
    assert (frames[0][1][0]["orderStatus"], frames[0][1][0]["cancelType"]) == (
        "Cancelled", "CancelByUser",
    )  # fmt: skip
    with pytest.raises(Refused) as refused:
        d.entry.cancel("linear", {"symbol": "BTCUSDT", "orderId": a["orderId"]})
    assert refused.value.code == 110001
    with pytest.raises(Refused) as refused:  # orderId wins over orderLinkId
        d.entry.cancel("linear", {"symbol": "BTCUSDT", "orderId": "nope", "orderLinkId": "keep-1"})
    assert refused.value.code == 110001


def test_amend_keeps_the_ids_and_changes_the_terms():
    d = desk()
    bid, _ = d.best()
    a = d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.002",
                 price=fmt(bid - 10), orderLinkId="am-1")  # fmt: skip
    d.frames()
    done = d.entry.amend("linear", {"symbol": "BTCUSDT", "orderId": a["orderId"],
                                    "qty": "0.003", "price": fmt(bid - 20)})  # fmt: skip
    assert done == a
    frames = d.frames()
    assert [t for t, _ in frames] == ["order", "position"]
    order = frames[0][1][0]
    assert (order["orderStatus"], order["qty"], order["price"]) == (
        "New", "0.003", fmt(bid - 20),
    )  # fmt: skip
    with pytest.raises(Refused) as refused:
        d.entry.amend("linear", {"symbol": "BTCUSDT", "orderLinkId": "am-1", "qty": "0.003"})
    assert refused.value.code == 34040


def test_an_amend_through_the_book_takes_and_a_post_only_one_is_cancelled():
    d = desk()
    bid, ask = d.best()
    a = d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.001", price=fmt(bid - 5))
    p = d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.001", price=fmt(bid - 5),
                 timeInForce="PostOnly")  # fmt: skip
    d.frames()
    d.entry.amend("linear", {"symbol": "BTCUSDT", "orderId": a["orderId"], "price": fmt(ask)})
    assert d.venue.orders[a["orderId"]].status == "Filled"
    _, ask = d.best()
    d.entry.amend("linear", {"symbol": "BTCUSDT", "orderId": p["orderId"], "price": fmt(ask)})
    o = d.venue.orders[p["orderId"]]
    assert (o.status, o.reject_reason) == ("Cancelled", "EC_PostOnlyWillTakeLiquidity")


def test_amend_cannot_take_qty_to_or_below_what_filled():
    d = desk()
    asks = d.markets.book("BTCUSDT").asks
    qty = asks[0].size + D("0.010")
    a = d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty=fmt(qty),
                 price=fmt(asks[0].price))  # fmt: skip
    with pytest.raises(Refused) as refused:
        d.entry.amend("linear", {"symbol": "BTCUSDT", "orderId": a["orderId"],
                                 "qty": fmt(asks[0].size)})  # fmt: skip
    assert refused.value.code == 110064


def test_cancel_all_of_a_symbol_in_one_frame_and_its_scope_is_required():
    d = desk()
    bid, _ = d.best()
    ids = [
        d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.001",
                 price=fmt(bid - n))["orderId"]
        for n in (5, 6, 7)
    ]  # fmt: skip
    eth = d.venue.markets["ETHUSDT"].mid
    other = d.create(symbol="ETHUSDT", side="Buy", orderType="Limit", qty="0.01",
                     price=fmt(eth - 1), positionIdx=1)  # fmt: skip
    d.frames()
    with pytest.raises(Refused) as refused:
        d.entry.cancel_all("linear", {})
    assert refused.value.code == 10001
    result = d.entry.cancel_all("linear", {"symbol": "BTCUSDT"})
    assert result["success"] == "1"
    assert [r["orderId"] for r in result["list"]] == ids  # type: ignore[index]
    frames = d.frames()
    assert [t for t, _ in frames] == ["order", "position"]
    assert [o["orderStatus"] for o in frames[0][1]] == ["Cancelled"] * 3
    assert d.venue.orders[other["orderId"]].is_open
    assert d.entry.cancel_all("linear", {"settleCoin": "USDT"})["list"] == [
        {"orderId": other["orderId"], "orderLinkId": ""}
    ]
