"""The core ledger: the only stateful object of the core, fed typed venue updates.

``CoreLedger.apply(updates, received_at=...)`` takes the updates of one frame (orders,
fills or position reports, already translated from the wire) and returns a ``Batch``:
the verdict on each, the events they caused, and which orders, fills and legs changed
(so a store can write exactly those rows). It performs no I/O and reads no clock.

This module applies updates; what a ledger answers is ``oms.core.queries``. What it
holds, and the moves on it every part makes, is ``oms.core.holdings``; the rules of the
order lifecycle are ``oms.core.states``; when a cross-topic disagreement becomes an
anomaly is ``oms.core.settling``; restoring, evicting and recalling terminal orders is
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
from oms.core.exact import ZERO
from oms.core.fills import POSITION_NEUTRAL_EXEC_TYPES, Fill, enriches
from oms.core.memory import (
    ANNOUNCING_EVENTS,
    DEFAULT_KEEP_TERMINAL_ORDERS,
    Announced,
    EvictedFill,
    Recall,
)
from oms.core.orders import CANCEL_RACE_REASON, Order, Side
from oms.core.positions import Leg, Opening, PositionReport, judge_report
from oms.core.queries import Queries
from oms.core.settling import DEFAULT_SETTLE_FRAMES
from oms.core.states import (
    TERMINAL,
    Decision,
    Verdict,
    decide,
    is_overfilled,
    shows_cancel_race,
)
from oms.core.update_events import amended, fill_booked, position_changed, status_changed

if TYPE_CHECKING:
    from collections.abc import Sequence

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

# Field positions for reads by index on the hot paths: an index into a tuple compiles to
# one C call, a NamedTuple attribute to a descriptor lookup. Literals, not
# ``Order._fields.index(...)`` (as oms.bybit.finishers derives its own): only a literal
# index tells mypy and mypyc the field's type. Checked against the classes' fields by
# tests/core/test_ledger_indices.py.
_ORDER_ID: Final = 0  # Order.order_id
_CATEGORY: Final = 2  # Order.category
_SYMBOL: Final = 3  # Order.symbol
_POSITION_IDX: Final = 5  # Order.position_idx
_STATUS: Final = 6  # Order.status
_CUM: Final = 12  # Order.cum_exec_qty
_REJECT_REASON: Final = 21  # Order.reject_reason
_EXEC_ID: Final = 0  # Fill.exec_id
_FILL_ORDER_ID: Final = 1  # Fill.order_id
_FILL_CATEGORY: Final = 3  # Fill.category
_FILL_SYMBOL: Final = 4  # Fill.symbol
_FILL_SIDE: Final = 5  # Fill.side
_EXEC_TYPE: Final = 6  # Fill.exec_type
_EXEC_QTY: Final = 7  # Fill.exec_qty
_SEQ: Final = 16  # Fill.seq


class CoreLedger(Queries):
    """Orders, fills and positions of one account, built from venue updates."""

    def __init__(self, *, settle_frames: int = DEFAULT_SETTLE_FRAMES) -> None:
        super().__init__(settle_frames)

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

    def _apply_order(self, report: Order, received_at: int, batch: Batch) -> None:
        """One order report: judged by ``decide``, held if applied, refused if illegal."""
        order_id = report[_ORDER_ID]
        held = self._orders.get(order_id)
        if held is None and self.recall is not None:  # perhaps evicted: ask the store
            held = self._recall_order(order_id)
        decision = decide(held, report)
        verdict = decision.verdict
        batch.verdicts.append(verdict)
        # The reason first: it rules out nearly every report without the call.
        if report[_REJECT_REASON] == CANCEL_RACE_REASON and shows_cancel_race(report, verdict):
            self._note_cancel_race(report, received_at, batch)
        if verdict is _APPLIED:
            self._hold_report(held, report, decision, received_at, batch)
        elif verdict is _ILLEGAL:
            self._refuse_order(held, report, decision.reason, received_at, batch)

    def _hold_report(
        self, held: Order | None, report: Order, decision: Decision, at: int, batch: Batch
    ) -> None:
        """An applied report becomes its order's held state: rows, events, waiting fills."""
        order_id, status, cum_exec_qty = report[_ORDER_ID], report[_STATUS], report[_CUM]
        # = self._hold_order(report), without its redundant moves: a held order is open
        # exactly when it is not terminal, and an applied report keeps its category,
        # symbol and positionIdx (``decide``) and never leaves a terminal status: only a
        # new order joins the open or one-way sets.
        self._orders[order_id] = report
        if status in TERMINAL:
            self._open.discard(order_id)
        elif held is None:
            self._open.add(order_id)
        if held is None and report[_POSITION_IDX] == 0:
            self._oneway.add((report[_CATEGORY], report[_SYMBOL]))
        previous = None if held is None else held[_STATUS]
        if batch.records:
            batch.orders.add(order_id)
            batch.order_reports.append((previous, report, _APPLIED))
        if decision.status_changed:
            batch.events.append(status_changed(report, previous, at))
        if decision.amended and held is not None:
            batch.events.append(amended(held, report, at))
        if order_id in self._awaiting_order:
            self._attribute_waiting(report, at, batch)
        # = is_overfilled(report, booked), its test inline: most reports are not terminal,
        # and of those that are, hardly any is over-filled.
        if status in TERMINAL and self._fills.booked.get(order_id, ZERO) > cum_exec_qty:
            self._check_overfill(report, at, batch)

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

    def _apply_fill(self, fill: Fill, received_at: int, batch: Batch) -> None:
        """One execution: booked once by execId (a copy is a duplicate, or a richer copy
        replaces it), to its order's leg, or waiting for its order."""
        exec_id, order_id, category = fill[_EXEC_ID], fill[_FILL_ORDER_ID], fill[_FILL_CATEGORY]
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
        changes = fill[_EXEC_TYPE] not in POSITION_NEUTRAL_EXEC_TYPES  # = changes_position
        moves = changes and category != "spot"
        if changes and not moves:  # a spot trade: its symbol's base-coin net
            self._book_spot(fill[_FILL_SYMBOL], fill[_FILL_SIDE], fill[_EXEC_QTY])
        leg = self._fill_leg(fill, order) if moves else None
        batch.events.append(fill_booked(fill, changes, leg, received_at))
        if order is None:
            self._await_order(fill, leg, moves, watch=True)
        if leg is not None:
            self._book_to_leg(fill, leg, received_at, batch)
        # = is_overfilled(order, booked), its test inline: a fill of a terminal order is
        # the usual case (fills arrive after their order's report), an overfill is not.
        if (
            order is not None
            and order[_STATUS] in TERMINAL
            and self._fills.booked.get(order_id, ZERO) > order[_CUM]
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
        """Move a leg by one fill (signed: Buy +, Sell -)."""
        qty = fill[_EXEC_QTY]  # signed: = fill.signed_qty, without the property call
        covered = leg.add_fill(fill[_SEQ], qty if fill[_FILL_SIDE] is _BUY else qty.copy_negate())
        if batch.records:
            batch.legs.add(leg.key)
        # A fill that leaves the covered fills as they were (newer than the report: the
        # usual case) leaves the leg's agreement as the last recheck found it: no recheck.
        if covered:
            self._settle.recheck(leg, received_at, batch.events)

    # --- positions ----------------------------------------------------------------------

    def _apply_position(self, report: PositionReport, received_at: int, batch: Batch) -> None:
        # One unpacking instead of NamedTuple attribute reads (see _apply_order).
        (category, symbol, position_idx, _, _, _, _, _, _, seq, _) = report
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
            batch.events.append(position_changed(report, previous, net, received_at))
        # The report equals every fill booked, and nothing is pending or announced: the
        # usual case, where the recheck would do nothing.
        if leg.tail or net != leg.fills_net or leg.mismatch_open or self._settle.pending_legs:
            self._settle.recheck(leg, received_at, batch.events)
