"""Over random order flows through ``OrderEntry`` interleaved with ``Markets.tick`` (and the
background trading), the venue's own bookkeeping stays consistent with its fills, every
refusal changes nothing, and an ``oms.Ledger`` fed the frames holds the venue's truth."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from oms import Anomaly, Ledger
from oms.sim import SANDBOX_MIX, RandomPolicy
from oms.sim.compare import differences
from oms.sim.entry import Refused
from oms.sim.records import ZERO, exec_value, q8
from oms.sim.specs import DEPOSITS
from oms.sim.wire import fmt
from tests.sim.entry_kit import Desk, desk
from tests.sim.test_categories import check_coins_add_up, check_legs_add_up, check_orders_add_up

if TYPE_CHECKING:
    from decimal import Decimal

#: (category, symbol) the flows trade
INSTRUMENTS = (
    ("linear", "BTCUSDT"), ("linear", "ETHUSDT"), ("linear", "DOGEUSDT"),
    ("inverse", "BTCUSD"), ("spot", "BTCUSDT"),
)  # fmt: skip

# fmt: off
creates = st.fixed_dictionaries({
    "at": st.sampled_from(INSTRUMENTS),
    "side": st.sampled_from(("Buy", "Sell")),
    "type": st.sampled_from(("Market", "Limit", "Limit", "Limit")),
    "tif": st.sampled_from(("GTC", "GTC", "IOC", "FOK", "PostOnly")),
    "lots": st.integers(1, 400),
    "away": st.integers(-40, 80),
    "reduce": st.sampled_from((False, False, False, True)),
    "idx": st.sampled_from(("right", "right", "right", "wrong")),
    "trigger": st.sampled_from((None, None, None, 1, 2)),
    "tpsl": st.booleans(),
})
# fmt: on
ops = st.one_of(
    st.tuples(st.just("create"), creates),
    st.tuples(st.just("create"), creates),
    st.tuples(st.just("create"), creates),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(
        st.just("amend"), st.tuples(st.integers(0, 50), st.integers(-30, 30), st.integers(0, 3))
    ),
    st.tuples(st.just("cancel_all"), st.sampled_from(INSTRUMENTS)),
    st.tuples(st.just("stop"), st.tuples(st.sampled_from(INSTRUMENTS[:4]), st.integers(1, 60))),
    st.tuples(st.just("tick"), st.integers(1, 8)),
    st.tuples(st.just("background"), st.integers(1, 4)),
)


def create_request(d: Desk, p: dict[str, Any]) -> tuple[str, dict[str, object]]:
    category, symbol = p["at"]
    spec = d.venue.specs[symbol if category == "linear" else f"{category}:{symbol}"]
    m = d.venue.markets[spec.key]
    side = str(p["side"])
    sign = -1 if side == "Buy" else 1
    price = spec.tick * max(1, m.mid_ticks + sign * int(p["away"]) * max(1, m.mid_ticks // 20000))
    lots = int(p["lots"])
    qty = spec.qty_step * (lots if category != "linear" else lots * max(1, spec.max_lots // 100))
    request: dict[str, object] = {
        "symbol": symbol, "side": side, "orderType": p["type"], "qty": fmt(qty),
        "timeInForce": p["tif"], "reduceOnly": p["reduce"],
    }  # fmt: skip
    if p["type"] == "Limit":
        request["price"] = fmt(price)
    if spec.hedge:
        right = 1 if (side == "Buy") != bool(p["reduce"]) else 2
        request["positionIdx"] = right if p["idx"] == "right" else 3 - right
    if p["trigger"] and category != "spot":
        away = spec.tick * 10 * max(1, m.mid_ticks // 20000)
        request["triggerDirection"] = p["trigger"]
        request["triggerPrice"] = fmt(m.mid + away if p["trigger"] == 1 else m.mid - away)
    if p["tpsl"] and category != "spot" and not p["reduce"] and not p["trigger"]:
        away = spec.tick * 40 * max(1, m.mid_ticks // 20000)
        up, down = fmt(m.mid + away * 3), fmt(m.mid - away * 3)
        request["takeProfit"], request["stopLoss"] = (up, down) if side == "Buy" else (down, up)
    return category, request


def run(d: Desk, policy: RandomPolicy, op: str, arg: Any, placed: list[str]) -> None:
    entry = d.entry
    if op == "create":
        category, request = create_request(d, arg)
        placed.append(entry.create(category, request)["orderId"])
    elif op in ("cancel", "amend") and placed:
        n = arg if op == "cancel" else arg[0]
        o = d.venue.orders[placed[int(n) % len(placed)]]
        request = {"symbol": o.symbol, "orderId": o.order_id}
        if op == "amend":
            _, away, lots = arg
            request["price"] = fmt(max(o.market.spec.tick, o.price + o.market.spec.tick * away))
            if lots:
                request["qty"] = fmt(o.qty + o.market.spec.qty_step * lots)
        getattr(entry, op)(o.category, request)
    elif op == "cancel_all":
        category, symbol = arg
        entry.cancel_all(category, {"symbol": symbol})
    elif op == "stop":
        (category, symbol), away = arg
        spec = d.venue.specs[symbol if category == "linear" else f"{category}:{symbol}"]
        leg = d.venue.legs[spec.key, 1 if spec.hedge else 0]
        step = spec.tick * away * max(1, d.venue.markets[spec.key].mid_ticks // 20000)
        tp = d.venue.markets[spec.key].mid + (step if leg.net >= 0 else -step)
        entry.trading_stop(category, {"symbol": symbol, "positionIdx": leg.idx,
                                      "takeProfit": fmt(tp)})  # fmt: skip
    elif op == "tick":
        d.tick(int(arg))
    elif op == "background":
        for _ in range(int(arg)):
            policy.step()


def check_fees_and_wallet(d: Desk) -> None:
    """Each fee is value x rate; each derivatives coin = deposit + PnL - fees - funding,
    each spot coin moves as its fills say (``check_coins_add_up``)."""
    v = d.venue
    realised: dict[str, Decimal] = {}
    for e in v.executions.values():
        spec = next(s for s in v.specs.values() if (s.symbol, s.category) == (e.symbol, e.category))
        if e.exec_type == "Trade":
            base = (
                e.qty
                if e.category == "spot" and e.side == "Buy"
                else exec_value(spec, e.qty, e.price)
            )
            assert e.fee == q8(base * e.fee_rate)
        if e.category != "spot":
            coin = spec.settle_coin
            realised[coin] = realised.get(coin, ZERO) + e.pnl - e.fee
    for coin, value in realised.items():
        assert v.balance(coin) == DEPOSITS.get(coin, ZERO) + q8(value) + v.spot_flows.get(
            coin, ZERO
        )


def check_legs_and_reduce_only(d: Desk) -> None:
    """No hedge leg crossed zero; a reduce-only order's fills only closed."""
    for (key, idx), leg in d.venue.legs.items():
        assert (leg.net >= 0) if idx == 1 else (leg.net <= 0) if idx == 2 else True, key
    for e in d.venue.executions.values():
        o = d.venue.orders.get(e.order_id)
        if o is not None and o.reduce_only and e.exec_type == "Trade":
            assert e.closed == e.qty, o


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), flow=st.lists(ops, min_size=10, max_size=80))
def test_random_order_flows_keep_the_books(seed, flow):
    d = desk(seed=seed, depth=20)
    policy = RandomPolicy(d.venue, random.Random(seed + 1), SANDBOX_MIX, leave=d.entry.owns,
                          market_priced=True)  # fmt: skip
    ledger, anomalies, placed = Ledger(), [], []
    for op, arg in flow:
        before = d.state()
        try:
            run(d, policy, op, arg, placed)
        except Refused as refused:
            event(f"refused {op} {refused.code}")
            assert d.state() == before, (op, arg)
        for push in d.venue.take():
            anomalies += ledger.apply_frame(push.text, received_at=0)
        check_legs_and_reduce_only(d)
    anomalies += ledger.settle(received_at=0)
    fills = sum(e.exec_type == "Trade" for e in d.venue.executions.values())
    event(f"fills: {min(fills // 10, 5) * 10}+")
    event(f"orders of entry: {min(len(placed) // 10, 3) * 10}+")
    check_orders_add_up(d.venue)
    check_legs_add_up(d.venue)
    check_coins_add_up(d.venue)
    check_fees_and_wallet(d)
    assert [a for a in anomalies if isinstance(a, Anomaly)] == []
    assert differences(ledger, d.venue.truth()) == []
