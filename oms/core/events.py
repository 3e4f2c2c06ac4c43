"""Events the core emits: frozen, keyword-only, past tense.

Every event carries ``venue_time`` (ms, the exchange's own timestamp for what happened:
updatedTime, execTime, or the frame's creationTime) and ``received_at`` (ms, when this
process received the frame that caused it). ``venue_time`` is 0 where the venue gave none.
Anomalies subclass ``Anomaly`` so a subscriber can listen for all of them at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable
    from decimal import Decimal

    from oms.core.orders import Side
    from oms.core.states import OrderStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every core event."""

    venue_time: int
    received_at: int


# --- orders -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatusChanged(Event):
    """An order was seen for the first time (``previous`` is None) or changed status."""

    order_id: str
    order_link_id: str
    symbol: str
    previous: OrderStatus | None
    status: OrderStatus
    cum_exec_qty: Decimal
    leaves_qty: Decimal | None
    #: True when the order carries no orderLinkId: TP/SL, liquidation, UI or bot orders.
    external: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAmended(Event):
    """An order's qty, price or trigger price changed (status may be unchanged)."""

    order_id: str
    symbol: str
    status: OrderStatus
    old_qty: Decimal
    qty: Decimal
    old_price: Decimal | None
    price: Decimal | None
    old_trigger_price: Decimal | None
    trigger_price: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRejected(Event):
    """A cancel raced the final fill and lost (the second ``Filled`` with
    ``EC_OrigClOrdIDDoesNotExist``). The order's state is unchanged."""

    order_id: str
    symbol: str
    status: OrderStatus


# --- fills and positions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FillBooked(Event):
    """A new execId was booked. ``position_idx`` is None until its order is known."""

    exec_id: str
    order_id: str
    symbol: str
    side: Side
    exec_type: str
    exec_qty: Decimal
    exec_price: Decimal
    exec_fee: Decimal | None
    changes_position: bool
    position_idx: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionChanged(Event):
    """The venue reported a leg whose signed size differs from the previous report."""

    category: str
    symbol: str
    position_idx: int
    previous_net_qty: Decimal
    net_qty: Decimal
    size: Decimal
    side: Side | None
    seq: int


# --- anomalies --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Anomaly(Event):
    """Something that needs a human or a reconciliation. ``reason`` says what."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MalformedFrame(Anomaly):
    """A frame, or one element of it, was not valid; nothing of it was applied.

    ``index`` is the element's position in ``data`` (None for the whole frame)."""

    topic: str | None
    index: int | None
    excerpt: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IllegalTransition(Anomaly):
    """An order report would break the lifecycle; the order was left unchanged."""

    order_id: str
    symbol: str
    held: OrderStatus
    reported: OrderStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionMismatch(Anomaly):
    """A leg's reported net disagrees with the fills the report covers, and kept
    disagreeing after late frames had time to arrive."""

    category: str
    symbol: str
    position_idx: int
    reported_net_qty: Decimal
    fills_net_qty: Decimal
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionMismatchResolved(Event):
    """A previously announced position mismatch no longer holds."""

    category: str
    symbol: str
    position_idx: int
    net_qty: Decimal
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FillForUnknownOrder(Anomaly):
    """A fill names an order no report has described, and none arrived in time."""

    exec_id: str
    order_id: str
    symbol: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OverFilled(Anomaly):
    """A terminal order has more booked fill quantity than its final cumExecQty."""

    order_id: str
    symbol: str
    booked_qty: Decimal
    cum_exec_qty: Decimal


# --- reconciliation ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamGapDetected(Event):
    """The stream was (or may have been) interrupted: what it carried meanwhile is lost,
    because the exchange never replays. A resync follows."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResyncStarted(Event):
    """A REST snapshot of the account is being fetched to repair a gap."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResyncCompleted(Event):
    """The snapshot was applied. Counts say what it corrected; ``mismatched_legs`` are
    legs whose reported position still disagrees with the fills afterwards."""

    orders_changed: int
    orders_new: int
    fills_added: int
    positions_changed: int
    mismatched_legs: int
    fill_gaps: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderVanished(Anomaly):
    """An order held as open is unknown to the venue (REST found it nowhere)."""

    order_id: str
    symbol: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FillsMissing(Anomaly):
    """After a resync an order's booked fills still differ from its cumExecQty."""

    order_id: str
    symbol: str
    booked_qty: Decimal
    cum_exec_qty: Decimal


# --- fast construction ------------------------------------------------------------------
#
# A frozen dataclass's ``__init__`` stores each field with ``object.__setattr__`` (the class
# itself refuses attribute assignment). Measured with callgrind, that makes building one
# ``OrderStatusChanged`` cost 40% as much as parsing the frame's JSON. The ledger
# makes an event for nearly every frame, so the events it makes on every frame are built
# here instead: a mutable twin class with exactly the same slots is filled with plain
# slot stores and then given the event's class. The result is an ordinary instance of the
# frozen event class (equal, hashable, immutable, picklable as any other); only its
# construction is cheaper. Everything else builds events the usual way.


