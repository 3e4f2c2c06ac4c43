"""The writer lease (``oms.store.lease``) on real SQLite files and a real PostgreSQL server:
taking and refusing (the one-line message), release and the next take, epochs that only
grow, takeover (an expired lease on PostgreSQL, a dead owner's lock file on SQLite),
fencing after a takeover, the renewal thread, and readers that never wait.

Other owners are real: a second ``Lease`` (its own connections) in this process, or a
real subprocess that takes the lease and is then killed. Nothing here asserts how long
anything took: a test waits for a condition (bounded, so it stops by itself) and then
asserts what it finds."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

from oms.errors import (
    LeaseHeldError,
    LeaseLostError,
    LocalError,
    StorageError,
    StoreUnavailableError,
)
from oms.runtime import logs
from oms.store.db import open_engine, upgrade
from oms.store.lease import (
    DEFAULT_LEASE_TTL_S,
    Lease,
    LeaseRecord,
    _lock_file_in_use,
    lease_clock_ms,
    read_leases,
    sidecar_path,
    sqlite_file,
)
from oms.store.tables import LeaseRow, ReplayRow
from tests.store.conftest import ROOT, oms_cli

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.engine import Engine

HOST = socket.gethostname()
#: Bound of every wait for a condition (a test that gets there fails, never hangs).
PATIENCE_S = 30.0
#: The refusal line: account, owner host and pid, since when, epoch, heartbeat age.
HELD = (
    r"account '{account}' is owned by host {host} pid {pid} since "
    r"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(lease epoch {epoch}, heartbeat \d+ s ago\)"
)

#: A process that takes a lease, prints its epoch, holds it until its stdin closes, then
#: releases it. A watchdog ends it if the test forgot it.
HOLDER = """
import os, sys, threading
threading.Timer(120, os._exit, (3,)).start()
from oms.store.db import open_engine
from oms.store.lease import Lease
url, account, ttl, renew = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
lease = Lease(open_engine(url), account, ttl_s=ttl)
print(lease.acquire(), flush=True)
if renew == "renew":
    lease.start_renewing(lambda: {"state": "running", "frames": 5})
