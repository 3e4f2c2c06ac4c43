"""Plain rows of the account state: the shape of ``oms replay --json`` and of the tables.

Decimals become strings (exact), absent values ``None``, statuses and sides Bybit's
spelling, times integer milliseconds. ``write_document`` writes the JSON document from
rows as they come (from a ledger, or read from a database by ``oms.cli.stored``), so no
second copy of the state is built to print it.
"""

from __future__ import annotations

import json
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from decimal import Decimal
    from typing import TextIO

    from oms.bybit.ledger import Ledger
    from oms.core.fills import Fill
    from oms.core.orders import Order
    from oms.core.positions import PositionReport

Row = dict[str, Any]

#: The columns the tables show of an order, a leg and an execution.
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
FILL_COLUMNS: Final = (
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
)
#: Rows encoded per call when streaming: one call per row costs more than the encoding.
_CHUNK: Final = 1024
_encode = json.JSONEncoder(separators=(",", ":")).encode


def encode_rows(rows: list[Row]) -> str:
    """``json.dumps(rows, separators=(",", ":"))``, by pydantic-core's encoder (in Rust:
    twice as fast, and a long replay's document holds millions of values) whenever that
    gives the same text: when its output is ASCII without DEL. Otherwise (non-ASCII text,
    which ``json`` escapes and it does not; DEL, likewise; a lone surrogate, which it
    refuses) by ``json`` itself."""
    from pydantic_core import to_json  # noqa: PLC0415 - loaded by the codec already

    try:
        data = to_json(rows)
    except ValueError:  # PydanticSerializationError: a lone surrogate
        return _encode(rows)
    return data.decode("ascii") if data.isascii() and b"\x7f" not in data else _encode(rows)


def dec(value: Decimal | None) -> str | None:
    """Exact plain-notation text of a decimal (``0.00000001``, never ``1E-8``), or None:
    ``format(value, "f")``. ``str`` gives the same text whenever it has no exponent (the
    usual case) and costs a sixth as much: a document of a long replay holds millions."""
    if value is None:
        return None
    text = str(value)
    return format(value, "f") if "E" in text or "e" in text else text


def order_row(o: Order) -> Row:
    """One order, as in ``orders`` of the replay JSON."""
    return {
        "order_id": o.order_id,
        "order_link_id": o.order_link_id,
        "category": o.category,
        "symbol": o.symbol,
        "side": o.side.value,
        "position_idx": o.position_idx,
        "status": o.status.value,
        "order_type": o.order_type,
        "stop_order_type": o.stop_order_type,
        "qty": dec(o.qty),
        "price": dec(o.price),
        "cum_exec_qty": dec(o.cum_exec_qty),
        "cum_exec_value": dec(o.cum_exec_value),
        "cum_exec_fee": dec(o.cum_exec_fee),
        "leaves_qty": dec(o.leaves_qty),
        "avg_price": dec(o.avg_price),
        "created_time": o.created_time,
        "updated_time": o.updated_time,
    }


def fill_row(f: Fill) -> Row:
    """One execution, as in ``executions`` of the replay JSON."""
    return {
        "exec_id": f.exec_id,
        "order_id": f.order_id,
        "symbol": f.symbol,
        "side": f.side.value,
        "exec_type": f.exec_type,
        "exec_qty": dec(f.exec_qty),
        "exec_price": dec(f.exec_price),
        "exec_fee": dec(f.exec_fee),
        "exec_time": f.exec_time,
        "seq": f.seq,
    }


def position_row(p: PositionReport) -> Row:
    """One reported leg, as in ``positions`` of the replay JSON."""
    return {
        "category": p.category,
        "symbol": p.symbol,
        "position_idx": p.position_idx,
        "side": p.side.value if p.side is not None else "",
        "size": dec(p.size),
        "net_qty": dec(p.net_qty),
    }


def ledger_rows(ledger: Ledger) -> tuple[Iterator[Row], Iterator[Row], Iterator[Row]]:
    """Orders (oldest first), executions (in execution order) and reported legs (by key)
    of a ledger, made one row at a time (sorting holds references, not copies)."""
    orders = sorted(ledger.orders(), key=lambda o: (o.created_time, o.order_id))
    fills = sorted(ledger.fills(), key=lambda f: (f.exec_time, f.exec_id))
    return (
        (order_row(o) for o in orders),
        (fill_row(f) for f in fills),
        (position_row(p) for p in ledger.position_reports()),
    )


def state_document(ledger: Ledger) -> Row:
    """The whole state of a ledger: orders, executions, positions and frame stats."""
    orders, executions, positions = ledger_rows(ledger)
    return {
        "orders": list(orders),
        "executions": list(executions),
        "positions": list(positions),
        "stats": ledger.stats,
    }


def write_document(
    out: TextIO,
    orders: Iterable[Row],
    executions: Iterable[Row],
    positions: Iterable[Row],
    stats: dict[str, int],
) -> None:
    """Write the state document as ``json.dumps(document, separators=(",", ":"))`` would,
    and a newline, encoding the rows a chunk at a time as they come."""
    out.write("{")
    for key, rows in (("orders", orders), ("executions", executions), ("positions", positions)):
        out.write(f'"{key}":[')
        pending = iter(rows)
        separator = ""
        while chunk := list(islice(pending, _CHUNK)):
            out.write(separator + encode_rows(chunk)[1:-1])
            separator = ","
        out.write("],")
    out.write(f'"stats":{_encode(stats)}}}\n')
