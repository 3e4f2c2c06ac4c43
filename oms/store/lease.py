"""One writer per account: a lease per (database, account), with fencing and takeover.

Two writers on one account corrupt each other (every event twice in the outbox, ended
orders back to ``New``, positions back to older reports). So a writer takes the account's
lease before its first write and holds it while it writes; a second writer is refused at
once (``LeaseHeldError``, exit status 2) with one line naming the owner.

**The owner record** is a row of ``leases``: owner host, pid, since when, the lease
``epoch`` (one more with every take, never going back, not even after a release), a
heartbeat, ``released``, and the owner's own report for ``oms status`` (``Health`` state,
last frame time, frames, lag).

**PostgreSQL**: the row is the lease. Times are the database's clock, so hosts with skewed
clocks agree. A take is one transaction: the row is locked (``FOR UPDATE NOWAIT``: a row
another transaction has locked belongs to a live writer in the middle of a commit) and
taken if it is new, released, or its heartbeat is older than the taker's ``ttl_s``.

**SQLite**: an OS lock (``flock``) on a sidecar file beside the database,
``<db>.<sha1(account)[:12]>.lease`` (``0600``), is the lease. The OS drops it when its
owner dies, so a dead owner's lease is taken over at once; holding and renewing it needs
no database write, so another process holding SQLite's write lock never makes a live owner
look dead. The owner record is written into the sidecar (JSON: the refusal message names
the owner without reading the database) and into ``leases`` (for ``oms status`` and for
fencing). ``ttl_s`` plays no part in a take on SQLite.

**Fencing**: ``Lease.fence(connection)``, inside every commit transaction before anything
is written, is a conditional update of the owner's row (its epoch, not released) that
also refreshes the heartbeat; no row updated means the lease moved on (``LeaseLostError``:
roll back, write nothing, exit 1). On PostgreSQL the row lock it takes serialises the
commit with any taker, so a writer that was paused or cut off can never commit after
another took over; a writer whose lease expired but that nobody took over goes on at the
same epoch (it re-takes its own lease). Every lease transaction on PostgreSQL also limits
how long the session may sit idle inside it (``idle_in_transaction_session_timeout``: the
ttl, at least 5 s): a writer stuck in the middle of a commit (paused, its host lost) loses
its session and its row lock rather than holding the account forever.

**Renewal**: ``Lease.start_renewing(status)`` starts a daemon thread that renews every
``ttl_s / 3`` on connections of its own, so a busy service does not let the lease expire.

**Readers** (``read_leases``, ``oms status``, ``oms inspect``, ``oms events``) never take
the lease and never wait for it.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import math
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import BigInteger, inspect, literal, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from oms.errors import (
    LeaseHeldError,
    LeaseLostError,
    LocalError,
    StorageError,
    StoreUnavailableError,
)
from oms.store.db import safe_url
from oms.store.faults import describe, is_transient
from oms.store.tables import LeaseRow

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import ColumnElement, Select, Table
    from sqlalchemy.engine import Connection, Engine, RowMapping

log = logging.getLogger(__name__)

#: A lease not renewed for this long (seconds) has expired and may be taken over (on
#: PostgreSQL; on SQLite a dead owner's OS lock is free at once). Renewed every third.
DEFAULT_LEASE_TTL_S: Final = 15.0
#: The shortest limit on a session idle inside a lease transaction (see the module text):
#: well above any pause between two statements of a commit, even on a loaded host.
_MIN_IDLE_LIMIT_MS: Final = 5000
#: ``LeaseRow.state`` holds at most this many characters.
_STATE_LENGTH: Final = 16
#: How long ``release`` waits for the renewal thread to notice it should stop.
_JOIN_S: Final = 1.0
#: PostgreSQL's SQLSTATE for ``FOR UPDATE NOWAIT`` on a row another transaction locked.
_LOCK_NOT_AVAILABLE: Final = "55P03"
#: The sidecar file holds one small JSON object.
_SIDECAR_MAX_BYTES: Final = 65536
_INT64: Final = range(-(2**63), 2**63)

_LEASES: Final = cast("Table", LeaseRow.__table__)
#: Epoch milliseconds on PostgreSQL's clock (``clock_timestamp``: the time the statement
#: runs, not the start of its transaction, which may have waited for a lock).
_PG_NOW_MS: Final = "CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS BIGINT)"
_STATUS_COLUMNS: Final = ("state", "last_frame_at", "frames", "lag_ms")


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """One row of ``leases``, as ``oms status`` shows it. Times are epoch ms (the
    database's clock on PostgreSQL); the last four fields are the owner's heartbeat
    report (None until it sent one)."""

    account: str
    owner_host: str
    owner_pid: int
    owner_boot: str | None
    owner_started_at: int
    epoch: int
    heartbeat_at: int
    released: bool
    state: str | None
    last_frame_at: int | None
    frames: int | None
    lag_ms: int | None


def _boot_id() -> str | None:
    """This machine's boot id (Linux), None where the system has none."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


_BOOT_ID: Final = _boot_id()


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine is running (no permission: alive). A pid
    the system reused counts as alive too: the lease is then left to expire, the safe way
    to be wrong (its heartbeat was fresh, so the owner lived moments ago)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _local_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_utc(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC to the second (``2026-12-01T19:00:00Z``)."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_pg(engine_or_connection: Engine | Connection) -> bool:
    return engine_or_connection.dialect.name == "postgresql"


def _now_ms(engine_or_connection: Engine | Connection) -> ColumnElement[int]:
    """The current time for leases: the database's clock on PostgreSQL, this host's on SQLite
    (one host: every process on it shares the clock)."""
    if _is_pg(engine_or_connection):
        return literal_column(_PG_NOW_MS, BigInteger)
    return literal(_local_ms(), BigInteger)


def lease_clock_ms(engine: Engine) -> int:
    """The time leases are measured with, in epoch ms: the database's clock on
    PostgreSQL, this host's on SQLite."""
    if not _is_pg(engine):
        return _local_ms()
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(_now_ms(connection))).scalar_one())
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read {safe_url(str(engine.url))}: {describe(exc)}") from exc


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine (None on PostgreSQL and in memory)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    if database in ("", ":memory:") or "mode=memory" in (engine.url.database or ""):
        return None
    return database


