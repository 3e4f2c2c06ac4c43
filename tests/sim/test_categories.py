"""The simulator's other categories: the inverse perpetual BTCUSD (contracts of 1 USD;
values, fees and PnL in BTC) and the spot pair BTCUSDT (no position; fees by Bybit's spot
rule; the wallet's BTC and USDT move with the fills), beside the linear BTCUSDT of the
same name. Scripted flows check the arithmetic against numbers worked out by hand; random
flows (hypothesis over the policy's seed) check that the venue's own bookkeeping agrees
with its fills, that every frame decodes with oms's codec on the right categorised
topic, and that a ledger fed the frames holds exactly the venue's truth."""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms import Anomaly, Ledger
from oms.bybit.codec import DataFrame, decode_exactly
from oms.sim import DEFAULT_SYMBOLS, SANDBOX_MIX, RandomIds, RandomPolicy, Terms, Venue, VenueError
from oms.sim.compare import differences
from oms.sim.records import ZERO, q8
from oms.sim.specs import CATALOGUE, CATEGORY_SYMBOLS, DEPOSITS, symbols_of

D = Decimal
INVERSE = CATEGORY_SYMBOLS["inverse"][0]
SPOT = CATEGORY_SYMBOLS["spot"][0]


def venue_of(*categories: str, **options: bool) -> Venue:
    return Venue(symbols_of(categories, (CATALOGUE["BTCUSDT"],)), **options)


def decoded(text: str) -> DataFrame:
    frame = decode_exactly(text)
    assert isinstance(frame, DataFrame), text
    assert frame.errors == [], (frame.errors, text)
    return frame


def pushed(venue: Venue) -> dict[str, list[dict[str, object]]]:
    """The elements pushed since the last call, per topic (and every frame decodes)."""
    found: dict[str, list[dict[str, object]]] = {}
    for push in venue.take():
        for name in push.names():
            text = push.render(name)
            if text is not None and name != "wallet":
                decoded(text)
        found.setdefault(push.topic, []).extend(push.data)
    return found


# --- inverse --------------------------------------------------------------------------


def test_an_inverse_round_trip_is_valued_fee_d_and_settled_in_btc():
    venue = venue_of("inverse", wallet=True, detail=True)
    buy = venue.place(Terms("BTCUSD", "Buy", D(1000), order_type="Market", category="inverse"))
    venue.match(buy.order_id, [(D(1000), D(65000))])
    frames = pushed(venue)
    (fill,) = frames["execution"]
    value = q8(D(1000) / D(65000))
    assert fill["category"] == "inverse"
    assert D(str(fill["execValue"])) == value == D("0.01538462")
    assert D(str(fill["execFee"])) == q8(value * D("0.00055"))
    (position,) = frames["position"]
    assert (position["category"], position["size"], position["positionValue"]) == (
        "inverse",
        "1000",
        "0.01538462",
    )
    sell = venue.place(Terms("BTCUSD", "Sell", D(1000), order_type="Market", category="inverse"))
    venue.match(sell.order_id, [(D(1000), D(66000))])
    frames = pushed(venue)
    pnl = q8(D(1000) * (1 / D(65000) - 1 / D(66000)))
    fees = q8(value * D("0.00055")) + q8(q8(D(1000) / D(66000)) * D("0.00055"))
    (closing,) = frames["execution"]
    assert closing["closedSize"] == "1000"
    assert D(str(closing["execPnl"])) == pnl
    assert venue.legs["inverse:BTCUSD", 0].cum_realised == pnl - fees
    assert venue.balance("BTC") == DEPOSITS["BTC"] + pnl - fees
    (wallet,) = frames["wallet"]
    coins = {c["coin"]: c for c in wallet["coin"]}  # type: ignore[attr-defined]
    assert D(coins["BTC"]["walletBalance"]) == DEPOSITS["BTC"] + pnl - fees
    order = frames["order"][-1]
    assert order["cumFeeDetail"] == {} or "BTC" in order["cumFeeDetail"]  # type: ignore[operator]


