"""Throughput of the durable pipeline into a SQLite file, against a raw ``sqlite3`` floor.

On the same generated capture as ``run.py`` (untimed generation), in one process:

1. ``sqlite3 floor``: the standard library's ``sqlite3`` module writes the same rows the
   pipeline writes (the journal row of every frame, and the order, execution and position
   rows each frame changed, prepared in advance and untimed) with **one transaction per
   frame**, into a fresh file with the same schema and pragmas (WAL, synchronous=NORMAL).
2. ``full pipeline``: ``oms.runtime.pipeline.Pipeline`` on a fresh SQLite file: decode,
   ledger, journal, state rows, outbox events, group commit; ``handle(line)`` for every
   line, then ``close()`` (which commits the rest). Migration of the empty file is untimed.

Each is run ``--repeat`` times, interleaved; best and median are reported with the ratio
of time to the floor. Targets (a report, not a test): the pipeline at least 10,000
frames/s and no slower than 1.3x the floor. Results go to ``bench/results-store.json``.

Run from the repository root: ``.venv/bin/python bench/store.py`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from generate import generate  # bench/generate.py: the script's own directory
from rich.console import Console
from rich.table import Table
from sqlalchemy.dialects import sqlite as sqlite_dialect

from oms.bybit.ledger import Ledger
from oms.runtime.pipeline import Pipeline
from oms.store.db import ensure_schema, open_engine
from oms.store.repository import Repository

if TYPE_CHECKING:
    from collections.abc import Sequence

TARGET_FRAMES_PER_S: Final = 10_000
TARGET_RATIO_TO_FLOOR: Final = 1.3
RESULTS: Final = Path(__file__).with_name("results-store.json")

Row = dict[str, Any]
FrameRows = tuple[Row, list[Row], list[Row], list[Row]]


def prepare_rows(lines: Sequence[str]) -> list[FrameRows]:
    """What each frame writes: (journal row, order rows, execution rows, position rows)."""
    ledger = Ledger()
    repo = Repository(sqlite_dialect.dialect(), "default")
    out: list[FrameRows] = []
    for at, line in enumerate(lines):
        result = ledger.feed(line, received_at=at)
        batch = result.batch
        journal = {
            "account": "default",
            "received_at": at,
            "topic": result.topic,
            "raw": line,
            "outcome": result.outcome.value,
            "error": None,
            "parsed": False,
        }
        orders = [repo.order_row(o) for i in sorted(batch.orders) if (o := ledger.order(i))]
        fills = [repo.execution_row(f, None) for i in sorted(batch.fills) if (f := ledger.fill(i))]
        legs = ledger.legs()
        positions = [
            repo.position_row(
                k, legs[k].report, legs[k].derived_net, ledger.position(k.symbol, k.category)
            )
            for k in sorted(batch.legs)
        ]
        out.append((journal, orders, fills, positions))
    return out


def _insert(table: str, row: Row, verb: str = "INSERT OR REPLACE") -> str:
    names = ", ".join(row)
    marks = ", ".join(f":{k}" for k in row)
    return f"{verb} INTO {table} ({names}) VALUES ({marks})"


def fresh_database(directory: Path, name: str) -> Path:
    """A new SQLite file migrated to the current schema (untimed)."""
    path = directory / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = open_engine(str(path))
    ensure_schema(engine)
    engine.dispose()
    return path


def run_floor(path: Path, frames: list[FrameRows]) -> float:
    """Write every frame's rows with the stdlib module, one transaction per frame."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    journal_sql = _insert("frames", frames[0][0], "INSERT")
    statements: dict[tuple[str, tuple[str, ...]], str] = {}

    def sql(table: str, row: Row) -> str:
        key = (table, tuple(row))
        if key not in statements:
            statements[key] = _insert(table, row)
        return statements[key]

    gc.collect()
    start = time.perf_counter()
    for journal, orders, fills, positions in frames:
        conn.execute("BEGIN")
        conn.execute(journal_sql, journal)
        for table, rows in (("orders", orders), ("executions", fills), ("positions", positions)):
            if rows:
                conn.executemany(sql(table, rows[0]), rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def run_pipeline(path: Path, lines: Sequence[str]) -> float:
    """The whole durable pipeline on a fresh file; migration untimed."""
    service = Pipeline(str(path))
    handle = service.feed
    gc.collect()
    start = time.perf_counter()
    for line in lines:
        handle(line)
    service.close()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the store benchmark and write its results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1001)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    console = Console()

    capture = generate(frames=args.frames, seed=args.seed)
    lines = capture.lines
    console.print(f"capture: {len(lines):,} frames (seed {args.seed}); preparing floor rows")
    rows = prepare_rows(lines)
    times: dict[str, list[float]] = {"sqlite3 floor": [], "full pipeline": []}
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as tmp:
        directory = Path(tmp)
        for run in range(args.repeat):
            times["sqlite3 floor"].append(run_floor(fresh_database(directory, "floor"), rows))
            times["full pipeline"].append(run_pipeline(fresh_database(directory, "oms"), lines))
            console.print(
                f"run {run + 1}/{args.repeat}: floor {times['sqlite3 floor'][-1]:.2f} s, "
                f"pipeline {times['full pipeline'][-1]:.2f} s"
            )

    floor_best = min(times["sqlite3 floor"])
    floor_median = statistics.median(times["sqlite3 floor"])
    results: dict[str, Any] = {}
    table = Table(title=f"durable pipeline into SQLite, {len(lines):,} frames")
    for column in ("measurement", "frames/s best", "frames/s median", "x floor best"):
        table.add_column(column, justify="right")
    for name, runs in times.items():
        best, median = min(runs), statistics.median(runs)
        results[name] = {
            "frames_per_s": {
                "best": round(len(lines) / best),
                "median": round(len(lines) / median),
            },
            "seconds": {"best": round(best, 3), "median": round(median, 3)},
            "ratio_to_floor": {
                "best": round(best / floor_best, 3),
                "median": round(median / floor_median, 3),
            },
        }
        table.add_row(
            name,
            f"{len(lines) / best:,.0f}",
            f"{len(lines) / median:,.0f}",
            f"{best / floor_best:.2f}x",
        )
    console.print(table)
    pipeline = results["full pipeline"]
    met_rate = pipeline["frames_per_s"]["best"] >= TARGET_FRAMES_PER_S
    met_ratio = pipeline["ratio_to_floor"]["best"] <= TARGET_RATIO_TO_FLOOR
    console.print(
        f"target pipeline >= {TARGET_FRAMES_PER_S:,} frames/s: "
        f"{'PASS' if met_rate else 'FAIL'}; <= {TARGET_RATIO_TO_FLOOR}x floor: "
        f"{'PASS' if met_ratio else 'FAIL'}"
    )
    document = {
        "benchmark": "durable pipeline into a SQLite file vs stdlib sqlite3, one tx per frame",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "frames": len(lines),
        "repeat": args.repeat,
        "measurements": results,
        "targets": {
            "min_frames_per_s": TARGET_FRAMES_PER_S,
            "max_ratio_to_floor": TARGET_RATIO_TO_FLOOR,
            "frames_per_s_met": met_rate,
            "ratio_to_floor_met": met_ratio,
        },
    }
    args.results.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    console.print(f"results -> {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
