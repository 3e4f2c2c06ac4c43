"""Throughput of ``oms`` on a large realistic capture, against the JSON-parse floor.

Generates (untimed) a deterministic capture with ``generate.py``, then times, on the
same lines and in one process:

1. ``floor``: ``pydantic_core.from_json(line)`` for every line, the least any decoder
   of these frames must spend;
2. ``decode``: ``oms.bybit.decode.decode(line)`` for every line;
3. ``decode+ledger``: ``apply_frame(line)`` on a fresh ``oms.Ledger()`` for every line.

Each is run ``--repeat`` times (interleaved, ``gc.collect()`` before each run) and the best
and median reported. Afterwards the capture is replayed once more, collecting every event:
any anomaly means the capture is invalid and the run fails (exit 1). The targets are a
report, not a test: PASS or FAIL is printed and written, and the exit status is 0 either
way. ``--profile`` runs cProfile over decode+ledger instead of timing. ``--count NAME``
runs one measurement once, untimed and unchecked, for an instruction counter (see the
README): the difference between ``--count NAME`` and ``--count none`` is NAME's work.

Run from the repository root: ``.venv/bin/python bench/run.py`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pydantic
import pydantic_core
from rich import box
from rich.console import Console
from rich.table import Table

import oms

try:
    from oms.bybit.codec import decode
except ImportError:  # an older checkout, measured with PYTHONPATH for a before/after comparison
    from oms.bybit.decode import decode
from oms.core.positions import LegKey

if TYPE_CHECKING:
    from collections.abc import Sequence

    from generate import Capture

#: decode+ledger must sustain at least this many frames per second...
TARGET_FRAMES_PER_S: Final = 40_000
#: ...and take no more than this many times the floor's time.
TARGET_RATIO_TO_FLOOR: Final = 2.2
RESULTS: Final = Path(__file__).with_name("results.json")
REPO: Final = Path(__file__).resolve().parent.parent
#: Lines each measurement runs once, untimed, before the timed runs.
WARMUP_LINES: Final = 2_000

Run = Callable[[], None]


@dataclass(frozen=True, slots=True)
class FileCapture:
    """A capture read from a file (``--capture``): the same bytes another run measured,
    for a before/after comparison across code changes. Without the simulator's final
    state, validation checks anomalies, outcomes and the fill count only."""

    lines: list[str]
    mix: dict[str, int]
    elements: dict[str, int]
    seed: int | None = None
    stats: dict[str, Any] | None = None
    positions: dict[tuple[str, int], Any] | None = None
    order_status: dict[str, str] | None = None


def read_capture(path: Path) -> FileCapture:
    """Every line of ``path`` (JSONL), with its topic mix and element counts."""
    lines = path.read_text(encoding="utf-8").splitlines()
    mix: Counter[str] = Counter()
    elements: Counter[str] = Counter()
    for line in lines:
        frame = json.loads(line)
        topic = str(frame.get("topic", "?")).split(".")[0]
        mix[topic] += 1
        elements[topic] += len(frame.get("data") or ())
    return FileCapture(lines, dict(mix), dict(elements))


def sha256_of(lines: Sequence[str]) -> str:
    """SHA-256 of the capture as a file (one frame per line, each ending in a newline)."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Measurement:
    """One thing timed: ``prepare(lines)`` builds fresh state (untimed), its result is timed."""

    name: str
    what: str
    prepare: Callable[[Sequence[str]], Run]


def _floor(lines: Sequence[str]) -> Run:
    def run() -> None:
        parse = pydantic_core.from_json
        for line in lines:
            parse(line)

    return run


def _decode(lines: Sequence[str]) -> Run:
    def run() -> None:
        dec = decode
        for line in lines:
            dec(line)

    return run


def _ledger(lines: Sequence[str]) -> Run:
    apply = oms.Ledger().apply_frame  # a fresh ledger for every run

    def run() -> None:
        for line in lines:
            apply(line)  # no received_at: the real path reads the clock per frame

    return run


MEASUREMENTS: Final = (
    Measurement("floor", "pydantic_core.from_json(line)", _floor),
    Measurement("decode", "oms.bybit.codec.decode(line)", _decode),
    Measurement("decode+ledger", "oms.Ledger().apply_frame(line)", _ledger),
)


def time_all(lines: Sequence[str], repeat: int, console: Console) -> dict[str, list[float]]:
    """Seconds per run of every measurement; runs are interleaved so drift hits all alike."""
    warm = lines[:WARMUP_LINES]
    for m in MEASUREMENTS:
        m.prepare(warm)()
    times: dict[str, list[float]] = {m.name: [] for m in MEASUREMENTS}
    for r in range(repeat):
        for m in MEASUREMENTS:
            with console.status(f"run {r + 1}/{repeat}: {m.name}"):
                run = m.prepare(lines)
                gc.collect()
                start = time.perf_counter()
                run()
                times[m.name].append(time.perf_counter() - start)
                del run
    gc.collect()
    return times