sys.stdin.read()
lease.release()
print("released", flush=True)
os._exit(0)
"""


def wait_until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {PATIENCE_S} s: {what}")
        time.sleep(0.02)


def is_pg(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@pytest.fixture
def leases(engine: Engine) -> Iterator[Callable[..., Lease]]:
    """Make leases on the migrated database; every one is released at the end."""
    upgrade(engine)
    made: list[Lease] = []

    def make(account: str = "main", ttl_s: float = DEFAULT_LEASE_TTL_S) -> Lease:
        lease = Lease(engine, account, ttl_s=ttl_s)
        made.append(lease)
        return lease

    yield make
    for lease in made:
        lease.release()


class Holder:
    """A real process holding a lease."""

    def __init__(self, url: str, account: str, ttl_s: float, *, renew: bool) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, url, account, str(ttl_s), "renew" if renew else "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.process.kill()
            _, err = self.process.communicate(timeout=PATIENCE_S)
            pytest.fail(f"the holder did not take the lease: {line!r} {err}")
        self.epoch = int(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=PATIENCE_S)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> str:
        out, err = self.process.communicate("", timeout=PATIENCE_S)
        assert self.process.returncode == 0, err
        return out


@pytest.fixture
def holder(db_url: str, engine: Engine) -> Iterator[Callable[..., Holder]]:
    upgrade(engine)
    started: list[Holder] = []

    def start(account: str = "main", ttl_s: float = DEFAULT_LEASE_TTL_S, *, renew: bool = False):
        started.append(Holder(db_url, account, ttl_s, renew=renew))
        return started[-1]

    yield start
    for one in started:
        if one.process.poll() is None:
            one.process.kill()
            one.process.communicate(timeout=PATIENCE_S)


def row(engine: Engine, account: str = "main") -> LeaseRecord:
    """The stored row itself (without the lock file's heartbeat, unlike read_leases)."""
    table = LeaseRow.__table__
    with engine.connect() as conn:
        found = conn.execute(select(table).where(table.c.account == account)).mappings().one()
    return LeaseRecord(**{f.name: found[f.name] for f in fields(LeaseRecord)})


def expired(engine: Engine, ttl_s: float, account: str = "main") -> bool:
    """The stored heartbeat is older than ``ttl_s`` on the lease clock."""
    return lease_clock_ms(engine) - row(engine, account).heartbeat_at > ttl_s * 1000


def lose_the_lock_file(lease: Lease) -> None:
    """SQLite: delete the lock file under its owner (the one way its lock stops
    excluding anyone while the owner lives): the next taker makes a new file."""
    assert lease.sidecar is not None
    Path(lease.sidecar).unlink()


def take_over(engine: Engine, old: Lease, make: Callable[..., Lease]) -> Lease:
    """Another writer takes the account from ``old``'s owner, who stays alive: on
    PostgreSQL once ``old``'s heartbeat is older than the taker's (tiny) ttl; on SQLite
    once the lock file was deleted."""
    if not is_pg(engine):
        lose_the_lock_file(old)
    taker = make(ttl_s=0.05)
    taker.acquire(wait_s=PATIENCE_S)
    return taker


# --- taking and refusing ------------------------------------------------------------------


def test_the_first_writer_takes_the_lease_and_a_second_is_refused_naming_the_owner(engine, leases):
    first = leases()
    assert first.epoch == 0
    assert first.acquire() == 1
    assert first.epoch == 1

    with pytest.raises(LeaseHeldError) as refused:
        leases().acquire()
    message = str(refused.value)
    assert "\n" not in message
    assert re.fullmatch(HELD.format(account="main", host=HOST, pid=os.getpid(), epoch=1), message)
    assert refused.value.account == "main"

    [record] = read_leases(engine)
    assert (record.account, record.owner_host, record.owner_pid) == ("main", HOST, os.getpid())
    assert (record.epoch, record.released) == (1, False)
    assert record.owner_started_at <= record.heartbeat_at


def test_a_writer_in_another_process_is_refused_at_once(engine, leases, holder):
    owner = holder()
    assert owner.epoch == 1
    with pytest.raises(LeaseHeldError) as refused:
        leases().acquire()
    pattern = HELD.format(account="main", host=HOST, pid=owner.pid, epoch=1)
    assert re.fullmatch(pattern, str(refused.value)), str(refused.value)
    assert row(engine).owner_pid == owner.pid

    assert owner.stop() == "released\n"
    assert row(engine).released
    assert leases().acquire() == 2  # at once: the release freed it


def test_waiting_for_a_held_lease_ends_refused_while_its_live_owner_renews(leases, holder):
    holder(ttl_s=0.6, renew=True)  # renews every 0.2 s
    with pytest.raises(LeaseHeldError, match="is owned by host"):
        leases(ttl_s=2.0).acquire(wait_s=3.0)  # well past the owner's ttl: it renews


def test_accounts_have_leases_of_their_own(engine, leases):
    assert leases("a").acquire() == 1
    assert leases("b").acquire() == 1
    with pytest.raises(LeaseHeldError, match="account 'a' is owned"):
        leases("a").acquire()
    assert [r.account for r in read_leases(engine)] == ["a", "b"]
    assert [r.account for r in read_leases(engine, "b")] == ["b"]


def test_release_lets_the_next_writer_take_at_once_and_epochs_only_grow(engine, leases):
    epochs = []
    for _ in range(4):
        lease = leases()
        epochs.append(lease.acquire())
        taken = row(engine)
        lease.release()
        released = row(engine)
        assert released.released
        assert released.heartbeat_at == taken.heartbeat_at  # kept: when it was last alive
        lease.release()  # twice is harmless
    assert epochs == [1, 2, 3, 4]
    again = leases()
    assert again.acquire() == 5  # a new object, a new take: never back to 1
    with pytest.raises(LocalError, match="already held"):
        again.acquire()
    again.release()
    assert again.acquire() == 6  # the same object may take it again after a release


def _race(racers: list[Lease]) -> list[object]:
    """Every racer tries to take its lease at the same moment: epochs and refusals."""
    start = threading.Barrier(len(racers))
    outcomes: list[object] = []

    def race(lease: Lease) -> None:
        start.wait()
        try:
            outcomes.append(lease.acquire())
        except LeaseHeldError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=race, args=(r,)) for r in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE_S)
    return outcomes


