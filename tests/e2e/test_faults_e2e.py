"""Faults ridden out by real ``oms`` processes (issue 9): poison values, another process
holding SQLite's write lock, PostgreSQL stopped and started again, a full disk.

Each test runs ``oms`` as a real process against the sandbox (or replays a capture) and
ends with the database equal to the exchange's truth (``oms.cli.demo.compare_with_truth``:
every order's status, qty, price, cumExecQty, cumExecValue, cumExecFee, leavesQty and
avgPrice, every execution by execId with its fields, every leg's side, size and net),
and, where it stops on a signal, exit status 0 with every frame received journaled in
the order ``--record`` wrote it. A fault that outlasts ``--store-fault-deadline`` ends it
with status 1 and one line saying why. Every wait polls with a deadline.
"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from oms.cli.demo import compare_with_truth, load_ledger
from oms.sandbox import Faults, Sandbox
from oms.sandbox.faults import POISONS
from tests.e2e.conftest import KEY, SECRET, SEED, history_in_the_past, wait_converged, wait_for
from tests.e2e.test_run_cli import (
    EXIT_S,
    OMS,
    RATE,
    Process,
    journal,
    journaled,
    run_args,
    spawn,
)
from tests.test_supervision import Locker

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["spawn"]  # the fixture, imported for this module's tests

ROOT = Path(__file__).resolve().parents[2]
PG_SCRIPT = ROOT / "scripts" / "pg_test_server.py"


def trade_until(sandbox: Sandbox, oms: Process, db: str, more: int) -> None:
    """Trade until ``more`` frames beyond what is journaled now were journaled."""
    count = journaled(db)
    sandbox.start_trading(RATE)
    try:
        wait_for(lambda: oms.alive() and journaled(db) > count + more, f"{more} more frames")
    finally:
        sandbox.stop_trading()


def stop_cleanly(oms: Process) -> None:
    oms.proc.send_signal(signal.SIGTERM)
    code = oms.proc.wait(EXIT_S * 3)
    assert code == 0, oms.stderr()
    assert "Traceback" not in oms.stderr()


def test_poison_values_through_oms_run_are_journaled_and_change_nothing(
    tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    db, capture = str(tmp_path / "oms.db"), tmp_path / "cap.jsonl"
    faults = Faults(poison_every=2, seed=11)
    with Sandbox(KEY, SECRET, seed=SEED + 40, faults=faults) as sandbox:
        sandbox.step(40)
        history_in_the_past(sandbox)
        oms = spawn(run_args(sandbox, db, "--no-view", "--record", str(capture)))
        trade_until(sandbox, oms, db, 400)
        wait_converged(db, sandbox)
        stop_cleanly(oms)
        assert compare_with_truth(load_ledger(db), sandbox.truth()) == []
        sent = dict(faults.poisoned)
    frames = journal(db)
    assert [raw for raw, _ in frames] == capture.read_text(encoding="utf-8").split("\n")[:-1]
    assert sum(outcome == "malformed" for _, outcome in frames) == sum(sent.values())
    assert len(sent) >= len(POISONS) // 2  # most kinds of poison were sent


def test_poison_values_through_oms_replay_are_journaled_and_change_nothing(
    tmp_path: Path,
) -> None:
    faults = Faults(seed=5)
    with gzip.open(ROOT / "tests/data/sample-clean.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    mixed: list[str] = []
    for i, line in enumerate(lines):
        mixed.append(line)
        if i % 3 == 0 and (poisoned := faults.poison(line)) != line:
            mixed.append(poisoned)
    capture = tmp_path / "poisoned.jsonl"
    capture.write_text("\n".join(mixed) + "\n", encoding="utf-8")
    db = str(tmp_path / "oms.db")
    result = subprocess.run(
        [*OMS, "replay", str(capture), "--db", db, "--summary"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with gzip.open(ROOT / "tests/data/sample-truth.json.gz", "rt", encoding="utf-8") as f:
        truth = json.load(f)
    assert compare_with_truth(load_ledger(db), truth) == []
    frames = journal(db)
    assert [raw for raw, _ in frames] == mixed
    assert sum(outcome == "malformed" for _, outcome in frames) == len(mixed) - len(lines)
    assert set(faults.poisoned) == {name for name, *_ in POISONS}  # every kind, at least once


def test_sqlite_write_lock_held_for_15_s_during_oms_run_loses_nothing(
    tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    db, capture = str(tmp_path / "oms.db"), tmp_path / "cap.jsonl"
    with Sandbox(KEY, SECRET, seed=SEED + 41) as sandbox:
        sandbox.step(30)
        history_in_the_past(sandbox)
        oms = spawn(["-v", *run_args(sandbox, db, "--no-view", "--record", str(capture))])
        trade_until(sandbox, oms, db, 50)
        locker = Locker(db, 15.0)
        try:
            sandbox.start_trading(RATE)
            try:
                wait_for(
                    lambda: oms.alive() and "store: cannot write" in oms.stderr(),
                    "oms to notice the lock",
                )
                assert locker.process.poll() is None  # the lock is still held
            finally:
                sandbox.stop_trading()
            locker.wait()
        finally:
            locker.process.kill()
        wait_for(lambda: "store: writing again" in oms.stderr(), "writes to resume")
        trade_until(sandbox, oms, db, 30)
        wait_converged(db, sandbox)
        stop_cleanly(oms)
    assert [raw for raw, _ in journal(db)] == capture.read_text(encoding="utf-8").split("\n")[:-1]


@pytest.fixture
def private_pg() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A PostgreSQL server of this test's own: (url, stop, start again on the same port).
    Its directory is outside pytest's (the postgres user cannot enter root's 0700 dirs)."""
    directory = Path(tempfile.mkdtemp(prefix="oms-test-pg-"))
    url = subprocess.run(
        [sys.executable, str(PG_SCRIPT), "start", str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    ).stdout.strip()
    port = url.rsplit(":", 1)[1].split("/", 1)[0]

    def stop() -> None:
        subprocess.run(
            [sys.executable, str(PG_SCRIPT), "stop", str(directory)], check=True, timeout=90
        )

    def start() -> None:
        subprocess.run(
            [sys.executable, str(PG_SCRIPT), "start", str(directory), port],
            check=True,
            capture_output=True,
            timeout=180,
        )

    try:
        yield url, stop, start
    finally:
        stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_postgresql_stopped_and_started_during_oms_run_loses_nothing(
    tmp_path: Path,
    spawn: Callable[..., Process],
    private_pg: tuple[str, Callable[[], None], Callable[[], None]],
) -> None:
    url, stop_server, start_server = private_pg
    capture = tmp_path / "cap.jsonl"
    with Sandbox(KEY, SECRET, seed=SEED + 42) as sandbox:
        sandbox.step(30)
        history_in_the_past(sandbox)
        oms = spawn(["-v", *run_args(sandbox, url, "--no-view", "--record", str(capture))])
        trade_until(sandbox, oms, url, 50)
        stop_server()
        sandbox.start_trading(RATE)
        try:
            wait_for(
                lambda: oms.alive() and "store: cannot write" in oms.stderr(),
                "oms to notice the server is gone",
            )
        finally:
            sandbox.stop_trading()
        start_server()
        wait_for(lambda: oms.alive() and "store: writing again" in oms.stderr(), "writes resume")
        trade_until(sandbox, oms, url, 30)
        wait_converged(url, sandbox)
        stop_cleanly(oms)
    assert [raw for raw, _ in journal(url)] == capture.read_text(encoding="utf-8").split("\n")[:-1]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted for this test (root only, as in CI: a failure, not a skip)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True, timeout=30
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True, timeout=30)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; the filler file is returned for removal."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        chunk = b"\0" * 65536
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass
    return filler


