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


def _dec(text: str) -> Decimal | None:
    """Exact Decimal of validated decimal text; ``""`` is absent."""
    return Decimal(text) if text else None


def _req(text: str) -> Decimal:
    return Decimal(text)


def _quantity(name: str, text: str) -> Decimal:
    """A quantity that must be present and not negative."""
    value = Decimal(text)
    if value < _ZERO:
        raise ValueError(f"{name}: negative {value}")
    return value


def _ms(value: int | str) -> int:
    return value if isinstance(value, int) else 0


def _side(value: str) -> Side:
    side = _SIDES.get(value)
    if side is None:
        raise ValueError(f"side: unknown value {value!r}")
    return side


def _avg_price(text: str, cum: Decimal) -> Decimal | None:
    # Bybit sends avgPrice "" (and on some paths "0") before any fill: both mean "none".
    avg = _dec(text)
    return avg if avg and cum else None


def order_from(m: OrderMsg) -> Order:
    """The core ``Order`` of one ``order`` element."""
    status = BY_WIRE_NAME.get(m.orderStatus)
    if status is None:
        raise ValueError(f"orderStatus: unknown value {m.orderStatus!r}")
    cum = _quantity("cumExecQty", m.cumExecQty)
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
        qty=_quantity("qty", m.qty),
        price=_dec(m.price),
        trigger_price=_dec(m.triggerPrice),
        cum_exec_qty=cum,
        cum_exec_value=_dec(m.cumExecValue),
        cum_exec_fee=_dec(m.cumExecFee),
        leaves_qty=_dec(m.leavesQty),
        avg_price=_avg_price(m.avgPrice, cum),
        reduce_only=m.reduceOnly,
        time_in_force=m.timeInForce,
        create_type=m.createType,
        cancel_type=m.cancelType,
        reject_reason=m.rejectReason,
        created_time=_ms(m.createdTime),
        updated_time=_ms(m.updatedTime),
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
        exec_qty=_quantity("execQty", m.execQty),
        exec_price=_req(m.execPrice),
        exec_value=_dec(m.execValue),
        exec_fee=_dec(m.execFee),
        fee_rate=_dec(m.feeRate),
        is_maker=m.isMaker,
        closed_size=_dec(m.closedSize),
        leaves_qty=_dec(m.leavesQty),
        exec_time=_ms(m.execTime),
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
        exec_qty=_quantity("execQty", m.execQty),
        exec_price=_req(m.execPrice),
        exec_value=None,
        exec_fee=None,
        fee_rate=None,
        is_maker=m.isMaker,
        closed_size=None,
        leaves_qty=None,
        exec_time=_ms(m.execTime),
        seq=m.seq,
        source=FillSource.FAST,
    )


def position_from(m: PositionMsg) -> PositionReport:
    """The core ``PositionReport`` of one ``position`` element."""
    if m.side not in _POSITION_SIDES:
        raise ValueError(f"side: unknown value {m.side!r}")
    side = _POSITION_SIDES[m.side]
    size = _quantity("size", m.size)
    if side is None and size != _ZERO:
        raise ValueError(f"size: {size} with an empty side")
    return PositionReport(
        category=m.category,
        symbol=m.symbol,
        position_idx=m.positionIdx,
        side=side,
        size=size,
        entry_price=_dec(m.entryPrice),
        mark_price=_dec(m.markPrice),
        unrealised_pnl=_dec(m.unrealisedPnl),
        cum_realised_pnl=_dec(m.cumRealisedPnl),
        seq=m.seq,
        updated_time=_ms(m.updatedTime),
    )
