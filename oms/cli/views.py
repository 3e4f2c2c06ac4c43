"""Plain rows of the account state: the shape of ``oms replay --json`` and of the tables.

Decimals become strings (exact), absent values ``None``, statuses and sides Bybit's
spelling, times integer milliseconds. ``write_document`` writes the JSON document from
rows as they come (from a ledger, or read from a database by ``oms.cli.stored``), so no
second copy of the state is built to print it.
"""

from __future__ import annotations

import json
from itertools import islice
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final

from oms.core.orders import Side
from oms.core.states import OrderStatus

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


# The rows of orders and executions are the bulk of a replay's document (a row per order
# and per fill: 55k rows for 100k frames): each unpacks its value once, which costs a
# fraction of a dozen NamedTuple field reads (tests/test_cli_views.py holds each row to
# the fields by name), and spells its side and status by a dict lookup (an enum's
# ``.value`` is a Python-level property).
_SPELLING: Final[dict[Side | OrderStatus, str]] = {
    member: member.value for enum in (Side, OrderStatus) for member in enum
}


def order_row(o: Order) -> Row:
    """One order, as in ``orders`` of the replay JSON."""
    # fmt: off
    (order_id, order_link_id, category, symbol, side, position_idx, status, order_type,
     stop_order_type, qty, price, _, cum_exec_qty, cum_exec_value, cum_exec_fee, leaves_qty,
     avg_price, _, _, _, _, _, created_time, updated_time) = o
    # fmt: on
    return {
        "order_id": order_id,
        "order_link_id": order_link_id,
        "category": category,
        "symbol": symbol,
        "side": _SPELLING[side],
        "position_idx": position_idx,
        "status": _SPELLING[status],
        "order_type": order_type,
        "stop_order_type": stop_order_type,
        "qty": dec(qty),
        "price": dec(price),
        "cum_exec_qty": dec(cum_exec_qty),
        "cum_exec_value": dec(cum_exec_value),
        "cum_exec_fee": dec(cum_exec_fee),
        "leaves_qty": dec(leaves_qty),
        "avg_price": dec(avg_price),
        "created_time": created_time,
        "updated_time": updated_time,
    }


def fill_row(f: Fill) -> Row:
    """One execution, as in ``executions`` of the replay JSON."""
    # fmt: off
    (exec_id, order_id, _, _, symbol, side, exec_type, exec_qty, exec_price, _, exec_fee,
     _, _, _, _, exec_time, seq, _) = f
    # fmt: on
    return {
        "exec_id": exec_id,
        "order_id": order_id,
        "symbol": symbol,
        "side": _SPELLING[side],
        "exec_type": exec_type,
        "exec_qty": dec(exec_qty),
        "exec_price": dec(exec_price),
        "exec_fee": dec(exec_fee),
        "exec_time": exec_time,
        "seq": seq,
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


#: The document's order of orders and of executions (C-level keys: a lambda per row costs
#: a Python call each).
_ORDER_KEY: Final = attrgetter("created_time", "order_id")
_FILL_KEY: Final = attrgetter("exec_time", "exec_id")


def ledger_rows(ledger: Ledger) -> tuple[Iterator[Row], Iterator[Row], Iterator[Row]]:
    """Orders (oldest first), executions (in execution order) and reported legs (by key)
    of a ledger, made one row at a time (sorting holds references, not copies)."""
    orders = sorted(ledger.orders(), key=_ORDER_KEY)
    fills = sorted(ledger.fills(), key=_FILL_KEY)
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