def test_racing_takers_one_wins(engine, leases):
    for round_ in range(6):
        account = f"race-{round_}"
        outcomes = _race([leases(account), leases(account)])
        assert sorted(type(o).__name__ for o in outcomes) == ["LeaseHeldError", "int"]
        assert 1 in outcomes
        assert row(engine, account).epoch == 1


def test_misuse_is_a_local_error(engine, leases):
    lease = leases()
    with pytest.raises(LocalError, match="without holding its lease"), engine.begin() as conn:
        lease.fence(conn)
    with pytest.raises(LocalError, match="before taking it"):
        lease.start_renewing()
    # 1e20: the renewer's wait would overflow time_t and kill its thread
    for ttl in (0.0, -1.0, float("nan"), float("inf"), 1e20):
        with pytest.raises(LocalError, match="ttl"):
            Lease(engine, "main", ttl_s=ttl)
    lease.acquire()
    lease.release()
    with pytest.raises(LocalError, match="without holding its lease"), engine.begin() as conn:
        lease.fence(conn)


# --- takeover -------------------------------------------------------------------------------


def test_a_sigkilled_owner_is_taken_over_at_once_on_its_own_machine(engine, leases, holder):
    """SQLite: the OS dropped the dead owner's lock. PostgreSQL: the owner ran on this very
    machine (same host name and boot id) and its process is gone, so its lease is free at
    once, fresh heartbeat or not (a supervisor's restart need not wait for the expiry)."""
    owner = holder(ttl_s=60.0, renew=True)
    owner.kill()
    assert leases(ttl_s=60.0).acquire() == 2  # at once, no wait
    record = row(engine)
    assert (record.epoch, record.owner_pid, record.released) == (2, os.getpid(), False)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_a_dead_owner_on_another_machine_is_taken_over_once_expired(
    engine, leases, holder
):
    """Its process cannot be seen from here: only the expiry frees its lease."""
    assert is_pg(engine)
    owner = holder(ttl_s=60.0, renew=True)
    owner.kill()
    with engine.begin() as conn:  # as if it had run elsewhere (the row keeps its heartbeat)
        conn.execute(text("UPDATE leases SET owner_host = 'elsewhere', owner_boot = 'b'"))
    with pytest.raises(LeaseHeldError, match=f"host elsewhere pid {owner.pid} "):
        leases(ttl_s=60.0).acquire()  # its heartbeat is fresh: not expired yet
    taker = leases(ttl_s=0.5)
    assert taker.acquire(wait_s=PATIENCE_S) == 2


def test_an_owner_that_stopped_renewing_expires_on_postgresql_not_on_sqlite(engine, leases):
    owner = leases(ttl_s=0.3)
    owner.acquire()  # and never renewed
    wait_until(lambda: expired(engine, 0.3), "the heartbeat is older than the ttl")
    taker = leases(ttl_s=0.3)
    if is_pg(engine):
        assert taker.acquire() == 2
    else:
        # the lock file is the lease on SQLite: its live owner keeps it, heartbeat or not
        with pytest.raises(LeaseHeldError, match="lease epoch 1"):
            taker.acquire()


# --- fencing --------------------------------------------------------------------------------


