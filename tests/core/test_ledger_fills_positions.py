"""Fills and positions through ``Ledger.apply_frame``: dedup, signs, hedge legs, settling."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms import (
    Event,
    Fill,
    FillBooked,
    FillForUnknownOrder,
    FillSource,
    Ledger,
    LegKey,
    OrderStatusChanged,
    Outcome,
    OverFilled,
    PositionChanged,
    PositionMismatch,
    PositionMismatchResolved,
)
from tests.core.frames import (
    execution,
    execution_frame,
    fast_execution,
    fast_frame,
    ms,
    of,
    order,
    order_frame,
    position,
    position_frame,
)

OID = "9aac161b-8ed6-450d-9cab-c5cc67c21784"
EID = "0ab1bdf7-4219-438b-b30a-32ec863018f7"
D = Decimal


def filler(ledger: Ledger, n: int) -> list[Event]:
    """Apply ``n`` unrelated frames (new DOGEUSDT orders); return their events."""
    events: list[Event] = []
    for i in range(n):
        events += ledger.apply_frame(
            order_frame(order(orderId=f"doge-{len(ledger.orders())}-{i}", symbol="DOGEUSDT"))
        )
    return [e for e in events if not isinstance(e, OrderStatusChanged)]


def current_fill(ledger: Ledger, exec_id: str = EID) -> Fill:
    """A booked fill that must be known."""
    fill = ledger.fill(exec_id)
    assert fill is not None
    return fill


def filled_order(**fields: Any) -> dict[str, Any]:
    return order(**{"orderStatus": "Filled", "cumExecQty": "1", "updatedTime": ms(1), **fields})


# --- execId dedup across topics ---------------------------------------------------------


def test_fast_then_full_enriches_and_counts_once():
    ledger = Ledger()
    ledger.apply_frame(order_frame(filled_order()))
    (booked,) = ledger.apply_frame(fast_frame(fast_execution(seq=101)))
    assert isinstance(booked, FillBooked)
    assert (booked.exec_id, booked.exec_fee, booked.position_idx) == (EID, None, 0)
    assert booked.exec_qty == D(1)
    assert isinstance(booked.exec_qty, Decimal)
    assert isinstance(booked.exec_price, Decimal)
    assert current_fill(ledger).source is FillSource.FAST
    result = ledger.feed(execution_frame(execution(seq=101, execFee="0.0325")))
    assert result.outcome is Outcome.APPLIED
    assert result.events == []
    fill = current_fill(ledger)
    assert fill.source is FillSource.STREAM
    assert fill.exec_fee == D("0.0325")
    assert isinstance(fill.exec_fee, Decimal)
    assert fill.fee_rate == D("0.0002")
    assert len(ledger.fills()) == 1
    assert ledger.booked_qty(OID) == D(1)
    assert ledger.derived_position("BTCUSDT") == D(1)
    assert ledger.apply_frame(position_frame(position(seq=101, size="1"))) != []
    assert ledger.settle(received_at=0) == []
    assert ledger.stats["applied"] == 4
    assert ledger.stats["duplicate"] == 0


def test_full_then_fast_is_a_duplicate():
    ledger = Ledger()
    ledger.apply_frame(order_frame(filled_order()))
    ledger.apply_frame(execution_frame(execution(execFee="-0.013")))
    result = ledger.feed(fast_frame(fast_execution()))
    assert result.outcome is Outcome.DUPLICATE
    assert result.events == []
    assert current_fill(ledger).source is FillSource.STREAM
    assert current_fill(ledger).exec_fee == D("-0.013")
    assert ledger.booked_qty(OID) == D(1)
    assert ledger.derived_position("BTCUSDT") == D(1)
    # The full copy again is a duplicate too.
    assert ledger.feed(execution_frame(execution())).outcome is Outcome.DUPLICATE
    assert ledger.stats["duplicate"] == 2
    assert ledger.stats["applied"] == 2


# --- exec types -------------------------------------------------------------------------


def test_funding_never_moves_the_position_adl_and_bust_do():
    ledger = Ledger()
    ledger.apply_frame(order_frame(filled_order()))
    ledger.apply_frame(execution_frame(execution()))
    assert ledger.derived_position("BTCUSDT") == D(1)
    funding = execution(
        execId="funding-1",
        execType="Funding",
        orderId="1717200083-85-382053-1-2",
        orderLinkId="",
        orderType="UNKNOWN",
        orderPrice="0",
        orderQty="0",
        side="Sell",
        execQty="1",
        execFee="0.65",
        createType="",
        execTime=ms(10),
    )
    (event,) = ledger.apply_frame(execution_frame(funding))
    assert isinstance(event, FillBooked)
    assert event.changes_position is False
    assert event.position_idx is None
    assert ledger.derived_position("BTCUSDT") == D(1)
    adl = execution(
        execId="adl-1",
        execType="AdlTrade",
        orderId="adl-order",
        orderLinkId="",
        side="Sell",
        execQty="0.4",
        createType="CreateByAdl_PassThrough",
        seq=4600000002,
    )
    bust = execution(
        execId="bust-1",
        execType="BustTrade",
        orderId="bust-order",
        orderLinkId="",
        side="Sell",
        execQty="0.6",
        createType="CreateByTakeOver_PassThrough",
        seq=4600000003,
    )
    events = ledger.apply_frame(execution_frame(adl, bust))
    booked = of(FillBooked, events)
    assert len(booked) == len(events)
    assert [(e.changes_position, e.position_idx) for e in booked] == [(True, 0), (True, 0)]
    assert ledger.derived_position("BTCUSDT") == D(0)
    assert isinstance(ledger.derived_position("BTCUSDT"), Decimal)


# --- one-way signs ----------------------------------------------------------------------


def test_one_way_reported_signs():
    ledger = Ledger()
    for side, size, seq, want in (
        ("Buy", "1", 1, D(1)),
        ("Sell", "2", 2, D(-2)),
        ("", "0", 3, D(0)),
    ):
        events = ledger.apply_frame(position_frame(position(side=side, size=size, seq=seq)))
        assert [e.net_qty for e in of(PositionChanged, events)] == [want]
        assert ledger.position("BTCUSDT") == want
        assert isinstance(ledger.position("BTCUSDT"), Decimal)
    report = ledger.position_report(LegKey("linear", "BTCUSDT", 0))
    assert report is not None
    assert report.side is None
    assert report.size == D(0)


def test_one_way_flip_through_zero():
    ledger = Ledger()
    ledger.apply_frame(order_frame(filled_order(orderId="buy-1")))
    ledger.apply_frame(execution_frame(execution(execId="e1", orderId="buy-1", seq=1)))
    ledger.apply_frame(position_frame(position(side="Buy", size="1", seq=1)))
    assert ledger.position("BTCUSDT") == ledger.derived_position("BTCUSDT") == D(1)
    sell = filled_order(orderId="sell-3", side="Sell", qty="3", cumExecQty="3", updatedTime=ms(5))
    ledger.apply_frame(order_frame(sell))
    ledger.apply_frame(
        execution_frame(execution(execId="e2", orderId="sell-3", side="Sell", execQty="3", seq=2))
    )
    assert ledger.derived_position("BTCUSDT") == D(-2)
    events = ledger.apply_frame(position_frame(position(side="Sell", size="2", seq=2)))
    (changed,) = events
    assert isinstance(changed, PositionChanged)
    assert (changed.previous_net_qty, changed.net_qty, changed.size) == (D(1), D(-2), D(2))
    assert ledger.position("BTCUSDT") == D(-2)
    assert ledger.settle(received_at=0) == []


# --- hedge mode -------------------------------------------------------------------------


def hedge_order(oid: str, side: str, idx: int, qty: str) -> dict[str, Any]:
    return order(
        orderId=oid,
        symbol="ETHUSDT",
        side=side,
        positionIdx=idx,
        orderStatus="Filled",
        qty=qty,
        cumExecQty=qty,
        price="3400",
    )


def hedge_fill(eid: str, oid: str, side: str, qty: str, seq: int) -> dict[str, Any]:
    return execution(
        execId=eid, orderId=oid, symbol="ETHUSDT", side=side, execQty=qty, execPrice="3400", seq=seq
    )


def test_hedge_legs_and_net():
    ledger = Ledger()
    ledger.apply_frame(
        order_frame(hedge_order("L", "Buy", 1, "2"), hedge_order("S", "Sell", 2, "0.5"))
    )
    events = ledger.apply_frame(
        execution_frame(
            hedge_fill("e1", "L", "Buy", "2", 10), hedge_fill("e2", "S", "Sell", "0.5", 11)
        )
    )
    assert [e.position_idx for e in of(FillBooked, events)] == [1, 2]
    assert len(events) == 2
    ledger.apply_frame(
        position_frame(
            position(symbol="ETHUSDT", positionIdx=1, side="Buy", size="2", seq=11),
            position(symbol="ETHUSDT", positionIdx=2, side="Sell", size="0.5", seq=11),
        )
    )
    assert ledger.position("ETHUSDT") == D("1.5")  # long 2 minus short 0.5
    assert ledger.derived_position("ETHUSDT") == D("1.5")
    legs = ledger.legs()
    assert legs[LegKey("linear", "ETHUSDT", 1)].derived_net == D(2)
    assert legs[LegKey("linear", "ETHUSDT", 2)].derived_net == D("-0.5")
    # A Buy that closes the short leg goes to idx 2, not to the long leg.
    ledger.apply_frame(order_frame(hedge_order("C", "Buy", 2, "0.5")))
    (booked,) = of(
        FillBooked, ledger.apply_frame(execution_frame(hedge_fill("e3", "C", "Buy", "0.5", 12)))
    )
    assert booked.position_idx == 2
    legs = ledger.legs()
    assert legs[LegKey("linear", "ETHUSDT", 1)].derived_net == D(2)
    assert legs[LegKey("linear", "ETHUSDT", 2)].derived_net == D(0)
    assert ledger.settle(received_at=0) == []


def test_hedge_fill_before_its_order_is_attributed_when_the_order_arrives():
    ledger = Ledger(settle_frames=3)
    (booked,) = of(
        FillBooked, ledger.apply_frame(execution_frame(hedge_fill("e2", "S", "Sell", "0.5", 11)))
    )
    assert booked.position_idx is None
    assert ledger.derived_position("ETHUSDT") == D(0)
    assert ledger.legs() == {}
    ledger.apply_frame(
        position_frame(position(symbol="ETHUSDT", positionIdx=2, side="Sell", size="0.5", seq=11))
    )
    ledger.apply_frame(order_frame(hedge_order("S", "Sell", 2, "0.5")))
    assert ledger.derived_position("ETHUSDT") == D("-0.5")
    assert ledger.legs()[LegKey("linear", "ETHUSDT", 2)].derived_net == D("-0.5")
    assert LegKey("linear", "ETHUSDT", 1) not in ledger.legs()
    assert filler(ledger, 4) == []
    assert ledger.settle(received_at=0) == []


# --- position report ordering -----------------------------------------------------------


def test_position_reports_ordered_by_seq_then_updated_time():
    ledger = Ledger()
    first = ledger.feed(position_frame(position(size="1", seq=10, updatedTime=ms(0))))
    assert len(first.events) == 1
    (changed,) = of(PositionChanged, first.events)
    assert (changed.previous_net_qty, changed.net_qty, changed.seq) == (D(0), D(1), 10)
    noise = ledger.feed(position_frame(position(size="1", seq=10, updatedTime=ms(5))))
    assert (noise.outcome, noise.events) == (Outcome.APPLIED, [])
    report = ledger.position_report(LegKey("linear", "BTCUSDT", 0))
    assert report is not None
    assert report.updated_time == int(ms(5))
    lower = ledger.feed(position_frame(position(size="3", seq=9, updatedTime=ms(9))))
    assert (lower.outcome, lower.events) == (Outcome.STALE, [])
    older = ledger.feed(position_frame(position(size="3", seq=10, updatedTime=ms(4))))
    assert (older.outcome, older.events) == (Outcome.STALE, [])
    same = ledger.feed(position_frame(position(size="2", seq=10, updatedTime=ms(5))))
    assert (same.outcome, same.events) == (Outcome.DUPLICATE, [])
    assert ledger.position("BTCUSDT") == D(1)
    newer = ledger.feed(position_frame(position(side="Sell", size="1", seq=11, updatedTime=ms(6))))
    assert len(newer.events) == 1
    (changed,) = of(PositionChanged, newer.events)
    assert (changed.previous_net_qty, changed.net_qty, changed.seq) == (D(1), D(-1), 11)
    assert ledger.position("BTCUSDT") == D(-1)


def test_first_report_of_a_flat_leg_is_not_a_position_change():
    """PositionChanged means the signed size differs from before; 0 -> 0 is no change."""
    ledger = Ledger()
    flat = position(symbol="ETHUSDT", positionIdx=2, side="", size="0", seq=8327597863)
    result = ledger.feed(position_frame(flat))
    assert result.outcome is Outcome.APPLIED
    assert ledger.position("ETHUSDT") == D(0)
    assert of(PositionChanged, result.events) == []


# --- position vs fills ------------------------------------------------------------------


def test_report_before_the_fill_it_covers_is_not_a_mismatch():
    ledger = Ledger(settle_frames=3)
    ledger.apply_frame(order_frame(filled_order()))
    ledger.apply_frame(position_frame(position(size="1", seq=100)))
    assert filler(ledger, 2) == []
    assert of(PositionMismatch, ledger.apply_frame(execution_frame(execution(seq=100)))) == []
    assert filler(ledger, 5) == []
    assert ledger.settle(received_at=0) == []


def test_fill_newer_than_the_report_is_not_covered_by_it():
    ledger = Ledger(settle_frames=3)
    ledger.apply_frame(order_frame(filled_order()))
    ledger.apply_frame(execution_frame(execution(seq=101)))
    ledger.apply_frame(position_frame(position(side="", size="0", seq=100)))
    assert filler(ledger, 5) == []
    assert ledger.settle(received_at=0) == []
    ledger.apply_frame(position_frame(position(size="1", seq=101)))
    assert ledger.settle(received_at=0) == []


def test_real_mismatch_after_settle_frames_then_resolved():
    ledger = Ledger(settle_frames=3)
    ledger.apply_frame(order_frame(filled_order(qty="2", cumExecQty="2")))
    ledger.apply_frame(execution_frame(execution(seq=100)))
    assert (
        of(PositionMismatch, ledger.apply_frame(position_frame(position(size="2", seq=100)))) == []
    )
    assert filler(ledger, 2) == []
    (mismatch,) = filler(ledger, 1)
    assert isinstance(mismatch, PositionMismatch)
    assert (mismatch.symbol, mismatch.position_idx, mismatch.seq) == ("BTCUSDT", 0, 100)
    assert (mismatch.reported_net_qty, mismatch.fills_net_qty) == (D(2), D(1))
    assert isinstance(mismatch.fills_net_qty, Decimal)
    assert filler(ledger, 5) == []
    assert ledger.settle(received_at=0) == []
    late = execution(execId="late", seq=100)
    events = ledger.apply_frame(execution_frame(late), received_at=77)
    (resolved,) = of(PositionMismatchResolved, events)
    assert (resolved.net_qty, resolved.seq, resolved.received_at) == (D(2), 100, 77)
    assert ledger.settle(received_at=0) == []


def test_settle_reports_a_mismatch_at_once():
    ledger = Ledger()
    ledger.apply_frame(order_frame(filled_order()))
    ledger.apply_frame(execution_frame(execution(seq=100)))
    ledger.apply_frame(position_frame(position(side="Sell", size="1", seq=100)))
    (mismatch,) = ledger.settle(received_at=123)
    assert isinstance(mismatch, PositionMismatch)
    assert (mismatch.reported_net_qty, mismatch.fills_net_qty) == (D(-1), D(1))
    assert mismatch.received_at == 123
    assert ledger.settle(received_at=124) == []
    events = ledger.apply_frame(position_frame(position(size="1", seq=100, updatedTime=ms(9))))
    assert [type(e) for e in events] == [PositionChanged, PositionMismatchResolved]


# --- opening balances -------------------------------------------------------------------


def test_a_position_held_before_oms_started_is_its_opening_balance():
    """The first report of a leg with no fill held: no PositionMismatch, the derived net
    starts at the reported one, and later fills move it on."""
    ledger = Ledger(settle_frames=2)
    result = ledger.feed(position_frame(position(side="Sell", size="3", seq=500)))
    assert of(PositionChanged, result.events)
    filler(ledger, 4)
    assert ledger.settle(received_at=0) == []
    leg = ledger.legs()[LegKey("linear", "BTCUSDT", 0)]
    assert leg.opening == (D(-3), 500)
    assert leg.derived_net == D(-3)
    # A fill after the opening moves the derived net on from it...
    ledger.apply_frame(order_frame(filled_order(side="Buy")))
    ledger.apply_frame(execution_frame(execution(side="Buy", seq=501)))
    assert leg.derived_net == D(-2)
    ledger.apply_frame(position_frame(position(side="Sell", size="2", seq=501)))
    assert filler(ledger, 4) == []
    assert ledger.settle(received_at=0) == []
    # ...and a report no fill explains is still flagged.
    ledger.apply_frame(position_frame(position(side="Sell", size="7", seq=502)))
    (mismatch,) = ledger.settle(received_at=0)
    assert isinstance(mismatch, PositionMismatch)
    assert (mismatch.reported_net_qty, mismatch.fills_net_qty) == (D(-7), D(-2))


def test_fills_at_or_below_the_opening_seq_are_inside_it():
    """The report overtook its own fills (no ordering between topics): they arrive later
    with seqs at or below it and are booked, but the opening already counts them."""
    ledger = Ledger(settle_frames=2)
    ledger.apply_frame(position_frame(position(side="Buy", size="2", seq=100)))
    ledger.apply_frame(order_frame(filled_order(qty="2", cumExecQty="2")))
    ledger.apply_frame(execution_frame(execution(execId="a", seq=99)))
    ledger.apply_frame(execution_frame(execution(execId="b", seq=100)))
    leg = ledger.legs()[LegKey("linear", "BTCUSDT", 0)]
    assert leg.derived_net == D(2)
    assert ledger.booked_qty(OID) == D(2)
    assert filler(ledger, 4) == []
    assert ledger.settle(received_at=0) == []


def test_a_leg_with_fills_takes_no_opening_balance():
    ledger = Ledger()
    ledger.apply_frame(order_frame(filled_order()))
    ledger.apply_frame(execution_frame(execution(seq=100)))
    ledger.apply_frame(position_frame(position(size="4", seq=100)))
    leg = ledger.legs()[LegKey("linear", "BTCUSDT", 0)]
    assert leg.opening is None
    (mismatch,) = ledger.settle(received_at=0)
    assert isinstance(mismatch, PositionMismatch)


# --- fills vs orders --------------------------------------------------------------------


def test_fill_for_unknown_order_only_after_the_settle_window():
    ledger = Ledger(settle_frames=3)
    ledger.apply_frame(execution_frame(execution(orderId="ghost")))
    assert filler(ledger, 2) == []
    (unknown,) = filler(ledger, 1)
    assert isinstance(unknown, FillForUnknownOrder)
    assert (unknown.exec_id, unknown.order_id, unknown.symbol) == (EID, "ghost", "BTCUSDT")
    assert filler(ledger, 3) == []


def test_fill_for_unknown_order_on_settle_but_not_for_funding_or_a_late_order():
    ledger = Ledger(settle_frames=3)
    funding = execution(execId="f", execType="Funding", orderId="16791", orderType="UNKNOWN")
    ledger.apply_frame(execution_frame(funding))
    ledger.apply_frame(execution_frame(execution(execId="x", orderId="late")))
    ledger.apply_frame(execution_frame(execution(execId="y", orderId="ghost")))
    ledger.apply_frame(order_frame(filled_order(orderId="late")))
    events = ledger.settle(received_at=5)
    assert [type(e) for e in events] == [FillForUnknownOrder]
    assert [e.exec_id for e in of(FillForUnknownOrder, events)] == ["y"]
    assert ledger.settle(received_at=6) == []


def test_overfilled_when_fills_exceed_the_final_cum_exec_qty():
    ledger = Ledger()
    ledger.apply_frame(order_frame(filled_order()))
    ledger.apply_frame(execution_frame(execution(execId="a", execQty="0.6")))
    events = ledger.apply_frame(execution_frame(execution(execId="b", execQty="0.6")))
    (over,) = of(OverFilled, events)
    assert (over.order_id, over.booked_qty, over.cum_exec_qty) == (OID, D("1.2"), D(1))
    assert of(OverFilled, ledger.apply_frame(execution_frame(execution(execId="c")))) == []


def test_overfilled_when_the_order_arrives_after_its_fills():
    ledger = Ledger()
    ledger.apply_frame(execution_frame(execution(execId="a", execQty="0.6")))
    ledger.apply_frame(execution_frame(execution(execId="b", execQty="0.6")))
    assert (
        of(
            OverFilled,
            ledger.apply_frame(order_frame(order(orderStatus="PartiallyFilled", cumExecQty="1"))),
        )
        == []
    )
    (over,) = of(OverFilled, ledger.apply_frame(order_frame(filled_order(updatedTime=ms(3)))))
    assert over.booked_qty == D("1.2")


def test_fill_gaps_lists_a_filled_order_missing_fills():
    ledger = Ledger()
    ledger.apply_frame(order_frame(filled_order(), order(orderId="resting")))
    ledger.apply_frame(execution_frame(execution(execId="a", execQty="0.6")))
    gaps = ledger.fill_gaps()
    assert [(o.order_id, booked) for o, booked in gaps] == [(OID, D("0.6"))]
    assert isinstance(gaps[0][1], Decimal)
    ledger.apply_frame(execution_frame(execution(execId="b", execQty="0.4")))
    assert ledger.fill_gaps() == []
