"""The commands people run, as whole processes, against floors measured beside them.

On one capture (``--capture PATH``; by default ``generate.py`` writes one: seed 1001,
100k frames), in one run, every process started fresh from the same interpreter:

a) ``oms replay CAPTURE --json`` against a floor process that only reads the same lines
   and parses each with the JSON parser the decoder uses (``--floor-parser``); target
   at most 3.0x the floor's time;
b) ``oms replay CAPTURE --db sqlite:///FILE`` with its default output, against the lean
   stdlib ``sqlite3`` floor of ``floor_sqlite.py`` (the journal row and the state rows
   each frame implies, one transaction per frame, the same schema and pragmas); target
   at most 1.5x;
c) ``oms --help`` against ``python -c pass``, best of ``--startup-runs``; target at most 8x;
d) the peak RSS (``wait4``'s rusage of that very child) and the output line count of
   ``oms replay --db`` at 100k frames (the runs of b) and at 1M frames (``--capture-1m``,
   or generated; ``--skip-1m`` leaves it out); targets under 200 MB and 500 lines at 1M.

(a) and (b) run ``--repeat`` times, interleaved with their floors; the ratio is best to
best (the median ratio is written too). ``--oms-src DIR`` runs the oms processes with
``PYTHONPATH=DIR`` from a scratch directory, so the same driver measures another checkout
(the floors do not change). Results, with the machine, the commit, the capture's size and
SHA-256 and PASS/FAIL per target, go to ``bench/results-commands.json``; the exit status
is 0 either way (a report, not a test).

Run from the repository root: ``.venv/bin/python bench/commands.py`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.table import Table

HERE: Final = Path(__file__).resolve().parent
REPO: Final = HERE.parent
RESULTS: Final = HERE / "results-commands.json"
#: Targets on this machine (issue 11, "Proof required").
TARGETS: Final = {
    "replay_json_ratio": 3.0,
    "replay_db_ratio": 1.5,
    "startup_ratio": 8.0,
    "rss_1m_mb": 200.0,
    "lines_1m": 500,
}
#: The floor of (a), by the decoder's parser: how each reads one line.
PARSERS: Final = {
    "pydantic_core": "from pydantic_core import from_json as parse",
    "msgspec": "from msgspec.json import decode as parse",
    "json": "from json import loads as parse",
}
JSON_FLOOR: Final = """import sys
{parser}
with open(sys.argv[1], encoding="utf-8", errors="replace", newline="\\n") as handle:
    for line in handle:
        line = line.rstrip("\\r\\n")
        if line:
            try:
                parse(line)
            except Exception:
                pass
"""


@dataclass(frozen=True, slots=True)
class Child:
    """One finished process: wall time, its own peak RSS, lines it printed, status."""

    seconds: float
    peak_mb: float
    lines: int
    status: int


class Runner:
    """Starts measured processes: the oms ones with ``PYTHONPATH=oms_src``, all from
    ``scratch`` (a directory holding no ``oms`` package, so the path decides)."""

    def __init__(self, scratch: Path, oms_src: Path) -> None:
        self.scratch = scratch
        self.oms_src = oms_src
        self.python = sys.executable
        script = Path(sys.executable).with_name("oms")
        self.oms_cmd = [str(script)] if script.exists() else [self.python, "-m", "oms.cli"]
        self.env = {**os.environ, "PYTHONPATH": str(oms_src)}
        self.env.pop("PYTHONSTARTUP", None)
        # Bytecode as an installed oms has it (pip compiles it; an editable install writes
        # it on first import): a shell with PYTHONDONTWRITEBYTECODE would otherwise have
        # every measured process compile oms from source, which no user pays.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)

    def oms(self, *args: str) -> Child:
        return self.run([*self.oms_cmd, *args])

    def run(self, cmd: list[str]) -> Child:
        """Run ``cmd`` to the end; its stdout goes to a file whose lines are counted."""
        out, err = self.scratch / "stdout", self.scratch / "stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            start = time.perf_counter()
            process = subprocess.Popen(  # noqa: S603 - fixed commands of this driver
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=self.scratch,
                env=self.env,
            )
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            tail = err.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{cmd[:4]} exited {process.returncode}:\n{tail}")
        with out.open("rb") as handle:
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
        return Child(seconds, usage.ru_maxrss * 1024 / 1e6, lines, process.returncode)


def fresh_db(runner: Runner, name: str) -> Path:
    path = runner.scratch / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def schema_ddl(runner: Runner) -> Path:
    """The schema the measured oms creates, as SQL for the sqlite3 floor (untimed)."""
    template = fresh_db(runner, "template")
    runner.oms("db", "upgrade", "--db", f"sqlite:///{template}")
    conn = sqlite3.connect(template)
    statements = [
        row[0]
        for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
            "AND name != 'alembic_version' ORDER BY rowid"
        )
    ]
    conn.close()
    ddl = runner.scratch / "schema.sql"
    ddl.write_text(";\n".join(statements) + ";\n", encoding="utf-8")
    return ddl


def detect_parser(oms_src: Path) -> str:
    """The JSON parser the measured decoder calls (its source says which)."""
    text = "".join(p.read_text(encoding="utf-8") for p in (oms_src / "oms" / "bybit").rglob("*.py"))
    if "msgspec.json" in text or "from msgspec" in text:
        return "msgspec"
    return "pydantic_core" if "from_json" in text else "json"


def generate(frames: int, path: Path, console: Console) -> Path:
    """A capture from this checkout's generator (untimed)."""
    console.print(f"generating {frames:,} frames (seed 1001) into {path}")
    subprocess.run(  # noqa: S603 - this repository's own generator
        [
            sys.executable,
            str(HERE / "generate.py"),
            "--frames",
            str(frames),
            "--seed",
            "1001",
            "-o",
            str(path),
        ],
        check=True,
    )
    return path