def test_an_inverse_average_is_over_the_contracts_values():
    venue = venue_of("inverse")
    buy = venue.place(Terms("BTCUSD", "Buy", D(3000), order_type="Market", category="inverse"))
    venue.match(buy.order_id, [(D(1000), D(60000)), (D(2000), D(70000))])
    (report,) = [e for e in pushed(venue)["order"] if e["orderStatus"] == "Filled"]
    worth = q8(D(1000) / D(60000)) + q8(D(2000) / D(70000))
    assert D(str(report["cumExecValue"])) == worth
    assert D(str(report["avgPrice"])) == q8(D(3000) / worth)
    entry = venue.legs["inverse:BTCUSD", 0].entry
    assert entry == q8(D(3000) / (D(1000) / D(60000) + D(2000) / D(70000)))
    assert D(60000) < entry < D(70000) * 2 / 3 + D(60000) / 3  # below the qty-weighted mean


def test_inverse_funding_is_paid_in_btc_on_the_value_at_the_mark():
    venue = venue_of("inverse")
    buy = venue.place(Terms("BTCUSD", "Buy", D(650), order_type="Market", category="inverse"))
    venue.match(buy.order_id, [(D(650), D(65000))])
    venue.take()
    funding = venue.funding("inverse:BTCUSD", 0, rate=D("0.0001"))
    mark = venue.markets["inverse:BTCUSD"].mark
    assert funding.fee == q8(q8(D(650) / mark) * D("0.0001"))
    assert funding.fee_coin == "BTC"
    frames = pushed(venue)
    assert frames["execution"][0]["execType"] == "Funding"
    assert frames["position"][0]["category"] == "inverse"


# --- spot -----------------------------------------------------------------------------


def test_a_spot_buy_pays_its_fee_in_btc_and_a_sell_in_usdt():
    venue = venue_of("spot", detail=True)
    buy = venue.place(Terms("BTCUSDT", "Buy", D("0.01"), order_type="Market", category="spot"))
    venue.match(buy.order_id, [(D("0.01"), D(65000))])
    frames = pushed(venue)
    assert "position" not in frames
    (fill,) = frames["execution"]
    assert (fill["category"], fill["execFee"], fill["feeCurrency"]) == ("spot", "0.00001", "BTC")
    assert "createType" not in fill
    assert venue.balance("BTC") == DEPOSITS["BTC"] + D("0.01") - D("0.00001")
    assert venue.balance("USDT") == DEPOSITS["USDT"] - D(650)
    sell = venue.place(Terms("BTCUSDT", "Sell", D("0.004"), price=D(66000), category="spot"))
    assert venue.locked("BTC") == D("0.004")
    venue.match(sell.order_id, [(D("0.004"), D(66000))])
    (fill,) = pushed(venue)["execution"]
    assert (fill["execFee"], fill["feeCurrency"], fill["isMaker"]) == ("0.264", "USDT", True)
    assert venue.balance("USDT") == DEPOSITS["USDT"] - D(650) + D(264) - D("0.264")
    assert venue.spot_legs["spot:BTCUSDT"].net == D("0.006")
    assert venue.locked("BTC") == 0


def test_a_spot_order_filled_in_part_then_cancelled_ends_partially_filled_canceled():
    venue = venue_of("spot")
    ioc = venue.place(
        Terms("BTCUSDT", "Buy", D("0.01"), price=D(65100), time_in_force="IOC", category="spot"),
        announce=False,
    )
    venue.match(ioc.order_id, [(D("0.004"), D(65000))], cancel_rest=True)
    gtc = venue.place(Terms("BTCUSDT", "Buy", D("0.01"), price=D(64000), category="spot"))
    venue.match(gtc.order_id, [(D("0.002"), D(64000))])
    untouched = venue.place(Terms("BTCUSDT", "Buy", D("0.01"), price=D(63000), category="spot"))
    venue.cancel(gtc.order_id, untouched.order_id)
    statuses = {o.order_id: o.status for o in venue.orders.values()}
    assert statuses == {
        ioc.order_id: "PartiallyFilledCanceled",
        gtc.order_id: "PartiallyFilledCanceled",
        untouched.order_id: "Cancelled",
    }
    reports = pushed(venue)["order"]
    assert {e["orderStatus"] for e in reports} >= {"PartiallyFilledCanceled", "Cancelled"}
    assert all(e["positionIdx"] == 0 and "createType" not in e for e in reports)


