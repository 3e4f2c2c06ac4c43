"""The ``oms`` command line: ``oms replay CAPTURE [--json]``."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from oms.bybit.ledger import Ledger, now_ms
from oms.core.events import Anomaly
from oms.views import state_document

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

log = logging.getLogger("oms.cli")

#: Files larger than this get a progress bar (on a terminal).
_PROGRESS_BYTES = 1 << 20


@contextmanager
def open_capture(name: str) -> Iterator[tuple[TextIO, int]]:
    """Open a capture (path, ``-`` for stdin, ``.gz`` accepted) and tell its size."""
    if name == "-":
        yield sys.stdin, 0
        return
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"capture not found: {name}")
    size = path.stat().st_size
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            yield handle, size
    else:
        with path.open("r", encoding="utf-8", newline="") as handle:
            yield handle, size


def _raw_position(handle: TextIO) -> int:
    """Bytes consumed so far of the underlying file (compressed bytes for .gz)."""
    raw: Any = getattr(handle, "buffer", None)
    fileobj = getattr(raw, "fileobj", None)
    target = fileobj if fileobj is not None else raw
    try:
        return int(target.tell()) if target is not None else 0
    except (OSError, ValueError):
        return 0


def replay_lines(handle: TextIO, ledger: Ledger, *, size: int, show_progress: bool) -> int:
    """Apply every non-empty line of a capture; return the number of anomalies."""
    anomalies = 0
    progress = Progress(
        TextColumn("replaying"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[frames]} frames"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not show_progress,
    )
    with progress:
        task = progress.add_task("replay", total=size or None, frames=0)
        for count, line in enumerate(handle, 1):
            text = line.rstrip("\r\n")
            if not text:
                continue  # blank lines separate nothing and are not frames
            for event in ledger.apply_frame(text):
                if isinstance(event, Anomaly):
                    anomalies += 1
                    log.warning("%s: %s", type(event).__name__, event.reason)
            if count % 2048 == 0:
                progress.update(task, completed=_raw_position(handle), frames=count)
    for event in ledger.settle(received_at=now_ms()):
        if isinstance(event, Anomaly):
            anomalies += 1
            log.warning("%s: %s", type(event).__name__, event.reason)
    return anomalies


def _table(title: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        numeric = column.endswith(("qty", "price", "fee", "size", "value"))
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    return table


def print_state(document: dict[str, Any], console: Console) -> None:
    """Readable tables of a state document."""
    console.print(
        _table(
            f"Orders ({len(document['orders'])})",
            document["orders"],
            (
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
            ),
        )
    )
    console.print(
        _table(
            f"Positions ({len(document['positions'])} legs)",
            document["positions"],
            ("category", "symbol", "position_idx", "side", "size", "net_qty"),
        )
    )
    stats = Table(title="Frames", title_justify="left", header_style="bold")
    for key in document["stats"]:
        stats.add_column(key, justify="right")
    stats.add_row(*(str(v) for v in document["stats"].values()))
    console.print(stats)
    console.print(f"{len(document['executions'])} executions booked")


def _cmd_replay(args: argparse.Namespace) -> int:
    ledger = Ledger()
    try:
        with open_capture(args.capture) as (handle, size):
            show = sys.stderr.isatty() and size > _PROGRESS_BYTES
            replay_lines(handle, ledger, size=size, show_progress=show)
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        log.error("cannot read %s: %s", args.capture, exc)  # noqa: TRY400 - a clear line, no trace
        return 2
    document = state_document(ledger)
    if args.json:
        out = io.StringIO()
        json.dump(document, out, separators=(",", ":"))
        sys.stdout.write(out.getvalue() + "\n")
    else:
        print_state(document, Console())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``oms``."""
    parser = argparse.ArgumentParser(
        prog="oms", description="Order and position management for Bybit v5 private streams."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every anomaly")
    sub = parser.add_subparsers(dest="command", required=True)
    replay = sub.add_parser("replay", help="apply a capture of raw frames and print the state")
    replay.add_argument("capture", help="one frame per line; '-' for stdin; .gz accepted")
    replay.add_argument("--json", action="store_true", help="print one JSON object")
    replay.set_defaults(handler=_cmd_replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``oms`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
