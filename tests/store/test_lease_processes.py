"""One writer per account, proven with real processes (issue 10), on SQLite and on a
real PostgreSQL server (the ``db_url`` fixture).

- Two writers: the second refuses at once (exit status 2, one line naming the account
  and its owner); the first finishes; the database equals a single writer's.
- The owner SIGKILLed in the middle of ``oms run`` against the sandbox: another takes the
  account (at once on SQLite, whose lock the OS drops; after the lease expires on
  PostgreSQL) within 30 s, and the end state equals the sandbox's truth with no event
  twice in the outbox.
- Fencing: the owner's database connection is cut (a proxy between it and PostgreSQL),
  another process takes the account, then the first one's next commit is refused and it
  exits 1 without writing.
- SIGTERM releases the lease at once; readers never wait for it.

Every wait polls with a deadline; nothing asserts a duration.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import make_url

from oms.cli.demo import compare_with_truth, load_ledger
from oms.runtime.outbox import read_events
from oms.sandbox import Sandbox
from oms.store.db import open_engine
from oms.store.lease import read_leases
from tests.e2e.conftest import KEY, SECRET, SEED, history_in_the_past, wait_converged, wait_for
from tests.journal import journaled

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.store.conftest import PgServer

ROOT = Path(__file__).resolve().parents[2]
OMS = (sys.executable, "-m", "oms.cli")
EXIT_S = 60.0
RATE = 25.0
#: A short lease for the tests, so that expiry is seen in seconds (the default is 15 s).
TTL = "3"


@pytest.fixture(scope="module")
def lines() -> list[str]:
    with gzip.open(ROOT / "tests/data/sample-dirty.jsonl.gz", "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


@pytest.fixture(scope="module")
def truth() -> dict[str, object]:
    with gzip.open(ROOT / "tests/data/sample-truth.json.gz", "rt", encoding="utf-8") as f:
        loaded: dict[str, object] = json.load(f)
        return loaded


def oms_env() -> dict[str, str]:
    return os.environ | {"BYBIT_API_KEY": KEY, "BYBIT_API_SECRET": SECRET}


class Oms:
    """A running ``oms`` process, its output in files, killed with its group at the end."""

    def __init__(self, args: list[str], directory: Path, *, stdin: int | None = None) -> None:
        n = len(list(directory.glob("err*.txt")))
        self.out, self.err = directory / f"out{n}.txt", directory / f"err{n}.txt"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [*OMS, *args],
                stdin=stdin,
                stdout=out,
                stderr=err,
                env=oms_env(),
                cwd=directory,
                start_new_session=True,
            )

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = EXIT_S) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(EXIT_S)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Oms]]:
    started: list[Oms] = []

    def start(args: list[str], **kwargs: int) -> Oms:
        process = Oms(args, tmp_path, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.alive():
            process.kill()
        if process.proc.stdin is not None:
            process.proc.stdin.close()


def outbox(db: str) -> list[tuple[str, str]]:
    """(type, payload without receipt times) of every outbox event, in order."""
    rows: list[tuple[str, str]] = []
    after = 0
    while batch := read_events(db, after_id=after, limit=5000):
        for event in batch:
            payload = {k: v for k, v in event.payload.items() if k != "received_at"}
            rows.append((event.type, json.dumps(payload, sort_keys=True)))
        after = batch[-1].id
    return rows


def repeated_events(db: str) -> list[tuple[str, str]]:
    """Events that appear twice: after a takeover, none may (an anomaly can repeat only
    if its cause repeats, which two writers of one stream would make happen)."""
    counts = Counter(
        row
        for row in outbox(db)
        if row[0] in ("FillBooked", "OrderStatusChanged", "PositionChanged")
    )
    return [row for row, n in counts.items() if n > 1]


def run_args(sandbox: Sandbox, db: str, *extra: str) -> list[str]:
    return [
        "run", "--ws-url", sandbox.ws_url, "--rest-url", sandbox.rest_url, "--db", db,
        "--no-view", "--lease-ttl", TTL, *extra,
    ]  # fmt: skip


def test_a_second_replay_is_refused_at_once_and_the_first_finishes(
    db_url: str, lines: list[str], truth: dict[str, object], spawn: Callable[..., Oms]
) -> None:
    first = spawn(["replay", "-", "--db", db_url, "--summary"], stdin=subprocess.PIPE)
    assert first.proc.stdin is not None
    half = len(lines) // 2
    first.proc.stdin.write("".join(f"{line}\n" for line in lines[:half]).encode())
    first.proc.stdin.flush()
    wait_for(lambda: journaled(db_url) > 0, "the first replay to write")
    second = spawn(["replay", "-", "--db", db_url], stdin=subprocess.DEVNULL)
    assert second.wait() == 2, second.stderr()
    refusal = [line for line in second.stderr().splitlines() if line.strip()]
    assert len(refusal) == 1, refusal
    assert "account 'default' is owned by host" in refusal[0]
    assert f"pid {first.proc.pid}" in refusal[0]
    assert first.alive()
    first.proc.stdin.write("".join(f"{line}\n" for line in lines[half:]).encode())
    first.proc.stdin.close()
    assert first.wait() == 0, first.stderr()
    assert compare_with_truth(load_ledger(db_url), truth) == []
    assert journaled(db_url) == len(lines)  # the second wrote nothing
    assert repeated_events(db_url) == []


def test_a_second_oms_run_is_refused_at_once(db_url: str, spawn: Callable[..., Oms]) -> None:
    with Sandbox(KEY, SECRET, seed=SEED + 60) as sandbox:
        sandbox.step(20)
        history_in_the_past(sandbox)
        first = spawn(run_args(sandbox, db_url))
        wait_for(lambda: journaled(db_url) > 0, "the first run to write")
        second = spawn(run_args(sandbox, db_url))
        assert second.wait() == 2, second.stderr()
        assert "is owned by host" in second.stderr()
        assert "Traceback" not in second.stderr()
        assert first.alive()
        first.proc.send_signal(signal.SIGTERM)
        assert first.wait() == 0, first.stderr()
        # SIGTERM released the lease at once: the next writer takes it without waiting.
        third = spawn(run_args(sandbox, db_url))
        wait_for(lambda: owner_pid(db_url) == third.proc.pid, "the third run to own it")
        third.proc.send_signal(signal.SIGTERM)
        assert third.wait() == 0, third.stderr()
    engine = open_engine(db_url)
    try:
        (lease,) = read_leases(engine, "default")
    finally:
        engine.dispose()
    assert lease.released
    assert lease.epoch == 2


def owner_pid(db: str) -> int | None:
    engine = open_engine(db)
    try:
        leases = read_leases(engine, "default")
    finally:
        engine.dispose()
    return leases[0].owner_pid if leases and not leases[0].released else None


def test_sigkill_of_the_owner_then_another_takes_the_account_and_converges(
    db_url: str, spawn: Callable[..., Oms]
) -> None:
    with Sandbox(KEY, SECRET, seed=SEED + 61) as sandbox:
        sandbox.step(30)
        history_in_the_past(sandbox)
        first = spawn(run_args(sandbox, db_url))
        sandbox.start_trading(RATE)
        try:
            count = journaled(db_url)
            wait_for(lambda: journaled(db_url) > count + 60, "the owner to write")
            first.kill()  # SIGKILL: no release, no last commit
            died = time.monotonic()
            # The restart a supervisor makes: it waits for the lease (expiry on PostgreSQL).
            second = spawn(run_args(sandbox, db_url, "--wait-lease", "30"))
            count = journaled(db_url)
            wait_for(
                lambda: second.alive() and journaled(db_url) > count + 20,
                "the second process to write the account",
                timeout=max(1.0, 30.0 - (time.monotonic() - died)),
            )
        finally:
            sandbox.stop_trading()
        wait_converged(db_url, sandbox)
        second.proc.send_signal(signal.SIGTERM)
        assert second.wait() == 0, second.stderr()
        assert compare_with_truth(load_ledger(db_url), sandbox.truth()) == []
    assert repeated_events(db_url) == []


#: SO_LINGER on, 0 s: close() aborts the connection (RST), as a cut cable would look.
ABORT = b"\x01\x00\x00\x00\x00\x00\x00\x00"


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of the PostgreSQL server: ``cut()`` aborts every
    connection through it and refuses new ones until ``restore()``."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.open = threading.Event()
        self.open.set()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True, name="test-proxy").start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        self.open.clear()
        with self.lock:
            for s in self.sockets:
                # shutdown wakes the pipe threads blocked in recv (a bare close would not)
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, ABORT)
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()
            self.sockets.clear()

    def restore(self) -> None:
        self.open.set()

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh database on the PostgreSQL server. Fencing is a PostgreSQL matter: on
    SQLite the lease is an OS lock on one host, which a writer cut off from its file still
    holds, so no second writer can take over (the lock tests in test_lease.py prove it)."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)


def test_fencing_a_writer_cut_off_from_the_database_cannot_write_after_a_takeover(
    pg_url: str, spawn: Callable[..., Oms]
) -> None:
    db_url = pg_url
    url = make_url(db_url)
    proxy = Proxy(int(url.port or 5432))
    through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        with Sandbox(KEY, SECRET, seed=SEED + 62) as sandbox:
            sandbox.step(30)
            history_in_the_past(sandbox)
            first = spawn(run_args(sandbox, through_proxy, "-v", "--store-fault-deadline", "120"))
            sandbox.start_trading(RATE)
            try:
                count = journaled(db_url)
                wait_for(lambda: journaled(db_url) > count + 40, "the owner to write")
                proxy.cut()
                wait_for(lambda: "store: cannot write" in first.stderr(), "the owner's fault")
                second = spawn(run_args(sandbox, db_url, "--wait-lease", "30"))
                wait_for(lambda: owner_pid(db_url) == second.proc.pid, "the takeover")
                frames_before = journaled(db_url)
                proxy.restore()
                assert first.wait() == 1, first.stderr()
            finally:
                sandbox.stop_trading()
            assert "lease" in first.stderr()
            assert "Traceback" not in first.stderr()
            wait_converged(db_url, sandbox)
            second.proc.send_signal(signal.SIGTERM)
            assert second.wait() == 0, second.stderr()
            assert journaled(db_url) >= frames_before
    finally:
        proxy.close()
    assert repeated_events(db_url) == []


def test_readers_never_wait_for_the_writer(db_url: str, spawn: Callable[..., Oms]) -> None:
    with Sandbox(KEY, SECRET, seed=SEED + 63) as sandbox:
        sandbox.step(20)
        history_in_the_past(sandbox)
        owner = spawn(run_args(sandbox, db_url))
        wait_for(lambda: journaled(db_url) > 0, "the owner to write")
        for args in (
            ["status", "--db", db_url, "--json"],
            ["inspect", "--db", db_url, "orders"],
            ["events", "--db", db_url, "--limit", "10"],
        ):
            done = subprocess.run(
                [*OMS, *args], capture_output=True, text=True, timeout=EXIT_S, check=False
            )
            assert done.returncode == 0, (args, done.stderr)
        status = json.loads(
            subprocess.run(
                [*OMS, "status", "--db", db_url, "--json"],
                capture_output=True,
                text=True,
                timeout=EXIT_S,
                check=True,
            ).stdout
        )
        assert owner.alive()
        owner.proc.send_signal(signal.SIGTERM)
        assert owner.wait() == 0, owner.stderr()
    assert json.dumps(status).count(str(owner.proc.pid)) >= 1