def test_the_fence_passes_for_the_owner_and_refuses_after_a_takeover(engine, leases):
    owner = leases(ttl_s=0.3)
    owner.acquire()
    before = row(engine).heartbeat_at
    wait_until(lambda: lease_clock_ms(engine) > before, "the clock moved on")
    with engine.begin() as conn:
        owner.fence(conn)
    assert row(engine).heartbeat_at > before  # a commit refreshes the heartbeat

    taker = take_over(engine, owner, leases)
    assert taker.epoch == 2
    with engine.connect() as conn:
        with pytest.raises(LeaseLostError) as lost:
            _commit_one_row(owner, conn)
        assert not conn.in_transaction()  # rolled back
    message = str(lost.value)
    assert message.startswith("account 'main': the lease moved on to epoch 2 (host ")
    assert f"pid {os.getpid()} since " in message
    assert message.endswith("this writer held epoch 1 and stops")
    assert owner.lost is lost.value
    with engine.connect() as conn:
        assert conn.execute(select(ReplayRow.__table__)).all() == []
    with pytest.raises(LeaseLostError), engine.begin() as conn:
        owner.fence(conn)  # and every later commit
    with engine.begin() as conn:
        taker.fence(conn)

    owner.release()  # a lost lease's release leaves the new owner's row alone
    record = row(engine)
    assert (record.epoch, record.released) == (2, False)


def _replay_row() -> dict[str, object]:
    return {"account": "main", "source": "x", "lines_done": 1, "finished": False}


def _commit_one_row(lease: Lease, conn) -> None:
    """A commit the way the service makes one: the fence first, then the writes."""
    with conn.begin():
        lease.fence(conn)
        conn.execute(insert(ReplayRow.__table__), [_replay_row()])


def test_an_expired_lease_nobody_took_over_is_written_at_the_same_epoch(engine, leases):
    owner = leases(ttl_s=0.3)
    owner.acquire()
    wait_until(lambda: expired(engine, 0.3), "the heartbeat is older than the ttl")
    with engine.connect() as conn:
        _commit_one_row(owner, conn)  # re-takes its own lease
    assert row(engine).epoch == 1
    with engine.connect() as conn:
        assert len(conn.execute(select(ReplayRow.__table__)).all()) == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_a_commit_in_progress_holds_off_a_taker_and_readers_never_wait(
    db_url, engine, leases
):
    owner = leases(ttl_s=60.0)  # its own ttl bounds how long it may sit in a transaction
    owner.acquire()
    wait_until(lambda: expired(engine, 0.3), "the heartbeat is older than the taker's ttl")
    with engine.connect() as conn, conn.begin():
        owner.fence(conn)  # its row stays locked until this commit ends
        with pytest.raises(LeaseHeldError) as refused:
            leases(ttl_s=0.3).acquire()  # the row is locked: refused at once, no queueing
        assert re.fullmatch(
            HELD.format(account="main", host=HOST, pid=os.getpid(), epoch=1), str(refused.value)
        )
        [record] = read_leases(engine)  # a reader is not blocked by the row lock
        assert record.epoch == 1
        done = oms_cli("status", "--db", db_url, "--json", timeout=PATIENCE_S)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["leases"][0]["epoch"] == 1
    assert row(engine).epoch == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_a_writer_stuck_inside_a_commit_loses_its_session_and_the_account(
    engine, leases
):
    """A writer paused in the middle of its commit transaction (or whose host died) would
    hold the row lock for ever: the server ends its session once it sat idle in the
    transaction for the ttl (at least 5 s), and the taker goes on."""
    owner = leases(ttl_s=0.3)
    owner.acquire()
    conn = engine.connect()
    try:
        conn.begin()
        owner.fence(conn)
        taker = leases(ttl_s=0.3)
        assert taker.acquire(wait_s=PATIENCE_S) == 2
        with pytest.raises(Exception, match=r"idle-in-transaction|terminat|closed"):
            conn.commit()
    finally:
        conn.close()
    with pytest.raises(LeaseLostError, match="moved on to epoch 2"), engine.begin() as again:
        owner.fence(again)


