"""The events an applied update causes, each built from the update's fields.

The ledger (``oms.core.ledger``) decides that an update changed something; these say
what, as the event a subscriber receives. Each unpacks its update once (cheaper than a
dozen NamedTuple field reads) and passes the fields in declaration order to the event's
fast constructor (``oms.core.events``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oms.core import events as ev

if TYPE_CHECKING:
    from decimal import Decimal

    from oms.core.fills import Fill
    from oms.core.orders import Order
    from oms.core.positions import Leg, PositionReport
    from oms.core.states import OrderStatus

__all__ = ["amended", "fill_booked", "position_changed", "status_changed"]


def amended(held: Order, report: Order, received_at: int) -> ev.OrderAmended:
    return ev.order_amended(  # the fields in order, see OrderAmended
        report.updated_time,
        received_at,
        report.order_id,
        report.symbol,
        report.status,
        held.qty,
        report.qty,
        held.price,
        report.price,
        held.trigger_price,
        report.trigger_price,
    )


def status_changed(report: Order, previous: OrderStatus | None, at: int) -> ev.OrderStatusChanged:
    # One unpacking of the whole report: cheaper than a dozen field reads.
    # fmt: off
    (order_id, order_link_id, _, symbol, _, _, status, _, _, _, _, _,
     cum_exec_qty, _, _, leaves_qty, _, _, _, _, _, _, _, updated_time) = report
    # fmt: on
    return ev.order_status_changed(  # the fields in order, see OrderStatusChanged
        updated_time,
        at,
        order_id,
        order_link_id,
        symbol,
        previous,
        status,
        cum_exec_qty,
        leaves_qty,
        order_link_id == "",  # external
    )


def fill_booked(fill: Fill, changes: bool, leg: Leg | None, at: int) -> ev.FillBooked:
    # One unpacking of the whole fill (see status_changed).
    # fmt: off
    (exec_id, order_id, _, _, symbol, side, exec_type, exec_qty, exec_price, _,
     exec_fee, _, _, _, _, exec_time, _, _) = fill
    # fmt: on
    return ev.fill_booked(  # the fields in order, see FillBooked
        exec_time,
        at,
        exec_id,
        order_id,
        symbol,
        side,
        exec_type,
        exec_qty,
        exec_price,
        exec_fee,
        changes,
        None if leg is None else leg.key[2],  # its position_idx
    )


def position_changed(
    report: PositionReport, previous: Decimal, net: Decimal, at: int
) -> ev.PositionChanged:
    (category, symbol, position_idx, side, size, _, _, _, _, seq, updated_time) = report
    return ev.position_changed(  # the fields in order, see PositionChanged
        updated_time,
        at,
        category,
        symbol,
        position_idx,
        previous,
        net,
        size,
        side,
        seq,
    )
