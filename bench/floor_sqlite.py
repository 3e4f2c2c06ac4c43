"""The lean floor of ``oms replay CAPTURE --db`` (see ``bench/commands.py``): stdlib only.

``python bench/floor_sqlite.py CAPTURE DB DDL`` creates the tables of ``DDL`` (the schema
``oms db upgrade`` makes, dumped by the driver) in the fresh SQLite file ``DB`` with the
pragmas oms sets, then for every line of ``CAPTURE``, in one transaction per line: inserts
its journal row, and the state rows it implies straight from the wire (an order upsert per
order element, an execution insert per execution element, a position upsert per position
element). No decoding into objects, no ledger, no outbox: the least any program that keeps
those rows durable per frame must spend, so ``oms replay --db`` is measured against it.

Decimals are stored as their wire text (oms stores canonical text: no cheaper); the reads
are the same as oms's (UTF-8, lines end at ``\\n`` only, bad bytes replaced).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

Fields = tuple[tuple[str, str, str], ...]
Statement = tuple[str, Fields, tuple[str, ...]]

#: (column, wire key, kind): "t" text as sent, "i" an integer, "b" a boolean, "d" a
#: decimal whose empty text means NULL (how Bybit sends "no value").
ORDER = (
    ("order_id", "orderId", "t"),
    ("order_link_id", "orderLinkId", "t"),
    ("category", "category", "t"),
    ("symbol", "symbol", "t"),
    ("side", "side", "t"),
    ("position_idx", "positionIdx", "i"),
    ("order_type", "orderType", "t"),
    ("stop_order_type", "stopOrderType", "t"),
    ("status", "orderStatus", "t"),
    ("qty", "qty", "d"),
    ("price", "price", "d"),
    ("trigger_price", "triggerPrice", "d"),
    ("cum_exec_qty", "cumExecQty", "d"),
    ("cum_exec_value", "cumExecValue", "d"),
    ("cum_exec_fee", "cumExecFee", "d"),
    ("leaves_qty", "leavesQty", "d"),
    ("avg_price", "avgPrice", "d"),
    ("reduce_only", "reduceOnly", "b"),
    ("create_type", "createType", "t"),
    ("cancel_type", "cancelType", "t"),
    ("reject_reason", "rejectReason", "t"),
    ("created_time", "createdTime", "i"),
    ("updated_time", "updatedTime", "i"),
)
EXECUTION = (
    ("exec_id", "execId", "t"),
    ("order_id", "orderId", "t"),
    ("order_link_id", "orderLinkId", "t"),
    ("category", "category", "t"),
    ("symbol", "symbol", "t"),
    ("side", "side", "t"),
    ("exec_type", "execType", "t"),
    ("exec_qty", "execQty", "d"),
    ("exec_price", "execPrice", "d"),
    ("exec_value", "execValue", "d"),
    ("exec_fee", "execFee", "d"),
    ("fee_rate", "feeRate", "d"),
    ("is_maker", "isMaker", "b"),
    ("closed_size", "closedSize", "d"),
    ("exec_time", "execTime", "i"),
    ("seq", "seq", "i"),
)
POSITION = (
    ("category", "category", "t"),
    ("symbol", "symbol", "t"),
    ("position_idx", "positionIdx", "i"),
    ("side", "side", "t"),
    ("size", "size", "d"),
    ("entry_price", "entryPrice", "d"),
    ("mark_price", "markPrice", "d"),
    ("unrealised_pnl", "unrealisedPnl", "d"),
    ("cum_realised_pnl", "cumRealisedPnl", "d"),
    ("seq", "seq", "i"),
    ("updated_time", "updatedTime", "i"),
)


def _value(element: dict[str, Any], key: str, kind: str) -> object:
    value = element.get(key)
    if kind == "i":
        return None if value in (None, "") else int(value)
    if kind == "b":
        return None if value is None else int(bool(value))
    if kind == "d":
        return value or None
    return "" if value is None else value


def _sql(table: str, columns: tuple[str, ...], verb: str) -> str:
    marks = ", ".join("?" * len(columns))
    return f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _statements() -> dict[str, Statement]:
    """Per topic: the statement and the fields of its rows (with the extra columns)."""
    position_extra = ("net_qty", "fills_net_qty", "symbol_net_qty")
    return {
        "order": (
            _sql("orders", ("account", *(c for c, _, _ in ORDER)), "INSERT OR REPLACE"),
            ORDER,
            (),
        ),
        "execution": (
            _sql(
                "executions",
                ("account", *(c for c, _, _ in EXECUTION), "frame_id"),
                "INSERT OR REPLACE",
            ),
            EXECUTION,
            ("frame",),
        ),
        "position": (
            _sql(
                "positions",
                ("account", *(c for c, _, _ in POSITION), *position_extra),
                "INSERT OR REPLACE",
            ),
            POSITION,
            ("net",),
        ),
    }


def _extra(
    element: dict[str, Any], extras: tuple[str, ...], frame_id: int | None
) -> tuple[Any, ...]:
    if extras == ("frame",):
        return (frame_id,)
    if extras == ("net",):  # signed size: text work only, as cheap as it gets
        size = element.get("size") or "0"
        net = size if element.get("side") != "Sell" or size == "0" else "-" + size
        return (net, net, net)
    return ()


def _frame(
    conn: sqlite3.Connection, line: str, journal: str, statements: dict[str, Statement]
) -> None:
    try:
        frame = json.loads(line)
        topic, error = (frame.get("topic") if isinstance(frame, dict) else None), None
    except ValueError as exc:
        frame, topic, error = None, None, str(exc)
    outcome = "malformed" if error else "applied"
    now = time.time_ns() // 1_000_000
    frame_id = conn.execute(journal, ("default", now, topic, line, outcome, error)).lastrowid
    statement = statements.get(topic) if isinstance(topic, str) else None
    if statement is None or not isinstance(frame.get("data"), list):
        return
    sql, fields, extras = statement
    conn.executemany(
        sql,
        [
            (
                "default",
                *(_value(e, k, kind) for _, k, kind in fields),
                *_extra(e, extras, frame_id),
            )
            for e in frame["data"]
            if isinstance(e, dict)
        ],
    )


def main(capture: str, db: str, ddl: str) -> int:
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    conn.executescript(Path(ddl).read_text(encoding="utf-8"))
    journal = _sql(
        "frames", ("account", "received_at", "topic", "raw", "outcome", "error"), "INSERT"
    )
    statements = _statements()
    with Path(capture).open(encoding="utf-8", errors="replace", newline="\n") as handle:
        for raw in handle:
            line = raw.rstrip("\r\n")
            if not line:
                continue
            conn.execute("BEGIN")
            _frame(conn, line, journal, statements)
            conn.execute("COMMIT")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