def spot_state(venue: Venue) -> tuple[object, ...]:
    return (copy.deepcopy(venue.truth()), dict(venue.spot_flows), venue.take())


@pytest.mark.parametrize(
    "request_",
    [
        lambda v: v.place(Terms("BTCUSDT", "Sell", D(6), price=D(65000), category="spot")),
        lambda v: v.place(Terms("BTCUSDT", "Buy", D(2), price=D(65000), category="spot")),
        lambda v: v.place(
            Terms("BTCUSDT", "Sell", D("0.1"), price=D(65000), reduce_only=True, category="spot")
        ),
        lambda v: v.place(
            Terms(
                "BTCUSDT", "Buy", D("0.1"), price=D(65000), trigger_price=D(66000), category="spot"
            )
        ),
        lambda v: v.report_position("spot:BTCUSDT", 0),
        lambda v: v.place(Terms("BTCUSD", "Buy", D(1), price=D(65000), category="inverse")),
    ],
)
def test_a_spot_request_the_wallet_or_the_rules_refuse_changes_nothing(request_):
    venue = venue_of("linear", "spot")
    before = spot_state(venue)
    with pytest.raises(VenueError):
        request_(venue)
    assert spot_state(venue) == before


def test_the_same_symbol_in_two_categories_keeps_two_books():
    venue = venue_of("linear", "spot")
    linear = venue.place(Terms("BTCUSDT", "Buy", D("0.01"), order_type="Market"))
    venue.match(linear.order_id, [(D("0.01"), D(65000))])
    spot = venue.place(Terms("BTCUSDT", "Sell", D("0.02"), order_type="Market", category="spot"))
    venue.match(spot.order_id, [(D("0.02"), D(65000))])
    assert venue.legs["BTCUSDT", 0].net == D("0.01")
    assert venue.spot_legs["spot:BTCUSDT"].net == D("-0.02")
    truth = venue.truth()
    assert list(truth["positions"]) == ["BTCUSDT:0"]
    assert {e["category"] for e in truth["executions"].values()} == {"linear", "spot"}
    names = {p.topic: p.names() for p in venue.take() if p.category == "spot"}
    assert names["order"] == ("order", "order.spot")
    assert names["execution"] == (
        "execution",
        "execution.spot",
        "execution.fast",
        "execution.fast.spot",
    )


# --- random flows ---------------------------------------------------------------------


def signed(qty: Decimal, side: str) -> Decimal:
    return qty if side == "Buy" else -qty


def check_orders_add_up(venue: Venue) -> None:
    """Every order's cumulative qty, value and fee are the sums of its executions."""
    sums: dict[str, list[Decimal]] = {}
    for e in venue.executions.values():
        if e.exec_type == "Trade":
            row = sums.setdefault(e.order_id, [ZERO, ZERO, ZERO])
            for i, part in enumerate((e.qty, e.value, e.fee)):
                row[i] += part
    for o in venue.orders.values():
        assert [o.cum_qty, o.cum_value, o.cum_fee] == sums.get(o.order_id, [ZERO] * 3), o


def check_legs_add_up(venue: Venue) -> None:
    """A leg's net is its trades' signed sum; what it realised is their PnL less every fee
    (funding included), in its settle coin."""
    for (key, idx), leg in venue.legs.items():
        mine = [
            e
            for e in venue.executions.values()
            if e.idx == idx and venue.specs[key].symbol == e.symbol
            and venue.specs[key].category == e.category
        ]  # fmt: skip
        trades = [e for e in mine if e.exec_type == "Trade"]
        assert leg.net == sum((signed(e.qty, e.side) for e in trades), ZERO)
        assert leg.cum_realised == sum((e.pnl for e in trades), ZERO) - sum(
            (e.fee for e in mine), ZERO
        )
        assert {e.fee_coin for e in mine} <= {leg.market.spec.settle_coin}


