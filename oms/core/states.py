"""The order lifecycle in one place: every status Bybit v5 can report, every allowed move
between them as a literal cell, and the rules that order two reports of one order.

Bybit gives order updates no sequence number and no ordering against the execution
topic, and frames can be lost or arrive late. So the table answers one question: *given
the state we hold, may a report that is newer carry this status?* Skipping intermediate
states is therefore legal (their frames may be lost or still in flight); going back, or
leaving a terminal state, never is. Which report is newer is decided by ``decide`` below,
from (updatedTime, cumExecQty, status rank), all three of which only ever grow along a
real lifecycle; when they disagree with each other the report is inconsistent and is
refused as illegal rather than guessed at. Two further rules close the lifecycle: the
cancel-race echo (``shows_cancel_race``) and the over-filled terminal order
(``is_overfilled``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from decimal import Decimal

    from oms.core.orders import Order


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
    #: The end of a successful conditional order: triggered, and the order it placed is
    #: working under its own orderId (Bybit: "the final state of a successful conditional
    #: order"). Terminal: the conditional order itself never changes again.
    ACTIVE = "Active"
    #: Conditional order cancelled before it triggered. Terminal.
    DEACTIVATED = "Deactivated"


S = OrderStatus

#: Statuses after which an order can never change again.
TERMINAL: Final[frozenset[OrderStatus]] = frozenset(
    {S.FILLED, S.CANCELLED, S.REJECTED, S.PARTIALLY_FILLED_CANCELED, S.DEACTIVATED, S.ACTIVE}
)
#: Statuses of an order that is still working (or waiting for its trigger).
OPEN: Final[frozenset[OrderStatus]] = frozenset(S) - TERMINAL

#: How far along the lifecycle a status is. With updatedTime and cumExecQty it decides
#: which of two reports is newer: Triggered -> New arrive in one frame with equal times.
RANK: Final[dict[OrderStatus, int]] = {
    S.CREATED: 0,
    S.UNTRIGGERED: 1,
    S.TRIGGERED: 2,
    S.NEW: 4,
    S.PARTIALLY_FILLED: 5,
    S.ACTIVE: 6,
    S.FILLED: 6,
    S.CANCELLED: 6,
    S.REJECTED: 6,
    S.PARTIALLY_FILLED_CANCELED: 6,
    S.DEACTIVATED: 6,
}

#: The lifecycle: every (held, reported) pair a newer report may make, 42 cells; any pair
#: not listed is illegal. A status to itself is a repeat or an amend (same status, new
#: price/qty/trigger). Illegal cells worth a word: Created -> Untriggered/Triggered/
#: Deactivated (a conditional order is born Untriggered, Created is the pre-matching stage
#: of a plain order); Triggered -> Deactivated (Deactivated means "cancelled before the
#: trigger", and this order has triggered); Triggered -> Untriggered (undoes the trigger);
#: and every move out of a terminal status.
ALLOWED: Final[frozenset[tuple[OrderStatus, OrderStatus]]] = frozenset(
    {
        # Created: a plain order before matching.
        (S.CREATED, S.CREATED),
        (S.CREATED, S.NEW),
        (S.CREATED, S.PARTIALLY_FILLED),
        (S.CREATED, S.FILLED),
        (S.CREATED, S.CANCELLED),
        (S.CREATED, S.REJECTED),
        (S.CREATED, S.PARTIALLY_FILLED_CANCELED),  # spot, the frames between were lost
        # Untriggered: a conditional order waiting for its trigger.
        (S.UNTRIGGERED, S.UNTRIGGERED),  # an amend of the trigger price
        (S.UNTRIGGERED, S.TRIGGERED),
        (S.UNTRIGGERED, S.ACTIVE),  # triggered and placed: the Triggered frame was lost
        (S.UNTRIGGERED, S.NEW),  # Triggered is momentary: its frame may be lost
        (S.UNTRIGGERED, S.PARTIALLY_FILLED),  # the same, and the New frame too
        (S.UNTRIGGERED, S.FILLED),  # the same
        (S.UNTRIGGERED, S.CANCELLED),  # the trigger-time margin check cancelled it
        (S.UNTRIGGERED, S.REJECTED),  # the trigger-time margin check rejected it
        (S.UNTRIGGERED, S.PARTIALLY_FILLED_CANCELED),  # spot, the frames between were lost
        (S.UNTRIGGERED, S.DEACTIVATED),  # cancelled before the trigger
        # Triggered: momentary, on its way to New.
        (S.TRIGGERED, S.TRIGGERED),
        (S.TRIGGERED, S.ACTIVE),  # the order it triggered is placed: a successful end
        (S.TRIGGERED, S.NEW),
        (S.TRIGGERED, S.PARTIALLY_FILLED),
        (S.TRIGGERED, S.FILLED),
        (S.TRIGGERED, S.CANCELLED),
        (S.TRIGGERED, S.REJECTED),
        (S.TRIGGERED, S.PARTIALLY_FILLED_CANCELED),
        # New: resting on the book.
        (S.NEW, S.NEW),
        (S.NEW, S.PARTIALLY_FILLED),
        (S.NEW, S.FILLED),
        (S.NEW, S.CANCELLED),
        (S.NEW, S.REJECTED),  # a working order can still be rejected (e.g. at amend time)
        (S.NEW, S.PARTIALLY_FILLED_CANCELED),  # spot, the PartiallyFilled frame was missed
        # PartiallyFilled: some filled, the rest working.
        (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, S.FILLED),
        (S.PARTIALLY_FILLED, S.CANCELLED),  # derivatives partial-cancel, cumExecQty > 0
        (S.PARTIALLY_FILLED, S.REJECTED),  # spot: a partial fill, then a reject
        (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED_CANCELED),
        # Terminal statuses are never left; a re-report is adopted quietly (see decide).
        (S.FILLED, S.FILLED),  # also the cancel-race echo: not a new state (see below)
        (S.CANCELLED, S.CANCELLED),
        (S.REJECTED, S.REJECTED),
        (S.PARTIALLY_FILLED_CANCELED, S.PARTIALLY_FILLED_CANCELED),
        (S.DEACTIVATED, S.DEACTIVATED),
        # Active is terminal too (the seed: "Untriggered -> Triggered -> Active /
        # Deactivated"); any other later report on its orderId is refused as illegal, an
        # anomaly, never a silent change. Fills on it are over-fills (``is_overfilled``).
        (S.ACTIVE, S.ACTIVE),
    }
)

#: ``ALLOWED`` by held status: TRANSITIONS[held] = statuses a newer report may carry.
TRANSITIONS: Final[dict[OrderStatus, frozenset[OrderStatus]]] = {
    held: frozenset(reported for h, reported in ALLOWED if h is held) for held in OrderStatus
}

#: Lookup by Bybit spelling; faster than ``OrderStatus(value)`` on the hot path.
BY_WIRE_NAME: Final[dict[str, OrderStatus]] = {s.value: s for s in OrderStatus}


def is_legal(held: OrderStatus, reported: OrderStatus) -> bool:
    """Whether a newer report may move an order from ``held`` to ``reported``."""
    return reported in TRANSITIONS[held]


# --- ordering two reports of one order --------------------------------------------------


class Verdict(Enum):
    """What a report does to the order (or leg) it names."""

    # Members are singletons and compare by identity, so the C-level identity hash is
    # correct and avoids Enum's Python-level __hash__ on every dict/set lookup.
    __hash__ = object.__hash__

    #: The report is newer and legal; it becomes the held state.
    APPLIED = "applied"
    #: Same state as held (a repeat delivery, or the cancel-race echo).
    DUPLICATE = "duplicate"
    #: Older than the held state; ignored.
    STALE = "stale"
    #: Newer but not a legal move (or self-contradictory); ignored and reported.
    ILLEGAL = "illegal"


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one report, with what changed and why."""

    verdict: Verdict
    status_changed: bool = False
    amended: bool = False
    cancel_rejected: bool = False
    reason: str = ""


