"""The order lifecycle: every status Bybit v5 can report and every move between them.

Bybit gives order updates no sequence number and no ordering against the execution
topic, and frames can be lost or arrive late. So the table below answers one question:
*given the state we hold, may a report that is newer (see ``oms.core.orders``) carry this
status?* Skipping intermediate states is therefore legal (their frames may be lost or
still in flight); going back, or leaving a terminal state, never is.
"""

from __future__ import annotations

from enum import Enum
from typing import Final


class OrderStatus(Enum):
    """Order status, valued exactly as Bybit spells it on the wire."""

    # Members are singletons and compare by identity, so the C-level identity hash is
    # correct and avoids Enum's Python-level __hash__ on every dict/set lookup.
    __hash__ = object.__hash__

    #: Accepted by the system, not yet through the matching engine (removed from the docs
    #: in 2024 but still accepted; behaves like New).
    CREATED = "Created"
    #: Resting on the book, nothing filled yet.
    NEW = "New"
    #: Some quantity filled, the rest still working.
    PARTIALLY_FILLED = "PartiallyFilled"
    #: Fully filled. Terminal.
    FILLED = "Filled"
    #: Cancelled. Terminal. In derivatives it may carry cumExecQty > 0.
    CANCELLED = "Cancelled"
    #: Refused by the exchange. Terminal. May carry fills on spot (partial then reject).
    REJECTED = "Rejected"
    #: Spot only: partially filled, rest cancelled. Terminal.
    PARTIALLY_FILLED_CANCELED = "PartiallyFilledCanceled"
    #: Conditional order waiting for its trigger.
    UNTRIGGERED = "Untriggered"
    #: Momentary: the trigger fired, the order is on its way to New.
    TRIGGERED = "Triggered"
    #: Legacy conditional state ("triggered, active order placed"); treated as working.
    ACTIVE = "Active"
    #: Conditional order cancelled before it triggered. Terminal.
    DEACTIVATED = "Deactivated"


S = OrderStatus

#: Statuses after which an order can never change again.
TERMINAL: Final[frozenset[OrderStatus]] = frozenset(
    {S.FILLED, S.CANCELLED, S.REJECTED, S.PARTIALLY_FILLED_CANCELED, S.DEACTIVATED}
)
#: Statuses of an order that is still working (or waiting for its trigger).
OPEN: Final[frozenset[OrderStatus]] = frozenset(S) - TERMINAL

#: How far along the lifecycle a status is. With updatedTime and cumExecQty it decides
#: which of two reports is newer: Triggered -> New arrive in one frame with equal times.
RANK: Final[dict[OrderStatus, int]] = {
    S.CREATED: 0,
    S.UNTRIGGERED: 1,
    S.TRIGGERED: 2,
    S.ACTIVE: 3,
    S.NEW: 4,
    S.PARTIALLY_FILLED: 5,
    S.FILLED: 6,
    S.CANCELLED: 6,
    S.REJECTED: 6,
    S.PARTIALLY_FILLED_CANCELED: 6,
    S.DEACTIVATED: 6,
}

_ENDINGS_AFTER_WORK = (S.FILLED, S.CANCELLED, S.REJECTED, S.PARTIALLY_FILLED_CANCELED)

#: The lifecycle. TRANSITIONS[held] = statuses a newer report may carry. A status mapping to
#: itself is a repeat or an amend (same status, new price/qty/trigger).
TRANSITIONS: Final[dict[OrderStatus, frozenset[OrderStatus]]] = {
    # Created is the pre-matching stage of a plain order; a conditional order is born
    # Untriggered, so Created -> Untriggered/Triggered/Deactivated has no meaning.
    S.CREATED: frozenset({S.CREATED, S.NEW, S.PARTIALLY_FILLED, *_ENDINGS_AFTER_WORK}),
    # Untriggered -> Filled/Cancelled/Rejected: Triggered is momentary and its frame may be
    # lost; the trigger-time margin check can cancel or reject. Untriggered -> Untriggered
    # is an amend of the trigger price. Deactivated = cancelled before the trigger.
    S.UNTRIGGERED: frozenset(
        {
            S.UNTRIGGERED,
            S.TRIGGERED,
            S.ACTIVE,
            S.NEW,
            S.PARTIALLY_FILLED,
            *_ENDINGS_AFTER_WORK,
            S.DEACTIVATED,
        }
    ),
    # Triggered -> Deactivated is illegal: Deactivated means "cancelled before the trigger",
    # and this order has triggered. Triggered -> Untriggered would undo the trigger.
    S.TRIGGERED: frozenset(
        {S.TRIGGERED, S.ACTIVE, S.NEW, S.PARTIALLY_FILLED, *_ENDINGS_AFTER_WORK}
    ),
    # Active (legacy) is a triggered order that is working: it moves on like New.
    S.ACTIVE: frozenset({S.ACTIVE, S.NEW, S.PARTIALLY_FILLED, *_ENDINGS_AFTER_WORK}),
    # New -> Rejected: a working order can still be rejected (e.g. at amend time).
    # New -> PartiallyFilledCanceled: spot, the PartiallyFilled frame was missed.
    S.NEW: frozenset({S.NEW, S.PARTIALLY_FILLED, *_ENDINGS_AFTER_WORK}),
    # PartiallyFilled -> Cancelled with cumExecQty > 0 is the derivatives partial-cancel;
    # PartiallyFilled -> Rejected happens on spot (a partial fill, then a reject).
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, *_ENDINGS_AFTER_WORK}),
    # Terminal states are never left. Filled -> Filled with EC_OrigClOrdIDDoesNotExist is the
    # exchange refusing a cancel that raced the last fill: not a new state.
    S.FILLED: frozenset({S.FILLED}),
    S.CANCELLED: frozenset({S.CANCELLED}),
    S.REJECTED: frozenset({S.REJECTED}),
    S.PARTIALLY_FILLED_CANCELED: frozenset({S.PARTIALLY_FILLED_CANCELED}),
    S.DEACTIVATED: frozenset({S.DEACTIVATED}),
}

#: Lookup by Bybit spelling; faster than ``OrderStatus(value)`` on the hot path.
BY_WIRE_NAME: Final[dict[str, OrderStatus]] = {s.value: s for s in OrderStatus}


def is_legal(held: OrderStatus, reported: OrderStatus) -> bool:
    """Whether a newer report may move an order from ``held`` to ``reported``."""
    return reported in TRANSITIONS[held]
