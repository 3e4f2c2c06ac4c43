"""Terminal orders between memory and a store: restore at start, evict, recall.

A long-running ledger cannot hold every order it ever saw. ``evict`` lets the oldest
terminal orders (with their fills) go once nothing waits on them; ``recall`` (the store)
brings one back when a late report names it, and ``evicted`` (a Bloom filter) says,
without a lookup, that a new id was never let go. ``restore`` loads what a store saved,
with what was already ``Announced`` (read back from its outbox), so a restarted ledger
goes on as the one that was saved would have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

from oms.core import events as ev
from oms.core.evicted import EvictedIds
from oms.core.holdings import Holdings
from oms.core.positions import LegKey
from oms.core.states import TERMINAL

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from oms.core.fills import Fill
    from oms.core.orders import Order
    from oms.core.positions import Opening, PositionReport

#: Terminal orders (with their fills) a store keeps in memory by default (see ``evict``);
#: older ones are read back from the database when a late report names them.
DEFAULT_KEEP_TERMINAL_ORDERS: Final = 5_000


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


class Memory(Holdings):
    """Restore, evict and recall: the part of ``CoreLedger`` that moves orders and fills
    between memory and a store."""

    def __init__(self, settle_frames: int) -> None:
        super().__init__(settle_frames)
        #: Where orders and fills that left memory can be found again (see ``evict``).
        self.recall: Recall | None = None
        #: Ids let go (approximately): only reports naming one of them need ``recall``.
        self.evicted = EvictedIds()

    # --- restoring ----------------------------------------------------------------------

    def restore(
        self,
        *,
        orders: Iterable[Order],
        fills: Iterable[Fill | EvictedFill],
        legs: Iterable[tuple[PositionReport | None, LegKey]],
        announced: Announced | None = None,
        oneway: Iterable[tuple[str, str]] = (),
        openings: Mapping[LegKey, Opening] | None = None,
    ) -> None:
        """Load state saved by a store: the orders to hold, every booked fill, per leg its
        newest report, what was already announced (read back from the store's outbox) and
        the (category, symbol) pairs any stored order showed to be one-way, and the legs'
        opening balances (``oms.core.positions.Opening``). Only for a fresh ledger. A fill
        given as ``EvictedFill`` belongs to a stored order not held in memory: it only
        counts in its leg.

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
        self._restore_legs(legs, {} if openings is None else openings)
        # Reported once per order, for every order (see ``evict``): a repeat stays silent.
        self._cancel_rejected |= said.cancel_races
        self._overfilled |= said.overfilled
        self._restore_fills(fills, said)
        self._restore_mismatches(said.open_mismatches)

    def _restore_fills(self, fills: Iterable[Fill | EvictedFill], said: Announced) -> None:
        for fill in fills:
            if isinstance(fill, EvictedFill):  # its order stays in the store
                self._restore_evicted(fill.fill, fill.position_idx)
            else:
                self._restore_fill(fill, said)

    def _restore_legs(
        self,
        legs: Iterable[tuple[PositionReport | None, LegKey]],
        openings: Mapping[LegKey, Opening],
    ) -> None:
        """Every saved leg with its newest report and opening balance."""
        for report, key in legs:
            leg = self._leg_of(*key)
            if report is not None:
                leg.set_report(report)
            opening = openings.get(key)
            if opening is not None:
                leg.open_with(opening)  # before its fills: those inside it move nothing
            if key.position_idx == 0:
                self._oneway.add((key.category, key.symbol))

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
                self._settle.watch(leg.key, report)

    def _restore_evicted(self, fill: Fill, position_idx: int) -> None:
        if fill.changes_position and fill.category != "spot":
            self._leg_of(fill.category, fill.symbol, position_idx).add_fill(
                fill.seq, fill.signed_qty
            )
        elif fill.changes_position:
            self._book_spot(fill.symbol, fill.side, fill.exec_qty)

    def _restore_fill(self, fill: Fill, said: Announced) -> None:
        """Book a stored fill as applying it left it: in its leg if that was known, and,
        if its order is not, waiting for the order (and, unless it was announced, in the
        ``FillForUnknownOrder`` window)."""
        self._fills.book(fill)
        order = self._orders.get(fill.order_id)
        moves = fill.changes_position and fill.category != "spot"
        if fill.changes_position and not moves:
            self._book_spot(fill.symbol, fill.side, fill.exec_qty)
        if not moves or (order is None and fill.exec_id in said.unattributed_fills):
            leg = None
        else:
            leg = self._fill_leg(fill, order)
        if leg is not None:
            leg.add_fill(fill.seq, fill.signed_qty)
        if order is None:
            watch = fill.exec_id not in said.unknown_order_fills
            self._await_order(fill, leg, moves, watch=watch)

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
        gone = self._evictable(excess, updated_before)
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

    def _evictable(self, excess: int, updated_before: int | None) -> set[str]:
        """The oldest ``excess`` terminal orders nothing waits on, and (``updated_before``)
        every terminal one last updated before then."""
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
        return gone

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
