"""What applying one frame did: the ``Batch`` a ledger fills, and the frame's ``Outcome``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Final

from oms.core.states import OrderStatus, Verdict

if TYPE_CHECKING:
    from collections.abc import Iterable

    from oms.core import events as ev
    from oms.core.orders import Order
    from oms.core.positions import LegKey


class Outcome(Enum):
    """What one frame did, as counted in stats and written to the journal."""

    # Members are singletons and compare by identity, so the C-level identity hash is
    # correct and avoids Enum's Python-level __hash__ on every dict/set lookup.
    __hash__ = object.__hash__

    #: At least one element changed state.
    APPLIED = "applied"
    #: Everything in it was already known.
    DUPLICATE = "duplicate"
    #: Everything in it was older than what is held.
    STALE = "stale"
    #: An element broke the order lifecycle (and was not applied).
    ILLEGAL = "illegal"
    #: The frame, or an element of it, was not valid data.
    MALFORMED = "malformed"
    #: A control frame: auth, subscribe/unsubscribe ack, pong.
    CONTROL = "control"
    #: A well-formed frame of a topic the ledger does not track.
    IGNORED = "ignored"


#: The outcome of a frame whose only element got this verdict.
VERDICT_OUTCOME: Final = {
    Verdict.APPLIED: Outcome.APPLIED,
    Verdict.DUPLICATE: Outcome.DUPLICATE,
    Verdict.STALE: Outcome.STALE,
    Verdict.ILLEGAL: Outcome.ILLEGAL,
}
# An illegal element is the most important thing to say about a frame; then whether it
# changed anything. A frame delivered twice holds elements that are now older than what
# they produced (Triggered after New), so "duplicate" beats "stale".
_OUTCOME_PRIORITY: Final = (Outcome.ILLEGAL, Outcome.APPLIED, Outcome.DUPLICATE, Outcome.STALE)


def combine(verdicts: Iterable[Verdict]) -> Outcome:
    """The outcome of a frame from the verdicts on its elements."""
    seen = {VERDICT_OUTCOME[v] for v in verdicts}
    for outcome in _OUTCOME_PRIORITY:
        if outcome in seen:
            return outcome
    return Outcome.DUPLICATE


def outcome_of(verdicts: list[Verdict]) -> Outcome:
    """The outcome of a frame from the verdicts on its elements (one, nearly always)."""
    if len(verdicts) == 1:
        return VERDICT_OUTCOME[verdicts[0]]
    return combine(verdicts)


@dataclass(frozen=True, slots=True)
class OrderUpdateRecord:
    """One order report that was applied or refused as illegal (the order history)."""

    previous: OrderStatus | None
    report: Order
    verdict: Verdict


class Batch:
    """The result of applying one frame's updates (a plain slotted class: one is made
    per frame, and a dataclass's default factories cost more than the work it records).
    """

    __slots__ = ("events", "fills", "legs", "order_reports", "orders", "records", "verdicts")

    def __init__(self, *, records: bool = True) -> None:
        #: whether the ledger records what changed (``orders``, ``fills``, ``legs``,
        #: ``order_reports``); without, only the verdicts and the events (what
        #: ``Ledger.apply_frame`` reads: the records would cost it a set or list operation
        #: per element for nothing)
        self.records = records
        #: the verdict on each update, in order
        self.verdicts: list[Verdict] = []
        #: ``order_updates`` as plain (previous status, report, verdict) tuples: the
        #: records are made only when asked for (most callers never ask)
        self.order_reports: list[tuple[OrderStatus | None, Order, Verdict]] = []
        #: events, in the order they happened
        self.events: list[ev.Event] = []
        #: ids of orders and fills, and keys of legs, whose state changed
        self.orders: set[str] = set()
        self.fills: set[str] = set()
        self.legs: set[LegKey] = set()

    def clear(self) -> None:
        """Empty it for the next frame, with a new ``events`` list (the old one may have
        been handed out): cheaper than a new ``Batch`` when nothing else holds it.

        A frame touches one or two of the containers: testing the others for emptiness
        costs less than the method call that would empty them."""
        self.verdicts.clear()
        if self.order_reports:
            self.order_reports.clear()
        self.events = []
        if self.orders:
            self.orders.clear()
        if self.fills:
            self.fills.clear()
        if self.legs:
            self.legs.clear()

    @property
    def order_updates(self) -> list[OrderUpdateRecord]:
        """Order reports applied or refused as illegal (the order history), in order."""
        return [OrderUpdateRecord(*report) for report in self.order_reports]

    @property
    def outcome(self) -> Outcome:
        """The frame's combined outcome."""
        return outcome_of(self.verdicts)