def test_a_full_disk_degrades_oms_run_and_it_recovers_when_space_returns(
    tmp_path: Path, spawn: Callable[..., Process], small_disk: Path
) -> None:
    db = str(small_disk / "oms.db")
    capture = tmp_path / "cap.jsonl"  # on the big disk: the capture is the reference
    with Sandbox(KEY, SECRET, seed=SEED + 43) as sandbox:
        sandbox.step(30)
        history_in_the_past(sandbox)
        oms = spawn(["-v", *run_args(sandbox, db, "--no-view", "--record", str(capture))])
        trade_until(sandbox, oms, db, 50)
        filler = fill(small_disk)
        sandbox.start_trading(RATE)
        try:
            wait_for(
                lambda: oms.alive() and "store: cannot write" in oms.stderr(),
                "oms to find the disk full",
            )
        finally:
            sandbox.stop_trading()
        assert "full" in oms.stderr()
        filler.unlink()
        wait_for(lambda: oms.alive() and "store: writing again" in oms.stderr(), "writes resume")
        trade_until(sandbox, oms, db, 30)
        wait_converged(db, sandbox)
        stop_cleanly(oms)
    assert [raw for raw, _ in journal(db)] == capture.read_text(encoding="utf-8").split("\n")[:-1]


def test_a_disk_full_past_the_deadline_exits_1_and_a_restart_converges(
    tmp_path: Path, spawn: Callable[..., Process], small_disk: Path
) -> None:
    db = str(small_disk / "oms.db")
    with Sandbox(KEY, SECRET, seed=SEED + 44) as sandbox:
        sandbox.step(30)
        history_in_the_past(sandbox)
        args = run_args(sandbox, db, "--no-view", "--store-fault-deadline", "2")
        oms = spawn(args)
        trade_until(sandbox, oms, db, 50)
        filler = fill(small_disk)
        sandbox.start_trading(RATE)
        try:
            code = oms.proc.wait(EXIT_S * 3)
        finally:
            sandbox.stop_trading()
        assert code == 1, oms.stderr()
        err = oms.stderr()
        assert "Traceback" not in err
        stopped = [line for line in err.splitlines() if line.startswith("stopped:")]
        assert len(stopped) == 1
        assert "store-fault deadline 2 s" in stopped[0]
        filler.unlink()
        # The restart (what a supervisor does) resyncs over REST and converges.
        again = spawn(run_args(sandbox, db, "--no-view"))
        wait_for(lambda: again.alive() and journaled(db) > 0, "the restart to write")
        wait_converged(db, sandbox)
        stop_cleanly(again)