def sidecar_path(database_path: str, account: str) -> str:
    """The lock file of ``account`` beside the SQLite file ``database_path``."""
    digest = hashlib.sha1(account.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{os.path.realpath(database_path)}.{digest}.lease"


def _record(row: RowMapping) -> LeaseRecord:
    return LeaseRecord(
        account=row["account"],
        owner_host=row["owner_host"],
        owner_pid=int(row["owner_pid"]),
        owner_boot=row["owner_boot"],
        owner_started_at=int(row["owner_started_at"]),
        epoch=int(row["epoch"]),
        heartbeat_at=int(row["heartbeat_at"]),
        released=bool(row["released"]),
        state=row["state"],
        last_frame_at=row["last_frame_at"],
        frames=row["frames"],
        lag_ms=row["lag_ms"],
    )


def _held_message(
    account: str, host: str, pid: int, since: int, epoch: int | None, heartbeat_age_ms: int
) -> str:
    taking = f"lease epoch {epoch}" if epoch else "taking the lease now"
    return (
        f"account {account!r} is owned by host {host} pid {pid} since {iso_utc(since)} "
        f"({taking}, heartbeat {max(0, heartbeat_age_ms) // 1000} s ago)"
    )


def _storage_error(doing: str, engine: Engine, exc: BaseException) -> StorageError:
    kind = StoreUnavailableError if is_transient(exc) else StorageError
    return kind(f"cannot {doing} in {safe_url(str(engine.url))}: {describe(exc)}")


def _check_leases_table(engine: Engine) -> None:
    """Raise a clear ``StorageError`` for a database from before the leases table (a
    missing table is an "operational" error on SQLite, which would look transient)."""
    try:
        with engine.connect() as connection:
            present = inspect(connection).has_table(_LEASES.name)
    except SQLAlchemyError:
        return  # the database itself is in trouble: the original error says how
    if not present:
        raise StorageError(
            f"database {safe_url(str(engine.url))} has no leases table (it is at an older "
            "schema revision): run `oms db upgrade --db URL`"
        )


def _limit_transaction(connection: Connection, idle_ms: int, statement_ms: int = 0) -> None:
    """PostgreSQL: end this session if it sits idle inside the current transaction for
    ``idle_ms`` (its locks go with it), and optionally cancel a statement after
    ``statement_ms``; both only for this transaction (``set_config(..., true)``)."""
    connection.execute(
        text("SELECT set_config('idle_in_transaction_session_timeout', :idle, true)"),
        {"idle": str(idle_ms)},
    )
    if statement_ms:
        connection.execute(
            text("SELECT set_config('statement_timeout', :limit, true)"),
            {"limit": str(statement_ms)},
        )


# --- the sidecar lock file (SQLite) -------------------------------------------------------


class _Sidecar:
    """The OS lock on a file beside a SQLite database that holds one account's lease,
    and the owner record written into it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        # The renewal thread writes the record while release() may close the file: a
        # write to a closed (and maybe reused) descriptor number must never happen.
        self._guard = threading.Lock()

    def try_lock(self) -> bool:
        """Lock the file (created ``0600`` if missing); False if another holds it."""
        for _ in range(8):
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
            try:
                fd = os.open(self.path, flags, 0o600)
            except OSError as exc:
                raise StorageError(f"cannot open the lease file {self.path}: {exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return False
                raise StorageError(f"cannot lock the lease file {self.path}: {exc}") from exc
            if self._still_at_path(fd):
                with self._guard:
                    self._fd = fd
                return True
            # Deleted or replaced between open and lock: the lock of a file nobody can
            # open any more excludes nobody. Lock the file that is there now.
            os.close(fd)
        raise StorageError(f"the lease file {self.path} keeps being replaced")

    def _still_at_path(self, fd: int) -> bool:
        try:
            there = os.stat(self.path, follow_symlinks=False)  # noqa: PTH116 - beside fstat
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino)

    def write(self, record: dict[str, Any]) -> None:
        """Replace the owner record in the locked file (nothing once unlocked)."""
        data = (json.dumps(record, sort_keys=True) + "\n").encode()
        with self._guard:
            if self._fd is None:
                return
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))

    def unlock(self) -> None:
        with self._guard:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor of the lock drops it


def read_sidecar(path: str) -> dict[str, Any] | None:
    """The owner record in a lease file (None if there is none or it cannot be read).
    Reading takes no lock: it never disturbs nor waits for the owner."""
    for _ in range(3):  # a read may meet a record half rewritten: read again
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            data = os.read(fd, _SIDECAR_MAX_BYTES)
        except OSError:
            return None
        finally:
            os.close(fd)
        try:
            record = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(record, dict) and _valid_sidecar(record):
            return record
    return None


def _valid_sidecar(record: dict[str, Any]) -> bool:
    ints = ("pid", "since", "heartbeat_at")
    return (
        isinstance(record.get("host"), str)
        and all(type(record.get(key)) is int for key in ints)
        and (record.get("epoch") is None or type(record.get("epoch")) is int)
    )


# --- the lease --------------------------------------------------------------------------


class Lease:
    """The lease of one account in one database, as its writer holds it."""

    def __init__(
        self,
        engine: Engine,
        account: str,
        *,
        ttl_s: float = DEFAULT_LEASE_TTL_S,
        database_path: str | None = None,
    ) -> None:
        if not (math.isfinite(ttl_s) and ttl_s > 0):
            raise LocalError(f"a lease ttl must be a number of seconds > 0, got {ttl_s!r}")
        self.account = account
        self.ttl_s = ttl_s
        self._engine = engine
        self._pg = _is_pg(engine)
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._idle_limit_ms = max(self._ttl_ms, _MIN_IDLE_LIMIT_MS)
        self._renew_every_s = ttl_s / 3
        self._poll_s = min(0.5, max(0.05, ttl_s / 10))
        path = database_path if database_path is not None else sqlite_file(engine)
        self._sidecar = None if self._pg or path is None else _Sidecar(sidecar_path(path, account))
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self._epoch = 0
        self._since = 0
        self._held = False
        self._lost: LeaseLostError | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._status: Callable[[], dict[str, object]] | None = None

    @property
    def epoch(self) -> int:
        """The epoch of the last take (0 before the first)."""
        return self._epoch

    @property
    def lost(self) -> LeaseLostError | None:
        """Set once the renewal (or a fence) found the lease moved on to another owner."""
        return self._lost

    @property
    def sidecar(self) -> str | None:
        """The lock file that holds the lease on SQLite (None on PostgreSQL)."""
        return None if self._sidecar is None else self._sidecar.path

    # --- taking ---------------------------------------------------------------------

    def acquire(self, *, wait_s: float = 0.0) -> int:
        """Take the lease and return its new epoch, or raise ``LeaseHeldError``: at once
        (``wait_s`` 0) or once ``wait_s`` seconds passed with the lease held. A released
        lease is free; so is an expired one (PostgreSQL: not renewed for ``ttl_s``) or a
        dead owner's (SQLite: the OS dropped its lock)."""
        if self._held:
            raise LocalError(f"the lease of account {self.account!r} is already held here")
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            try:
                return self._take()
            except LeaseHeldError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                time.sleep(min(self._poll_s, remaining))

    def _take(self) -> int:
        if self._sidecar is not None:
            if not self._sidecar.try_lock():
                raise self._held_by_sidecar_owner()
            # Who is taking it, before the database is touched (it may be busy).
            self._sidecar.write(self._owner_record(None, _local_ms(), _local_ms()))
        try:
            epoch, since = self._take_row()
        except BaseException:
            if self._sidecar is not None:
                self._sidecar.unlock()
            raise
        self._epoch, self._since, self._held, self._lost = epoch, since, True, None
        self._stop = threading.Event()
        if self._sidecar is not None:
            self._sidecar.write(self._owner_record(epoch, since, since))
        log.info("took the lease of account %r (epoch %d)", self.account, epoch)
        return epoch

    def _take_row(self) -> tuple[int, int]:
        """One transaction: the row (made if absent), checked, taken at epoch + 1."""
        engine = self._engine
        try:
            with engine.connect() as connection, connection.begin():
                if self._pg:
                    _limit_transaction(connection, self._idle_limit_ms)
                row = self._locked_row(connection)
                record, now = _record(row), int(row["now_ms"])
                live = not record.released and now - record.heartbeat_at <= self._ttl_ms
                if self._pg and live and not self._died_here(record):
                    raise self._held_error(record, now)  # rolls the transaction back
                epoch = record.epoch + 1
                connection.execute(
                    update(_LEASES)
                    .where(_LEASES.c.account == self.account)
                    .values(
                        owner_host=self._host,
                        owner_boot=_BOOT_ID,
                        owner_pid=self._pid,
                        owner_started_at=now,
                        epoch=epoch,
                        heartbeat_at=now,
                        released=False,
                        **dict.fromkeys(_STATUS_COLUMNS),
                    )
                )
        except SQLAlchemyError as exc:
            if getattr(getattr(exc, "orig", None), "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                raise self._held_by_row_owner() from None
            _check_leases_table(engine)
            raise _storage_error(
                f"take the lease of account {self.account!r}", engine, exc
            ) from exc
        return epoch, now

    def _died_here(self, record: LeaseRecord) -> bool:
        """Whether the owner ran on this very machine (same host name and boot) and its
        process is gone: then its lease is free at once, as a dead owner's OS lock is on
        SQLite, and a supervisor's restart after a crash need not wait for the expiry."""
        if _BOOT_ID is None or (record.owner_host, record.owner_boot) != (self._host, _BOOT_ID):
            return False
        return not _process_alive(record.owner_pid)

    def _locked_row(self, connection: Connection) -> RowMapping:
        """The account's row, made if absent, locked against other takers. SQLite: the
        insert comes first, so the transaction holds the write lock from its first
        statement (a read first could not always be turned into a write). PostgreSQL: the
        row is locked first (NOWAIT: a row a live writer's commit holds is in use); only a
        missing row is inserted, so a taker never queues behind that commit."""
        if not self._pg:
            connection.execute(self._insert_if_absent())
            return connection.execute(self._select(lock=False)).mappings().one()
        row = connection.execute(self._select(lock=True)).mappings().one_or_none()
        if row is not None:
            return row
        connection.execute(self._insert_if_absent())
        return connection.execute(self._select(lock=True)).mappings().one()

    def _insert_if_absent(self) -> Any:  # noqa: ANN401 - a dialect's Insert
        """A placeholder row (epoch 0, released) unless the account has one; two takers
        racing to insert it both go on to lock the one row."""
        insert = pg_insert if self._pg else sqlite_insert
        return (
            insert(_LEASES)
            .values(
                account=self.account,
                owner_host="",
                owner_pid=0,
                owner_started_at=0,
                epoch=0,
                heartbeat_at=0,
                released=True,
            )
            .on_conflict_do_nothing(index_elements=["account"])
        )

    def _select(self, *, lock: bool) -> Select[Any]:
        query = select(_LEASES, _now_ms(self._engine).label("now_ms")).where(
            _LEASES.c.account == self.account
        )
        return query.with_for_update(nowait=True) if lock else query

    def _owner_record(self, epoch: int | None, since: int, heartbeat_at: int) -> dict[str, Any]:
        return {
            "account": self.account,
            "host": self._host,
            "pid": self._pid,
            "since": since,
            "epoch": epoch,
            "heartbeat_at": heartbeat_at,
        }

    def _held_error(self, record: LeaseRecord, now: int) -> LeaseHeldError:
        message = _held_message(
            self.account,
            record.owner_host,
            record.owner_pid,
            record.owner_started_at,
            record.epoch,
            now - record.heartbeat_at,
        )
        return LeaseHeldError(message, account=self.account)

    def _held_by_row_owner(self) -> LeaseHeldError:
        """PostgreSQL: the row is locked by a live writer's transaction. Its committed
        version names the owner (a plain read waits for no lock)."""
        try:
            with self._engine.connect() as connection:
                row = connection.execute(self._select(lock=False)).mappings().one()
        except SQLAlchemyError:
            return LeaseHeldError(
                f"account {self.account!r} is owned by another writer (committing now)",
                account=self.account,
            )
        return self._held_error(_record(row), int(row["now_ms"]))

    def _held_by_sidecar_owner(self) -> LeaseHeldError:
        """SQLite: the OS lock is held. The owner record in the file names the owner."""
        path = self.sidecar
        record = read_sidecar(path) if path is not None else None
        if record is None:
            return LeaseHeldError(
                f"account {self.account!r} is owned by another process (it holds the lock "
                f"file {path})",
                account=self.account,
            )
        message = _held_message(
            self.account,
            record["host"],
            record["pid"],
            record["since"],
            record["epoch"],
            _local_ms() - record["heartbeat_at"],
        )
        return LeaseHeldError(message, account=self.account)

    # --- fencing --------------------------------------------------------------------

    def fence(self, connection: Connection) -> None:
        """Inside a commit transaction, before it writes anything: prove the lease is
        still this writer's (and refresh its heartbeat), or raise ``LeaseLostError``
        (roll the transaction back and write nothing). On PostgreSQL the row stays locked
        until the transaction ends, so no one can take the lease before it commits."""
        if self._lost is not None:
            raise self._lost
        if not self._held:
            raise LocalError(
                f"a commit of account {self.account!r} without holding its lease (acquire it first)"
            )
        if self._pg:
            _limit_transaction(connection, self._idle_limit_ms)
        result = connection.execute(self._renewal(connection, self._epoch, {}))
        if result.rowcount == 1:
            return
        lost = self._lost_error(connection, self._epoch)
        self._lost = lost
        self._stop.set()
        raise lost

    def _renewal(self, connection: Connection, epoch: int, fields: dict[str, object]) -> Any:  # noqa: ANN401
        return (
            update(_LEASES)
            .where(
                _LEASES.c.account == self.account,
                _LEASES.c.epoch == epoch,
                _LEASES.c.released.is_(False),
            )
            .values(heartbeat_at=_now_ms(connection), **fields)
        )

    def _lost_error(self, connection: Connection, epoch: int) -> LeaseLostError:
        """Why the row no longer matches this writer's epoch, as one line."""
        row = (
            connection.execute(select(_LEASES).where(_LEASES.c.account == self.account))
            .mappings()
            .one_or_none()
        )
        where = f"account {self.account!r}: the lease"
        if row is None:
            now = "is gone (its row was deleted)"
        elif row["epoch"] == epoch:
            now = "was released"
        else:
            taker = _record(row)
            now = (
                f"moved on to epoch {taker.epoch} (host {taker.owner_host} pid "
                f"{taker.owner_pid} since {iso_utc(taker.owner_started_at)})"
            )
        return LeaseLostError(f"{where} {now}; this writer held epoch {epoch} and stops")

    # --- renewing -------------------------------------------------------------------

    def start_renewing(self, status: Callable[[], dict[str, object]] | None = None) -> None:
        """Renew the lease every ``ttl_s / 3`` in a daemon thread, on connections of its
        own, writing ``status()`` (keys ``state``, ``last_frame_at``, ``frames``,
        ``lag_ms``) with each heartbeat. A failed renewal is logged and tried again; one
        that finds the lease moved on sets ``lost`` and stops. Calling it again while it
        renews changes nothing."""
        if not self._held:
            raise LocalError(f"renewing the lease of account {self.account!r} before taking it")
        if self._renewer is not None and self._renewer.is_alive():
            return  # renewing already: a second call changes nothing
        self._status = status
        self._renewer = threading.Thread(
            target=self._renew_loop,
            args=(self._stop, self._epoch),
            name=f"oms-lease-{self.account}",
            daemon=True,  # never keeps the process from exiting
        )
        self._renewer.start()

    def _renew_loop(self, stop: threading.Event, epoch: int) -> None:
        failing = False
        while not stop.wait(self._renew_every_s):
            try:
                lost = self._renew_once(epoch)
            except Exception as exc:  # noqa: BLE001 - a renewal never kills its thread
                if not failing:
                    log.warning(
                        "cannot renew the lease of account %r (tried again every %.1f s): %s",
                        self.account,
                        self._renew_every_s,
                        describe(exc),
                    )
                failing = True
                continue
            if failing:
                log.info("renewing the lease of account %r again", self.account)
                failing = False
            if lost is not None:
                if stop.is_set():
                    return  # released meanwhile: not lost
                self._lost = lost
                stop.set()
                log.error("%s", lost)
                return

    def _renew_once(self, epoch: int) -> LeaseLostError | None:
        fields = self._status_fields()
        if self._sidecar is not None:
            # The lock file is the lease on SQLite: its heartbeat goes on even while
            # another process holds the database's write lock.
            self._sidecar.write(self._owner_record(epoch, self._since, _local_ms()))
        with self._engine.connect() as connection:
            busy = self._shorten_busy_wait(connection)
            try:
                with connection.begin():
                    if self._pg:
                        # a renewal queued behind a long commit gives up (and is logged)
                        limit = self._idle_limit_ms
                        _limit_transaction(connection, limit, statement_ms=limit)
                    result = connection.execute(self._renewal(connection, epoch, fields))
                    if result.rowcount == 1:
                        return None
                    return self._lost_error(connection, epoch)
            finally:
                if busy is not None:
                    _set_busy_timeout(connection, busy)

    def _shorten_busy_wait(self, connection: Connection) -> int | None:
        """SQLite: a heartbeat waits for the write lock for half a renewal period at
        most (then the next one tries), so a locked database delays no later renewal of
        the lock file. Returns the setting to put back (the connection is pooled)."""
        if self._pg:
            return None
        dbapi = connection.connection.dbapi_connection
        if dbapi is None:
            return None
        cursor = dbapi.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout")
            row = cursor.fetchone()
        finally:
            cursor.close()
        _set_busy_timeout(connection, max(1, int(self._renew_every_s * 500)))
        return int(row[0]) if row else None

    def _status_fields(self) -> dict[str, object]:
        """The owner's report for the heartbeat: valid values only, None for the rest."""
        if self._status is None:
            return {}
        try:
            report = self._status()
        except Exception:  # a broken report must not stop the heartbeat
            log.debug("the lease status report failed", exc_info=True)
            return {}
        state = report.get("state")
        fields: dict[str, object] = {
            "state": state[:_STATE_LENGTH] if isinstance(state, str) else None
        }
        for key in ("last_frame_at", "frames", "lag_ms"):
            value = report.get(key)
            fields[key] = value if type(value) is int and value in _INT64 else None
        return fields

    # --- releasing ------------------------------------------------------------------

    def release(self) -> None:
        """After the last commit: mark the lease released (its heartbeat stays), stop
        renewing, drop the lock file's lock. The next writer takes it at once."""
        if not self._held:
            return
        self._held = False
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=_JOIN_S)
            self._renewer = None
        if self._lost is None:
            self._mark_released()
        if self._sidecar is not None:
            self._sidecar.unlock()
        log.info("released the lease of account %r (epoch %d)", self.account, self._epoch)

    def _mark_released(self) -> None:
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    update(_LEASES)
                    .where(
                        _LEASES.c.account == self.account,
                        _LEASES.c.epoch == self._epoch,
                        _LEASES.c.released.is_(False),
                    )
                    .values(released=True, state="stopped")  # the owner's last report
                )
        except SQLAlchemyError as exc:
            # On SQLite dropping the lock file's lock releases it all the same; on
            # PostgreSQL the lease expires after its ttl.
            log.warning(
                "cannot mark the lease of account %r released (%s): it expires after %.0f s",
                self.account,
                describe(exc),
                self.ttl_s,
            )


