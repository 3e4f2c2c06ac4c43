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

Here: the ``Lease``. The lock file is ``lease_sidecar``, the records and their readers
``lease_records``, the statements ``lease_sql``; their public names are importable here.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.exc import SQLAlchemyError

from oms.errors import LeaseHeldError, LeaseLostError, LocalError
from oms.store.faults import describe
from oms.store.lease_records import (
    BOOT_ID,
    DEFAULT_LEASE_TTL_S,
    MAX_LEASE_TTL_S,
    LeaseRecord,
    died_here,
    held_error,
    is_pg,
    iso_utc,
    lease_clock_ms,
    lease_condition,
    local_ms,
    read_leases,
    record_of,
    refuse_while_written,
    sidecar_held_error,
    status_document,
)
from oms.store.lease_sidecar import Sidecar, read_sidecar, sidecar_path, sqlite_file
from oms.store.lease_sidecar import lock_file_in_use as _lock_file_in_use
from oms.store.lease_sql import (
    check_leases_table,
    insert_if_absent,
    limit_transaction,
    lost_error,
    release_update,
    renewal,
    row_owner_error,
    select_row,
    set_busy_timeout,
    shorten_busy_wait,
    status_fields,
    storage_error,
    take_update,
)
from oms.threads import start_thread

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection, Engine, RowMapping

__all__ = [  # what importers take from here, wherever it is defined
    "DEFAULT_LEASE_TTL_S", "Lease", "LeaseHeldError", "LeaseLostError", "LeaseRecord",
    "_lock_file_in_use", "iso_utc", "lease_clock_ms", "lease_condition", "read_leases",
    "read_sidecar", "refuse_while_written", "sidecar_path", "sqlite_file", "status_document",
]  # fmt: skip

log = logging.getLogger(__name__)

#: The shortest limit on a session idle inside a lease transaction (see the module text):
#: well above any pause between two statements of a commit, even on a loaded host.
_MIN_IDLE_LIMIT_MS: Final = 5000
#: How long ``release`` waits for the renewal thread to notice it should stop.
_JOIN_S: Final = 1.0
#: PostgreSQL's SQLSTATE for ``FOR UPDATE NOWAIT`` on a row another transaction locked.
_LOCK_NOT_AVAILABLE: Final = "55P03"


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
        if not (math.isfinite(ttl_s) and 0 < ttl_s <= MAX_LEASE_TTL_S):
            raise LocalError(
                f"a lease ttl must be a number of seconds > 0 and at most {MAX_LEASE_TTL_S:.0f}, "
                f"got {ttl_s!r}"
            )
        self.account = account
        self.ttl_s = ttl_s
        self._engine = engine
        self._pg = is_pg(engine)
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._idle_limit_ms = max(self._ttl_ms, _MIN_IDLE_LIMIT_MS)
        self._renew_every_s = ttl_s / 3
        self._poll_s = min(0.5, max(0.05, ttl_s / 10))
        path = database_path if database_path is not None else sqlite_file(engine)
        self._sidecar = None if self._pg or path is None else Sidecar(sidecar_path(path, account))
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
                raise sidecar_held_error(self.account, self.sidecar)
            # Who is taking it, before the database is touched (it may be busy).
            self._sidecar.write(self._owner_record(None, local_ms(), local_ms()))
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
                    limit_transaction(connection, self._idle_limit_ms)
                row = self._locked_row(connection)
                record, now = record_of(row), int(row["now_ms"])
                live = not record.released and now - record.heartbeat_at <= self._ttl_ms
                if self._pg and live and not died_here(record, self._host):
                    raise held_error(self.account, record, now)  # rolls the transaction back
                epoch = record.epoch + 1
                connection.execute(
                    take_update(self.account, self._host, BOOT_ID, self._pid, now, epoch)
                )
        except SQLAlchemyError as exc:
            if getattr(getattr(exc, "orig", None), "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                raise row_owner_error(engine, self.account) from None
            check_leases_table(engine)
            raise storage_error(f"take the lease of account {self.account!r}", engine, exc) from exc
        return epoch, now

    def _locked_row(self, connection: Connection) -> RowMapping:
        """The account's row, made if absent, locked against other takers. SQLite: the
        insert comes first, so the transaction holds the write lock from its first
        statement (a read first could not always be turned into a write). PostgreSQL: the
        row is locked first (NOWAIT: a row a live writer's commit holds is in use); only a
        missing row is inserted, so a taker never queues behind that commit."""
        engine, account = self._engine, self.account
        if not self._pg:
            connection.execute(insert_if_absent(self._pg, account))
            return connection.execute(select_row(engine, account, lock=False)).mappings().one()
        row = connection.execute(select_row(engine, account, lock=True)).mappings().one_or_none()
        if row is not None:
            return row
        connection.execute(insert_if_absent(self._pg, account))
        return connection.execute(select_row(engine, account, lock=True)).mappings().one()

    def _owner_record(self, epoch: int | None, since: int, heartbeat_at: int) -> dict[str, Any]:
        return {
            "account": self.account,
            "host": self._host,
            "pid": self._pid,
            "since": since,
            "epoch": epoch,
            "heartbeat_at": heartbeat_at,
        }

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
            limit_transaction(connection, self._idle_limit_ms)
        result = connection.execute(renewal(connection, self.account, self._epoch, {}))
        if result.rowcount == 1:
            return
        lost = lost_error(connection, self.account, self._epoch)
        self._lost = lost
        self._stop.set()
        raise lost

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
        stop, epoch = self._stop, self._epoch
        # A daemon (never keeps the process from exiting), in the caller's log context:
        # its warnings name the account like every other line.
        self._renewer = start_thread(
            lambda: self._renew_loop(stop, epoch), name=f"oms-lease-{self.account}"
        )

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
            self._sidecar.write(self._owner_record(epoch, self._since, local_ms()))
        with self._engine.connect() as connection:
            busy = self._shorten_busy_wait(connection)
            try:
                with connection.begin():
                    if self._pg:
                        # a renewal queued behind a long commit gives up (and is logged)
                        limit = self._idle_limit_ms
                        limit_transaction(connection, limit, statement_ms=limit)
                    result = connection.execute(renewal(connection, self.account, epoch, fields))
                    if result.rowcount == 1:
                        return None
                    return lost_error(connection, self.account, epoch)
            finally:
                if busy is not None:
                    set_busy_timeout(connection, busy)

    def _shorten_busy_wait(self, connection: Connection) -> int | None:
        """SQLite: a heartbeat waits for the write lock for half a renewal period at
        most (then the next one tries), so a locked database delays no later renewal of
        the lock file. Returns the setting to put back (the connection is pooled)."""
        if self._pg:
            return None
        return shorten_busy_wait(connection, max(1, int(self._renew_every_s * 500)))

    def _status_fields(self) -> dict[str, object]:
        """The owner's report for the heartbeat: valid values only, None for the rest."""
        if self._status is None:
            return {}
        try:
            report = self._status()
        except Exception:  # a broken report must not stop the heartbeat
            log.debug("the lease status report failed", exc_info=True)
            return {}
        return status_fields(report)

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
                connection.execute(release_update(self.account, self._epoch))
        except SQLAlchemyError as exc:
            # On SQLite dropping the lock file's lock releases it all the same; on
            # PostgreSQL the lease expires after its ttl.
            log.warning(
                "cannot mark the lease of account %r released (%s): it expires after %.0f s",
                self.account,
                describe(exc),
                self.ttl_s,
            )