def check_coins_add_up(venue: Venue) -> None:
    """Spot fills move the base coin by what a buy receives less its fee (and a sell
    pays), the quote coin by what a sell receives less its fee (and a buy pays); no coin
    goes below zero."""
    for key, leg in venue.spot_legs.items():
        spec = venue.specs[key]
        fills = [
            e for e in venue.executions.values() if e.category == "spot" and e.symbol == spec.symbol
        ]
        base = sum((signed(e.qty, e.side) for e in fills), ZERO)
        assert leg.net == base
        base -= sum((e.fee for e in fills if e.side == "Buy"), ZERO)
        quote = -sum((signed(e.value, e.side) for e in fills), ZERO)
        quote -= sum((e.fee for e in fills if e.side == "Sell"), ZERO)
        assert venue.spot_flows.get(spec.base_coin, ZERO) == base
        assert venue.spot_flows.get(spec.quote_coin, ZERO) == quote
        assert {e.fee_coin for e in fills if e.side == "Buy"} <= {spec.base_coin}
        assert {e.fee_coin for e in fills if e.side == "Sell"} <= {spec.quote_coin}
    for coin in venue.coins():
        assert venue.balance(coin) >= 0
        assert venue.free(coin) >= 0


def check_frames(frames: list[tuple[str, str, str]], category: str) -> None:
    """Each frame decodes on its topic name with no refused element, carries the
    symbol's category, and a spot symbol never pushes a position."""
    names: Counter[str] = Counter()
    for name, kind, text in frames:
        names[name] += 1
        if kind == "wallet":
            assert json.loads(text)["data"][0]["accountType"] == "UNIFIED"
            continue
        frame = decoded(text)
        assert {e.category for e in frame.elements} == {category}
    if category == "spot":
        assert not any(n.startswith("position") for n in names)
    assert names[f"order.{category}"] == names["order"] > 0
    assert names[f"execution.{category}"] == names["execution"] > 0


@pytest.mark.parametrize("category", ["linear", "inverse", "spot"])
@settings(max_examples=12)
@given(seed=st.integers(0, 2**32), steps=st.integers(50, 400))
def test_random_flows_keep_the_books_of_each_category(category, seed, steps):
    rng = random.Random(seed)
    specs = symbols_of((category,), DEFAULT_SYMBOLS[:1])
    venue = Venue(specs, ids=RandomIds(rng), detail=True, wallet=True)
    policy = RandomPolicy(venue, rng, SANDBOX_MIX)
    frames: list[tuple[str, str, str]] = []
    ledger = Ledger()
    anomalies: list[object] = []
    for _ in range(steps):
        policy.step()
        for push in venue.take():
            frames += [
                (name, push.topic, text)
                for name in push.names()
                if (text := push.render(name)) is not None
            ]
            anomalies += ledger.apply_frame(push.text, received_at=0)
    anomalies += ledger.settle(received_at=0)
    check_orders_add_up(venue)
    check_legs_add_up(venue)
    check_coins_add_up(venue)
    if venue.executions:
        check_frames(frames, category)
    assert [a for a in anomalies if isinstance(a, Anomaly)] == []
    assert differences(ledger, venue.truth()) == []


def test_all_categories_at_once_replay_into_a_ledger_that_holds_the_truth():
    rng = random.Random(3)
    venue = Venue(
        symbols_of(("linear", "inverse", "spot"), DEFAULT_SYMBOLS),
        ids=RandomIds(rng), detail=True, wallet=True, fast_frames=True,
    )  # fmt: skip
    policy = RandomPolicy(venue, rng, SANDBOX_MIX)
    ledger = Ledger()
    anomalies = []
    for _ in range(3000):
        policy.step()
        for push in venue.take():
            anomalies += ledger.apply_frame(push.text, received_at=0)
    anomalies += ledger.settle(received_at=0)
    assert [a for a in anomalies if isinstance(a, Anomaly)] == []
    truth = venue.truth()
    assert differences(ledger, truth) == []
    assert {o["category"] for o in truth["orders"].values()} == {"linear", "inverse", "spot"}
    assert {k.split(":")[0] for k in truth["positions"]} >= {"inverse", "BTCUSDT"}
    statuses = Counter(o.status for o in venue.orders.values() if o.category == "spot")
    assert statuses["PartiallyFilledCanceled"] > 0
    assert set(truth["balances"]) == {"USDT", "BTC"}
    changed = copy.deepcopy(truth)
    changed["positions"]["inverse:BTCUSD:0"]["signedSize"] = "123456"
    assert any("inverse:BTCUSD:0" in d for d in differences(ledger, changed))