def _set_busy_timeout(connection: Connection, milliseconds: int) -> None:
    dbapi = connection.connection.dbapi_connection
    if dbapi is None:
        return
    cursor = dbapi.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(milliseconds)}")
    finally:
        cursor.close()


# --- readers ----------------------------------------------------------------------------


def read_leases(engine: Engine, account: str | None = None) -> list[LeaseRecord]:
    """Every lease row (or ``account``'s), by account. A plain read: it takes no lease
    and waits for none (on SQLite it reads the WAL snapshot beside any writer). On SQLite
    the heartbeat is the newer of the row's and the lock file's (the owner renews the
    file even while the database is write-locked). A database without the ``leases``
    table (before revision 0002) has none."""
    query = select(_LEASES).order_by(_LEASES.c.account)
    if account is not None:
        query = query.where(_LEASES.c.account == account)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(_LEASES.name):
                return []
            records = [_record(row) for row in connection.execute(query).mappings()]
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot read the leases of {safe_url(str(engine.url))}: {describe(exc)}"
        ) from exc
    path = sqlite_file(engine)
    if path is None:
        return records
    return [_with_sidecar_heartbeat(record, path) for record in records]


def _with_sidecar_heartbeat(record: LeaseRecord, database_path: str) -> LeaseRecord:
    if record.released:
        return record
    owner = read_sidecar(sidecar_path(database_path, record.account))
    if owner is None or owner["epoch"] != record.epoch or owner["pid"] != record.owner_pid:
        return record
    heartbeat = max(record.heartbeat_at, owner["heartbeat_at"])
    return LeaseRecord(**{**asdict(record), "heartbeat_at": heartbeat})


