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
#: Short local name: the conversions below are inlined (a helper call per field costs
#: more than the conversion itself on the hot path).
D: Final = Decimal


def _quantity(name: str, text: str) -> Decimal:
    """A quantity that must be present and not negative."""
    value = Decimal(text)
    if value < _ZERO:
        raise ValueError(f"{name}: negative {value}")
    return value


def _ms(value: int | str) -> int:
    return value if value.__class__ is int else 0


def _side(value: str) -> Side:
    side = _SIDES.get(value)
    if side is None:
        raise ValueError(f"side: unknown value {value!r}")
    return side


def _avg_price(text: str, cum: Decimal) -> Decimal | None:
    # Bybit sends avgPrice "" (and on some paths "0") before any fill: both mean "none".
    if not text or not cum:
        return None
    avg = D(text)
    return avg or None


def order_from(m: OrderMsg) -> Order:
    """The core ``Order`` of one ``order`` element."""
    status = BY_WIRE_NAME.get(m.orderStatus)
    if status is None:
        raise ValueError(f"orderStatus: unknown value {m.orderStatus!r}")
    cum = _quantity("cumExecQty", m.cumExecQty)
    # positional, in field order: a NamedTuple builds fastest that way
    return Order(
        m.orderId,  # order_id
        m.orderLinkId,  # order_link_id
        m.category,  # category
        m.symbol,  # symbol
        _side(m.side),  # side
        m.positionIdx,  # position_idx
        status,  # status
        m.orderType,  # order_type
        m.stopOrderType,  # stop_order_type
        _quantity("qty", m.qty),  # qty
        D(m.price) if m.price else None,  # price
        D(m.triggerPrice) if m.triggerPrice else None,  # trigger_price
        cum,  # cum_exec_qty
        D(m.cumExecValue) if m.cumExecValue else None,  # cum_exec_value
        D(m.cumExecFee) if m.cumExecFee else None,  # cum_exec_fee
        D(m.leavesQty) if m.leavesQty else None,  # leaves_qty
        _avg_price(m.avgPrice, cum),  # avg_price
        m.reduceOnly,  # reduce_only
        m.timeInForce,  # time_in_force
        m.createType,  # create_type
        m.cancelType,  # cancel_type
        m.rejectReason,  # reject_reason
        _ms(m.createdTime),  # created_time
        _ms(m.updatedTime),  # updated_time
    )


def fill_from(m: ExecutionMsg, source: FillSource = FillSource.STREAM) -> Fill:
    """The core ``Fill`` of one ``execution`` element (or REST execution row)."""
    # positional, in field order: a NamedTuple builds fastest that way
    return Fill(
        m.execId,  # exec_id
        m.orderId,  # order_id
        m.orderLinkId,  # order_link_id
        m.category,  # category
        m.symbol,  # symbol
        _side(m.side),  # side
        m.execType,  # exec_type
        _quantity("execQty", m.execQty),  # exec_qty
        D(m.execPrice),  # exec_price
        D(m.execValue) if m.execValue else None,  # exec_value
        D(m.execFee) if m.execFee else None,  # exec_fee
        D(m.feeRate) if m.feeRate else None,  # fee_rate
        m.isMaker,  # is_maker
        D(m.closedSize) if m.closedSize else None,  # closed_size
        D(m.leavesQty) if m.leavesQty else None,  # leaves_qty
        _ms(m.execTime),  # exec_time
        m.seq,  # seq
        source,  # source
    )


def fast_fill_from(m: FastExecutionMsg) -> Fill:
    """The core ``Fill`` of one ``execution.fast`` element (always a Trade, no fee)."""
    # positional, in field order: a NamedTuple builds fastest that way
    return Fill(
        m.execId,  # exec_id
        m.orderId,  # order_id
        m.orderLinkId,  # order_link_id
        m.category,  # category
        m.symbol,  # symbol
        _side(m.side),  # side
        "Trade",  # exec_type
        _quantity("execQty", m.execQty),  # exec_qty
        D(m.execPrice),  # exec_price
        None,  # exec_value
        None,  # exec_fee
        None,  # fee_rate
        m.isMaker,  # is_maker
        None,  # closed_size
        None,  # leaves_qty
        _ms(m.execTime),  # exec_time
        m.seq,  # seq
        FillSource.FAST,  # source
    )


def position_from(m: PositionMsg) -> PositionReport:
    """The core ``PositionReport`` of one ``position`` element."""
    if m.side not in _POSITION_SIDES:
        raise ValueError(f"side: unknown value {m.side!r}")
    side = _POSITION_SIDES[m.side]
    size = _quantity("size", m.size)
    if side is None and size != _ZERO:
        raise ValueError(f"size: {size} with an empty side")
    # positional, in field order: a NamedTuple builds fastest that way
    return PositionReport(
        m.category,  # category
        m.symbol,  # symbol
        m.positionIdx,  # position_idx
        side,  # side
        size,  # size
        D(m.entryPrice) if m.entryPrice else None,  # entry_price
        D(m.markPrice) if m.markPrice else None,  # mark_price
        D(m.unrealisedPnl) if m.unrealisedPnl else None,  # unrealised_pnl
        D(m.cumRealisedPnl) if m.cumRealisedPnl else None,  # cum_realised_pnl
        m.seq,  # seq
        _ms(m.updatedTime),  # updated_time
    )