_APPLIED_NEW = Decision(Verdict.APPLIED, status_changed=True)
_APPLIED_QUIET = Decision(Verdict.APPLIED)
_APPLIED_AMEND = Decision(Verdict.APPLIED, amended=True)
_APPLIED_STATUS = Decision(Verdict.APPLIED, status_changed=True)
_APPLIED_STATUS_AMEND = Decision(Verdict.APPLIED, status_changed=True, amended=True)
_DUPLICATE = Decision(Verdict.DUPLICATE)
_CANCEL_REJECTED = Decision(Verdict.DUPLICATE, cancel_rejected=True)
_STALE = Decision(Verdict.STALE)

#: rejectReason of the echo Bybit sends when a cancel raced the final fill.
CANCEL_RACE_REASON: Final = "EC_OrigClOrdIDDoesNotExist"
#: ``Order`` fields 2-5 (category, symbol, side, position_idx): what no report may change.
#: Compared as one slice: a tuple comparison in C instead of four attribute reads each.
IDENTITY: Final = slice(2, 6)
#: ``Order`` fields 9-11 (qty, price, trigger_price): the terms an amend changes.
TERMS: Final = slice(9, 12)


def _sign(a: int | Decimal, b: int | Decimal) -> int:
    return (a > b) - (a < b)