# --- renewing -------------------------------------------------------------------------------


def test_renewal_keeps_the_lease_alive_past_its_ttl_and_reports_the_status(engine, leases):
    owner = leases(ttl_s=0.6)
    owner.acquire()
    taken = row(engine).heartbeat_at
    reports = iter(range(1, 10_000))
    owner.start_renewing(
        lambda: {"state": "running", "frames": next(reports), "last_frame_at": 7, "lag_ms": 3}
    )
    owner.start_renewing()  # a second start keeps the one thread
    wait_until(lambda: row(engine).heartbeat_at > taken + 3 * 600, "renewed three ttls later")
    with pytest.raises(LeaseHeldError, match="lease epoch 1"):
        leases(ttl_s=3.0).acquire()
    record = row(engine)
    assert (record.state, record.last_frame_at, record.lag_ms) == ("running", 7, 3)
    assert record.frames is not None
    assert record.frames >= 1
    assert owner.lost is None
    assert record.epoch == 1


def test_renewal_marks_the_lease_lost_after_a_takeover(engine, leases):
    owner = leases(ttl_s=0.3)
    owner.acquire()
    owner.start_renewing()
    taker = take_over(engine, owner, leases)
    wait_until(lambda: owner.lost is not None, "the renewal found the lease moved on")
    assert isinstance(owner.lost, LeaseLostError)
    assert "moved on to epoch 2" in str(owner.lost)
    with pytest.raises(LeaseLostError), engine.begin() as conn:
        owner.fence(conn)
    owner.release()
    assert row(engine).epoch == taker.epoch == 2
    assert not row(engine).released


def test_renewal_stores_only_valid_report_values_and_survives_a_broken_report(engine, leases):
    owner = leases(ttl_s=0.3)
    owner.acquire()
    calls = iter(range(10_000))

    def report() -> dict[str, object]:
        if next(calls) % 2:
            raise RuntimeError("a broken report")
        return {"state": "x" * 40, "frames": True, "lag_ms": 1.5, "last_frame_at": 2**70}

    owner.start_renewing(report)
    wait_until(lambda: row(engine).state is not None, "a report was stored")
    first = row(engine).heartbeat_at
    wait_until(lambda: row(engine).heartbeat_at > first + 600, "the heartbeat goes on")
    record = row(engine)
    assert record.state == "x" * 16
    assert (record.frames, record.lag_ms, record.last_frame_at) == (None, None, None)
    assert owner.lost is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_failed_renewal_is_a_warning_in_the_log_context_of_who_started_it(db_url, engine, leases):
    seen: list[tuple[str, str, logs.LogContext | None]] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:  # on the logging thread
            seen.append((record.levelname, record.getMessage(), logs.current()))

    logger = logging.getLogger("oms.store.lease")
    spy, level = Spy(), logger.level
    logger.addHandler(spy)
    logger.setLevel(logging.INFO)
    try:
        owner = leases(ttl_s=0.6)
        owner.acquire()
        with logs.bound(logs.account_context("main")):
            owner.start_renewing()
        blocker = sqlite3.connect(make_url(db_url).database, isolation_level=None, timeout=5)
        blocker.execute("BEGIN EXCLUSIVE")  # every renewal's write now fails
        try:
            wait_until(lambda: any(lvl == "WARNING" for lvl, _, _ in seen), "a failed renewal")
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        wait_until(lambda: any("again" in message for _, message, _ in seen), "renewing again")
    finally:
        logger.removeHandler(spy)
        logger.setLevel(level)
    ((message, context),) = [(m, c) for lvl, m, c in seen if lvl == "WARNING"]
    assert "cannot renew the lease of account 'main'" in message
    assert "database is locked" in message
    assert context is not None
    assert context.account == "main"  # the renewer runs in its starter's context
    assert owner.lost is None


