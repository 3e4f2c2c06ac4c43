"""Crash safety: ``oms replay CAPTURE --db URL`` killed with SIGKILL and started again on
the same capture and database ends with exactly the state of an uninterrupted run: no
lost order, no duplicate execution, no duplicate event in the outbox.

Two kinds of kill: at random moments, several times over (a seeded random delay after
the start, or once a seeded random share of the remaining lines is committed, so some
kills surely land mid-replay), and at chosen statements (a child process that SIGKILLs
itself right before the n-th statement of a kind), which reaches moments a timer rarely
hits, like the middle of the first migration of an empty database.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import random
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from oms.store.db import open_engine, upgrade
from tests.store.conftest import (
    ANOMALIES,
    BACKENDS,
    DIRTY,
    ROOT,
    SUBPROCESS_TIMEOUT,
    make_databases,
    oms_cli,
    replay,
    state_tables,
    table_rows,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

KILLS = 5
SEED = 20240601
PROGRESS_DEADLINE = 60.0

with gzip.open(DIRTY, "rt", encoding="utf-8", newline="") as _handle:
    TOTAL_LINES = sum(1 for _ in _handle)


def _replay_command(url: str) -> list[str]:
    return [sys.executable, "-m", "oms.cli", "replay", str(DIRTY), "--db", url, "--json"]


def _journal(engine: Engine) -> list[tuple[Any, ...]]:
    return [
        (r["account"], r["topic"], r["raw"], r["outcome"], r["error"])
        for r in table_rows(engine, "frames")
    ]


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """Per backend: the state and journal of one uninterrupted replay of the capture."""
    found: dict[str, Any] = {}
    cleanup = []
    for backend in BACKENDS:
        databases = make_databases(request, backend, tmp_path_factory.mktemp("reference"))
        cleanup.append(databases)
        url = databases.new()
        replay(DIRTY, url)
        engine = open_engine(url)
        try:
            found[backend] = (state_tables(engine), _journal(engine))
        finally:
            engine.dispose()
    yield found
    for databases in cleanup:
        databases.drop_all()


def _backend(engine: Engine) -> str:
    return engine.dialect.name


def _assert_same_as_uninterrupted(engine: Engine, reference: dict[str, Any]) -> None:
    want_state, want_journal = reference[_backend(engine)]
    got = state_tables(engine)
    assert want_state["orders"], "the reference run stored no orders"
    for table in ("orders", "executions", "positions", "order_updates"):
        assert got[table] == want_state[table], table
    exec_ids = [r["exec_id"] for r in got["executions"]]
    assert len(exec_ids) == len(set(exec_ids))
    assert len(got["events"]) == len(want_state["events"]), "events lost or duplicated"
    assert got["events"] == want_state["events"]
    # the journal too: every frame once, with the same outcome
    assert _journal(engine) == want_journal


def _progress(engine: Engine) -> tuple[int, bool] | None:
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT lines_done, finished FROM replays")).first()
    except SQLAlchemyError:
        return None  # not migrated yet
    return None if row is None else (int(row[0]), bool(row[1]))


def _wait_for_progress(engine: Engine, proc: subprocess.Popen[bytes], target: int) -> None:
    """Poll until the child has committed ``target`` lines (or exited), within a deadline."""
    deadline = time.monotonic() + PROGRESS_DEADLINE
    while proc.poll() is None:
        progress = _progress(engine)
        if progress is not None and (progress[0] >= target or progress[1]):
            return
        assert time.monotonic() < deadline, f"the replay did not reach line {target}"
        time.sleep(0.002)


def _kill_once(engine: Engine, url: str, rng: random.Random, by_progress: bool) -> dict[str, Any]:
    """Start a replay and SIGKILL it at a random moment: after a random delay from its
    start (startup, restore, first groups), or once it has committed a random share of
    what it has left to do (the middle of the replay, whatever the machine's speed)."""
    before = _progress(engine)
    done_before = 0 if before is None or before[1] else before[0]
    proc = subprocess.Popen(
        _replay_command(url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT
    )
    try:
        if by_progress:
            share = rng.uniform(0.1, 0.4)
            _wait_for_progress(engine, proc, done_before + int(share * (TOTAL_LINES - done_before)))
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=rng.uniform(0.05, 0.8))  # then kill it if still running
        running = proc.poll() is None
        if running:
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=SUBPROCESS_TIMEOUT)
    if running:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 0, err.decode(errors="replace")
    return {"killed": running, "by_progress": by_progress, "progress": _progress(engine)}


