"""One order's state, and the rule that decides what a venue report does to it.

Bybit reports an order's whole state on every update, so an ``Order`` is both the report
and the state we hold: the held state is simply the newest acceptable report. Which report
is newer is decided by (updatedTime, cumExecQty, status rank), all three of which only
ever grow along a real lifecycle. When they disagree with each other the report is
inconsistent and is refused as illegal rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Final, NamedTuple

from oms.core.states import RANK, TERMINAL, TRANSITIONS, OrderStatus

if TYPE_CHECKING:
    from decimal import Decimal

#: rejectReason of the echo Bybit sends when a cancel raced the final fill.
CANCEL_RACE_REASON: Final = "EC_OrigClOrdIDDoesNotExist"


class Side(Enum):
    """Order, fill or position side as Bybit spells it."""

    # Members are singletons and compare by identity, so the C-level identity hash is
    # correct and avoids Enum's Python-level __hash__ on every dict/set lookup.
    __hash__ = object.__hash__

    #: Buy: adds to a one-way position, opens/extends the long leg in hedge mode.
    BUY = "Buy"
    #: Sell: subtracts from a one-way position, opens/extends the short leg in hedge mode.
    SELL = "Sell"


class Order(NamedTuple):
    """An order as the venue last reported it. Absent wire values (``""``) are ``None``.

    An immutable value. A NamedTuple rather than a frozen dataclass: one is built for
    every order report, and a frozen dataclass's constructor costs four times more."""

    order_id: str
    order_link_id: str
    category: str
    symbol: str
    side: Side
    position_idx: int
    status: OrderStatus
    order_type: str
    stop_order_type: str
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    cum_exec_qty: Decimal
    cum_exec_value: Decimal | None
    cum_exec_fee: Decimal | None
    leaves_qty: Decimal | None
    avg_price: Decimal | None
    reduce_only: bool
    time_in_force: str
    create_type: str
    cancel_type: str
    reject_reason: str
    created_time: int
    updated_time: int

    @property
    def is_open(self) -> bool:
        """Still working or waiting for a trigger."""
        return self.status not in TERMINAL

    @property
    def is_external(self) -> bool:
        """Not placed with a client id: TP/SL, liquidation, ADL, UI or bot orders."""
        return self.order_link_id == ""

    @property
    def is_cancel_race_echo(self) -> bool:
        """The second terminal report Bybit sends when a cancel lost the race to a fill."""
        return self.reject_reason == CANCEL_RACE_REASON and self.status in TERMINAL


class Verdict(Enum):
    """What a report does to the order it names."""

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


#: ``Order`` fields 2-5 (category, symbol, side, position_idx): what no report may change.
#: Compared as one slice: a tuple comparison in C instead of four attribute reads each.
IDENTITY: Final = slice(2, 6)
#: ``Order`` fields 9-11 (qty, price, trigger_price): the terms an amend changes.
TERMS: Final = slice(9, 12)


def _sign(a: int | Decimal, b: int | Decimal) -> int:
    return (a > b) - (a < b)


def decide(held: Order | None, report: Order) -> Decision:  # noqa: PLR0911 - a return per rule
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