def summarise(times: dict[str, list[float]], frames: int) -> dict[str, dict[str, Any]]:
    """frames/s, µs/frame and time relative to the floor, best and median."""
    floor_best = min(times["floor"])
    floor_median = statistics.median(times["floor"])
    out: dict[str, dict[str, Any]] = {}
    for m in MEASUREMENTS:
        best, median = min(times[m.name]), statistics.median(times[m.name])
        out[m.name] = {
            "what": m.what,
            "frames_per_s": {"best": round(frames / best), "median": round(frames / median)},
            "us_per_frame": {
                "best": round(best / frames * 1e6, 3),
                "median": round(median / frames * 1e6, 3),
            },
            "ratio_to_floor": {
                "best": round(best / floor_best, 3),
                "median": round(median / floor_median, 3),
            },
            "runs_s": [round(t, 4) for t in times[m.name]],
        }
    return out


def judge(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """decode+ledger against the targets, on the best run (the least disturbed one)."""
    fps = results["decode+ledger"]["frames_per_s"]["best"]
    ratio = results["decode+ledger"]["ratio_to_floor"]["best"]
    fps_met = fps >= TARGET_FRAMES_PER_S
    ratio_met = ratio <= TARGET_RATIO_TO_FLOOR
    return {
        "measurement": "decode+ledger",
        "judged_on": "best",
        "min_frames_per_s": TARGET_FRAMES_PER_S,
        "max_ratio_to_floor": TARGET_RATIO_TO_FLOOR,
        "frames_per_s": fps,
        "ratio_to_floor": ratio,
        "frames_per_s_met": fps_met,
        "ratio_to_floor_met": ratio_met,
        "met": fps_met and ratio_met,
    }


# --- validation ---------------------------------------------------------------------------


def validate(capture: Capture | FileCapture) -> tuple[list[str], dict[str, Any]]:
    """Replay the capture, collecting every event; return (problems, summary).

    The capture is valid when the ledger reports no anomaly of any kind (in particular no
    IllegalTransition and no PositionMismatch, also after ``settle()``), counts no frame
    illegal or malformed, and ends with the simulator's positions, statuses and fills."""
    ledger = oms.Ledger()
    anomalies: Counter[str] = Counter()
    examples: dict[str, str] = {}

    def note(events: list[oms.Event]) -> None:
        for event in events:
            if isinstance(event, oms.Anomaly):
                anomalies[type(event).__name__] += 1
                examples.setdefault(type(event).__name__, repr(event)[:300])

    for line in capture.lines:
        note(ledger.apply_frame(line))
    note(ledger.settle(received_at=0))
    stats = ledger.stats
    problems = [f"{n} x {name}, e.g. {examples[name]}" for name, n in sorted(anomalies.items())]
    problems.extend(
        f"{stats[outcome]} frames counted {outcome}"
        for outcome in ("illegal", "malformed", "ignored", "control")
        if stats[outcome]
    )
    problems.extend(_compare(capture, ledger))
    summary = {
        "anomalies": dict(anomalies),
        "illegal_transitions": anomalies["IllegalTransition"],
        "position_mismatches": anomalies["PositionMismatch"],
        "ledger_stats": stats,
        "fills_booked": len(ledger.fills()),
        "orders": len(ledger.orders()),
        "legs_checked": len(capture.positions or {}),
        "valid": not problems,
    }
    return problems, summary


def _compare(capture: Capture | FileCapture, ledger: oms.Ledger) -> list[str]:
    """Where the ledger's final state differs from the simulator's."""
    problems = []
    wrong_legs = []
    for (symbol, idx), net in (capture.positions or {}).items():
        report = ledger.position_report(LegKey("linear", symbol, idx))
        if report is None or report.net_qty != net:
            wrong_legs.append(f"{symbol}:{idx}")
    if wrong_legs:
        problems.append(f"final position differs from the simulator on {', '.join(wrong_legs)}")
    wrong_orders = 0
    for order_id, status in (capture.order_status or {}).items():
        held = ledger.order(order_id)
        wrong_orders += held is None or held.status.value != status
    if wrong_orders:
        problems.append(f"{wrong_orders} orders end in another status than the simulator's")
    fills, sent = len(ledger.fills()), capture.elements.get("execution", 0)
    if fills != sent:
        problems.append(f"{fills} fills booked, {sent} sent")
    return problems


# --- reporting ----------------------------------------------------------------------------


RESULTS_EXCLUDED = ":(exclude)bench/results*.json"


def code_state() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it."""
    git = shutil.which("git")
    if git is None:
        return {"commit": None, "dirty": None}

    def ask(*args: str) -> str | None:
        done = subprocess.run(  # noqa: S603 - fixed arguments, git found on PATH
            [git, "-C", str(REPO), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else None

    # The results files are rewritten by the run itself: a change there is not code.
    status = ask("status", "--porcelain", "--untracked-files=no", "--", ".", RESULTS_EXCLUDED)
    return {"commit": ask("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def machine() -> dict[str, Any]:
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(affinity(0)) if affinity is not None else None,
        "pydantic": pydantic.VERSION,
        "pydantic_core": pydantic_core.__version__,
        "oms": oms.__version__,
    }


def capture_summary(capture: Capture | FileCapture, seconds: float) -> dict[str, Any]:
    frames = len(capture.lines)
    return {
        "frames": frames,
        "seed": capture.seed,
        "bytes": sum(len(line) for line in capture.lines),
        "sha256": sha256_of(capture.lines),
        "generate_s": round(seconds, 2),
        "mix": {
            topic: {"frames": n, "share": round(n / frames, 4)}
            for topic, n in sorted(capture.mix.items(), key=lambda kv: -kv[1])
        },
        "elements": capture.elements,
        "simulator": capture.stats,
    }


def print_capture(console: Console, summary: dict[str, Any]) -> None:
    mix = ", ".join(
        f"{topic} {m['frames']:,} ({m['share']:.1%})" for topic, m in summary["mix"].items()
    )
    console.print(
        f"capture: {summary['frames']:,} frames, {summary['bytes'] / 1e6:.1f} MB, "
        f"seed {summary['seed']}, generated in {summary['generate_s']} s (untimed)\n"
        f"mix: {mix}"
    )


def print_table(
    console: Console, results: dict[str, dict[str, Any]], verdict: dict[str, Any], repeat: int
) -> None:
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title="oms throughput (same lines, one process)",
        caption=f"best and median of {repeat} runs each; x floor = time per frame / floor's",
    )
    table.add_column("measurement", no_wrap=True, min_width=len("decode+ledger"))
    for header in (
        "frames/s\nbest",
        "frames/s\nmedian",
        "µs/frame\nbest",
        "µs/frame\nmedian",
        "x floor\nbest",
        "x floor\nmedian",
    ):
        table.add_column(header, justify="right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['frames_per_s']['best']:,}",
            f"{r['frames_per_s']['median']:,}",
            f"{r['us_per_frame']['best']:.2f}",
            f"{r['us_per_frame']['median']:.2f}",
            f"{r['ratio_to_floor']['best']:.2f}x",
            f"{r['ratio_to_floor']['median']:.2f}x",
        )
    console.print(table)
    for name, r in results.items():
        console.print(f"  {name:<14} = {r['what']} for every line")

    def mark(ok: bool) -> str:
        return "[bold green]PASS[/]" if ok else "[bold red]FAIL[/]"

    console.print(
        f"target decode+ledger >= {TARGET_FRAMES_PER_S:,} frames/s: "
        f"{verdict['frames_per_s']:,} -> {mark(verdict['frames_per_s_met'])}"
    )
    console.print(
        f"target decode+ledger <= {TARGET_RATIO_TO_FLOOR}x floor: "
        f"{verdict['ratio_to_floor']:.2f}x -> {mark(verdict['ratio_to_floor_met'])}"
    )
    console.print(f"overall (on the best runs): {mark(verdict['met'])}")


def _where(file_name: str, line: int) -> str:
    if file_name.startswith(("~", "{")):
        return file_name
    path = Path(file_name)
    if path.is_relative_to(REPO / ".venv"):
        parts = path.parts
        if "site-packages" in parts:
            return "/".join(parts[parts.index("site-packages") + 1 :]) + f":{line}"
    if path.is_relative_to(REPO):
        return f"{path.relative_to(REPO)}:{line}"
    return f"{path.name}:{line}"


def profile(console: Console, lines: Sequence[str], top: int) -> None:
    """cProfile one decode+ledger pass; print the ``top`` functions by own time (tottime)."""
    run = _ledger(lines)
    profiler = cProfile.Profile()
    gc.collect()
    profiler.enable()
    run()
    profiler.disable()
    entries = profiler.getstats()
    total = sum(e.inlinetime for e in entries)
    console.print(
        f"[bold]decode+ledger under cProfile: top {top} functions by tottime[/] "
        f"({total:.2f} s for {len(lines):,} frames, {total / len(lines) * 1e6:.1f} µs/frame "
        "with the profiler's overhead)"
    )
    console.print(
        f"{'tottime s':>9} {'% tot':>6} {'ncalls':>9} {'µs/call':>8} {'cumtime s':>9}  function",
        highlight=False,
    )
    for e in sorted(entries, key=lambda e: -e.inlinetime)[:top]:
        code = e.code
        where = (
            code
            if isinstance(code, str)
            else f"{_where(code.co_filename, code.co_firstlineno)}({code.co_name})"
        )
        console.print(
            f"{e.inlinetime:9.3f} {e.inlinetime / total:6.1%} {e.callcount:9,} "
            f"{e.inlinetime / e.callcount * 1e6:8.2f} {e.totaltime:9.3f}  {where}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def count(lines: Sequence[str], name: str) -> None:
    """Warm every measurement up, then run ``name`` once over ``lines`` (none: nothing).

    Under ``valgrind --tool=cachegrind``, instructions(name) - instructions(none) is the
    work of ``name`` alone: a count that other load on the machine does not disturb."""
    warm = lines[:WARMUP_LINES]
    for m in MEASUREMENTS:
        m.prepare(warm)()
    for m in MEASUREMENTS:
        if m.name == name:
            run = m.prepare(lines)
            gc.collect()
            run()


def load_capture(
    args: argparse.Namespace, console: Console
) -> tuple[Capture | FileCapture, dict[str, Any]]:
    """The capture to measure (read with ``--capture``, else generated) and its summary."""
    start = time.perf_counter()
    capture: Capture | FileCapture
    if args.capture is not None:
        with console.status(f"reading {args.capture}"):
            capture = read_capture(args.capture)
    else:
        from generate import generate  # noqa: PLC0415 - bench/generate.py, only when generating

        with console.status(f"generating {args.frames:,} frames"):
            capture = generate(args.frames, args.seed)
    summary = capture_summary(capture, time.perf_counter() - start)
    if args.capture is not None:
        summary["path"] = str(args.capture)
    return capture, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="oms decode/ledger throughput vs the floor")
    parser.add_argument("--frames", type=int, default=100_000, help="frames (default 100000)")
    parser.add_argument("--seed", type=int, default=1001, help="simulator seed (default 1001)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (default 5)")
    parser.add_argument(
        "--capture", type=Path, help="measure this JSONL capture instead of generating one"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON results file")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile decode+ledger instead of timing"
    )
    parser.add_argument("--top", type=int, default=25, help="functions shown by --profile")
    parser.add_argument(
        "--count",
        choices=["none", *(m.name for m in MEASUREMENTS)],
        help="run one measurement once, untimed (for valgrind); none: only the set-up",
    )
    args = parser.parse_args(argv)
    if args.frames < 1 or args.repeat < 1:
        parser.error("--frames and --repeat must be positive")
    console = Console()

    capture, summary = load_capture(args, console)
    print_capture(console, summary)

    load_before = _load()
    if args.count is not None:
        count(capture.lines, args.count)
        return 0
    if args.profile:
        profile(console, capture.lines, args.top)
        times = None
    else:
        times = time_all(capture.lines, args.repeat, console)
    load_after = _load()

    with console.status("replaying once more to check the capture"):
        problems, validation = validate(capture)
    if problems:
        console.print("[bold red]INVALID CAPTURE: the ledger found problems in it[/]")
        for problem in problems:
            console.print(f"[red]  - {problem}[/]")
        console.print("[bold red]No results written: a benchmark on invalid data is worthless.[/]")
        return 1
    agree = "fills, orders and legs agree with the simulator"
    if isinstance(capture, FileCapture):
        agree = "as many fills booked as executions sent"
    console.print(f"capture check: 0 anomalies (0 IllegalTransition, 0 PositionMismatch); {agree}")
    if times is None:
        return 0

    results = summarise(times, len(capture.lines))
    verdict = judge(results)
    print_table(console, results, verdict, args.repeat)
    report = {
        "benchmark": "oms decode and decode+ledger throughput against the JSON-parse floor",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "code": code_state(),
        "capture": summary,
        "method": {
            "clock": "time.perf_counter",
            "repeat": args.repeat,
            "statistics": "best and median over the runs",
            "notes": "runs interleaved across measurements; gc.collect() before each run, "
            "gc left enabled during it; generation and the fresh Ledger are untimed",
            # Other work on the machine skews timings: a 1-min load well above 1 says so.
            "load_average_1m": {"before": load_before, "after": load_after},
        },
        "measurements": results,
        "targets": verdict,
        "validation": validation,
    }
    args.results.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    console.print(f"results -> {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
