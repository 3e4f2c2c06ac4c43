"""``oms run`` as a real process against the sandbox (started in the test process).

Refused credentials end it with exit status 1 and the exchange's reason, well before its
``--duration``; SIGINT and SIGTERM end it with status 0, every received frame journaled
(and recorded by ``--record``, which ``oms replay`` then accepts); no output ever shows
the secret or a signature made with it. Every process has a timeout and is killed (by
its own process group id) if a test fails half-way.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

from oms.sandbox import Faults, Sandbox
from oms.store.db import open_engine
from tests.e2e.conftest import (
    KEY,
    SECRET,
    SEED,
    history_in_the_past,
    wait_converged,
    wait_for,
)
from tests.journal import journaled

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

OMS = (sys.executable, "-m", "oms.cli")
RATE = 25.0
#: Bounds on a process's life, far above what a healthy run needs.
EXIT_S = 20.0
#: Any HMAC-SHA256 in hex: no output of ``oms`` has a reason to show one.
HEX_DIGEST = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


def oms_env(key: str = KEY) -> dict[str, str]:
    return os.environ | {"BYBIT_API_KEY": key, "BYBIT_API_SECRET": SECRET}


def run_args(sandbox: Sandbox, db: str, *extra: str) -> list[str]:
    return ["run", "--ws-url", sandbox.ws_url, "--rest-url", sandbox.rest_url, "--db", db, *extra]


@dataclass
class Watch:
    """What the sandbox was sent: every signature (WS logins, REST headers), and the
    logins it refused."""

    signatures: list[str]
    refused: list[str]


def watch(sandbox: Sandbox) -> Watch:
    """Wrap the sandbox's own checks (instance attributes only) to see what it received."""
    seen = Watch([], [])
    check_login = sandbox._auth_refusal
    check_rest = sandbox._rest._verify

    def login(args: object) -> str | None:
        if isinstance(args, list) and len(args) == 3:
            seen.signatures.append(str(args[2]))
        reason = check_login(args)
        if reason is not None:
            seen.refused.append(reason)
        return reason

    def rest(header: Callable[[str], str | None], query: str) -> dict[str, object] | None:
        seen.signatures.append(header("X-BAPI-SIGN") or "")
        return check_rest(header, query)

    sandbox._auth_refusal = login  # type: ignore[method-assign]
    sandbox._rest._verify = rest  # type: ignore[method-assign]
    return seen


def assert_no_secret(output: str, seen: Watch) -> None:
    assert SECRET not in output
    for signature in seen.signatures:
        assert signature not in output
    assert HEX_DIGEST.findall(output) == []