def _mutable_twin(cls: type[Event]) -> type[Any]:
    """A class with the bases and slot layout of the frozen slotted event class ``cls``
    whose instances accept assignment.

    ``__class__`` may be switched between two classes of identical layout, and an
    instance of the twin becomes a true ``cls`` instance once its class is switched.
    Restoring ``object``'s ``__setattr__``/``__delattr__`` gives the twin the C-level
    generic setter, so stores into its slots take the interpreter's fast path."""
    namespace = {
        "__slots__": cls.__slots__,
        "__setattr__": object.__setattr__,
        "__delattr__": object.__delattr__,
    }
    return type(f"_Mutable{cls.__name__}", cls.__bases__, namespace)


_new: Final[Callable[[type[Any]], Any]] = object.__new__
_MutableOrderStatusChanged: Final = _mutable_twin(OrderStatusChanged)
_MutableOrderAmended: Final = _mutable_twin(OrderAmended)
_MutableFillBooked: Final = _mutable_twin(FillBooked)
_MutablePositionChanged: Final = _mutable_twin(PositionChanged)


def order_status_changed(  # noqa: PLR0913, PLR0917 - a parameter per field, as the event has
    venue_time: int,
    received_at: int,
    order_id: str,
    order_link_id: str,
    symbol: str,
    previous: OrderStatus | None,
    status: OrderStatus,
    cum_exec_qty: Decimal,
    leaves_qty: Decimal | None,
    external: bool,
) -> OrderStatusChanged:
    """``OrderStatusChanged(...)`` with the fields in declaration order, built fast."""
    event = _new(_MutableOrderStatusChanged)
    event.venue_time = venue_time
    event.received_at = received_at
    event.order_id = order_id
    event.order_link_id = order_link_id
    event.symbol = symbol
    event.previous = previous
    event.status = status
    event.cum_exec_qty = cum_exec_qty
    event.leaves_qty = leaves_qty
    event.external = external
    event.__class__ = OrderStatusChanged
    built: OrderStatusChanged = event  # (typing.cast would cost a call)
    return built


def order_amended(  # noqa: PLR0913, PLR0917 - a parameter per field, as the event has
    venue_time: int,
    received_at: int,
    order_id: str,
    symbol: str,
    status: OrderStatus,
    old_qty: Decimal,
    qty: Decimal,
    old_price: Decimal | None,
    price: Decimal | None,
    old_trigger_price: Decimal | None,
    trigger_price: Decimal | None,
) -> OrderAmended:
    """``OrderAmended(...)`` with the fields in declaration order, built fast."""
    event = _new(_MutableOrderAmended)
    event.venue_time = venue_time
    event.received_at = received_at
    event.order_id = order_id
    event.symbol = symbol
    event.status = status
    event.old_qty = old_qty
    event.qty = qty
    event.old_price = old_price
    event.price = price
    event.old_trigger_price = old_trigger_price
    event.trigger_price = trigger_price
    event.__class__ = OrderAmended
    built: OrderAmended = event  # (typing.cast would cost a call)
    return built


def fill_booked(  # noqa: PLR0913, PLR0917 - a parameter per field, as the event has
    venue_time: int,
    received_at: int,
    exec_id: str,
    order_id: str,
    symbol: str,
    side: Side,
    exec_type: str,
    exec_qty: Decimal,
    exec_price: Decimal,
    exec_fee: Decimal | None,
    changes_position: bool,
    position_idx: int | None,
) -> FillBooked:
    """``FillBooked(...)`` with the fields in declaration order, built fast."""
    event = _new(_MutableFillBooked)
    event.venue_time = venue_time
    event.received_at = received_at
    event.exec_id = exec_id
    event.order_id = order_id
    event.symbol = symbol
    event.side = side
    event.exec_type = exec_type
    event.exec_qty = exec_qty
    event.exec_price = exec_price
    event.exec_fee = exec_fee
    event.changes_position = changes_position
    event.position_idx = position_idx
    event.__class__ = FillBooked
    built: FillBooked = event  # (typing.cast would cost a call)
    return built


def position_changed(  # noqa: PLR0913, PLR0917 - a parameter per field, as the event has
    venue_time: int,
    received_at: int,
    category: str,
    symbol: str,
    position_idx: int,
    previous_net_qty: Decimal,
    net_qty: Decimal,
    size: Decimal,
    side: Side | None,
    seq: int,
) -> PositionChanged:
    """``PositionChanged(...)`` with the fields in declaration order, built fast."""
    event = _new(_MutablePositionChanged)
    event.venue_time = venue_time
    event.received_at = received_at
    event.category = category
    event.symbol = symbol
    event.position_idx = position_idx
    event.previous_net_qty = previous_net_qty
    event.net_qty = net_qty
    event.size = size
    event.side = side
    event.seq = seq
    event.__class__ = PositionChanged
    built: PositionChanged = event  # (typing.cast would cost a call)
    return built