def describe(path: Path) -> dict[str, Any]:
    """Where the capture is, its size, its SHA-256 and its line count."""
    digest, lines = hashlib.sha256(), 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            lines += block.count(b"\n")
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "sha256": digest.hexdigest(),
        "lines": lines,
    }


def startup(runner: Runner, runs: int) -> dict[str, Any]:
    """(c): best of ``runs`` of each, interleaved."""
    bare, helped = [], []
    for _ in range(runs):
        bare.append(runner.run([runner.python, "-c", "pass"]).seconds)
        helped.append(runner.oms("--help").seconds)
    return _compare(bare, helped, TARGETS["startup_ratio"])


def replay_json(
    runner: Runner, capture: Path, parser: str, repeat: int, console: Console
) -> dict[str, Any]:
    """(a): ``oms replay --json`` against reading and parsing the lines."""
    code = JSON_FLOOR.format(parser=PARSERS[parser])
    floor, measured = [], []
    for run in range(repeat):
        floor.append(runner.run([runner.python, "-c", code, str(capture)]).seconds)
        measured.append(runner.oms("replay", str(capture), "--json").seconds)
        console.print(
            f"replay --json run {run + 1}/{repeat}: "
            f"floor {floor[-1]:.2f} s, oms {measured[-1]:.2f} s"
        )
    return {**_compare(floor, measured, TARGETS["replay_json_ratio"]), "parser": parser}


def replay_db(runner: Runner, capture: Path, repeat: int, console: Console) -> dict[str, Any]:
    """(b) and (d) at the capture's size: ``oms replay --db`` against the sqlite3 floor."""
    ddl = schema_ddl(runner)
    floor_script = str(HERE / "floor_sqlite.py")
    floor, children = [], []
    for run in range(repeat):
        floor_db = fresh_db(runner, "floor")
        floor.append(
            runner.run([runner.python, floor_script, str(capture), str(floor_db), str(ddl)]).seconds
        )
        children.append(
            runner.oms("replay", str(capture), "--db", f"sqlite:///{fresh_db(runner, 'oms')}")
        )
        console.print(
            f"replay --db run {run + 1}/{repeat}: floor {floor[-1]:.2f} s, "
            f"oms {children[-1].seconds:.2f} s, {children[-1].peak_mb:.0f} MB, "
            f"{children[-1].lines} lines"
        )
    result = _compare(floor, [c.seconds for c in children], TARGETS["replay_db_ratio"])
    return {**result, "peak_mb": max(c.peak_mb for c in children), "lines": children[-1].lines}


def replay_db_1m(runner: Runner, capture: Path) -> dict[str, Any]:
    """(d) at 1M frames: one run, its peak RSS and output lines."""
    child = runner.oms("replay", str(capture), "--db", f"sqlite:///{fresh_db(runner, 'oms-1m')}")
    return {
        **asdict(child),
        "pass_rss": child.peak_mb < TARGETS["rss_1m_mb"],
        "pass_lines": child.lines < TARGETS["lines_1m"],
    }


