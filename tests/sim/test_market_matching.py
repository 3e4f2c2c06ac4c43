"""The account's orders against the market over time: triggers crossing per triggerBy and
direction, TP/SL from an order and from a position, reduce-only sweeps, the cancel race,
hedge and one-way legs, split reduce-only orders, inverse and spot."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from oms.sim.entry import Refused
from oms.sim.wire import fmt
from tests.sim.entry_kit import D, Desk, desk

if TYPE_CHECKING:
    from decimal import Decimal


def watched(d: Desk, key: str, by: str) -> Decimal:
    m = d.venue.markets[key]
    return {"LastPrice": m.mid, "MarkPrice": m.mark, "IndexPrice": m.index}[by]


def tick_until(d: Desk, done, limit: int = 3000) -> None:
    for _ in range(limit):
        if done():
            return
        d.tick()
    pytest.fail("the market never got there")


@pytest.mark.parametrize("by", ["LastPrice", "MarkPrice", "IndexPrice"])
@pytest.mark.parametrize("direction", [1, 2])
def test_a_conditional_order_fires_exactly_when_its_price_crosses(by, direction):
    d = desk(seed=direction * 10 + len(by))
    tick = D("0.1")
    trigger = watched(d, "BTCUSDT", by) + (1 if direction == 1 else -1) * 60 * tick
    ack = d.create(symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.002",
                   triggerPrice=fmt(trigger), triggerDirection=direction, triggerBy=by)  # fmt: skip
    o = d.venue.orders[ack["orderId"]]
    assert d.orders()[0]["orderStatus"] == "Untriggered"
    seen: list[bool] = []  # at each step's matching: had the watched price crossed?
    work = d.markets.matcher.work

    def watching(s, low, high):
        if s.key == "BTCUSDT" and o.status == "Untriggered":
            price = watched(d, "BTCUSDT", by)
            seen.append(price >= trigger if direction == 1 else price <= trigger)
        work(s, low, high)

    d.markets.matcher.work = watching  # type: ignore[method-assign]
    tick_until(d, lambda: o.status != "Untriggered")
    assert seen[-1]
    assert not any(seen[:-1])
    assert len(seen) > 1  # it waited
    statuses = [e["orderStatus"] for e in d.orders() if e["orderId"] == o.order_id]
    assert statuses[:1] == ["Triggered"]
    assert statuses[-1] in ("Filled", "Cancelled")
    element = d.venue.orders[o.order_id]
    assert (element.trigger_by, element.trigger_direction) == (by, direction)


def test_a_triggered_limit_order_goes_new_in_the_same_frame():
    d = desk(seed=3)
    last = d.venue.markets["BTCUSDT"].mid
    ack = d.create(symbol="BTCUSDT", side="Sell", orderType="Limit", qty="0.002",
                   price=fmt(last + 100), triggerPrice=fmt(last - D("0.5")),
                   triggerDirection=2)  # fmt: skip
    o = d.venue.orders[ack["orderId"]]
    d.frames()
    frames: list = []
    tick_until(d, lambda: frames.extend(d.frames()) or o.status != "Untriggered")
    frames += d.frames()
    (frame,) = [data for t, data in frames if t == "order" and data[0]["orderId"] == o.order_id]
    assert [e["orderStatus"] for e in frame] == ["Triggered", "New"]


def test_tp_sl_attached_to_an_order_become_the_positions_orders_and_close_it():
    d = desk(seed=21)
    last = d.venue.markets["BTCUSDT"].mid
    ack = d.create(symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.003",
                   orderLinkId="with-tpsl", takeProfit=fmt(last + 1),
                   stopLoss=fmt(last - 1))  # fmt: skip
    frames = d.frames()
    orders = [e for t, data in frames if t == "order" for e in data]
    parent = orders[0]
    assert (parent["orderId"], parent["takeProfit"], parent["stopLoss"]) == (
        ack["orderId"], fmt(last + 1), fmt(last - 1),
    )  # fmt: skip
    assert parent["tpslMode"] == "Full"
    children = {e["stopOrderType"]: e for e in orders[1:]}
    assert set(children) == {"TakeProfit", "StopLoss"}
    for kind, child in children.items():
        assert child["orderStatus"] == "Untriggered"
        assert child["parentOrderLinkId"] == "with-tpsl"
        assert (child["side"], child["reduceOnly"], child["closeOnTrigger"]) == ("Sell", True, True)
        assert child["createType"] == f"CreateBy{kind}"
        assert child["orderLinkId"] == ""
        assert d.entry.owns(child["orderId"])
    assert children["TakeProfit"]["triggerDirection"] == 1
    assert children["StopLoss"]["triggerDirection"] == 2
    position = [data[-1] for t, data in frames if t == "position"][-1]
    assert (position["takeProfit"], position["stopLoss"]) == (fmt(last + 1), fmt(last - 1))
    leg = d.venue.legs["BTCUSDT", 0]
    tick_until(d, lambda: not leg.net)
    by_id = {c["orderId"]: d.venue.orders[c["orderId"]] for c in children.values()}
    fired = [o for o in by_id.values() if o.cum_qty]
    (other,) = [o for o in by_id.values() if not o.cum_qty]
    assert len(fired) == 1
    assert fired[0].status == "Filled"
    assert (other.status, other.cancel_type) == ("Deactivated", "CancelByTpSlTsClear")
    assert (leg.take_profit, leg.stop_loss) == (0, 0)


def test_trading_stop_sets_moves_and_removes_a_positions_tp_sl():
    d = desk(seed=4)
    d.create(symbol="ETHUSDT", side="Sell", orderType="Market", qty="0.5", positionIdx=2)
    d.frames()
    last = d.venue.markets["ETHUSDT"].mid
    stop = {"symbol": "ETHUSDT", "positionIdx": 2}
    assert d.entry.trading_stop("linear", {**stop, "takeProfit": fmt(last - 50)}) == {}
    frames = d.frames()
    (tp,) = [e for t, data in frames if t == "order" for e in data]
    assert (tp["stopOrderType"], tp["side"], tp["positionIdx"], tp["qty"]) == (
        "TakeProfit", "Buy", 2, "0.5",
    )  # fmt: skip
    assert tp["triggerDirection"] == 2
    assert tp["parentOrderLinkId"] == ""
    assert frames[-1][0] == "position"
    assert frames[-1][1][0]["takeProfit"] == fmt(last - 50)
    d.entry.trading_stop(
        "linear", {**stop, "takeProfit": fmt(last - 60), "stopLoss": fmt(last + 40)}
    )
    orders = d.orders()
    moved = [e for e in orders if e["orderId"] == tp["orderId"]]
    assert moved[-1]["triggerPrice"] == fmt(last - 60)
    d.entry.trading_stop("linear", {**stop, "takeProfit": "0"})
    assert d.venue.orders[tp["orderId"]].status == "Deactivated"
    assert d.venue.legs["ETHUSDT", 2].take_profit == 0
    with pytest.raises(Refused) as refused:
        d.entry.trading_stop("linear", {**stop, "stopLoss": fmt(last + 40)})
    assert refused.value.code == 34040
    with pytest.raises(Refused) as refused:
        d.entry.trading_stop("linear", {**stop, "stopLoss": fmt(last - 40)})
    assert refused.value.code == 10001
    with pytest.raises(Refused) as refused:
        d.entry.trading_stop("linear", {"symbol": "ETHUSDT", "positionIdx": 1, "takeProfit": "9"})
    assert refused.value.message == "can not set tp/sl/ts for zero position"


def test_reduce_only_orders_are_cancelled_when_their_position_is_gone():
    d = desk()
    d.create(symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.004")
    _, ask = d.best()
    ro = d.create(symbol="BTCUSDT", side="Sell", orderType="Limit", qty="0.004",
                  price=fmt(ask + 50), reduceOnly=True)  # fmt: skip
    d.frames()
    d.create(symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.004")
    o = d.venue.orders[ro["orderId"]]
    assert (o.status, o.cancel_type) == ("Cancelled", "CancelByReduceOnly")
    assert d.venue.legs["BTCUSDT", 0].net == 0


def test_a_reduce_only_market_order_never_flips_the_position():
    d = desk()
    d.create(symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.004")
    d.create(symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.010", reduceOnly=True)
    assert d.venue.legs["BTCUSDT", 0].net == 0


def test_a_reduce_only_order_above_the_largest_qty_is_split():
    d = desk(depth=200)
    spec = d.venue.specs["DOGEUSDT"]
    top = spec.max_order_qty
    last = d.venue.markets["DOGEUSDT"].mid
    for _ in range(3):  # a position of 3 x the largest qty, bought with limit orders
        d.create(symbol="DOGEUSDT", side="Buy", orderType="Limit", qty=fmt(top),
                 price=fmt(last - spec.tick * 500))  # fmt: skip
    for o in list(d.venue.orders.values()):
        d.venue.match(o.order_id, [(o.leaves, o.price)], maker=True)
    held = d.venue.legs["DOGEUSDT", 0].net
    assert held == 3 * top
    ack = d.create(symbol="DOGEUSDT", side="Sell", orderType="Limit", qty=fmt(held + top),
                   price=fmt(last + spec.tick * 500), reduceOnly=True,
                   orderLinkId="split")  # fmt: skip
    parts = [o for o in d.venue.orders.values() if o.side == "Sell"]
    assert [o.qty for o in parts] == [top, top, top]
    assert [o.link_id for o in parts] == ["split", "", ""]
    assert parts[0].order_id == ack["orderId"]


def test_hedge_legs_open_and_close_on_their_own_side():
    d = desk()
    d.create(symbol="ETHUSDT", side="Buy", orderType="Market", qty="0.3", positionIdx=1)
    d.create(symbol="ETHUSDT", side="Sell", orderType="Market", qty="0.2", positionIdx=2)
    long, short = d.venue.legs["ETHUSDT", 1], d.venue.legs["ETHUSDT", 2]
    assert (long.net, short.net) == (D("0.3"), D("-0.2"))
    ack = d.create(symbol="ETHUSDT", side="Sell", orderType="Market", qty="0.5", positionIdx=1)
    o = d.venue.orders[ack["orderId"]]  # a Sell on the long leg closes it, no further
    assert (o.reduce_only, o.qty) == (True, D("0.3"))
    assert (long.net, short.net) == (D("0"), D("-0.2"))
    positions = [e for t, data in d.frames() if t == "position" for e in data]
    assert {p["positionIdx"] for p in positions} == {1, 2}


def test_a_cancel_just_after_the_last_fill_is_acked_and_echoed_as_too_late():
    d = desk(seed=8)
    bid, _ = d.best()
    ack = d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.001", price=fmt(bid))
    o = d.venue.orders[ack["orderId"]]
    tick_until(d, lambda: o.status == "Filled")
    d.frames()
    assert d.entry.cancel("linear", {"symbol": "BTCUSDT", "orderId": o.order_id}) == ack
    (echo,) = d.orders()
    assert (echo["orderStatus"], echo["cancelType"], echo["rejectReason"]) == (
        "Filled", "CancelByUser", "EC_OrigClOrdIDDoesNotExist",
    )  # fmt: skip
    d.clock.now += 1000
    with pytest.raises(Refused) as refused:
        d.entry.cancel("linear", {"symbol": "BTCUSDT", "orderId": o.order_id})
    assert refused.value.code == 110001


def test_fees_maker_and_taker_linear_inverse_and_spot():
    d = desk()
    d.create(symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01")
    d.create("inverse", symbol="BTCUSD", side="Buy", orderType="Market", qty="300")
    d.create("spot", symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.01")
    fills = [e for t, data in d.frames() if t == "execution" for e in data]
    rates = {"linear": D("0.00055"), "inverse": D("0.00055"), "spot": D("0.001")}
    for f in fills:
        rate = rates[f["category"]]
        assert D(f["feeRate"]) == rate
        assert D(f["execFee"]) == (D(f["execValue"]) * rate).quantize(D("1e-8"))
        if f["category"] == "inverse":
            assert D(f["execValue"]) == (D(f["execQty"]) / D(f["execPrice"])).quantize(D("1e-8"))
            assert f["feeCurrency"] == "BTC"
        if f["category"] == "spot":
            assert f["feeCurrency"] == "USDT"  # a sell pays in the coin it receives


def test_a_spot_market_buy_spends_its_quote_qty_and_moves_the_wallet():
    d = desk()
    usdt, btc = d.venue.balance("USDT"), d.venue.balance("BTC")
    ack = d.create("spot", symbol="BTCUSDT", side="Buy", orderType="Market", qty="1000")
    o = d.venue.orders[ack["orderId"]]
    assert o.status == "Filled"
    assert D(900) < o.cum_value <= D(1000)
    assert d.venue.balance("USDT") == usdt - o.cum_value
    assert d.venue.balance("BTC") == btc + o.cum_qty - o.cum_fee
    assert "position" not in {t for t, _ in d.frames()}


def test_a_spot_ioc_remainder_ends_partially_filled_canceled():
    d = desk()
    asks = d.markets.book("spot:BTCUSDT").asks
    d.create("spot", symbol="BTCUSDT", side="Buy", orderType="Limit", timeInForce="IOC",
             qty=fmt(asks[0].size + D("0.5")), price=fmt(asks[0].price))  # fmt: skip
    last = d.orders()[-1]
    assert (last["orderStatus"], last["cumExecQty"]) == (
        "PartiallyFilledCanceled",
        fmt(asks[0].size),
    )


def test_at_most_500_active_orders_per_symbol():
    d = desk()
    last = d.venue.markets["DOGEUSDT"].mid
    order = {"symbol": "DOGEUSDT", "side": "Buy", "orderType": "Limit", "qty": "100",
             "price": fmt(last - D("0.01"))}  # fmt: skip
    for _ in range(500):
        d.entry.create("linear", order)
    with pytest.raises(Refused) as refused:
        d.entry.create("linear", order)
    assert refused.value.code == 110020


def test_a_market_order_beyond_the_depth_in_its_band_cancels_its_rest():
    d = desk(depth=5)
    asks = d.markets.book("BTCUSDT").asks
    depth = sum(level.size for level in asks)
    ack = d.create(symbol="BTCUSDT", side="Buy", orderType="Market", qty=fmt(depth + D("0.1")))
    o = d.venue.orders[ack["orderId"]]
    assert (o.status, o.reject_reason, o.cum_qty) == ("Cancelled", "EC_CancelForNoFullFill", depth)
    fills = [e for e in d.venue.executions.values() if e.order_id == o.order_id]
    assert [(e.qty, e.price) for e in fills] == [(level.size, level.price) for level in asks]


def test_cancel_all_by_base_coin_and_order_filter():
    d = desk()
    last = d.venue.markets["BTCUSDT"].mid
    plain = d.create(symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.001",
                     price=fmt(last - 50))  # fmt: skip
    stop = d.create(symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001",
                    triggerPrice=fmt(last + 50), triggerDirection=1)  # fmt: skip
    inverse = d.create("inverse", symbol="BTCUSD", side="Buy", orderType="Limit", qty="100",
                       price=fmt(d.venue.markets["inverse:BTCUSD"].mid - 50))  # fmt: skip
    d.frames()
    done = d.entry.cancel_all("linear", {"baseCoin": "BTC", "orderFilter": "StopOrder"})
    assert [r["orderId"] for r in done["list"]] == [stop["orderId"]]  # type: ignore[index]
    assert d.venue.orders[stop["orderId"]].status == "Deactivated"
    done = d.entry.cancel_all("linear", {"baseCoin": "BTC", "orderFilter": "Order"})
    assert [r["orderId"] for r in done["list"]] == [plain["orderId"]]  # type: ignore[index]
    assert d.venue.orders[inverse["orderId"]].is_open  # another category
    assert d.entry.cancel_all("linear", {"symbol": "BTCUSDT"})["list"] == []