def test_sigkill_at_random_moments_then_resume(db_url, engine, reference):
    # The schema is migrated first: a kill inside the first migration is the subject of
    # test_sigkill_at_chosen_statements_then_resume, and would make this test flaky.
    upgrade(engine)
    rng = random.Random(SEED)
    attempts = [_kill_once(engine, db_url, rng, by_progress=bool(n % 2)) for n in range(KILLS)]
    mid_run = [
        a
        for a in attempts
        if a["killed"]
        and a["progress"] is not None
        and not a["progress"][1]
        and 0 < a["progress"][0] < TOTAL_LINES
    ]
    assert mid_run, f"no kill landed in the middle of a replay: {attempts}"

    done = oms_cli("replay", str(DIRTY), "--db", db_url, "--json")
    assert done.returncode == 0, done.stderr
    assert _progress(engine) == (TOTAL_LINES, True)
    if not any(a["progress"] is not None and a["progress"][1] for a in attempts):
        _assert_same_as_uninterrupted(engine, reference)
    else:
        # An attempt got to the end before its kill, so the next ones replayed the whole
        # capture again as duplicates: the state is the same, and only anomalies repeat.
        want_state, _ = reference[_backend(engine)]
        got = state_tables(engine)
        for table in ("orders", "executions", "positions", "order_updates"):
            assert got[table] == want_state[table], table
        changes = [e for e in got["events"] if e["type"] not in ANOMALIES]
        assert changes == [e for e in want_state["events"] if e["type"] not in ANOMALIES]


#: A replay that SIGKILLs itself right before the n-th execution of a kind of statement.
#: The hook sits in the driver (sqlite3's trace callback, a psycopg cursor class), so it
#: sees every statement, also those the store runs on the raw DBAPI cursor. (sqlite3
#: traces an executemany once per row, psycopg once per call: either way the kill lands
#: inside the transaction of a group, before its commit.)
CRASH_CHILD = """
import os, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine

prefix, nth = sys.argv[1].upper(), int(sys.argv[2])
seen = 0

def check(statement):
    global seen
    if " ".join(str(statement).split()).upper().startswith(prefix):
        seen += 1
        if seen == nth:
            os.kill(os.getpid(), signal.SIGKILL)

@event.listens_for(Engine, "connect")
def hook(dbapi_connection, record):
    if hasattr(dbapi_connection, "set_trace_callback"):  # sqlite3
        dbapi_connection.set_trace_callback(check)
        return
    base = dbapi_connection.cursor_factory  # psycopg

    class Killing(base):
        def execute(self, query, *args, **kwargs):
            check(query)
            return super().execute(query, *args, **kwargs)

        def executemany(self, query, *args, **kwargs):
            check(query)
            return super().executemany(query, *args, **kwargs)

    dbapi_connection.cursor_factory = Killing

from oms.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize(
    ("statement", "nth"),
    [
        ("CREATE TABLE orders", 1),  # inside the first migration of the empty database
        ("INSERT INTO events", 3),  # inside a group, part of its events written
        ("INSERT INTO replays", 9),  # the last write of the ninth group, before its commit
    ],
    ids=["migration", "events", "progress"],
)
def test_sigkill_at_chosen_statements_then_resume(db_url, engine, reference, statement, nth):
    child = subprocess.run(
        [sys.executable, "-c", CRASH_CHILD, statement, str(nth), *_replay_command(db_url)[3:]],
        capture_output=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
        cwd=ROOT,
        env={**os.environ},
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode(errors="replace")

    done = oms_cli("replay", str(DIRTY), "--db", db_url, "--json")
    assert done.returncode == 0, done.stderr
    assert _progress(engine) == (TOTAL_LINES, True)
    _assert_same_as_uninterrupted(engine, reference)
