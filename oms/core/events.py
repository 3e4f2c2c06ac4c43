"""Events the core emits: frozen, keyword-only, past tense.

Every event carries ``venue_time`` (ms, the exchange's own timestamp for what happened:
updatedTime, execTime, or the frame's creationTime) and ``received_at`` (ms, when this
process received the frame that caused it). ``venue_time`` is 0 where the venue gave none.
Anomalies subclass ``Anomaly`` so a subscriber can listen for all of them at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable
    from decimal import Decimal

    from oms.core.orders import Side
    from oms.core.states import OrderStatus

_E = TypeVar("_E", bound="Event")


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
    #: REST rows the resync could not convert (each announced by a ``RestRowRefused``)
    refused: int = 0


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RestRowRefused(Anomaly):
    """A REST row of a resync could not be converted (``reason`` says why): it is left
    out of the snapshot, everything else in it is applied. The row's ids are given as far
    as it has them (``""`` where it has none)."""

    endpoint: str
    category: str
    order_id: str
    order_link_id: str
    exec_id: str
    symbol: str
    #: a wallet row's accountType
    account_type: str


# --- fast construction ------------------------------------------------------------------
#
# A frozen dataclass's ``__init__`` stores each field with ``object.__setattr__`` (the class
# itself refuses attribute assignment). Measured with callgrind, that makes building one
# ``OrderStatusChanged`` cost 40% as much as parsing the frame's JSON. The ledger makes an
# event for nearly every frame, so the events it makes on every frame have a second
# constructor, generated below from the class's own fields: it fills a mutable twin class
# with exactly the same slots by plain slot stores, then gives the instance the event's
# class. The result is an ordinary instance of the frozen event class (equal, hashable,
# immutable, picklable as any other); only its construction is cheaper. It takes the
# fields positionally, in declaration order: keyword arguments would cost a fifth more
# (CPython matches each keyword against the parameter names).


def fast_constructor(cls: type[_E]) -> Callable[..., _E]:
    """A function that builds a ``cls`` (a frozen, slotted event class) from its fields
    given positionally in declaration order, without ``__init__``'s per-field
    ``__setattr__``.

    ``__class__`` may be switched between two classes of identical layout: the twin has
    the bases and ``__slots__`` of ``cls`` and restores ``object``'s ``__setattr__``, so
    stores into its slots take the interpreter's fast path. The constructor is generated
    source (as ``dataclasses`` generates ``__init__``) so that it is straight-line code:
    a loop over the fields would cost more than the ``__init__`` it replaces."""
    twin = type(
        f"_Mutable{cls.__name__}",
        cls.__bases__,
        {
            "__slots__": cls.__slots__,
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            # ``_twin()`` then makes an empty instance: a third cheaper than
            # ``object.__new__(_twin)``, which parses its arguments as a Python-level call
            "__init__": object.__init__,
        },
    )
    name = "".join(f"_{c.lower()}" if c.isupper() else c for c in cls.__name__).lstrip("_")
    fields_ = [f.name for f in fields(cls)]
    stores = "".join(f"    event.{field} = {field}\n" for field in fields_)
    source = (
        f"def {name}({', '.join(fields_)}):\n"
        f"    event = _twin()\n{stores}"
        "    event.__class__ = _cls\n"
        "    return event\n"
    )
    namespace: dict[str, Any] = {"_twin": twin, "_cls": cls}
    exec(source, namespace)  # noqa: S102 - source built above from the dataclass's own fields
    build: Callable[..., _E] = namespace[name]
    build.__doc__ = f"``{cls.__name__}(...)`` from its fields in order, built fast."
    build.__module__ = __name__
    return build


#: ``order_status_changed(venue_time, received_at, order_id, ...)`` and so on: each takes
#: its event's fields in declaration order (see the class).
order_status_changed: Final = fast_constructor(OrderStatusChanged)
order_amended: Final = fast_constructor(OrderAmended)
fill_booked: Final = fast_constructor(FillBooked)
position_changed: Final = fast_constructor(PositionChanged)
