"""The core ledger: the only stateful object of the core, fed typed venue updates.

``CoreLedger.apply(updates, received_at=...)`` takes the updates of one frame (orders,
fills or position reports, already translated from the wire) and returns a ``Batch``:
the verdict on each, the events they caused, and which orders, fills and legs changed
(so a store can write exactly those rows). It performs no I/O and reads no clock.

Cross-topic checks (fills vs positions, fills vs orders) wait ``settle_frames`` applied
frames before they call a disagreement an anomaly, because Bybit gives no ordering
between topics: a position report routinely arrives before the fill it covers.
``settle()`` forces every pending check now (end of a replay, after a resync).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

from oms.core import events as ev
from oms.core.evicted import EvictedIds
from oms.core.exact import total
from oms.core.fills import (
    EXCHANGE_INITIATED_EXEC_TYPES,
    POSITION_NEUTRAL_EXEC_TYPES,
    Fill,
    FillBook,
    enriches,
)
from oms.core.orders import CANCEL_RACE_REASON, Order, Side, Verdict, decide
from oms.core.positions import Leg, LegKey, PositionReport, judge_report
from oms.core.states import TERMINAL, OrderStatus

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

Update = Order | Fill | PositionReport

_ZERO: Final = Decimal(0)
_new_tuple: Final = tuple.__new__
#: Terminal orders (with their fills) a store keeps in memory by default (see ``evict``);
#: older ones are read back from the database when a late report names them.
DEFAULT_KEEP_TERMINAL_ORDERS: Final = 5_000
#: Frames a cross-topic disagreement may last before it is reported (see module doc).
DEFAULT_SETTLE_FRAMES: Final = 50
#: A leg continuously in disagreement for this many settle windows is reported even if
#: every window brought a newer report.
_CONTINUOUS_WINDOWS: Final = 10


class _Pending(NamedTuple):
    """A disagreement waiting for late frames: since when, since which report."""

    since: int
    report_since: int
    report: tuple[int, int]


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

    __slots__ = ("events", "fills", "legs", "order_reports", "orders", "verdicts")

    def __init__(self) -> None:
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
        been handed out): cheaper than a new ``Batch`` when nothing else holds it."""
        self.verdicts.clear()
        self.order_reports.clear()
        self.events = []
        self.orders.clear()
        self.fills.clear()
        self.legs.clear()

    @property
    def order_updates(self) -> list[OrderUpdateRecord]:
        """Order reports applied or refused as illegal (the order history), in order."""
        return [OrderUpdateRecord(*report) for report in self.order_reports]

    @property
    def outcome(self) -> Outcome:
        """The frame's combined outcome."""
        return outcome_of(self.verdicts)


def outcome_of(verdicts: list[Verdict]) -> Outcome:
    """The outcome of a frame from the verdicts on its elements (one, nearly always)."""
    if len(verdicts) == 1:
        return VERDICT_OUTCOME[verdicts[0]]
    return combine(verdicts)


class EvictedFill(NamedTuple):
    """A stored fill whose order stays out of memory on restore: it only counts in its leg
    (``position_idx`` is its order's)."""

    fill: Fill
    position_idx: int


