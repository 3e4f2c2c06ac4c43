"""The core's shortcuts change speed, never results.

- events built by ``oms.core.events``' fast constructors are ordinary frozen instances;
- ``decide`` still follows the rules as first written (kept below as the reference);
- a leg's running sums (``reported_net``, ``tail_net``) equal what recomputing gives;
- the NamedTuple slices the core compares name the fields they mean.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms.core import events as ev
from oms.core.exact import add, negate, total
from oms.core.ledger import Batch, OrderUpdateRecord
from oms.core.orders import (
    CANCEL_RACE_REASON,
    IDENTITY,
    TERMS,
    Decision,
    Order,
    Side,
    Verdict,
    decide,
)
from oms.core.positions import Leg, LegKey, PositionReport
from oms.core.states import RANK, TERMINAL, TRANSITIONS, OrderStatus

D = Decimal
POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD

# --- events --------------------------------------------------------------------------------

_FAST_EVENTS: list[tuple[Any, type[ev.Event], dict[str, Any]]] = [
    (
        ev.order_status_changed,
        ev.OrderStatusChanged,
        {
            "venue_time": 1,
            "received_at": 2,
            "order_id": "o-1",
            "order_link_id": "",
            "symbol": "BTCUSDT",
            "previous": None,
            "status": OrderStatus.NEW,
            "cum_exec_qty": D("0.0"),
            "leaves_qty": None,
            "external": True,
        },
    ),
    (
        ev.order_amended,
        ev.OrderAmended,
        {
            "venue_time": 1,
            "received_at": 2,
            "order_id": "o-1",
            "symbol": "BTCUSDT",
            "status": OrderStatus.NEW,
            "old_qty": D(1),
            "qty": D(2),
            "old_price": None,
            "price": D("65000.5"),
            "old_trigger_price": D(0),
            "trigger_price": None,
        },
    ),
    (
        ev.fill_booked,
        ev.FillBooked,
        {
            "venue_time": 1,
            "received_at": 2,
            "exec_id": "e-1",
            "order_id": "o-1",
            "symbol": "BTCUSDT",
            "side": Side.SELL,
            "exec_type": "Trade",
            "exec_qty": D("0.5"),
            "exec_price": D(65000),
            "exec_fee": None,
            "changes_position": True,
            "position_idx": None,
        },
    ),
    (
        ev.position_changed,
        ev.PositionChanged,
        {
            "venue_time": 1,
            "received_at": 2,
            "category": "linear",
            "symbol": "BTCUSDT",
            "position_idx": 2,
            "previous_net_qty": D(0),
            "net_qty": D("-1.5"),
            "size": D("1.5"),
            "side": Side.SELL,
            "seq": 7,
        },
    ),
]


@pytest.mark.parametrize(("build", "cls", "fields"), _FAST_EVENTS)
def test_a_fast_built_event_is_an_ordinary_frozen_event(
    build: Any, cls: type[ev.Event], fields: dict[str, Any]
):
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(fields) == names  # every field, in order
    # The fast constructor takes exactly the class's fields, in this order.
    parameters = inspect.signature(build).parameters.values()
    assert [(p.name, p.kind) for p in parameters] == [(n, POSITIONAL) for n in names]
    assert build(**fields) == build(*fields.values())
    fast = build(*fields.values())
    usual = cls(**fields)
    assert type(fast) is cls
    assert fast == usual
    assert hash(fast) == hash(usual)
    assert repr(fast) == repr(usual)
    assert dataclasses.asdict(fast) == dataclasses.asdict(usual)
    assert pickle.loads(pickle.dumps(fast)) == usual  # noqa: S301 - our own bytes
    assert copy.deepcopy(fast) == usual
    assert dataclasses.replace(fast, venue_time=9) == dataclasses.replace(usual, venue_time=9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.venue_time = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del fast.received_at  # type: ignore[misc]
    assert not hasattr(fast, "__dict__")


# --- decide --------------------------------------------------------------------------------


def _sign(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def _reference_decide(held: Order | None, report: Order) -> Decision:  # noqa: C901, PLR0911
    """``decide`` as first written, attribute by attribute, sign by sign."""
    if held is None:
        return Decision(Verdict.APPLIED, status_changed=True)
    if (
        held.symbol != report.symbol
        or held.side != report.side
        or held.category != report.category
        or held.position_idx != report.position_idx
    ):
        return Decision(Verdict.ILLEGAL, reason="symbol, side, category or positionIdx changed")
    signs = (
        _sign(report.updated_time, held.updated_time),
        _sign(report.cum_exec_qty, held.cum_exec_qty),
        _sign(RANK[report.status], RANK[held.status]),
    )
    terms_changed = (
        held.qty != report.qty
        or held.price != report.price
        or held.trigger_price != report.trigger_price
    )
    if min(signs) < 0 < max(signs):
        names = ("updatedTime", "cumExecQty", "status rank")
        newer = [n for n, s in zip(names, signs, strict=True) if s > 0]
        older = [n for n, s in zip(names, signs, strict=True) if s < 0]
        reason = f"inconsistent report: newer by {', '.join(newer)} but older by {', '.join(older)}"
        return Decision(Verdict.ILLEGAL, reason=reason)
    if report.status is held.status:
        if report.is_cancel_race_echo and not held.is_cancel_race_echo:
            return Decision(Verdict.DUPLICATE, cancel_rejected=True)
        if held.is_cancel_race_echo and not report.is_cancel_race_echo:
            return Decision(Verdict.APPLIED)
        if min(signs) < 0:
            return Decision(Verdict.STALE)
        if max(signs) == 0:
            return Decision(Verdict.DUPLICATE)
        if held.status in TERMINAL:
            return Decision(Verdict.APPLIED)
        return Decision(Verdict.APPLIED, amended=terms_changed)
    if max(signs) <= 0:
        if min(signs) == 0:
            return Decision(
                Verdict.ILLEGAL,
                reason=f"{held.status.value} and {report.status.value} at the same instant",
            )
        return Decision(Verdict.STALE)
    if report.status not in TRANSITIONS[held.status]:
        return Decision(
            Verdict.ILLEGAL,
            reason=f"{held.status.value} -> {report.status.value} not allowed",
        )
    return Decision(Verdict.APPLIED, status_changed=True, amended=terms_changed)


_QTYS = st.sampled_from([D(0), D("0.0"), D("0.5"), D("1"), D("1.0"), D(2)])
_PRICES = st.sampled_from([None, D(0), D(65000), D("65000.0"), D(64000)])


@st.composite
def _orders(draw: st.DrawFn) -> Order:
    return Order(
        order_id="o-1",
        order_link_id=draw(st.sampled_from(["", "oms-1"])),
        category=draw(st.sampled_from(["linear", "spot"])),
        symbol=draw(st.sampled_from(["BTCUSDT", "ETHUSDT"])),
        side=draw(st.sampled_from(list(Side))),
        position_idx=draw(st.sampled_from([0, 1])),
        status=draw(st.sampled_from(list(OrderStatus))),
        order_type="Limit",
        stop_order_type="",
        qty=draw(_QTYS),
        price=draw(_PRICES),
        trigger_price=draw(_PRICES),
        cum_exec_qty=draw(_QTYS),
        cum_exec_value=None,
        cum_exec_fee=None,
        leaves_qty=None,
        avg_price=None,
        reduce_only=False,
        time_in_force="GTC",
        create_type="",
        cancel_type="",
        reject_reason=draw(st.sampled_from(["", "EC_NoError", CANCEL_RACE_REASON])),
        created_time=0,
        updated_time=draw(st.sampled_from([1, 2, 3])),
    )


@settings(max_examples=2000)  # cheap, and the rules have many corners
@given(held=st.one_of(st.none(), _orders()), report=_orders(), same=st.booleans())
def test_decide_follows_the_rules_as_first_written(held: Order | None, report: Order, same: bool):
    if same and held is not None:  # mostly the same order, as real reports are
        report = report._replace(
            category=held.category,
            symbol=held.symbol,
            side=held.side,
            position_idx=held.position_idx,
        )
    assert decide(held, report) == _reference_decide(held, report)


def test_the_compared_slices_name_the_fields_they_mean():
    assert Order._fields[IDENTITY] == ("category", "symbol", "side", "position_idx")
    assert Order._fields[TERMS] == ("qty", "price", "trigger_price")


# --- legs ----------------------------------------------------------------------------------


def _report(side: Side | None, size: str, seq: int) -> PositionReport:
    return PositionReport("linear", "BTCUSDT", 0, side, D(size), None, None, None, None, seq, 0)


_STEPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("fill"),
            st.one_of(st.none(), st.integers(1, 9)),
            st.sampled_from([D("0.5"), D("-0.5"), D(1), D("-1.0"), D("0.25")]),
        ),
        st.tuples(
            st.just("report"),
            st.sampled_from([Side.BUY, Side.SELL, None]),
            st.sampled_from(["0", "0.5", "1", "1.50"]),
            st.integers(0, 9),
        ),
    ),
    max_size=12,
)


@settings(max_examples=500)
@given(steps=_STEPS)
def test_a_legs_running_sums_equal_recomputing_them(steps: list[tuple[Any, ...]]):
    leg = Leg(LegKey("linear", "BTCUSDT", 0))
    fills: list[tuple[int | None, Decimal]] = []
    for step in steps:
        if step[0] == "fill":
            leg.add_fill(step[1], step[2])
            fills.append((step[1], step[2]))
        else:
            side, size, seq = step[1:]
            leg.set_report(_report(side, "0" if side is None else size, seq))
        report = leg.report
        assert leg.fills_net == total(q for _, q in fills)
        if report is None:
            assert leg.reported_net is None
            assert leg.disagreement() is None
            continue
        assert repr(leg.reported_net) == repr(report.net_qty)
        assert repr(leg.tail_net) == repr(total(q for _, q in leg.tail))
        covered = leg.fills_net
        if leg.tail:
            covered = add(covered, negate(total(q for _, q in leg.tail)))
        assert repr(leg.covered_net()) == repr(covered)
        want = None if report.net_qty == covered else (report.net_qty, covered)
        assert repr(leg.disagreement()) == repr(want)


# --- batches -------------------------------------------------------------------------------


def _an_order() -> Order:
    values: dict[str, Any] = dict.fromkeys(Order._fields, "")
    values.update(side=Side.BUY, status=OrderStatus.NEW, qty=D(1), cum_exec_qty=D(0))
    return Order(**values)


def test_a_cleared_batch_is_empty_and_hands_out_a_new_events_list():
    batch = Batch()
    order = _an_order()
    batch.verdicts.append(Verdict.APPLIED)
    batch.order_reports.append((None, order, Verdict.APPLIED))
    batch.orders.add("o-1")
    batch.fills.add("e-1")
    batch.legs.add(LegKey("linear", "BTCUSDT", 0))
    events = batch.events
    events.append(ev.StreamGapDetected(venue_time=0, received_at=0, reason="x"))
    assert batch.order_updates == [OrderUpdateRecord(None, order, Verdict.APPLIED)]
    batch.clear()
    assert len(events) == 1  # the list handed out before is left alone
    assert batch.events == []
    assert batch.events is not events
    assert (batch.verdicts, batch.order_updates) == ([], [])
    assert (batch.orders, batch.fills, batch.legs) == (set(), set(), set())
