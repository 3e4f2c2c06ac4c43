"""One commit: a staged group of frames written as one transaction.

``Staged`` is what the next commit must write (frames in arrival order, with the updates,
executions and events each caused, and the orders and legs they touched);
``write_group`` writes it. A crash at any instant leaves the database as it was after some
whole group. The cost is linear in what the group touched, whatever the frame size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oms.core.exact import total

if TYPE_CHECKING:
    from collections.abc import Mapping
    from decimal import Decimal

    from sqlalchemy.engine import Connection

    from oms.bybit.ledger import Ledger
    from oms.core.events import Event
    from oms.core.orders import Order
    from oms.core.positions import Leg, LegKey
    from oms.store.lease import Lease
    from oms.store.repository import Repository, Row


@dataclass(slots=True)
class Staged:
    """What the next commit must write: frames in arrival order, and what they touched."""

    frames: list[tuple[Row | None, list[tuple[str | None, Order, str]], list[str], list[Event]]] = (
        field(default_factory=list)
    )
    orders: set[str] = field(default_factory=set)
    legs: set[LegKey] = field(default_factory=set)
    replay: tuple[str, int, bool] | None = None
    since: float = 0.0


def write_group(
    conn: Connection, repo: Repository, ledger: Ledger, staged: Staged, lease: Lease | None
) -> list[Event]:
    """Write one staged group in ONE transaction: the journal rows, every state row the
    frames changed (orders, order updates, executions, positions) and every event; return
    the events, for the publisher once the transaction has committed."""
    with conn.begin():
        if lease is not None:
            # Fencing: refused (and rolled back) once another process took the lease.
            lease.fence(conn)
        update_rows, exec_frames, event_rows, events = _journal(conn, repo, staged)
        repo.write_orders(conn, [o for i in staged.orders if (o := ledger.order(i))])
        repo.write_order_updates(conn, update_rows)
        repo.write_executions(
            conn, [(f, fid) for i, fid in exec_frames.items() if (f := ledger.fill(i))]
        )
        repo.write_positions(conn, _position_rows(repo, ledger, staged.legs))
        repo.write_events(conn, event_rows)
        if staged.replay is not None:
            source, done, finished = staged.replay
            repo.write_replay(conn, source, done, finished=finished)
    return events


def _journal(
    conn: Connection, repo: Repository, staged: Staged
) -> tuple[list[Row], dict[str, int | None], list[Row], list[Event]]:
    """Insert the journal rows; return each frame's order-update rows, the journal id of
    each execution's frame, the event rows and the events, in arrival order."""
    update_rows: list[Row] = []
    exec_frames: dict[str, int | None] = {}
    event_rows: list[Row] = []
    events: list[Event] = []
    journaled = [frame for frame, *_ in staged.frames if frame is not None]
    ids = iter(repo.insert_frames(conn, journaled))
    for frame, updates, exec_ids, frame_events in staged.frames:
        frame_id = next(ids) if frame is not None else None
        update_rows.extend(
            repo.order_update_row(previous, report, outcome, frame_id)
            for previous, report, outcome in updates
        )
        exec_frames.update(dict.fromkeys(exec_ids, frame_id))
        event_rows.extend(repo.event_row(event) for event in frame_events)
        events.extend(frame_events)
    return update_rows, exec_frames, event_rows, events


def _position_rows(repo: Repository, ledger: Ledger, changed: set[LegKey]) -> list[Row]:
    legs = ledger.legs()
    keys = with_siblings(changed, legs)
    nets = symbol_nets(keys, legs)
    return [
        repo.position_row(
            key,
            legs[key].report,
            legs[key].derived_net,
            nets[key.category, key.symbol],
            legs[key].opening,
        )
        for key in keys
    ]


def with_siblings(changed: set[LegKey], legs: Mapping[LegKey, object]) -> list[LegKey]:
    """Changed legs plus the other legs of their symbols (they share symbol_net_qty).
    One pass over the legs held: linear in their number, whatever the frame size."""
    if not changed:
        return []
    symbols = {(k.category, k.symbol) for k in changed}
    return sorted(k for k in legs if (k.category, k.symbol) in symbols)


def symbol_nets(keys: list[LegKey], legs: Mapping[LegKey, Leg]) -> dict[tuple[str, str], Decimal]:
    """Reported net per (category, symbol) of the given legs' symbols, in one pass (the
    keys come with all their siblings, see ``with_siblings``)."""
    reported: dict[tuple[str, str], list[Decimal]] = {}
    for key in keys:
        nets = reported.setdefault((key.category, key.symbol), [])
        report = legs[key].report
        if report is not None:
            nets.append(report.net_qty)
    return {symbol: total(nets) for symbol, nets in reported.items()}
