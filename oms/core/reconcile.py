"""Venue snapshot vs local state: corrective updates and reconciliation events.

After a gap (start-up, reconnect) the shell fetches a REST snapshot: open orders,
recently closed orders, any locally open order looked up by id, executions since the
last booked one, and positions. ``reconcile`` applies it through the ledger's ordinary
rules, so every correction is an ordinary state change (an order that changed or closed
during the gap, one created and finished entirely within it, a missed fill, a corrected
position) with its ordinary events, and then says what it corrected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from oms.core import events as ev
from oms.core.orders import Verdict

if TYPE_CHECKING:
    from oms.core.fills import Fill
    from oms.core.ledger import Batch, CoreLedger
    from oms.core.orders import Order
    from oms.core.positions import Leg, PositionReport


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueSnapshot:
    """What the venue said over REST. ``vanished`` lists orders held as open that the
    venue did not return even when asked by id."""

    orders: tuple[Order, ...] = ()
    fills: tuple[Fill, ...] = ()
    positions: tuple[PositionReport, ...] = ()
    vanished: tuple[str, ...] = ()
    taken_at: int = 0
    #: REST rows that could not be converted (announced, and counted in ResyncCompleted)
    refused: tuple[ev.RestRowRefused, ...] = ()


def reconcile(ledger: CoreLedger, snapshot: VenueSnapshot, *, received_at: int) -> Batch:
    """Apply a snapshot to the ledger and return everything it did, ending with
    ``ResyncCompleted``."""
    known = {o.order_id for o in ledger.orders()}
    # The report of a leg that holds neither a report nor a fill yet is its opening
    # balance (oms.core.positions), so it goes first: the snapshot's fills inside it (seq
    # at or below its seq) then move nothing, as on the stream. The rest keep their order.
    legs = ledger.legs()
    opening = [p for p in snapshot.positions if _unopened(legs.get(p.key))]
    later = [p for p in snapshot.positions if not _unopened(legs.get(p.key))]
    batch = ledger.apply(
        [*opening, *snapshot.orders, *snapshot.fills, *later], received_at=received_at
    )
    orders_new, orders_changed, fills_added, positions_changed = _count(
        snapshot, batch, known, len(opening)
    )
    batch.events.extend(snapshot.refused)
    batch.events.extend(_vanished(ledger, snapshot, received_at))
    batch.events.extend(ledger.settle(received_at=received_at))
    missing = _fills_missing(ledger, received_at)
    batch.events.extend(missing)
    mismatched = sum(1 for leg in ledger.legs().values() if leg.disagreement() is not None)
    batch.events.append(
        ev.ResyncCompleted(
            venue_time=snapshot.taken_at,
            received_at=received_at,
            orders_changed=orders_changed,
            orders_new=orders_new,
            fills_added=fills_added,
            positions_changed=positions_changed,
            mismatched_legs=mismatched,
            fill_gaps=len(missing),
            refused=len(snapshot.refused),
        )
    )
    return batch


def _fills_missing(ledger: CoreLedger, received_at: int) -> list[ev.FillsMissing]:
    """An event per closed order whose booked fills still differ from its cumExecQty:
    after a resync that is a real gap, not the stream's ordinary race."""
    return [
        ev.FillsMissing(
            venue_time=order.updated_time,
            received_at=received_at,
            reason="booked fills differ from cumExecQty after a resync",
            order_id=order.order_id,
            symbol=order.symbol,
            booked_qty=booked,
            cum_exec_qty=order.cum_exec_qty,
        )
        for order, booked in ledger.fill_gaps()
        if not order.is_open
    ]


def _unopened(leg: Leg | None) -> bool:
    """Whether a leg's next report would be its opening balance."""
    return leg is None or (leg.report is None and not leg.has_fills)


def _count(
    snapshot: VenueSnapshot, batch: Batch, known: set[str], openings: int
) -> tuple[int, int, int, int]:
    """(orders new, orders changed, fills added, positions changed) by the snapshot,
    whose ``openings`` first verdicts are opening reports (see ``reconcile``)."""
    orders_new = orders_changed = fills_added = 0
    verdicts = batch.verdicts
    positions_changed = sum(1 for v in verdicts[:openings] if v is Verdict.APPLIED)
    n_orders, n_fills = len(snapshot.orders), len(snapshot.fills)
    for index, verdict in enumerate(verdicts[openings:]):
        if verdict is not Verdict.APPLIED:
            continue
        if index < n_orders:
            if snapshot.orders[index].order_id in known:
                orders_changed += 1
            else:
                orders_new += 1
        elif index < n_orders + n_fills:
            fills_added += 1
        else:
            positions_changed += 1
    return orders_new, orders_changed, fills_added, positions_changed


def _vanished(
    ledger: CoreLedger, snapshot: VenueSnapshot, received_at: int
) -> list[ev.OrderVanished]:
    """An event per order held as open that the venue no longer knows."""
    events = []
    for order_id in snapshot.vanished:
        order = ledger.order(order_id)
        if order is not None and order.is_open:
            events.append(
                ev.OrderVanished(
                    venue_time=snapshot.taken_at,
                    received_at=received_at,
                    reason="held as open but unknown to the venue",
                    order_id=order_id,
                    symbol=order.symbol,
                )
            )
    return events
