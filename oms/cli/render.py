"""Rich tables for people: the state of a replay, and stored rows for ``oms inspect``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Final

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from oms.core.states import OPEN
from oms.store.db import open_engine
from oms.store.tables import EventRow, ExecutionRow, OrderRow, PositionRow

if TYPE_CHECKING:
    from collections.abc import Sequence

ORDER_COLUMNS: Final = (
    "order_id",
    "order_link_id",
    "symbol",
    "side",
    "position_idx",
    "status",
    "order_type",
    "qty",
    "price",
    "cum_exec_qty",
    "leaves_qty",
    "avg_price",
)
POSITION_COLUMNS: Final = ("category", "symbol", "position_idx", "side", "size", "net_qty")
_NUMERIC_SUFFIXES: Final = ("qty", "price", "fee", "size", "value", "pnl")
_PIPE_WIDTH: Final = 220
_OPEN_NAMES: Final = frozenset(s.value for s in OPEN)


def rows_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Table:
    """A table of rows, numbers right-aligned, absent values blank."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        numeric = column.endswith(_NUMERIC_SUFFIXES)
        # fold rather than cut: an id or a price shown as "10…" is worse than a taller row
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    return table


def console() -> Console:
    """A console for tables: the terminal's width, or wide when writing to a file/pipe."""
    return Console() if sys.stdout.isatty() else Console(width=_PIPE_WIDTH)


def print_state(document: dict[str, Any], out: Console, *, summary: bool = False) -> None:
    """Readable tables of a state document (see ``oms.cli.views.state_document``).
    ``summary`` shows only open orders instead of every order."""
    orders = document["orders"]
    if summary:
        orders = [o for o in orders if o["status"] in _OPEN_NAMES]
        title = f"Open orders ({len(orders)} of {len(document['orders'])})"
    else:
        title = f"Orders ({len(orders)})"
    out.print(rows_table(title, orders, ORDER_COLUMNS))
    out.print(
        rows_table(
            f"Positions ({len(document['positions'])} legs)",
            document["positions"],
            POSITION_COLUMNS,
        )
    )
    stats = Table(title="Frames", title_justify="left", header_style="bold")
    for key in document["stats"]:
        stats.add_column(key, justify="right")
    stats.add_row(*(str(v) for v in document["stats"].values()))
    out.print(stats)
    out.print(f"{len(document['executions'])} executions booked")


_INSPECT: Final[dict[str, tuple[Any, tuple[str, ...], Any]]] = {
    "orders": (OrderRow, ("account", *ORDER_COLUMNS, "updated_time"), OrderRow.updated_time),
    "positions": (
        PositionRow,
        ("account", *POSITION_COLUMNS, "entry_price", "fills_net_qty", "seq"),
        PositionRow.symbol,
    ),
    "fills": (
        ExecutionRow,
        (
            "account",
            "exec_id",
            "order_id",
            "symbol",
            "side",
            "exec_type",
            "exec_qty",
            "exec_price",
            "exec_fee",
            "exec_time",
            "seq",
        ),
        ExecutionRow.exec_time,
    ),
    "events": (
        EventRow,
        ("id", "account", "type", "order_id", "symbol", "created_at"),
        EventRow.id,
    ),
}


def inspect_table(
    url: str,
    what: str,
    *,
    account: str | None = None,
    symbol: str | None = None,
    status: str | None = None,
    open_only: bool = False,
    limit: int = 200,
) -> Table:
    """The newest ``limit`` stored rows of one kind, filtered, as a table."""
    model, columns, order_by = _INSPECT[what]
    table = model.__table__
    query = select(table)
    if account is not None:
        query = query.where(table.c.account == account)
    if symbol is not None and "symbol" in table.c:
        query = query.where(table.c.symbol == symbol)
    if what == "orders" and status is not None:
        query = query.where(table.c.status == status)
    if what == "orders" and open_only:
        query = query.where(table.c.status.in_([s.value for s in OPEN]))
    sort = order_by.desc() if what != "positions" else order_by
    query = query.order_by(sort).limit(limit)
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
    finally:
        engine.dispose()
    if what != "positions":
        rows.reverse()  # oldest of the newest first, like a log
    return rows_table(f"{what} ({len(rows)} shown)", rows, columns)


#: Columns of ``oms status``: heading and how an entry of ``status_document`` shows.
STATUS_COLUMNS: Final = ("account", "owner", "since", "epoch", "heartbeat", "state", "last frame")
STATUS_NUMBERS: Final = ("frames", "lag ms")


def _heartbeat_text(entry: dict[str, Any]) -> str:
    age = f"{entry['heartbeat_age_ms'] // 1000} s ago"
    condition = entry["condition"]
    return age if condition == "held" else f"{condition} ({age})"


def status_table(document: dict[str, Any]) -> Table:
    """``oms status``: one row per lease of a ``status_document``: its owner, since when,
    the lease epoch, the heartbeat's age (or released/expired), and the owner's report."""
    from oms.store.lease import iso_utc  # noqa: PLC0415 - only status needs the lease module

    table = Table(
        title=f"Leases ({len(document['leases'])})", title_justify="left", header_style="bold"
    )
    for column in STATUS_COLUMNS:
        table.add_column(column, justify="right" if column == "epoch" else "left")
    for column in STATUS_NUMBERS:
        table.add_column(column, justify="right")
    for entry in document["leases"]:
        last_frame = entry["last_frame_at"]
        table.add_row(
            entry["account"],
            f"{entry['owner_host']} pid {entry['owner_pid']}",
            entry["since"],
            str(entry["epoch"]),
            _heartbeat_text(entry),
            entry["state"] or "",
            "" if last_frame is None else iso_utc(last_frame),
            "" if entry["frames"] is None else str(entry["frames"]),
            "" if entry["lag_ms"] is None else str(entry["lag_ms"]),
        )
    return table