@dataclass
class Process:
    """A running ``oms`` with its output in files (a pipe could fill up and block it)."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        if self.proc.poll() is None:
            return True
        pytest.fail(f"oms exited early ({self.proc.returncode}):\n{self.stderr()}")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(args: list[str], key: str = KEY) -> Process:
        n = len(started)
        out, err = tmp_path / f"out{n}.txt", tmp_path / f"err{n}.txt"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [*OMS, *args],
                stdout=stdout,
                stderr=stderr,
                env=oms_env(key),
                cwd=tmp_path,
                start_new_session=True,  # its own process group: signals reach it alone
            )
        process = Process(proc, out, err)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            os.killpg(process.proc.pid, signal.SIGKILL)
        process.proc.wait(EXIT_S)


def journal(db: str) -> list[tuple[str, str]]:
    """(raw, outcome) of every journaled stream frame, in commit order (snapshots left out)."""
    engine = open_engine(db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT raw, outcome FROM frames WHERE topic IS NULL "
                    "OR topic != 'rest.snapshot' ORDER BY id"
                )
            ).all()
    finally:
        engine.dispose()
    return [(str(raw), str(outcome)) for raw, outcome in rows]


def is_corrupted_copy(line: str, previous: str | None) -> bool:
    """Whether ``line`` is one of the sandbox's corrupted copies of the frame before it
    (truncated, not JSON, or the same frame with a broken ``data``)."""
    if line == "<html>502 Bad Gateway</html>":
        return True
    if previous is None or line == previous:
        return False
    if previous.startswith(line):
        return True
    try:
        frame, original = json.loads(line), json.loads(previous)
    except ValueError:
        return False
    return (
        isinstance(frame, dict)
        and isinstance(original, dict)
        and "topic" in frame
        and (frame.get("id"), frame.get("topic")) == (original.get("id"), original.get("topic"))
    )


def replay_json(capture: Path, cwd: Path) -> dict[str, Any]:
    result = subprocess.run(
        [*OMS, "replay", str(capture), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_refused_key_exits_2_with_the_exchange_reason(tmp_path: Path) -> None:
    db = str(tmp_path / "oms.db")
    with Sandbox(KEY, SECRET, seed=SEED + 20) as sandbox:
        seen = watch(sandbox)
        result = subprocess.run(
            [*OMS, *run_args(sandbox, db, "--duration", "30", "--no-view")],
            capture_output=True,
            text=True,
            env=oms_env("wrong-" + KEY),
            cwd=tmp_path,
            timeout=EXIT_S,  # far less than --duration: it must give up by itself
            check=False,
        )
    assert result.returncode == 2, result.stderr  # refused: a restart cannot help
    assert "Request not authorized" in result.stderr
    assert "3 time(s) in a row" in result.stderr
    assert "Traceback" not in result.stderr
    assert seen.refused == ["Request not authorized"] * 3  # max_auth_failures, then no more
    assert_no_secret(result.stdout + result.stderr, seen)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_run_cleanly_with_every_frame_committed(
    signum: signal.Signals, tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    db, capture = str(tmp_path / "oms.db"), tmp_path / "cap.jsonl"
    faults = Faults(
        refuse_auth=1,
        rest_rate_limit=2,
        drop_after_frames=60,
        drop_every=True,
        malformed_every=9,
        seed=int(signum),
    )
    with Sandbox(KEY, SECRET, seed=SEED + 21, faults=faults) as sandbox:
        seen = watch(sandbox)
        sandbox.step(30)
        history_in_the_past(sandbox)
        oms = spawn(["-v", *run_args(sandbox, db, "--record", str(capture), "--no-view")])
        sandbox.start_trading(RATE)
        try:
            wait_for(
                lambda: oms.alive() and oms.stderr().count("resync done") >= 2,
                "a drop and a second resync",
            )
        finally:
            sandbox.stop_trading()
        wait_converged(db, sandbox)  # read while oms runs: the database is the truth
        assert oms.alive()
        # Frames in flight when the signal lands must be applied and committed too.
        sandbox.start_trading(RATE)
        try:
            count = journaled(db)
            wait_for(lambda: oms.alive() and journaled(db) > count + 20, "more frames")
            oms.proc.send_signal(signum)
            code = oms.proc.wait(EXIT_S)
        finally:
            sandbox.stop_trading()
    assert code == 0, oms.stderr()
    with pytest.raises(ProcessLookupError):  # nothing is left in its process group
        os.killpg(oms.proc.pid, 0)
    output = oms.stdout() + oms.stderr()
    assert_no_secret(output, seen)
    assert "Traceback" not in output
    assert "login refused" in output
    assert "rate limited" in output

    lines = capture.read_text(encoding="utf-8").splitlines()
    frames = journal(db)
    # Every frame received was recorded and committed, in the same order.
    assert [raw for raw, _ in frames] == lines
    previous: list[str | None] = [None, *lines[:-1]]
    corrupted = sum(map(is_corrupted_copy, lines, previous))
    assert corrupted > 0
    assert sum(outcome == "malformed" for _, outcome in frames) == corrupted

    stats = replay_json(capture, tmp_path)["stats"]
    assert stats["frames"] == len(lines)
    assert stats["malformed"] == corrupted