# --- SQLite: the lock file ------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_the_lock_file_is_private_beside_the_database_and_names_the_owner(
    db_url, engine, leases
):
    database = make_url(db_url).database
    assert database is not None
    assert sqlite_file(engine) == database
    path = f"{os.path.realpath(database)}.{hashlib.sha1(b'main').hexdigest()[:12]}.lease"  # noqa: S324
    assert sidecar_path(database, "main") == path
    assert read_leases(engine) == []
    assert not os.path.exists(path)  # noqa: PTH110 - a reader creates nothing

    lease = leases()
    lease.acquire()
    assert lease.sidecar == path
    assert os.stat(path).st_mode & 0o777 == 0o600  # noqa: PTH116
    with open(path, encoding="utf-8") as handle:  # noqa: PTH123
        owner = json.load(handle)
    assert owner["account"] == "main"
    assert (owner["host"], owner["pid"], owner["epoch"]) == (HOST, os.getpid(), 1)
    assert owner["since"] == row(engine).owner_started_at
    lease.release()
    assert os.path.exists(path)  # noqa: PTH110 - kept (deleting it could let two lock it)
    assert leases().acquire() == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_a_refusal_needs_no_database_and_readers_read_beside_the_write_lock(
    db_url, engine, leases
):
    """Another process holds SQLite's write lock: the owner does not look dead (its lock
    file's heartbeat goes on), a second writer is refused at once from the lock file,
    and readers (``read_leases``, ``oms status``) read the WAL snapshot."""
    database = make_url(db_url).database
    assert database is not None
    owner = leases(ttl_s=0.6)
    owner.acquire()
    owner.start_renewing()
    blocker = sqlite3.connect(database, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("UPDATE leases SET frames = 1")  # holds the write lock
        stored = row(engine).heartbeat_at
        wait_until(
            lambda: read_leases(engine)[0].heartbeat_at > stored + 3 * 600,
            "the lock file's heartbeat goes on under the write lock",
        )
        [record] = read_leases(engine)
        assert (record.epoch, record.released) == (1, False)
        assert row(engine).heartbeat_at == stored  # the row itself could not be renewed

        with pytest.raises(LeaseHeldError) as refused:
            leases(ttl_s=0.6).acquire()
        assert re.fullmatch(
            HELD.format(account="main", host=HOST, pid=os.getpid(), epoch=1), str(refused.value)
        )
        done = oms_cli("status", "--db", database, "--json", timeout=PATIENCE_S)
        assert done.returncode == 0, done.stderr
        [entry] = json.loads(done.stdout)["leases"]
        assert (entry["epoch"], entry["condition"]) == (1, "held")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    wait_until(lambda: row(engine).heartbeat_at > stored, "the row is renewed again")
    assert owner.lost is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_a_lock_file_replaced_under_its_owner_is_taken_by_one_writer_only(engine, leases):
    owner = leases()
    owner.acquire()
    lose_the_lock_file(owner)
    taker = leases()
    assert taker.acquire() == 2  # the new file: its lock excludes the next writer
    with pytest.raises(LeaseHeldError, match="lease epoch 2"):
        leases().acquire()
    with pytest.raises(LeaseLostError, match="moved on to epoch 2"), engine.begin() as conn:
        owner.fence(conn)


def test_a_database_without_the_leases_table_has_no_leases_and_none_can_be_taken(db_url):
    engine = open_engine(db_url)
    try:
        upgrade(engine, "0001")
        assert read_leases(engine) == []
        lease = Lease(engine, "main")
        with pytest.raises(StorageError, match=r"no leases table .* run `oms db upgrade") as no:
            lease.acquire()
        assert not isinstance(no.value, StoreUnavailableError)  # not worth retrying
        if lease.sidecar is not None:  # the lock file's lock was let go
            assert Lease(engine, "main").sidecar == lease.sidecar
            assert not _lock_file_in_use(lease.sidecar)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM replays")).scalar_one() == 0
    finally:
        engine.dispose()