class Announced:
    """What a ledger already announced that it must remember across a restart, as read
    back from a store's outbox (the events, in the order they were announced).

    Without it a restored ledger would announce again what it announced before the
    restart (a mismatch that still holds, a repeated cancel-race echo, a fill whose order
    never came) and would never follow a mismatch with its ``PositionMismatchResolved``.
    """

    __slots__ = (
        "cancel_races",
        "open_mismatches",
        "overfilled",
        "unattributed_fills",
        "unknown_order_fills",
    )

    def __init__(self) -> None:
        #: legs with a ``PositionMismatch`` not followed by its ``PositionMismatchResolved``
        self.open_mismatches: set[LegKey] = set()
        #: orders whose ``CancelRejected`` was announced
        self.cancel_races: set[str] = set()
        #: orders whose ``OverFilled`` was announced
        self.overfilled: set[str] = set()
        #: execIds whose ``FillForUnknownOrder`` was announced
        self.unknown_order_fills: set[str] = set()
        #: execIds booked to no leg (``FillBooked`` without position_idx): a fill of an
        #: order not known yet, on a symbol not known to be one-way then. It waits for its
        #: order even if the symbol turned out one-way since; a store need only give those
        #: of orders it does not hold.
        self.unattributed_fills: set[str] = set()

    def mismatch(self, key: LegKey, *, resolved: bool) -> None:
        """A ``PositionMismatch`` of a leg, or (``resolved``) its resolution."""
        if resolved:
            self.open_mismatches.discard(key)
        else:
            self.open_mismatches.add(key)

    def note(self, event: ev.Event) -> None:
        """Take in one announced event (any other kind is ignored)."""
        if isinstance(event, ev.PositionMismatch | ev.PositionMismatchResolved):
            key = LegKey(event.category, event.symbol, event.position_idx)
            self.mismatch(key, resolved=isinstance(event, ev.PositionMismatchResolved))
        elif isinstance(event, ev.CancelRejected):
            self.cancel_races.add(event.order_id)
        elif isinstance(event, ev.OverFilled):
            self.overfilled.add(event.order_id)
        elif isinstance(event, ev.FillForUnknownOrder):
            self.unknown_order_fills.add(event.exec_id)
        elif isinstance(event, ev.FillBooked) and event.position_idx is None:
            self.unattributed_fills.add(event.exec_id)

    @classmethod
    def of(cls, events: Iterable[ev.Event]) -> Announced:
        """What ``events`` (in the order announced) leave to remember."""
        announced = cls()
        for event in events:
            announced.note(event)
        return announced


#: The events ``Announced`` takes in: what a store reads back for ``restore`` (and
#: ``FillBooked`` of the orders it does not hold, see ``Announced.unattributed_fills``).
ANNOUNCING_EVENTS: Final = (
    ev.PositionMismatch,
    ev.PositionMismatchResolved,
    ev.CancelRejected,
    ev.OverFilled,
    ev.FillForUnknownOrder,
)


class Recall(Protocol):
    """Where a bounded ledger finds what it evicted (the store)."""

    def order(self, order_id: str) -> tuple[Order, list[Fill]] | None:
        """A stored order with its stored fills."""
        ...

    def fill(self, exec_id: str) -> Fill | None:
        """A stored fill."""
        ...


