"""Reconciliation: a REST snapshot repairs what a gap in the stream lost."""

from __future__ import annotations

from decimal import Decimal

from oms import Ledger, LegKey
from oms.bybit.messages import ExecutionMsg, OrderMsg, PositionMsg
from oms.bybit.translate import fill_from, order_from, position_from
from oms.core import events as ev
from oms.core.fills import FillSource
from oms.core.reconcile import VenueSnapshot, reconcile
from oms.core.states import OrderStatus
from tests.core.frames import T0, execution, execution_frame, ms, order, order_frame, position


def _order(**fields):
    return order_from(OrderMsg.model_validate(order(**fields)))


def _fill(**fields):
    return fill_from(ExecutionMsg.model_validate(execution(**fields)), FillSource.REST)


def _position(**fields):
    return position_from(PositionMsg.model_validate(position(**fields)))


def _of(kind, events):
    return [e for e in events if isinstance(e, kind)]


def test_snapshot_closes_an_order_filled_during_the_gap_and_books_the_missed_fill():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order(orderId="o-1", qty="1", updatedTime=ms(0))))
    snapshot = VenueSnapshot(
        orders=(
            _order(
                orderId="o-1",
                qty="1",
                orderStatus="Filled",
                cumExecQty="1",
                avgPrice="100",
                updatedTime=ms(5),
            ),
            _order(
                orderId="o-2", orderLinkId="", qty="2", orderStatus="Cancelled", updatedTime=ms(6)
            ),
        ),
        fills=(
            _fill(
                execId="e-1", orderId="o-1", execQty="1", execPrice="100", execTime=ms(5), seq=10
            ),
        ),
        positions=(_position(side="Buy", size="1", seq=10, updatedTime=ms(5)),),
        taken_at=T0 + 10,
    )
    batch = reconcile(ledger, snapshot, received_at=T0 + 11)

    assert ledger.order("o-1").status is OrderStatus.FILLED
    assert ledger.order("o-2").status is OrderStatus.CANCELLED  # born and died in the gap
    assert ledger.booked_qty("o-1") == ledger.order("o-1").cum_exec_qty
    assert ledger.position("BTCUSDT") == ledger.derived_position("BTCUSDT") == 1
    (done,) = _of(ev.ResyncCompleted, batch.events)
    assert (done.orders_changed, done.orders_new, done.fills_added, done.positions_changed) == (
        1,
        1,
        1,
        1,
    )
    assert done.mismatched_legs == 0
    assert done.fill_gaps == 0
    assert _of(ev.OrderStatusChanged, batch.events)  # corrections are ordinary changes
    assert _of(ev.FillBooked, batch.events)


def test_a_second_identical_snapshot_corrects_nothing():
    ledger = Ledger()
    snapshot = VenueSnapshot(
        orders=(
            _order(
                orderId="o-1",
                orderStatus="Filled",
                qty="1",
                cumExecQty="1",
                avgPrice="100",
                updatedTime=ms(1),
            ),
        ),
        fills=(_fill(execId="e-1", orderId="o-1", execQty="1", execTime=ms(1), seq=3),),
        positions=(_position(side="Buy", size="1", seq=3, updatedTime=ms(1)),),
    )
    reconcile(ledger, snapshot, received_at=1)
    batch = reconcile(ledger, snapshot, received_at=2)
    (done,) = _of(ev.ResyncCompleted, batch.events)
    assert (done.orders_changed, done.orders_new, done.fills_added, done.positions_changed) == (
        0,
        0,
        0,
        0,
    )
    assert _of(ev.OrderStatusChanged, batch.events) == []


def test_vanished_open_order_and_missing_fills_are_reported():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order(orderId="o-1", updatedTime=ms(0))))
    snapshot = VenueSnapshot(
        orders=(
            _order(
                orderId="o-2",
                orderStatus="Filled",
                qty="1",
                cumExecQty="1",
                avgPrice="5",
                updatedTime=ms(2),
            ),
        ),
        vanished=("o-1",),
    )
    batch = reconcile(ledger, snapshot, received_at=3)
    (gone,) = _of(ev.OrderVanished, batch.events)
    assert gone.order_id == "o-1"
    (missing,) = _of(ev.FillsMissing, batch.events)
    assert (missing.order_id, missing.booked_qty, missing.cum_exec_qty) == ("o-2", 0, 1)
    (done,) = _of(ev.ResyncCompleted, batch.events)
    assert done.fill_gaps == 1


def test_position_disagreeing_after_the_snapshot_is_reported_at_once():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order(orderStatus="Filled", cumExecQty="1", updatedTime=ms(0))))
    ledger.apply_frame(execution_frame(execution(seq=5)))
    snapshot = VenueSnapshot(
        positions=(_position(side="Sell", size="3", seq=9, updatedTime=ms(1)),)
    )
    batch = reconcile(ledger, snapshot, received_at=1)
    (mismatch,) = _of(ev.PositionMismatch, batch.events)
    assert (mismatch.reported_net_qty, mismatch.fills_net_qty) == (-3, 1)
    assert _of(ev.ResyncCompleted, batch.events)[0].mismatched_legs == 1


def test_first_resync_of_an_account_that_already_trades_takes_opening_balances():
    """A position opened months ago: the snapshot holds the leg and only the fills of the
    last days. Its report is the opening balance; the fills at or below its seq are inside
    it; a fill after it moves the derived net on. No PositionMismatch."""
    ledger = Ledger()
    snapshot = VenueSnapshot(
        orders=(
            _order(orderId="o-1", orderStatus="Filled", qty="1", cumExecQty="1", updatedTime=ms(3)),
        ),
        fills=(
            _fill(execId="e-old", orderId="o-1", execQty="1", seq=40, execTime=ms(3)),
            _fill(execId="e-new", orderId="o-1", execQty="0.5", seq=60, execTime=ms(6)),
        ),
        positions=(
            _position(side="Buy", size="5", seq=50, updatedTime=ms(4)),
            _position(symbol="ETHUSDT", side="Sell", size="2", seq=7, updatedTime=ms(4)),
        ),
    )
    batch = reconcile(ledger, snapshot, received_at=1)
    assert _of(ev.PositionMismatch, batch.events) == []
    (done,) = _of(ev.ResyncCompleted, batch.events)
    assert (done.positions_changed, done.fills_added, done.mismatched_legs) == (2, 2, 0)
    legs = ledger.legs()
    btc = legs[LegKey("linear", "BTCUSDT", 0)]
    assert btc.opening == (Decimal(5), 50)
    assert btc.derived_net == Decimal("5.5")  # the opening, then the fill after it
    assert legs[LegKey("linear", "ETHUSDT", 0)].derived_net == Decimal(-2)
    # The next report at the fill's seq agrees with it.
    later = reconcile(
        ledger,
        VenueSnapshot(positions=(_position(side="Buy", size="5.5", seq=60, updatedTime=ms(7)),)),
        received_at=2,
    )
    assert _of(ev.PositionMismatch, later.events) == []
