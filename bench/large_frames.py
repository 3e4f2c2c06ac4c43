"""Cost of one frame of N elements, for N = 10k and 40k: linear, not quadratic (issue 9).

For each N, in one process, best of ``--repeat``:

1. ``floor``: ``json.loads`` of the frame text (a bare parse of the same bytes);
2. ``ledger``: ``oms.Ledger.feed`` of the frame (decode, translate, apply);
3. ``pipeline``: ``Pipeline.feed`` then the commit, into a fresh SQLite file (the
   file's creation and migration untimed): decode, ledger, journal, one row per leg.

Two frames per N: a ``position`` frame of N legs (half of them hedge pairs) and an
``order`` frame of N new orders. Reported: seconds, microseconds per element, the ratio
to the floor, and the growth from 10k to 40k (4.0 is exactly linear; a quadratic step
makes it 16). Results go to ``bench/results-large-frames.json``.

Run from the repository root: ``.venv/bin/python bench/large_frames.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rich.console import Console
from rich.table import Table

from oms.bybit.ledger import Ledger
from oms.runtime.pipeline import Pipeline

if TYPE_CHECKING:
    from collections.abc import Callable

RESULTS: Final = Path(__file__).with_name("results-large-frames.json")
SIZES: Final = (10_000, 40_000)
T0: Final = 1_717_200_000_000


def _leg(i: int, idx: int) -> dict[str, Any]:
    return {
        "category": "linear",
        "symbol": f"S{i}USDT",
        "side": "Buy" if idx != 2 else "Sell",
        "size": "2" if idx != 2 else "1",
        "positionIdx": idx,
        "entryPrice": "100.5",
        "markPrice": "100.7",
        "unrealisedPnl": "0.4",
        "cumRealisedPnl": "-0.01",
        "seq": 4600000000 + i,
        "createdTime": str(T0),
        "updatedTime": str(T0 + 1),
    }


def _order(i: int) -> dict[str, Any]:
    return {
        "category": "linear",
        "symbol": f"S{i % 97}USDT",
        "orderId": f"o-{i}",
        "orderLinkId": f"l-{i}",
        "side": "Buy",
        "positionIdx": 0,
        "orderStatus": "New",
        "orderType": "Limit",
        "stopOrderType": "",
        "qty": "1.5",
        "price": "100.5",
        "triggerPrice": "0",
        "cumExecQty": "0",
        "cumExecValue": "0",
        "cumExecFee": "0",
        "leavesQty": "1.5",
        "avgPrice": "",
        "reduceOnly": False,
        "timeInForce": "GTC",
        "createType": "CreateByUser",
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "createdTime": str(T0),
        "updatedTime": str(T0),
    }


def frames(n: int) -> dict[str, str]:
    """The two frames of ``n`` elements, as the venue would send them."""
    legs = [_leg(i // 2, 1 + i % 2) for i in range(n)]
    orders = [_order(i) for i in range(n)]
    envelope = {"id": "bench", "creationTime": T0}
    return {
        kind: json.dumps({**envelope, "topic": kind, "data": data}, separators=(",", ":"))
        for kind, data in (("position", legs), ("order", orders))
    }


def best_of(repeat: int, make: Callable[[], Callable[[], object]]) -> float:
    """Best time of ``repeat`` runs; ``make`` prepares each run untimed."""
    times = []
    for _ in range(repeat):
        run = make()
        gc.collect()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _pipeline_run(directory: Path, text: str) -> Callable[[], object]:
    path = directory / f"bench-{time.monotonic_ns()}.db"
    service = Pipeline(str(path), group_frames=1)  # opened (and migrated) untimed

    def run() -> None:
        service.feed(text, received_at=T0)
        service.close()

    return run


def measure(repeat: int) -> dict[str, dict[str, dict[str, float]]]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="oms-bench-large-") as tmp:
        directory = Path(tmp)
        for n in SIZES:
            for kind, text in frames(n).items():
                row = {
                    "floor": best_of(repeat, lambda t=text: lambda: json.loads(t)),  # type: ignore[misc]
                    "ledger": best_of(
                        repeat,
                        lambda t=text: lambda: Ledger().feed(t, received_at=T0),  # type: ignore[misc]
                    ),
                    "pipeline": best_of(repeat, lambda t=text: _pipeline_run(directory, t)),  # type: ignore[misc]
                }
                results.setdefault(kind, {})[str(n)] = row
    return results


def report(results: dict[str, dict[str, dict[str, float]]], repeat: int) -> dict[str, Any]:
    small, large = (str(n) for n in SIZES)
    table = Table(title=f"one frame of N elements (best of {repeat})")
    for column in ("frame", "N", "stage", "seconds", "µs/element", "x floor", "growth 10k→40k"):
        table.add_column(column, justify="left" if column in ("frame", "stage") else "right")
    document: dict[str, Any] = {
        "benchmark": "one frame of N elements: decode+ledger and the durable pipeline",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "repeat": repeat,
        "frames": {},
    }
    for kind, by_n in results.items():
        document["frames"][kind] = {}
        for n, row in by_n.items():
            entry = {}
            for stage, seconds in row.items():
                growth = by_n[large][stage] / by_n[small][stage]
                entry[stage] = {
                    "seconds": round(seconds, 4),
                    "us_per_element": round(seconds / int(n) * 1e6, 3),
                    "ratio_to_floor": round(seconds / row["floor"], 2),
                    "growth_10k_to_40k": round(growth, 2),
                }
                table.add_row(
                    kind,
                    n,
                    stage,
                    f"{seconds:.3f}",
                    f"{seconds / int(n) * 1e6:.2f}",
                    f"{seconds / row['floor']:.1f}",
                    f"{growth:.2f}" if n == large else "",
                )
            document["frames"][kind][n] = entry
    Console().print(table)
    return document


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best kept")
    args = parser.parse_args()
    document = report(measure(args.repeat), args.repeat)
    RESULTS.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"results written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
