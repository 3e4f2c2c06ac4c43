"""Four CLI defects of issue 9, each shown fixed on real files and real processes:

* a replay that fails on a line records progress that excludes that line (a resumed
  replay applies it again instead of skipping it);
* ``oms events`` / ``oms inspect`` refuse limits and poll intervals that make no sense
  (``--limit 0`` used to spin at 100 % CPU) as usage errors, exit status 2;
* a capture line is split at ``\\n`` only: a bare CR (or another character
  ``str.splitlines`` breaks on) inside a frame stays in that frame, which is journaled
  byte for byte, from a file, a ``.gz`` and stdin;
* a database at a revision this oms does not know (a newer oms wrote it) is refused by
  every command in one line, exit status 2, no traceback; a database that is behind gets
  the advice ``oms db upgrade --db URL``, and following it works.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from oms.cli import commands
from oms.cli.capture import capture_identity, open_capture
from oms.cli.main import main
from oms.cli.replay import replay_lines
from oms.runtime.pipeline import Pipeline
from oms.store.db import head_revision, open_engine, upgrade
from tests.conftest import DATA

if TYPE_CHECKING:
    from collections.abc import Callable

REAL_FRAMES = DATA / "real" / "frames.jsonl"
OMS = Path(sys.executable).parent / "oms"  # the installed console script
TIMEOUT = 120
#: For ``oms run``, which reads credentials before it opens the database (never sent:
#: the database is refused first).
FAKE_CREDENTIALS = {"BYBIT_API_KEY": "not-a-key", "BYBIT_API_SECRET": "not-a-secret"}
RUN_OFFLINE = ("run", "--ws-url", "ws://127.0.0.1:9/", "--rest-url", "http://127.0.0.1:9")

# A real order frame; its orderLinkId is where the odd characters go, and each copy gets
# an orderId of its own (a copy of the same order would be a duplicate, not applied).
ORDER_FRAME = REAL_FRAMES.read_text(encoding="utf-8").split("\n")[6]
LINK_ID = '"orderLinkId":"e491105d-a404-11ee-b73a-5cc336e5d1af"'
ORDER_ID = '"orderId":"1584349189335418625"'
assert LINK_ID in ORDER_FRAME
assert ORDER_FRAME.count(ORDER_ID) == 1

#: Characters str.splitlines (or universal newlines) would break a line on, none "\n".
#: JSON allows the last three unescaped in a string; the others make the frame malformed
#: (control characters), but it must still be ONE malformed frame.
CONTROL_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
LEGAL_BREAKS = ("\u2028", "\u2029", "\x85")


def odd_frames() -> list[str]:
    """One frame per odd character, the character inside a JSON string."""
    return [
        ORDER_FRAME.replace(LINK_ID, f'"orderLinkId":"before{char}after"').replace(
            ORDER_ID, f'"orderId":"{index}"'
        )
        for index, char in enumerate((*CONTROL_BREAKS, *LEGAL_BREAKS), 1)
    ]


def run_oms(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """``oms ARGS`` as a process (the console script), to completion."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8", **FAKE_CREDENTIALS}
    done = subprocess.run(
        [str(OMS), *args],
        input=stdin,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        env=env,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def journal(db: Path) -> list[str]:
    """The raw text of every journaled frame, in order."""
    with sqlite3.connect(db) as conn:
        return [raw for (raw,) in conn.execute("SELECT raw FROM frames ORDER BY id")]


def sql(db: Path, statement: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        with conn:
            return conn.execute(statement).fetchall()
    finally:
        conn.close()


# --- replay progress ---------------------------------------------------------------------


COMMITTED = (
    "SELECT (SELECT coalesce(max(lines_done), 0) FROM replays), (SELECT count(*) FROM frames)"
)


class LineFailedError(Exception):
    pass


def failing_on(line: str, apply: Callable[[str], list]) -> Callable[[str], list]:
    def apply_or_fail(text: str) -> list:
        if text == line:
            raise LineFailedError(text)
        return apply(text)

    return apply_or_fail


def test_progress_ends_at_the_last_line_applied_when_a_line_fails():
    done: list[int] = []
    applied: list[str] = []

    def apply(text: str) -> list:
        applied.append(text)
        return []

    handle = io.StringIO("one\ntwo\n\nthree\nfour\n")
    with pytest.raises(LineFailedError):
        replay_lines(
            handle,
            failing_on("three", apply),
            size=0,
            show_progress=False,
            before_line=done.append,
        )
    assert applied == ["one", "two"]
    # Each count is told before its line is applied (so a commit holds both); line 4
    # ("three") raised, so the last word is 3: the blank line 3 is done, line 4 is not.
    assert done == [1, 2, 3, 4, 3]

    # Resumed from the count, the failed line is the first one applied.
    applied.clear()
    handle.seek(0)
    replay_lines(handle, apply, size=0, show_progress=False, skip=done[-1])
    assert applied == ["three", "four"]


def test_a_replay_into_a_database_that_fails_on_a_line_resumes_at_that_line(tmp_path, clean_lines):
    """The progress ``oms replay --db`` records (as ``_replay_into_db`` wires it) on a
    real SQLite database: the line that raised is not counted, so the resume applies it."""
    capture = tmp_path / "capture.jsonl"
    capture.write_text("\n".join(clean_lines[:40]) + "\n", encoding="utf-8")
    source = capture_identity(str(capture))
    assert source is not None
    db = str(tmp_path / "oms.db")
    bad = clean_lines[25]

    committed: list[tuple[int, int]] = []  # (lines done, frames) as another reader sees them

    with Pipeline(db, group_frames=10, group_ms=1e9) as service:  # commits by count

        def progress(done: int) -> None:
            service.set_replay_progress(source, done, finished=False)

        def apply(text: str) -> list:
            events = service.feed(text).events
            committed.extend(sql(Path(db), COMMITTED))
            return events

        with open_capture(str(capture)) as (handle, size), pytest.raises(LineFailedError):
            replay_lines(
                handle,
                failing_on(bad, apply),
                size=size,
                show_progress=False,
                before_line=progress,
            )
    # Each group commit held its lines and their count together (a replay killed after
    # it resumes right after its last line: no line journaled twice, none skipped).
    assert sorted(set(committed)) == [(0, 0), (10, 10), (20, 20)]
    # Closing committed what was staged: lines 1..25, and 25 as the count.
    with Pipeline(db) as service:
        assert service.replay_progress(source) == (25, False)
    assert journal(Path(db)) == clean_lines[:25]  # the failed line 26 is not in it

    with Pipeline(db) as service, open_capture(str(capture)) as (handle, size):
        replay_lines(
            handle,
            lambda text: service.feed(text).events,
            size=size,
            show_progress=False,
            skip=25,
        )
    assert journal(Path(db)) == clean_lines[:40]


# --- usage errors ------------------------------------------------------------------------


@pytest.fixture
def events_db(tmp_path, clean_lines) -> str:
    db = str(tmp_path / "events.db")
    with Pipeline(db) as service:
        for line in clean_lines[:60]:
            service.feed(line)
    return db


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["events", "--limit", "0"], "argument --limit: must be a whole number >= 1, got '0'"),
        (["events", "--limit", "-5"], "argument --limit: must be a whole number >= 1, got '-5'"),
        (["events", "--limit", "x"], "argument --limit: must be a whole number >= 1, got 'x'"),
        (["events", "--after", "-1"], "argument --after: must be a whole number >= 0, got '-1'"),
        (["events", "--poll", "0"], "argument --poll: must be a number of seconds > 0"),
        (["events", "--poll", "-1"], "argument --poll: must be a number of seconds > 0"),
        (
            ["events", "--poll", "nan"],
            "must be a number of seconds > 0 (at most 10000000), got 'nan'",
        ),
        (
            ["events", "--poll", "inf"],
            "must be a number of seconds > 0 (at most 10000000), got 'inf'",
        ),
        (["events", "--poll", "1e308"], "argument --poll: must be a number of seconds > 0"),
        (
            ["replay", "-", "--lease-ttl", "1e20"],
            "argument --lease-ttl: must be a number of seconds > 0 (at most",
        ),
        (
            ["replay", "-", "--wait-lease", "1e20"],
            "argument --wait-lease: must be a number of seconds >= 0 (at most",
        ),
        (["inspect", "orders", "--limit", "0"], "argument --limit: must be a whole number >= 1"),
        (["inspect", "events", "--limit", "-1"], "argument --limit: must be a whole number >= 1"),
    ],
)
def test_nonsense_limits_are_usage_errors(events_db, capsys, monkeypatch, args, message):
    def accepted(_args: object) -> int:
        # --limit 0 used to loop for ever here: fail instead of hanging if it comes back
        raise AssertionError(f"{args} was accepted")

    monkeypatch.setattr(commands, "cmd_events", accepted)
    monkeypatch.setattr(commands, "cmd_inspect", accepted)
    with pytest.raises(SystemExit) as stopped:
        main([*args, "--db", events_db])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("usage: oms ")