def decide(held: Order | None, report: Order) -> Decision:
    """Decide what ``report`` does to the order whose held state is ``held``.

    Pure and total: never raises, never mutates. The caller stores ``report`` as the new
    state exactly when the verdict is APPLIED.

    The report's keys (updatedTime, cumExecQty, status rank) are each newer, equal or
    older than the held ones; ``newer`` says whether any is newer, ``older`` whether any
    is older. Both at once is a contradiction.
    """
    if held is None:
        # The first report we see may carry any status: earlier frames may be lost.
        return _APPLIED_NEW
    if held[IDENTITY] != report[IDENTITY]:
        return Decision(Verdict.ILLEGAL, reason="symbol, side, category or positionIdx changed")
    status, held_status = report.status, held.status
    time, held_time = report.updated_time, held.updated_time
    cum, held_cum = report.cum_exec_qty, held.cum_exec_qty
    rank, held_rank = RANK[status], RANK[held_status]
    # Decimals compared last, and ``is`` first: equal quantities are often the very same
    # (cached) Decimal, and a usual report is already newer by its time.
    newer = time > held_time or rank > held_rank or (cum is not held_cum and cum > held_cum)
    older = time < held_time or rank < held_rank or (cum is not held_cum and cum < held_cum)
    if newer and older:
        signs = (_sign(time, held_time), _sign(cum, held_cum), _sign(rank, held_rank))
        return Decision(Verdict.ILLEGAL, reason=_contradiction(signs))
    if status is held_status:
        return _same_status(held, report, newer=newer, older=older)
    return _new_status(held, report, newer=newer, older=older)


def _new_status(held: Order, report: Order, *, newer: bool, older: bool) -> Decision:
    """``decide`` for a report whose status differs from the held one."""
    status, held_status = report.status, held.status
    if not newer:
        # Equal keys with a different status of the same rank (Filled vs Cancelled at the
        # same instant and quantity) is a contradiction, not staleness.
        if not older:
            return Decision(
                Verdict.ILLEGAL,
                reason=f"{held_status.value} and {status.value} at the same instant",
            )
        return _STALE
    if status not in TRANSITIONS[held_status]:
        return Decision(
            Verdict.ILLEGAL, reason=f"{held_status.value} -> {status.value} not allowed"
        )
    return _APPLIED_STATUS_AMEND if held[TERMS] != report[TERMS] else _APPLIED_STATUS


def _same_status(  # noqa: PLR0911 - a return per rule
    held: Order, report: Order, *, newer: bool, older: bool
) -> Decision:
    if CANCEL_RACE_REASON in (report.reject_reason, held.reject_reason):
        echo, held_echo = report.is_cancel_race_echo, held.is_cancel_race_echo
        if echo and not held_echo:
            return _CANCEL_REJECTED
        if held_echo and not echo:
            # The echo arrived before the genuine terminal report: keep the genuine one,
            # so the final state does not depend on delivery order.
            return _APPLIED_QUIET
    if older:
        return _STALE
    if not newer:
        # Equal keys: a repeat. (Equal keys with other content cannot be ordered at all,
        # so the held state is kept rather than letting arrival order decide.)
        return _DUPLICATE
    if held.status in TERMINAL:
        # A terminal re-report with a later time: adopt its times quietly; the state is the
        # same and taking the latest keeps the result independent of delivery order.
        return _APPLIED_QUIET
    if held[TERMS] != report[TERMS]:
        return _APPLIED_AMEND
    return _APPLIED_QUIET


_KEY_NAMES: Final = ("updatedTime", "cumExecQty", "status rank")


def _contradiction(signs: tuple[int, int, int]) -> str:
    newer = [n for n, s in zip(_KEY_NAMES, signs, strict=True) if s > 0]
    older = [n for n, s in zip(_KEY_NAMES, signs, strict=True) if s < 0]
    return f"inconsistent report: newer by {', '.join(newer)} but older by {', '.join(older)}"


# --- the rules beyond one report's verdict ----------------------------------------------


def shows_cancel_race(report: Order, verdict: Verdict) -> bool:
    """Whether ``report`` tells that a cancel lost the race to the final fill: a legal
    (or repeated) cancel-race echo, whether it came before or after the genuine terminal
    report. Announced once per order (``CancelRejected``), the order's state unchanged."""
    # = report.is_cancel_race_echo and ..., spelled out: this runs for every order report,
    # and the reason compared first rules out nearly all of them without a property call.
    return (
        report.reject_reason == CANCEL_RACE_REASON
        and report.status in TERMINAL
        and verdict is not Verdict.ILLEGAL
    )


def is_overfilled(order: Order, booked_qty: Decimal) -> bool:
    """Whether the fills booked to ``order`` exceed its final cumExecQty. Only a terminal
    cumExecQty bounds them: the fills of a working order routinely run ahead of its
    report. Announced once per order (``OverFilled``)."""
    return order.status in TERMINAL and booked_qty > order.cum_exec_qty