class CoreLedger:
    """Orders, fills and positions of one account, built from venue updates."""

    def __init__(self, *, settle_frames: int = DEFAULT_SETTLE_FRAMES) -> None:
        self.settle_frames = settle_frames
        self._orders: dict[str, Order] = {}
        self._open: set[str] = set()
        self._fills = FillBook()
        self._legs: dict[LegKey, Leg] = {}
        self._oneway: set[tuple[str, str]] = set()
        #: fills booked before their order was known, by orderId: (execId, leg booked?)
        self._awaiting_order: dict[str, list[tuple[str, bool]]] = {}
        self._overfilled: set[str] = set()
        #: orders whose cancel-race echo has been reported (so a repeat is silent)
        self._cancel_rejected: set[str] = set()
        self._tick = 0
        #: disagreements not yet reported, with when they (and their report) began
        self._pending_legs: dict[LegKey, _Pending] = {}
        self._pending_fills: dict[str, int] = {}
        #: Where orders and fills that left memory can be found again (see ``evict``).
        self.recall: Recall | None = None
        #: Ids let go (approximately): only reports naming one of them need ``recall``.
        self.evicted = EvictedIds()

    # --- queries ------------------------------------------------------------------------

    def order(self, order_id: str) -> Order | None:
        """The held state of an order, or None if never seen."""
        return self._orders.get(order_id)

    def orders(self) -> list[Order]:
        """Every order seen, in first-seen order."""
        return list(self._orders.values())

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders still working or waiting for a trigger, optionally for one symbol."""
        found = (self._orders[i] for i in self._open)
        picked = [o for o in found if symbol is None or o.symbol == symbol]
        picked.sort(key=lambda o: (o.created_time, o.order_id))
        return picked

    def fill(self, exec_id: str) -> Fill | None:
        """A booked fill by execId."""
        return self._fills.get(exec_id)

    def fills(self, order_id: str | None = None) -> list[Fill]:
        """Booked fills, all or of one order, in booking order."""
        every = self._fills.all()
        return every if order_id is None else [f for f in every if f.order_id == order_id]

    def booked_qty(self, order_id: str) -> Decimal:
        """Fill quantity booked against an order."""
        return self._fills.booked_qty(order_id)

    def fill_gaps(self) -> list[tuple[Order, Decimal]]:
        """Orders whose booked fills differ from their cumExecQty: (order, booked qty).

        While the stream runs this is normal (fills and orders race); after a resync it
        names what is really missing."""
        gaps = []
        for order in self._orders.values():
            booked = self._fills.booked_qty(order.order_id)
            if booked != order.cum_exec_qty:
                gaps.append((order, booked))
        return gaps

    def position_report(self, key: LegKey) -> PositionReport | None:
        """The newest report of one leg."""
        leg = self._legs.get(key)
        return None if leg is None else leg.report

    def position_reports(self) -> list[PositionReport]:
        """The newest report of every reported leg, sorted by key."""
        return [leg.report for _, leg in sorted(self._legs.items()) if leg.report is not None]

    def position(self, symbol: str, category: str | None = None) -> Decimal:
        """Signed net position of a symbol as reported: long leg minus short leg."""
        return total(
            leg.report.net_qty
            for key, leg in self._legs.items()
            if key.symbol == symbol
            and (category is None or key.category == category)
            and leg.report is not None
        )

    def derived_position(self, symbol: str, category: str | None = None) -> Decimal:
        """Signed net position of a symbol as derived from booked fills."""
        return total(
            leg.derived_net
            for key, leg in self._legs.items()
            if key.symbol == symbol and (category is None or key.category == category)
        )

    def legs(self) -> dict[LegKey, Leg]:
        """Every leg known from reports or fills (read-only use)."""
        return dict(self._legs)

    # --- restoring ----------------------------------------------------------------------

    def restore(
        self,
        *,
        orders: Iterable[Order],
        fills: Iterable[Fill | EvictedFill],
        legs: Iterable[tuple[PositionReport | None, LegKey]],
        announced: Announced | None = None,
        oneway: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Load state saved by a store: the orders to hold, every booked fill, per leg its
        newest report, what was already announced (read back from the store's outbox) and
        the (category, symbol) pairs any stored order showed to be one-way. Only for a
        fresh ledger. A fill given as ``EvictedFill`` belongs to a stored order not held
        in memory: it only counts in its leg.

        The fills-derived nets are recomputed from the fills rather than taken from the
        saved value: a fill that was still waiting for its order when the state was saved
        then waits again, and is booked to its leg when the order arrives.

        What restore cannot know is how far a settle window had run: the store keeps no
        frame count per disagreement. A disagreement (or a fill of an unknown order) that
        was not yet announced starts its window again at the restore. Saved where nothing
        is pending (``has_pending`` false, as a replay commits), there is no such window,
        and the restored ledger goes on exactly as the one that was saved would have."""
        if self._orders or len(self._fills) or self._legs:
            raise ValueError("restore() needs an empty ledger")
        said = Announced() if announced is None else announced
        for order in orders:
            self._hold_order(order)
        self._oneway.update(oneway)
        for report, key in legs:
            leg = self._leg(key)
            if report is not None:
                leg.set_report(report)
            if key.position_idx == 0:
                self._oneway.add((key.category, key.symbol))
        # Reported once per order, for every order (see ``evict``): a repeat stays silent.
        self._cancel_rejected |= said.cancel_races
        self._overfilled |= said.overfilled
        for fill in fills:
            if isinstance(fill, EvictedFill):  # its order stays in the store
                self._restore_evicted(fill.fill, fill.position_idx)
            else:
                self._restore_fill(fill, said)
        self._restore_mismatches(said.open_mismatches)

    def _restore_mismatches(self, announced: set[LegKey]) -> None:
        """Mark the legs whose mismatch was announced and not resolved (its resolution is
        still to come); open a settle window on every other leg in disagreement."""
        for key in announced:
            leg = self._legs.get(key)
            if leg is not None:
                leg.mismatch_open = True
        for leg in self._legs.values():
            report = leg.report
            if report is not None and not leg.mismatch_open and leg.disagreement() is not None:
                identity = (report.seq, report.updated_time)
                self._pending_legs[leg.key] = _Pending(self._tick, self._tick, identity)

    def _restore_evicted(self, fill: Fill, position_idx: int) -> None:
        if fill.changes_position and fill.category != "spot":
            self._leg_of(fill.category, fill.symbol, position_idx).add_fill(
                fill.seq, fill.signed_qty
            )

    def _restore_fill(self, fill: Fill, said: Announced) -> None:
        """Book a stored fill as ``_apply_fill`` left it: in its leg if that was known, and,
        if its order is not, waiting for the order (and, unless it was announced, in the
        ``FillForUnknownOrder`` window)."""
        self._fills.book(fill)
        order = self._orders.get(fill.order_id)
        moves = fill.changes_position and fill.category != "spot"
        if not moves or (order is None and fill.exec_id in said.unattributed_fills):
            leg = None
        else:
            leg = self._fill_leg(fill, order)
        if leg is not None:
            leg.add_fill(fill.seq, fill.signed_qty)
        if order is not None:
            return
        expects_order = fill.exec_type not in _ORDERLESS_EXEC_TYPES
        if expects_order or (moves and leg is None):
            waiting = self._awaiting_order.setdefault(fill.order_id, [])
            waiting.append((fill.exec_id, leg is not None or not moves))
        if expects_order and fill.exec_id not in said.unknown_order_fills:
            self._pending_fills[fill.exec_id] = self._tick

    # --- applying -----------------------------------------------------------------------

    def apply(self, updates: Sequence[Update], *, received_at: int) -> Batch:
        """Apply one frame's updates in order and return what they did."""
        batch = Batch()
        self._apply_to(batch, updates, received_at)
        return batch

    def _apply_to(self, batch: Batch, updates: Sequence[Update], received_at: int) -> None:
        """``apply``, recording into ``batch``."""
        self._tick += 1
        for update in updates:
            if isinstance(update, Order):
                self._apply_order(update, received_at, batch)
            elif isinstance(update, Fill):
                self._apply_fill(update, received_at, batch)
            else:
                self._apply_position(update, received_at, batch)
        if self._pending_legs or self._pending_fills:
            self._confirm_pending(received_at, batch, force=False)

    @property
    def has_pending(self) -> bool:
        """Whether a cross-topic disagreement is waiting for late frames."""
        return bool(self._pending_legs or self._pending_fills)

    def settle(self, *, received_at: int) -> list[ev.Event]:
        """Report every pending cross-topic disagreement now, without waiting."""
        batch = Batch()
        self._confirm_pending(received_at, batch, force=True)
        return batch.events

    # --- orders -------------------------------------------------------------------------

    def _apply_order(self, report: Order, received_at: int, batch: Batch) -> None:  # noqa: C901 - the hot path, kept in one piece on purpose
        # One unpacking instead of a dozen NamedTuple attribute reads (each a descriptor
        # call): this runs for every order report.
        (order_id, order_link_id, category, symbol, _, position_idx, status, _, _) = report[:9]
        cum_exec_qty, _, _, leaves_qty = report[12:16]
        reject_reason, _, updated_time = report[21:]
        held = self._orders.get(order_id)
        if held is None and self.recall is not None:  # perhaps evicted: ask the store
            held = self._recall_order(order_id)
        decision = decide(held, report)
        verdict = decision.verdict
        batch.verdicts.append(verdict)
        previous = None if held is None else held.status
        if (
            reject_reason == CANCEL_RACE_REASON
            and status in TERMINAL
            and verdict is not Verdict.ILLEGAL
        ):
            self._note_cancel_race(report, received_at, batch)
        if verdict is not Verdict.APPLIED:
            if verdict is Verdict.ILLEGAL:
                self._refuse_order(held, report, decision.reason, received_at, batch)
            return
        # = self._hold_order(report), inline: this runs for nearly every order report
        self._orders[order_id] = report
        if status in TERMINAL:
            self._open.discard(order_id)
        else:
            self._open.add(order_id)
        if position_idx == 0:
            self._oneway.add((category, symbol))
        batch.orders.add(order_id)
        batch.order_reports.append((previous, report, Verdict.APPLIED))
        if decision.status_changed:
            batch.events.append(
                ev.order_status_changed(
                    updated_time,
                    received_at,
                    order_id,
                    order_link_id,
                    symbol,
                    previous,
                    status,
                    cum_exec_qty,
                    leaves_qty,
                    order_link_id == "",  # external
                )
            )
        if decision.amended and held is not None:
            self._note_amend(held, report, received_at, batch)
        if order_id in self._awaiting_order:
            self._attribute_waiting(report, received_at, batch)
        if status in TERMINAL:
            self._check_overfill(report, received_at, batch)

    @staticmethod
    def _note_amend(held: Order, report: Order, received_at: int, batch: Batch) -> None:
        batch.events.append(
            ev.order_amended(
                report.updated_time,
                received_at,
                report.order_id,
                report.symbol,
                report.status,
                held.qty,
                report.qty,
                held.price,
                report.price,
                held.trigger_price,
                report.trigger_price,
            )
        )

    def _refuse_order(
        self, held: Order | None, report: Order, reason: str, received_at: int, batch: Batch
    ) -> None:
        batch.order_reports.append((held.status if held else None, report, Verdict.ILLEGAL))
        batch.events.append(
            ev.IllegalTransition(
                venue_time=report.updated_time,
                received_at=received_at,
                reason=reason,
                order_id=report.order_id,
                symbol=report.symbol,
                held=held.status if held is not None else report.status,
                reported=report.status,
            )
        )

    # --- bounded memory -----------------------------------------------------------------

    @property
    def terminal_count(self) -> int:
        """Terminal orders held in memory."""
        return len(self._orders) - len(self._open)

    def evict(self, keep_terminal: int, *, updated_before: int | None = None) -> int:
        """Forget the oldest terminal orders beyond the newest ``keep_terminal`` (and any
        terminal order last updated before ``updated_before``, epoch ms), with their
        fills, and every fill without an order; return how many orders left.

        Only what nothing still waits on leaves: an order whose booked fills differ from
        its cumExecQty, or whose fills are still being attributed, stays. Legs keep their
        sums. Set ``recall`` first: later reports of what left are judged against it."""
        excess = self.terminal_count - keep_terminal
        if (excess <= 0 and updated_before is None) or self.recall is None:
            return 0
        gone: set[str] = set()
        booked_qty = self._fills.booked_qty
        for order_id, order in self._orders.items():  # first seen first
            old = updated_before is not None and order.updated_time < updated_before
            if len(gone) >= excess and not old:
                if updated_before is None:
                    break
                continue
            if (
                order.status in TERMINAL
                and order_id not in self._awaiting_order
                and booked_qty(order_id) == order.cum_exec_qty
            ):
                gone.add(order_id)
        evicted = self.evicted
        # The ids of orders whose over-fill or cancel race was reported stay (a handful):
        # recalled, a repeat stays silent, as it would had the order stayed in memory, so
        # when eviction happens does not change what is announced.
        for order_id in gone:
            evicted.add(order_id)
            del self._orders[order_id]
        waiting = {e for pairs in self._awaiting_order.values() for e, _ in pairs}
        for exec_id in self._fills.forget(gone, held=self._orders, keep=waiting):
            evicted.add(exec_id)
        return len(gone)

    def _recall_order(self, order_id: str) -> Order | None:
        """Bring an evicted order and its fills back into memory (legs already count them)."""
        if order_id not in self.evicted:  # the usual case: a new order, no lookup
            return None
        found = self.recall.order(order_id) if self.recall is not None else None
        if found is None:
            return None
        order, fills = found
        self._hold_order(order)
        for fill in fills:
            if fill.exec_id not in self._fills:
                self._fills.book(fill)
        return order

    def _recall_fill(self, order_id: str, exec_id: str) -> None:
        """Before booking a fill of an order not in memory: if it was booked before and
        evicted, bring it back so that it is recognised as a duplicate."""
        if exec_id in self._fills or self.recall is None:
            return
        if order_id and self._recall_order(order_id) is not None:
            return
        if exec_id not in self.evicted:  # the usual case: a new fill, no lookup
            return
        stored = self.recall.fill(exec_id)
        if stored is not None:
            self._fills.book(stored)

    def _hold_order(self, order: Order) -> None:
        self._orders[order.order_id] = order
        if order.status in TERMINAL:
            self._open.discard(order.order_id)
        else:
            self._open.add(order.order_id)
        if order.position_idx == 0:
            self._oneway.add((order.category, order.symbol))

    def _note_cancel_race(self, report: Order, received_at: int, batch: Batch) -> None:
        """Report a cancel that lost the race to the final fill once per order, whether
        the echo arrives before or after the genuine terminal report."""
        if report.order_id in self._cancel_rejected:
            return
        self._cancel_rejected.add(report.order_id)
        batch.events.append(
            ev.CancelRejected(
                venue_time=report.updated_time,
                received_at=received_at,
                order_id=report.order_id,
                symbol=report.symbol,
                status=report.status,
            )
        )

    def _check_overfill(self, order: Order, received_at: int, batch: Batch) -> None:
        """Report a terminal order whose booked fills exceed its final cumExecQty, once.

        Callers check ``order.status in TERMINAL`` first: most orders are not, and that
        check costs less than this call."""
        order_id = order.order_id
        if order_id in self._overfilled:
            return
        booked = self._fills.booked.get(order_id, _ZERO)
        if booked > order.cum_exec_qty:
            self._overfilled.add(order_id)
            batch.events.append(
                ev.OverFilled(
                    venue_time=order.updated_time,
                    received_at=received_at,
                    reason="booked fills exceed the final cumExecQty",
                    order_id=order.order_id,
                    symbol=order.symbol,
                    booked_qty=booked,
                    cum_exec_qty=order.cum_exec_qty,
                )
            )

    # --- fills --------------------------------------------------------------------------

    def _apply_fill(self, fill: Fill, received_at: int, batch: Batch) -> None:  # noqa: C901 - the hot path, kept in one piece on purpose
        # One unpacking instead of a dozen NamedTuple attribute reads (see _apply_order).
        (exec_id, order_id, _, category, symbol, side, exec_type, exec_qty, exec_price) = fill[:9]
        exec_fee = fill[10]
        exec_time, seq, _ = fill[15:]
        if self.recall is not None and order_id not in self._orders:
            self._recall_fill(order_id, exec_id)  # perhaps evicted: ask the store
        held = self._fills.add(fill)
        if held is not None:
            if enriches(held, fill):
                self._fills.replace(fill)
                batch.fills.add(exec_id)
                batch.verdicts.append(Verdict.APPLIED)
            else:
                batch.verdicts.append(Verdict.DUPLICATE)
            return
        batch.verdicts.append(Verdict.APPLIED)
        batch.fills.add(exec_id)
        order = self._orders.get(order_id)
        changes = exec_type not in POSITION_NEUTRAL_EXEC_TYPES
        moves = changes and category != "spot"
        if not moves:
            leg = None
        elif order is not None:  # = self._fill_leg(fill, order), inline for the usual case
            parts = (order.category, order.symbol, order.position_idx)  # its leg's key
            leg = self._legs.get(parts) or self._leg_of(*parts)  # type: ignore[call-overload]
        else:
            leg = self._fill_leg(fill, order)
        batch.events.append(
            ev.fill_booked(
                exec_time,
                received_at,
                exec_id,
                order_id,
                symbol,
                side,
                exec_type,
                exec_qty,
                exec_price,
                exec_fee,
                changes,
                None if leg is None else leg.key.position_idx,
            )
        )
        if order is None:
            expects_order = exec_type not in _ORDERLESS_EXEC_TYPES
            if expects_order or (moves and leg is None):
                waiting = self._awaiting_order.setdefault(order_id, [])
                waiting.append((exec_id, leg is not None or not moves))
            if expects_order:
                self._pending_fills[exec_id] = self._tick
        if leg is not None:  # = self._book_to_leg(fill, leg, ...), inline
            leg.add_fill(seq, exec_qty if side is Side.BUY else exec_qty.copy_negate())
            batch.legs.add(leg.key)
            self._recheck_leg(leg, received_at, batch)
        # = self._check_overfill(order, ...), its test inline: a fill for a terminal order
        # is the usual case (fills arrive after their order's report), an overfill is not.
        if (
            order is not None
            and order.status in TERMINAL
            and self._fills.booked.get(order_id, _ZERO) > order.cum_exec_qty
        ):
            self._check_overfill(order, received_at, batch)

    def _fill_leg(self, fill: Fill, order: Order | None) -> Leg | None:
        """The leg a fill moves: its order's; idx 0 on a known one-way symbol; else unknown.

        Executions carry no positionIdx, so in hedge mode only the order can tell whether
        a Buy opens the long leg or closes the short one."""
        if order is not None:
            return self._leg_of(order.category, order.symbol, order.position_idx)
        if (fill.category, fill.symbol) in self._oneway:
            return self._leg_of(fill.category, fill.symbol, 0)
        return None

    def _attribute_waiting(self, order: Order, received_at: int, batch: Batch) -> None:
        """Fills that arrived before their order: clear their alarm, book their leg."""
        for exec_id, attributed in self._awaiting_order.pop(order.order_id, ()):
            self._pending_fills.pop(exec_id, None)
            fill = self._fills.get(exec_id)
            if fill is not None and not attributed:
                leg = self._leg_of(order.category, order.symbol, order.position_idx)
                self._book_to_leg(fill, leg, received_at, batch)

    def _book_to_leg(self, fill: Fill, leg: Leg, received_at: int, batch: Batch) -> None:
        qty = fill.exec_qty  # signed: = fill.signed_qty, without the property call
        leg.add_fill(fill.seq, qty if fill.side is Side.BUY else qty.copy_negate())
        batch.legs.add(leg.key)
        self._recheck_leg(leg, received_at, batch)

    def _leg(self, key: LegKey) -> Leg:
        leg = self._legs.get(key)
        if leg is None:
            leg = self._legs[key] = Leg(key)
        return leg

    def _leg_of(self, category: str, symbol: str, position_idx: int) -> Leg:
        """``_leg`` by the key's parts. A plain tuple finds a ``LegKey`` (equal, same hash)
        and costs less to make; the ``LegKey`` is made only for a new leg."""
        parts = (category, symbol, position_idx)
        leg: Leg | None = self._legs.get(parts)  # type: ignore[call-overload]  # see above
        if leg is None:
            key = LegKey(category, symbol, position_idx)
            leg = self._legs[key] = Leg(key)
        return leg

    # --- positions ----------------------------------------------------------------------

    def _apply_position(self, report: PositionReport, received_at: int, batch: Batch) -> None:
        # One unpacking instead of NamedTuple attribute reads (see _apply_order).
        (category, symbol, position_idx, side, size, _, _, _, _, seq, updated_time) = report
        parts = (category, symbol, position_idx)  # = self._leg_of(*parts), the get inline
        leg: Leg = self._legs.get(parts) or self._leg_of(*parts)  # type: ignore[call-overload]
        held = leg.report
        # = judge_report(held, report), without the call for the usual newer report
        newer = held is None or seq > held.seq
        verdict = Verdict.APPLIED if newer else judge_report(held, report)
        batch.verdicts.append(verdict)
        if verdict is not Verdict.APPLIED:
            return
        previous = leg.reported_net
        if previous is None:
            previous = _ZERO
        leg.set_report(report)
        batch.legs.add(leg.key)
        if position_idx == 0:
            self._oneway.add((category, symbol))
        net = leg.reported_net
        if net is not None and previous != net:
            batch.events.append(
                ev.position_changed(
                    updated_time,
                    received_at,
                    category,
                    symbol,
                    position_idx,
                    previous,
                    net,
                    size,
                    side,
                    seq,
                )
            )
        # The report equals every fill booked, and nothing is pending or announced: the
        # usual case, where _recheck_leg would do nothing.
        if leg.tail or net != leg.fills_net or leg.mismatch_open or self._pending_legs:
            self._recheck_leg(leg, received_at, batch)

    def _recheck_leg(self, leg: Leg, received_at: int, batch: Batch) -> None:
        """Start (or restart) the settle clock on a disagreement, or announce a resolution.

        The clock runs per report: a newer report that still disagrees restarts it, since
        its own fills may still be in flight. A leg that stays in disagreement across
        reports for ``_CONTINUOUS_WINDOWS`` windows is reported anyway, so a busy symbol
        whose fills are really missing is not excused forever."""
        report = leg.report
        reported = leg.reported_net
        # No report, or a report that equals every fill: agreement without the call.
        if (
            reported is None
            or (not leg.tail and reported == leg.fills_net)
            or leg.disagreement() is None
        ):
            if self._pending_legs:
                self._pending_legs.pop(leg.key, None)
            if leg.mismatch_open and report is not None:
                leg.mismatch_open = False
                batch.events.append(
                    ev.PositionMismatchResolved(
                        venue_time=report.updated_time,
                        received_at=received_at,
                        category=leg.key.category,
                        symbol=leg.key.symbol,
                        position_idx=leg.key.position_idx,
                        net_qty=report.net_qty,
                        seq=report.seq,
                    )
                )
            return
        if leg.mismatch_open or report is None:
            return
        identity = (report.seq, report.updated_time)
        pending = self._pending_legs.get(leg.key)
        # _Pending(since, report_since, report), built as a tuple: a fill often starts one
        if pending is None:
            self._pending_legs[leg.key] = _new_tuple(_Pending, (self._tick, self._tick, identity))
        elif pending.report != identity:
            since = pending.since
            self._pending_legs[leg.key] = _new_tuple(_Pending, (since, self._tick, identity))

    def _confirm_pending(self, received_at: int, batch: Batch, *, force: bool) -> None:
        due = self._tick - self.settle_frames
        overdue = self._tick - self.settle_frames * _CONTINUOUS_WINDOWS
        for key, pending in list(self._pending_legs.items()):
            if not force and pending.report_since > due and pending.since > overdue:
                continue
            del self._pending_legs[key]
            leg = self._legs[key]
            gap = leg.disagreement()
            if gap is None or leg.report is None:
                continue
            leg.mismatch_open = True
            batch.events.append(
                ev.PositionMismatch(
                    venue_time=leg.report.updated_time,
                    received_at=received_at,
                    reason="reported position differs from the fills it covers",
                    category=key.category,
                    symbol=key.symbol,
                    position_idx=key.position_idx,
                    reported_net_qty=gap[0],
                    fills_net_qty=gap[1],
                    seq=leg.report.seq,
                )
            )
        for exec_id, since in list(self._pending_fills.items()):
            if force or since <= due:
                del self._pending_fills[exec_id]
                fill = self._fills.get(exec_id)
                if fill is None:
                    continue
                batch.events.append(
                    ev.FillForUnknownOrder(
                        venue_time=fill.exec_time,
                        received_at=received_at,
                        reason="no report of this order arrived",
                        exec_id=exec_id,
                        order_id=fill.order_id,
                        symbol=fill.symbol,
                    )
                )


#: execTypes whose fills are not expected to have an order report.
_ORDERLESS_EXEC_TYPES: Final = EXCHANGE_INITIATED_EXEC_TYPES - {"AdlTrade", "BustTrade"}
