"""An account's state back from its database: on open, and for what eviction took out.

On open, ``restore`` loads open and recent orders, the legs and the wallets (the newest
report per accountType, with its staleness clock) into the ledger; fills of
orders left in the database only count in their legs (streamed: a long history is never
in memory at once); what was announced comes back from the outbox. Later, a report naming
an order no longer held finds it through ``StoredState``, the ledger's ``Recall``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from oms.bybit.codec import decode_element
from oms.bybit.frames import Kind
from oms.core.ledger import EvictedFill
from oms.errors import StorageError

if TYPE_CHECKING:
    from typing import Any

    from sqlalchemy.engine import Connection

    from oms.bybit.models import WireModel
    from oms.core.fills import Fill
    from oms.core.orders import Order
    from oms.runtime.pipeline import Pipeline

log = logging.getLogger("oms.runtime.pipeline")


def restore(pipeline: Pipeline) -> None:
    """Load the account's state from the database into the pipeline's ledger: open and
    recent orders in memory, the rest recalled on demand, fills streamed into the legs."""
    conn, keep = pipeline.connection, pipeline.keep_terminal_orders
    with conn.begin():
        orders = pipeline.repo.load_orders(conn, keep_terminal=keep)
        held = {o.order_id for o in orders}
        if keep is not None and pipeline.repo.count_orders(conn) > len(orders):
            _recall_the_rest(pipeline, conn, held)
        legs = pipeline.repo.load_legs(conn)
        counts = pipeline.repo.frame_counts(conn)
        wallets = [(_wallet(report), at) for report, at in pipeline.repo.load_wallets(conn)]
        # Fills of stored orders left out only count in their legs (streamed: a long
        # history is never in memory at once); the rest are held as before. What was
        # announced comes back from the outbox, so that it is neither said again nor
        # left without its sequel (a mismatch's resolution).
        pipeline.ledger.restore(
            orders=orders,
            fills=(
                fill if idx is None or fill.order_id in held else EvictedFill(fill, idx)
                for fill, idx in pipeline.repo.iter_fills(conn)
            ),
            legs=legs,
            announced=pipeline.repo.load_announced(conn),
            oneway=pipeline.repo.oneway_symbols(conn),
            openings=pipeline.repo.load_openings(conn),
        )
    pipeline.ledger.restore_stats(counts)
    pipeline.ledger.restore_wallets(wallets)
    if orders or legs:
        log.info(
            "restored account %s: %d orders and %d fills in memory, %d legs",
            pipeline.account,
            len(orders),
            len(pipeline.ledger.fills()),
            len(legs),
        )


def _recall_the_rest(pipeline: Pipeline, conn: Connection, held: set[str]) -> None:
    """Some orders stay in the database: reports naming them must find them."""
    pipeline.ledger.recall = StoredState(pipeline)
    for order_id in pipeline.repo.iter_order_ids(conn):
        if order_id not in held:
            pipeline.ledger.evicted.add(order_id)


def _wallet(report: dict[str, Any]) -> WireModel:
    """A stored wallet report back through the wire's own rules."""
    try:
        return decode_element(Kind.WALLET, report)  # type: ignore[return-value]
    except ValueError as exc:
        raise StorageError(f"a stored wallet is not valid: {exc}") from exc


class StoredState:
    """The database as the ledger's ``Recall``: what eviction took out of memory. Read on
    the service's own connection, from the thread that applies frames."""

    def __init__(self, service: Pipeline) -> None:
        self._service = service

    def order(self, order_id: str) -> tuple[Order, list[Fill]] | None:
        conn, repo = self._service.connection, self._service.repo
        with conn.begin():
            order = repo.load_order(conn, order_id)
            return None if order is None else (order, repo.load_fills(conn, order_id))

    def fill(self, exec_id: str) -> Fill | None:
        conn, repo = self._service.connection, self._service.repo
        with conn.begin():
            return repo.load_fill(conn, exec_id)