def lease_condition(record: LeaseRecord, now_ms: int, ttl_s: float = DEFAULT_LEASE_TTL_S) -> str:
    """``released``, ``expired`` (no heartbeat for ``ttl_s``) or ``held``."""
    if record.released:
        return "released"
    if now_ms - record.heartbeat_at > ttl_s * 1000:
        return "expired"
    return "held"


def refuse_while_written(engine: Engine, doing: str) -> None:
    """Raise ``LeaseHeldError`` (naming the owner) if any account's lease is held: for
    what must not run under a writer (``oms db downgrade``). On SQLite a lock file some
    process holds counts, however old its heartbeat (the lock is the lease there); the
    check locks each file for an instant, which could make a writer starting at that
    very instant refuse: run it with the writers stopped."""
    now = lease_clock_ms(engine)
    database = sqlite_file(engine)
    for record in read_leases(engine):
        if record.released:
            continue
        locked = database is not None and _lock_file_in_use(sidecar_path(database, record.account))
        if locked or (database is None and lease_condition(record, now) == "held"):
            owner = _held_message(
                record.account,
                record.owner_host,
                record.owner_pid,
                record.owner_started_at,
                record.epoch,
                now - record.heartbeat_at,
            )
            raise LeaseHeldError(
                f"cannot {doing}: {owner}; stop its writer first", account=record.account
            )


def _lock_file_in_use(path: str) -> bool:
    """Whether a process holds the OS lock of an existing lease file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False  # no file: no one holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # drops the lock taken for the test, if any
    return False


def status_document(
    engine: Engine, account: str | None = None, *, ttl_s: float = DEFAULT_LEASE_TTL_S
) -> dict[str, Any]:
    """What ``oms status --json`` prints: the clock reading the ages are measured
    against (``now``, epoch ms), the ttl and one entry per lease row: its fields, the
    owner's start as text (``since``), ``heartbeat_age_ms`` and ``condition``."""
    now = lease_clock_ms(engine)
    leases = []
    for record in read_leases(engine, account):
        entry: dict[str, Any] = asdict(record)
        entry["since"] = iso_utc(record.owner_started_at)
        entry["heartbeat_age_ms"] = max(0, now - record.heartbeat_at)
        entry["condition"] = lease_condition(record, now, ttl_s)
        leases.append(entry)
    return {"now": now, "ttl_ms": int(ttl_s * 1000), "leases": leases}