def test_events_limit_one_still_prints_every_event(events_db, capsys):
    assert main(["events", "--db", events_db]) == 0
    every = capsys.readouterr().out.splitlines()
    assert len(every) > 3
    assert main(["events", "--db", events_db, "--limit", "1", "--after", "0"]) == 0
    assert capsys.readouterr().out.splitlines() == every
    assert main(["inspect", "events", "--db", events_db, "--limit", "1"]) == 0
    assert "events (1 shown)" in capsys.readouterr().out


# --- lines end at \n only ----------------------------------------------------------------


def capture_bytes(frames: list[str]) -> bytes:
    # the last frame ends in \r\n: that \r is a line ending, not part of the frame
    return ("\n".join(frames) + "\r\n").encode("utf-8")


@pytest.mark.parametrize("via", ["file", "gz", "stdin"])
def test_a_frame_holding_a_bare_cr_or_a_unicode_break_stays_one_frame(
    tmp_path, capsys, monkeypatch, via
):
    frames = odd_frames()
    data = capture_bytes(frames)
    db = tmp_path / "oms.db"
    if via == "stdin":
        # stdin as the interpreter makes it: a TextIOWrapper with universal newlines
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
        name = "-"
    else:
        capture = tmp_path / ("odd.jsonl.gz" if via == "gz" else "odd.jsonl")
        capture.write_bytes(gzip.compress(data) if via == "gz" else data)
        name = str(capture)
    assert main(["replay", name, "--db", str(db), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    assert stats["frames"] == len(frames)
    assert stats["malformed"] == len(CONTROL_BREAKS)  # raw control characters: not JSON
    assert journal(db) == frames  # each line one frame, byte for byte
    assert [raw.encode() for raw in journal(db)] == data.removesuffix(b"\r\n").split(b"\n")
    # the frames JSON allows are applied, their odd orderLinkIds kept exactly
    links = {link for (link,) in sql(db, "SELECT order_link_id FROM orders")}
    assert links == {f"before{char}after" for char in LEGAL_BREAKS}


def test_stdin_of_a_real_process_splits_at_newlines_only(tmp_path):
    frames = odd_frames()
    data = capture_bytes(frames)
    db = tmp_path / "oms.db"
    done = run_oms("replay", "-", "--db", str(db), "--json", stdin=data)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stats"]["frames"] == len(frames)
    assert journal(db) == frames


def test_in_memory_replay_counts_one_frame_per_line(tmp_path, capsys):
    capture = tmp_path / "odd.jsonl"
    capture.write_bytes(capture_bytes(odd_frames()))
    assert main(["replay", str(capture), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    assert stats["frames"] == len(odd_frames())
    assert stats["malformed"] == len(CONTROL_BREAKS)


# --- schema revisions --------------------------------------------------------------------

NEWER = "ffffffffffff"  # a revision id no migration of this oms has
NEWER_MESSAGE = (
    f"is at revision {NEWER}, which this oms does not know: it was written by a newer oms; "
    "upgrade oms"
)


@pytest.fixture
def newer_db(tmp_path) -> Path:
    """A database migrated by this oms, then stamped the way a newer oms would leave it."""
    db = tmp_path / "newer.db"
    engine = open_engine(str(db))
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    sql(db, f"UPDATE alembic_version SET version_num = '{NEWER}'")  # noqa: S608 - a constant
    return db


@pytest.mark.parametrize(
    "command",
    [
        ["db", "upgrade", "--db", "{db}"],
        ["db", "current", "--db", "{db}"],
        ["replay", str(REAL_FRAMES), "--db", "{db}"],
        ["inspect", "orders", "--db", "{db}"],
        ["events", "--db", "{db}"],
        ["db", "downgrade", "--db", "{db}", "--revision", "0001"],
        ["status", "--db", "{db}"],
        # nothing listens on port 9 of 127.0.0.1; --duration ends it if it ever got there
        [*RUN_OFFLINE, "--db", "{db}", "--no-view", "--duration", "3"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_every_command_refuses_a_database_from_a_newer_oms(newer_db, command):
    before = newer_db.read_bytes()
    done = run_oms(*(part.format(db=newer_db) for part in command))
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # one clear line, no traceback
    assert f"database sqlite:///{newer_db} {NEWER_MESSAGE}" in lines[0]
    assert "Traceback" not in done.stderr
    assert sql(newer_db, "SELECT version_num FROM alembic_version") == [(NEWER,)]
    assert sql(newer_db, "SELECT count(*) FROM frames") == [(0,)]
    assert newer_db.read_bytes() == before  # nothing written


def test_a_database_behind_gets_advice_that_works(tmp_path, capsys):
    """A database without oms's schema (here: someone else's table, no revision) is
    refused with the advice ``oms db upgrade --db URL``; following it, the replay works."""
    db = tmp_path / "behind.db"
    sql(db, "CREATE TABLE notes (text TEXT)")
    assert main(["replay", str(REAL_FRAMES), "--db", str(db)]) == 1
    refused = capsys.readouterr().err
    assert "run `oms db upgrade --db URL`" in refused
    assert "Traceback" not in refused

    upgraded = run_oms("db", "upgrade", "--db", str(db))  # the advice, as a user runs it
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout == f"{head_revision()} (head: {head_revision()})\n"

    assert main(["replay", str(REAL_FRAMES), "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stats"]["frames"] == 19
    assert len(journal(db)) == 19
    assert sql(db, "SELECT count(*) FROM notes") == [(0,)]  # their table is left alone


def test_an_unknown_target_revision_is_one_line_not_a_traceback(tmp_path):
    db = tmp_path / "oms.db"
    done = run_oms("db", "upgrade", "--db", str(db), "--revision", "nosuchrevision")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "cannot migrate" in done.stderr
    assert "nosuchrevision" in done.stderr
    assert "Traceback" not in done.stderr


OMS_CLI = (sys.executable, "-m", "oms.cli")


def test_a_usage_error_of_oms_run_exits_2_in_one_line(tmp_path, monkeypatch) -> None:
    """Refused to start (README, "Exit statuses"): no credentials, no URLs."""
    monkeypatch.delenv("BYBIT_API_KEY", raising=False)
    monkeypatch.delenv("BYBIT_API_SECRET", raising=False)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "oms.cli",
            "run",
            "--env",
            "testnet",
            "--db",
            str(tmp_path / "x.db"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "BYBIT_API_KEY" in done.stderr
    assert "Traceback" not in done.stderr
    done = subprocess.run(
        [*OMS_CLI, "run", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=os.environ | {"BYBIT_API_KEY": "k", "BYBIT_API_SECRET": "s"},
    )
    assert done.returncode == 2, done.stderr
    assert "give --env" in done.stderr
