"""What people read: rich tables of a replay's state, of stored rows and of leases, and
the plain-text listing ``oms replay --db --full`` streams (a table that must know every
row to size its columns cannot be printed as the rows come)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Final

from rich.console import Console
from rich.table import Table

from oms.cli.views import ORDER_COLUMNS, POSITION_COLUMNS
from oms.core.states import OPEN

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import TextIO

    from oms.cli.stored import Summary

_NUMERIC_SUFFIXES: Final = ("qty", "price", "fee", "size", "value", "pnl")
_PIPE_WIDTH: Final = 220
_OPEN_NAMES: Final = frozenset(s.value for s in OPEN)
#: Widths of the streamed listing's columns: wide enough for Bybit's ids and prices, so
#: rows line up; a longer value is printed whole and only shifts its own row.
_LISTING_WIDTHS: Final = {"order_id": 36, "order_link_id": 36, "exec_id": 36, "symbol": 16}
_LISTING_DEFAULT_WIDTH: Final = 12
_LISTING_NUMERIC: Final = (*_NUMERIC_SUFFIXES, "time", "seq", "idx")


def rows_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Table:
    """A table of rows, numbers right-aligned, absent values blank."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        # fold rather than cut: an id or a price shown as "10…" is worse than a taller row
        numeric = column.endswith(_NUMERIC_SUFFIXES)
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    return table


def counts_table(title: str, counts: dict[str, int]) -> Table:
    """One row of counts under their names (frames by outcome, orders by status, ...)."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for key in counts:
        table.add_column(key, justify="right")
    table.add_row(*(str(v) for v in counts.values()))
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
    out.print(counts_table("Frames", document["stats"]))
    out.print(f"{len(document['executions'])} executions booked")


def print_summary(summary: Summary, out: Console, *, more: str | None = None) -> None:
    """The bounded picture of a stored account (``oms replay --db``): a few dozen lines
    however long its history. ``more``, if given, ends it: where the rest is."""
    out.print(counts_table("Frames", summary.stats))
    out.print(counts_table(f"Orders ({summary.orders}) by status", summary.orders_by_status))
    shown = summary.open_orders
    if shown:
        title = f"Open orders ({summary.open_count} of {summary.orders}, oldest first)"
        out.print(rows_table(title, shown, ORDER_COLUMNS))
    else:
        out.print(f"no open orders (of {summary.orders})")
    if summary.open_count > len(shown):
        out.print(f"... and {summary.open_count - len(shown)} more open orders", highlight=False)
    out.print(rows_table(f"Positions ({summary.legs} legs)", summary.positions, POSITION_COLUMNS))
    if summary.legs > len(summary.positions):
        out.print(f"... and {summary.legs - len(summary.positions)} more legs", highlight=False)
    if summary.anomalies:
        out.print(counts_table("Anomalies by kind", summary.anomalies))
    else:
        out.print("no anomalies")
    out.print(f"{summary.executions} executions booked")
    if more is not None:
        out.print(more, highlight=False, soft_wrap=True)


def write_listing(
    out: TextIO, title: str, rows: Iterable[dict[str, Any]], columns: Sequence[str]
) -> int:
    """Write ``title``, a header and one line per row as each row comes (fixed-width
    columns, numbers right-aligned, nothing cut); return the number of rows."""
    widths = [max(len(c), _LISTING_WIDTHS.get(c, _LISTING_DEFAULT_WIDTH)) for c in columns]
    right = [c.endswith(_LISTING_NUMERIC) for c in columns]

    def line(values: Sequence[str]) -> str:
        cells = (
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        )
        return "  ".join(cells).rstrip() + "\n"

    out.write(f"{title}\n{line(columns)}")
    count = 0
    for row in rows:
        out.write(line(["" if row[c] is None else str(row[c]) for c in columns]))
        count += 1
    return count


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
