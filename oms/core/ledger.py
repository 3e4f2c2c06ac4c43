"""The core ledger: the only stateful object of the core, fed typed venue updates.

``CoreLedger.apply(updates, received_at=...)`` takes the updates of one frame (orders,
fills or position reports, already translated from the wire) and returns a ``Batch``:
the verdict on each, the events they caused, and which orders, fills and legs changed
(so a store can write exactly those rows). It performs no I/O and reads no clock.

This module applies updates and answers queries. What it holds, and the moves on it
every part makes, is ``oms.core.holdings``; the rules of the order lifecycle are
``oms.core.states``; when a cross-topic disagreement becomes an anomaly is
``oms.core.settling``; restoring, evicting and recalling terminal orders is
``oms.core.memory``; the ``Batch`` and the frame's ``Outcome`` are ``oms.core.batch``.
The names those modules define that were always imported from here still are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from oms.core import events as ev
from oms.core.batch import (
    VERDICT_OUTCOME,
    Batch,
    OrderUpdateRecord,
    Outcome,
    combine,
    outcome_of,
)
from oms.core.exact import ZERO, total
from oms.core.fills import POSITION_NEUTRAL_EXEC_TYPES, Fill, enriches
from oms.core.memory import (
    ANNOUNCING_EVENTS,
    DEFAULT_KEEP_TERMINAL_ORDERS,
    Announced,
    EvictedFill,
    Memory,
    Recall,
)
from oms.core.orders import CANCEL_RACE_REASON, Order, Side
from oms.core.positions import Leg, LegKey, Opening, PositionReport, judge_report
from oms.core.settling import DEFAULT_SETTLE_FRAMES
from oms.core.states import TERMINAL, Verdict, decide, is_overfilled, shows_cancel_race

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

__all__ = [
    "ANNOUNCING_EVENTS",
    "DEFAULT_KEEP_TERMINAL_ORDERS",
    "DEFAULT_SETTLE_FRAMES",
    "VERDICT_OUTCOME",
    "Announced",
    "Batch",
    "CoreLedger",
    "EvictedFill",
    "OrderUpdateRecord",
    "Outcome",
    "Recall",
    "Update",
    "combine",
    "outcome_of",
]

Update = Order | Fill | PositionReport

# Enum members as module constants for the hot paths: in Python 3.11 reading a member
# through its class (``Verdict.APPLIED``) costs about 900 instructions (the enum type's
# attribute hook), a module constant a dict lookup.
_APPLIED: Final = Verdict.APPLIED
_ILLEGAL: Final = Verdict.ILLEGAL
_BUY: Final = Side.BUY


class CoreLedger(Memory):
    """Orders, fills and positions of one account, built from venue updates."""

    def __init__(self, *, settle_frames: int = DEFAULT_SETTLE_FRAMES) -> None:
        super().__init__(settle_frames)

    @property
    def settle_frames(self) -> int:
        """Frames a cross-topic disagreement may last before it is reported."""
        return self._settle.frames

    @settle_frames.setter
    def settle_frames(self, frames: int) -> None:
        self._settle.frames = frames

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

    def counts(self) -> tuple[int, int]:
        """(open orders, fills held): what ``len(open_orders())`` and ``len(fills())``
        say, without building either list."""
        return len(self._open), len(self._fills)

    def booked_qty(self, order_id: str) -> Decimal:
        """Fill quantity booked against an order."""
        return self._fills.booked_qty(order_id)

    def fill_gaps(self) -> list[tuple[Order, Decimal]]:
        """Orders whose booked fills differ from their cumExecQty: (order, booked qty).

        While the stream runs this is normal (fills and orders race); after a resync it
        names what is really missing."""
        booked_qty = self._fills.booked_qty
        pairs = ((order, booked_qty(order.order_id)) for order in self._orders.values())
        return [(order, booked) for order, booked in pairs if booked != order.cum_exec_qty]

    def position_report(self, key: LegKey) -> PositionReport | None:
        """The newest report of one leg."""
        leg = self._legs.get(key)
        return None if leg is None else leg.report

    def position_reports(self) -> list[PositionReport]:
        """The newest report of every reported leg, sorted by key."""
        return [leg.report for _, leg in sorted(self._legs.items()) if leg.report is not None]

    def position(self, symbol: str, category: str | None = None) -> Decimal:
        """Signed net position of a symbol as reported: long leg minus short leg. Spot
        has no position topic: a spot symbol's position is the fills-derived net of its
        base coin (its trades, Buy +, Sell -). Without ``category``, a symbol held in two
        categories raises ``AmbiguousSymbolError``."""
        category = self._category_of(symbol, category)
        if category == "spot":
            return self._spot_nets.get(symbol, ZERO)
        return total(
            leg.report.net_qty
            for key, leg in self._legs.items()
            if key.symbol == symbol and key.category == category and leg.report is not None
        )

    def derived_position(self, symbol: str, category: str | None = None) -> Decimal:
        """Signed net position of a symbol as derived from booked fills (from the legs'
        opening balances, where they have one); ``category`` as for ``position``."""
        category = self._category_of(symbol, category)
        if category == "spot":
            return self._spot_nets.get(symbol, ZERO)
        return total(
            leg.derived_net
            for key, leg in self._legs.items()
            if key.symbol == symbol and key.category == category
        )

    def reported(self, symbol: str, category: str | None = None) -> bool:
        """Whether a leg of the symbol has a report (never, for spot); ``category`` as
        for ``position``."""
        category = self._category_of(symbol, category)
        return any(
            leg.report is not None
            for key, leg in self._legs.items()
            if key.symbol == symbol and key.category == category
        )

    def legs(self) -> dict[LegKey, Leg]:
        """Every leg known from reports or fills (read-only use)."""
        return dict(self._legs)

    @property
    def has_pending(self) -> bool:
        """Whether a cross-topic disagreement is waiting for late frames."""
        return self._settle.pending

    # --- applying -----------------------------------------------------------------------

    def apply(self, updates: Sequence[Update], *, received_at: int) -> Batch:
        """Apply one frame's updates in order and return what they did."""
        batch = Batch()
        self._apply_to(batch, updates, received_at)
        return batch

    def _apply_to(self, batch: Batch, updates: Sequence[Update], received_at: int) -> None:
        """``apply``, recording into ``batch``."""
        settle = self._settle
        settle.tick += 1
        for update in updates:
            if isinstance(update, Order):
                self._apply_order(update, received_at, batch)
            elif isinstance(update, Fill):
                self._apply_fill(update, received_at, batch)
            else:
                self._apply_position(update, received_at, batch)
        if settle.pending_legs or settle.pending_fills:
            settle.confirm(received_at, batch.events, force=False)

    def settle(self, *, received_at: int) -> list[ev.Event]:
        """Report every pending cross-topic disagreement now, without waiting."""
        events: list[ev.Event] = []
        self._settle.confirm(received_at, events, force=True)
        return events

    # --- orders -------------------------------------------------------------------------

    def _apply_order(self, report: Order, received_at: int, batch: Batch) -> None:  # noqa: C901 - the hot path, in one piece on purpose (see the inlined calls)
        # One unpacking of the whole report: cheaper than slices or a dozen NamedTuple
        # attribute reads (each a descriptor call), and this runs for every order report.
        # fmt: off
        (order_id, order_link_id, category, symbol, _, position_idx, status, _, _, _, _, _,
         cum_exec_qty, _, _, leaves_qty, _, _, _, _, _, reject_reason, _, updated_time) = report
        # fmt: on
        held = self._orders.get(order_id)
        if held is None and self.recall is not None:  # perhaps evicted: ask the store
            held = self._recall_order(order_id)
        decision = decide(held, report)
        verdict = decision.verdict
        batch.verdicts.append(verdict)
        # The reason first: it rules out nearly every report without the call.
        if reject_reason == CANCEL_RACE_REASON and shows_cancel_race(report, verdict):
            self._note_cancel_race(report, received_at, batch)
        if verdict is not _APPLIED:
            if verdict is _ILLEGAL:
                self._refuse_order(held, report, decision.reason, received_at, batch)
            return
        # = self._hold_order(report), inline: this runs for nearly every order report, and
        # the call with its attribute reads costs the ledger 3% more instructions a frame.
        # A held order is open exactly when it is not terminal, and an applied report keeps
        # its category, symbol and positionIdx (``decide``) and never leaves a terminal
        # status: only a new order joins the open or one-way sets.
        self._orders[order_id] = report
        if status in TERMINAL:
            self._open.discard(order_id)
        elif held is None:
            self._open.add(order_id)
        if held is None and position_idx == 0:
            self._oneway.add((category, symbol))
        previous = None if held is None else held.status
        if batch.records:
            batch.orders.add(order_id)
            batch.order_reports.append((previous, report, _APPLIED))
        if decision.status_changed:
            batch.events.append(
                ev.order_status_changed(  # the fields in order, see OrderStatusChanged
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
            batch.events.append(_amended(held, report, received_at))
        if order_id in self._awaiting_order:
            self._attribute_waiting(report, received_at, batch)
        # = is_overfilled(report, booked), its test inline: most reports are not terminal,
        # and of those that are, hardly any is over-filled.
        if status in TERMINAL and self._fills.booked.get(order_id, ZERO) > cum_exec_qty:
            self._check_overfill(report, received_at, batch)

    def _refuse_order(
        self, held: Order | None, report: Order, reason: str, received_at: int, batch: Batch
    ) -> None:
        if batch.records:
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
        """Report an over-filled order (see ``is_overfilled``) once."""
        order_id = order.order_id
        booked = self._fills.booked.get(order_id, ZERO)  # = booked_qty(), without the call
        if order_id in self._overfilled or not is_overfilled(order, booked):
            return
        self._overfilled.add(order_id)
        batch.events.append(
            ev.OverFilled(
                venue_time=order.updated_time,
                received_at=received_at,
                reason="booked fills exceed the final cumExecQty",
                order_id=order_id,
                symbol=order.symbol,
                booked_qty=booked,
                cum_exec_qty=order.cum_exec_qty,
            )
        )

    # --- fills --------------------------------------------------------------------------

    def _apply_fill(self, fill: Fill, received_at: int, batch: Batch) -> None:  # noqa: C901 - the hot path, in one piece on purpose (see _apply_order)
        # One unpacking of the whole fill (see _apply_order).
        # fmt: off
        (exec_id, order_id, _, category, symbol, side, exec_type, exec_qty, exec_price, _,
         exec_fee, _, _, _, _, exec_time, seq, _) = fill
        # fmt: on
        if self.recall is not None and order_id not in self._orders:
            self._recall_fill(order_id, exec_id)  # perhaps evicted: ask the store
        held = self._fills.add(fill)
        if held is not None:
            self._refill(held, fill, batch)
            return
        batch.verdicts.append(_APPLIED)
        if batch.records:
            batch.fills.add(exec_id)
        order: Order | None = self._orders.get(order_id)
        changes = exec_type not in POSITION_NEUTRAL_EXEC_TYPES  # = fill.changes_position
        moves = changes and category != "spot"
        if not moves:
            leg = None
            if changes:  # a spot trade: its symbol's base-coin net
                self._book_spot(symbol, side, exec_qty)
        elif order is not None:  # = self._fill_leg(fill, order), inline (see below)
            parts = (order[2], order[3], order[5])  # its leg's key (category, symbol, idx)
            leg = self._legs.get(parts) or self._leg_of(*parts)  # type: ignore[call-overload]
        else:
            leg = self._fill_leg(fill, order)
        batch.events.append(
            ev.fill_booked(  # the fields in order, see FillBooked
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
                None if leg is None else leg.key[2],  # its position_idx
            )
        )
        if order is None:
            self._await_order(fill, leg, moves, watch=True)
        # = self._book_to_leg(fill, leg, ...), inline: with the _fill_leg call above, a
        # call per fill costs the ledger 3.5% more instructions a frame (measured).
        # A fill that leaves the covered fills as they were (newer than the report: the
        # usual case) leaves the leg's agreement as the last recheck found it: no recheck.
        if leg is not None:
            covered = leg.add_fill(seq, exec_qty if side is _BUY else exec_qty.copy_negate())
            if batch.records:
                batch.legs.add(leg.key)
            if covered:
                self._settle.recheck(leg, received_at, batch.events)
        # = is_overfilled(order, booked), its test inline: a fill of a terminal order is
        # the usual case (fills arrive after their order's report), an overfill is not.
        if (
            order is not None
            and order[6] in TERMINAL  # its status
            and self._fills.booked.get(order_id, ZERO) > order[12]  # its cum_exec_qty
        ):
            self._check_overfill(order, received_at, batch)

    def _refill(self, held: Fill, fill: Fill, batch: Batch) -> None:
        """A fill booked already: a duplicate, or a richer copy that replaces it."""
        if enriches(held, fill):
            self._fills.replace(fill)
            if batch.records:
                batch.fills.add(fill.exec_id)
            batch.verdicts.append(Verdict.APPLIED)
        else:
            batch.verdicts.append(Verdict.DUPLICATE)

    def _attribute_waiting(self, order: Order, received_at: int, batch: Batch) -> None:
        """Fills that arrived before their order: clear their alarm, book their leg."""
        pending_fills = self._settle.pending_fills
        for exec_id, attributed in self._awaiting_order.pop(order.order_id, ()):
            pending_fills.pop(exec_id, None)
            fill = self._fills.get(exec_id)
            if fill is not None and not attributed:
                leg = self._leg_of(order.category, order.symbol, order.position_idx)
                self._book_to_leg(fill, leg, received_at, batch)

    def _book_to_leg(self, fill: Fill, leg: Leg, received_at: int, batch: Batch) -> None:
        qty = fill.exec_qty  # signed: = fill.signed_qty, without the property call
        covered = leg.add_fill(fill.seq, qty if fill.side is _BUY else qty.copy_negate())
        if batch.records:
            batch.legs.add(leg.key)
        if covered:  # (see _apply_fill)
            self._settle.recheck(leg, received_at, batch.events)

    # --- positions ----------------------------------------------------------------------

    def _apply_position(self, report: PositionReport, received_at: int, batch: Batch) -> None:
        # One unpacking instead of NamedTuple attribute reads (see _apply_order).
        (category, symbol, position_idx, side, size, _, _, _, _, seq, updated_time) = report
        parts = (category, symbol, position_idx)  # finds its LegKey (see _leg_of)
        leg: Leg = self._legs.get(parts) or self._leg_of(*parts)  # type: ignore[call-overload]
        held = leg.report
        # A newer seq decides without the call (the usual case); judge_report the rest.
        verdict = _APPLIED if held is None or seq > held[9] else judge_report(held, report)
        batch.verdicts.append(verdict)
        if verdict is not _APPLIED:
            return
        previous = leg.reported_net
        if previous is None:
            previous = ZERO
        net = leg.set_report(report)
        if held is None:
            if not leg.has_fills and not self._awaits_leg(category, symbol):
                # The leg's first report, and no fill held: its opening balance (see
                # oms.core.positions), e.g. a position opened before oms started.
                leg.open_with(Opening(net, seq))
            if position_idx == 0:  # (a later report of the leg has the same key)
                self._oneway.add((category, symbol))
        if batch.records:
            batch.legs.add(leg.key)
        if previous != net:
            batch.events.append(
                ev.position_changed(  # the fields in order, see PositionChanged
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
        # usual case, where the recheck would do nothing.
        if leg.tail or net != leg.fills_net or leg.mismatch_open or self._settle.pending_legs:
            self._settle.recheck(leg, received_at, batch.events)


def _amended(held: Order, report: Order, received_at: int) -> ev.OrderAmended:
    return ev.order_amended(  # the fields in order, see OrderAmended
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