def _compare(floor: list[float], measured: list[float], target: float) -> dict[str, Any]:
    ratio = min(measured) / min(floor)
    return {
        "floor_s": {
            "best": round(min(floor), 4),
            "median": round(statistics.median(floor), 4),
            "runs": floor,
        },
        "oms_s": {
            "best": round(min(measured), 4),
            "median": round(statistics.median(measured), 4),
            "runs": measured,
        },
        "ratio_best": round(ratio, 3),
        "ratio_median": round(statistics.median(measured) / statistics.median(floor), 3),
        "target": target,
        "pass": ratio <= target,
    }


def _git(directory: Path, *args: str) -> str | None:
    done = subprocess.run(  # noqa: S603 - fixed arguments
        ["git", "-C", str(directory), *args],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def context(oms_src: Path) -> dict[str, Any]:
    """The machine, the load on it, and the code measured."""
    # The results files are rewritten by benchmarks: a change there is not code. (The same
    # pathspec as run.RESULTS_EXCLUDED: this driver imports no oms, and run.py does.)
    status = _git(
        oms_src,
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":(exclude)bench/results*.json",
    )
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_1m_before": round(os.getloadavg()[0], 2),
        },
        "code": {
            "oms_src": str(oms_src),
            "commit": _git(oms_src, "rev-parse", "HEAD"),
            "dirty": None if status is None else bool(status),
            "driver_commit": _git(REPO, "rev-parse", "HEAD"),
        },
    }


def print_report(console: Console, report: dict[str, Any]) -> None:
    table = Table(title=f"commands as whole processes ({report['capture']['lines']:,} frames)")
    for column in ("measurement", "floor s", "oms s", "ratio / value", "target", "result"):
        table.add_column(column, justify="right")

    def mark(ok: bool) -> str:
        return "[green]PASS[/]" if ok else "[red]FAIL[/]"

    for name, key in (
        ("oms --help", "startup"),
        ("replay --json", "replay_json"),
        ("replay --db", "replay_db"),
    ):
        r = report[key]
        table.add_row(
            name,
            f"{r['floor_s']['best']:.3f}",
            f"{r['oms_s']['best']:.3f}",
            f"{r['ratio_best']:.2f}x",
            f"<= {r['target']}x",
            mark(r["pass"]),
        )
    db = report["replay_db"]
    table.add_row("replay --db peak RSS", "", "", f"{db['peak_mb']:.0f} MB", "", "")
    table.add_row("replay --db lines", "", "", str(db["lines"]), "", "")
    big = report.get("replay_db_1m")
    if big is not None:
        table.add_row(
            "1M peak RSS",
            "",
            f"{big['seconds']:.1f}",
            f"{big['peak_mb']:.0f} MB",
            "< 200 MB",
            mark(big["pass_rss"]),
        )
        table.add_row("1M lines", "", "", str(big["lines"]), "< 500", mark(big["pass_lines"]))
    console.print(table)
    console.print(
        "the machine may be shared: the ratios come from floors run beside each measurement"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--capture", type=Path, help="capture to measure (default: generate 100k frames)"
    )
    parser.add_argument(
        "--capture-1m", type=Path, help="1M-frame capture for (d) (default: generate one)"
    )
    parser.add_argument("--skip-1m", action="store_true", help="leave out the 1M-frame run of (d)")
    parser.add_argument(
        "--oms-src", type=Path, default=REPO, help="run oms from this checkout (PYTHONPATH)"
    )
    parser.add_argument("--floor-parser", choices=("auto", *PARSERS), default="auto")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of (a) and (b) each (default 3)"
    )
    parser.add_argument(
        "--startup-runs", type=int, default=20, help="runs of (c) each (default 20)"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="results JSON (default %(default)s)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    oms_src = args.oms_src.resolve()
    report = context(oms_src)
    with tempfile.TemporaryDirectory(prefix="oms-commands-") as tmp:
        runner = Runner(Path(tmp), oms_src)
        capture = args.capture or generate(100_000, Path(tmp) / "capture-100k.jsonl", console)
        report["capture"] = describe(capture)
        parser = detect_parser(oms_src) if args.floor_parser == "auto" else args.floor_parser
        report["startup"] = startup(runner, args.startup_runs)
        report["replay_json"] = replay_json(runner, capture, parser, args.repeat, console)
        report["replay_db"] = replay_db(runner, capture, args.repeat, console)
        if not args.skip_1m:
            big = args.capture_1m or generate(1_000_000, Path(tmp) / "capture-1m.jsonl", console)
            report["capture_1m"] = describe(big)
            report["replay_db_1m"] = replay_db_1m(runner, big)
    report["machine"]["load_1m_after"] = round(os.getloadavg()[0], 2)
    print_report(console, report)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    console.print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
