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


def _sign(a: int | Decimal, b: int | Decimal) -> int:
    return (a > b) - (a < b)


def _terms_changed(held: Order, report: Order) -> bool:
    return (
        held.qty != report.qty
        or held.price != report.price
        or held.trigger_price != report.trigger_price
    )


def decide(held: Order | None, report: Order) -> Decision:  # noqa: PLR0911 - a return per rule
    """Decide what ``report`` does to the order whose held state is ``held``.

    Pure and total: never raises, never mutates. The caller stores ``report`` as the new
    state exactly when the verdict is APPLIED.
    """
    if held is None:
        # The first report we see may carry any status: earlier frames may be lost.
        return _APPLIED_NEW
    if (
        held.symbol != report.symbol
        or held.side != report.side
        or held.category != report.category
        or held.position_idx != report.position_idx
    ):
        return Decision(Verdict.ILLEGAL, reason="symbol, side, category or positionIdx changed")
    signs = (
        _sign(report.updated_time, held.updated_time),
        _sign(report.cum_exec_qty, held.cum_exec_qty),
        _sign(RANK[report.status], RANK[held.status]),
    )
    if min(signs) < 0 < max(signs):
        return Decision(Verdict.ILLEGAL, reason=_contradiction(signs))
    if report.status is held.status:
        return _same_status(held, report, signs)
    if max(signs) <= 0:
        # Equal keys with a different status of the same rank (Filled vs Cancelled at the
        # same instant and quantity) is a contradiction, not staleness.
        if min(signs) == 0:
            return Decision(
                Verdict.ILLEGAL,
                reason=f"{held.status.value} and {report.status.value} at the same instant",
            )
        return _STALE
    if report.status not in TRANSITIONS[held.status]:
        return Decision(
            Verdict.ILLEGAL, reason=f"{held.status.value} -> {report.status.value} not allowed"
        )
    return _APPLIED_STATUS_AMEND if _terms_changed(held, report) else _APPLIED_STATUS


def _same_status(  # noqa: PLR0911 - a return per rule
    held: Order, report: Order, signs: tuple[int, int, int]
) -> Decision:
    if report.is_cancel_race_echo and not held.is_cancel_race_echo:
        return _CANCEL_REJECTED
    if held.is_cancel_race_echo and not report.is_cancel_race_echo:
        # The echo arrived before the genuine terminal report: keep the genuine one, so
        # the final state does not depend on delivery order.
        return _APPLIED_QUIET
    if min(signs) < 0:
        return _STALE
    if max(signs) == 0:
        # Equal keys: a repeat. (Equal keys with other content cannot be ordered at all,
        # so the held state is kept rather than letting arrival order decide.)
        return _DUPLICATE
    if held.status in TERMINAL:
        # A terminal re-report with a later time: adopt its times quietly; the state is the
        # same and taking the latest keeps the result independent of delivery order.
        return _APPLIED_QUIET
    if _terms_changed(held, report):
        return _APPLIED_AMEND
    return _APPLIED_QUIET


_KEY_NAMES: Final = ("updatedTime", "cumExecQty", "status rank")


def _contradiction(signs: tuple[int, int, int]) -> str:
    newer = [n for n, s in zip(_KEY_NAMES, signs, strict=True) if s > 0]
    older = [n for n, s in zip(_KEY_NAMES, signs, strict=True) if s < 0]
    return f"inconsistent report: newer by {', '.join(newer)} but older by {', '.join(older)}"
