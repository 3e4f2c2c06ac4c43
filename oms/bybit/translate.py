"""Wire models -> core values: venue enums to core enums, absent to None.

Raises ``ValueError`` with a clear reason when a value is well-typed but not one Bybit
defines (an unknown orderStatus or side); the caller turns that into a malformed element.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Final

from oms.core.fills import Fill, FillSource
from oms.core.orders import Order, Side
from oms.core.positions import PositionReport
from oms.core.states import BY_WIRE_NAME

if TYPE_CHECKING:
    from oms.bybit.messages import ExecutionMsg, FastExecutionMsg, OrderMsg, PositionMsg

_SIDES: Final = {"Buy": Side.BUY, "Sell": Side.SELL}
#: Position side: "" (and the legacy "None") mean flat.
_POSITION_SIDES: Final = {"Buy": Side.BUY, "Sell": Side.SELL, "": None, "None": None}
_ZERO: Final = Decimal(0)


def _side(value: str) -> Side:
    side = _SIDES.get(value)
    if side is None:
        raise ValueError(f"side: unknown value {value!r}")
    return side


def order_from(m: OrderMsg) -> Order:
    """The core ``Order`` of one ``order`` element."""
    status = BY_WIRE_NAME.get(m.orderStatus)
    if status is None:
        raise ValueError(f"orderStatus: unknown value {m.orderStatus!r}")
    return Order(
        order_id=m.orderId,
        order_link_id=m.orderLinkId,
        category=m.category,
        symbol=m.symbol,
        side=_side(m.side),
        position_idx=m.positionIdx,
        status=status,
        order_type=m.orderType,
        stop_order_type=m.stopOrderType,
        qty=m.qty,
        price=m.price,
        trigger_price=m.triggerPrice,
        cum_exec_qty=m.cumExecQty,
        cum_exec_value=m.cumExecValue,
        cum_exec_fee=m.cumExecFee,
        leaves_qty=m.leavesQty,
        # Bybit sends avgPrice "0" as well as "" before any fill: both mean "none".
        avg_price=m.avgPrice if m.cumExecQty and m.avgPrice else None,
        reduce_only=m.reduceOnly,
        time_in_force=m.timeInForce,
        create_type=m.createType,
        cancel_type=m.cancelType,
        reject_reason=m.rejectReason,
        created_time=m.createdTime,
        updated_time=m.updatedTime,
    )


def fill_from(m: ExecutionMsg, source: FillSource = FillSource.STREAM) -> Fill:
    """The core ``Fill`` of one ``execution`` element (or REST execution row)."""
    return Fill(
        exec_id=m.execId,
        order_id=m.orderId,
        order_link_id=m.orderLinkId,
        category=m.category,
        symbol=m.symbol,
        side=_side(m.side),
        exec_type=m.execType,
        exec_qty=m.execQty,
        exec_price=m.execPrice,
        exec_value=m.execValue,
        exec_fee=m.execFee,
        fee_rate=m.feeRate,
        is_maker=m.isMaker,
        closed_size=m.closedSize,
        leaves_qty=m.leavesQty,
        exec_time=m.execTime,
        seq=m.seq,
        source=source,
    )


def fast_fill_from(m: FastExecutionMsg) -> Fill:
    """The core ``Fill`` of one ``execution.fast`` element (always a Trade, no fee)."""
    return Fill(
        exec_id=m.execId,
        order_id=m.orderId,
        order_link_id=m.orderLinkId,
        category=m.category,
        symbol=m.symbol,
        side=_side(m.side),
        exec_type="Trade",
        exec_qty=m.execQty,
        exec_price=m.execPrice,
        exec_value=None,
        exec_fee=None,
        fee_rate=None,
        is_maker=m.isMaker,
        closed_size=None,
        leaves_qty=None,
        exec_time=m.execTime,
        seq=m.seq,
        source=FillSource.FAST,
    )


def position_from(m: PositionMsg) -> PositionReport:
    """The core ``PositionReport`` of one ``position`` element."""
    if m.side not in _POSITION_SIDES:
        raise ValueError(f"side: unknown value {m.side!r}")
    side = _POSITION_SIDES[m.side]
    if side is None and m.size != _ZERO:
        raise ValueError(f"size: {m.size} with an empty side")
    if m.size < _ZERO:
        raise ValueError(f"size: negative {m.size}")
    return PositionReport(
        category=m.category,
        symbol=m.symbol,
        position_idx=m.positionIdx,
        side=side,
        size=m.size,
        entry_price=m.entryPrice,
        mark_price=m.markPrice,
        unrealised_pnl=m.unrealisedPnl,
        cum_realised_pnl=m.cumRealisedPnl,
        seq=m.seq,
        updated_time=m.updatedTime,
    )
