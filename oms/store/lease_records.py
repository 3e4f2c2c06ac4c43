"""Reading and judging lease records (see ``oms.store.lease``): the owner record of a
``leases`` row, the clock leases are measured with, the owner's liveness on this machine,
the one-line refusal naming an owner, and the readers (``read_leases``, ``oms status``,
``oms db downgrade``'s check), which never take the lease and never wait for it.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import BigInteger, inspect, literal, literal_column, select
from sqlalchemy.exc import SQLAlchemyError

from oms.errors import LeaseHeldError, StorageError
from oms.store.db import safe_url
from oms.store.faults import describe
from oms.store.lease_sidecar import lock_file_in_use, read_sidecar, sidecar_path, sqlite_file
from oms.store.tables import LeaseRow

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Table
    from sqlalchemy.engine import Connection, Engine, RowMapping

#: A lease not renewed for this long (seconds) has expired and may be taken over (on
#: PostgreSQL; on SQLite a dead owner's OS lock is free at once). Renewed every third.
DEFAULT_LEASE_TTL_S: Final = 15.0
#: The longest ttl a lease takes (about 115 days, as ``oms``'s seconds options): beyond it
#: the renewer's wait (a third of the ttl) overflows the platform's time_t and its thread
#: dies while the account goes on (``ttl_s=1e20`` did).
MAX_LEASE_TTL_S: Final = 10_000_000.0

LEASES: Final = cast("Table", LeaseRow.__table__)
#: Epoch milliseconds on PostgreSQL's clock (``clock_timestamp``: the time the statement
#: runs, not the start of its transaction, which may have waited for a lock).
_PG_NOW_MS: Final = "CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS BIGINT)"


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


BOOT_ID: Final = _boot_id()


def process_alive(pid: int) -> bool:
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


def died_here(record: LeaseRecord, host: str) -> bool:
    """Whether the owner ran on this very machine (same host name ``host`` and boot) and
    its process is gone: then its lease is free at once, as a dead owner's OS lock is on
    SQLite, and a supervisor's restart after a crash need not wait for the expiry."""
    if BOOT_ID is None or (record.owner_host, record.owner_boot) != (host, BOOT_ID):
        return False
    return not process_alive(record.owner_pid)


def local_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_utc(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC to the second (``2026-12-01T19:00:00Z``)."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_pg(engine_or_connection: Engine | Connection) -> bool:
    return engine_or_connection.dialect.name == "postgresql"


def now_ms(engine_or_connection: Engine | Connection) -> ColumnElement[int]:
    """The current time for leases: the database's clock on PostgreSQL, this host's on SQLite
    (one host: every process on it shares the clock)."""
    if is_pg(engine_or_connection):
        return literal_column(_PG_NOW_MS, BigInteger)
    return literal(local_ms(), BigInteger)


def lease_clock_ms(engine: Engine) -> int:
    """The time leases are measured with, in epoch ms: the database's clock on
    PostgreSQL, this host's on SQLite."""
    if not is_pg(engine):
        return local_ms()
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(now_ms(connection))).scalar_one())
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read {safe_url(str(engine.url))}: {describe(exc)}") from exc


def record_of(row: RowMapping) -> LeaseRecord:
    """The ``LeaseRecord`` of a ``leases`` row."""
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


def held_message(
    account: str, host: str, pid: int, since: int, epoch: int | None, heartbeat_age_ms: int
) -> str:
    """The one line naming the owner of a held lease."""
    taking = f"lease epoch {epoch}" if epoch else "taking the lease now"
    return (
        f"account {account!r} is owned by host {host} pid {pid} since {iso_utc(since)} "
        f"({taking}, heartbeat {max(0, heartbeat_age_ms) // 1000} s ago)"
    )


def _record_message(account: str, record: LeaseRecord, now: int) -> str:
    return held_message(
        account,
        record.owner_host,
        record.owner_pid,
        record.owner_started_at,
        record.epoch,
        now - record.heartbeat_at,
    )


def held_error(account: str, record: LeaseRecord, now: int) -> LeaseHeldError:
    """The refusal of a take: ``record``'s owner holds the lease at ``now``."""
    return LeaseHeldError(_record_message(account, record, now), account=account)


def sidecar_held_error(account: str, path: str | None) -> LeaseHeldError:
    """SQLite: the OS lock is held. The owner record in the file names the owner."""
    record = read_sidecar(path) if path is not None else None
    if record is None:
        return LeaseHeldError(
            f"account {account!r} is owned by another process (it holds the lock file {path})",
            account=account,
        )
    message = held_message(
        account,
        record["host"],
        record["pid"],
        record["since"],
        record["epoch"],
        local_ms() - record["heartbeat_at"],
    )
    return LeaseHeldError(message, account=account)


# --- readers ----------------------------------------------------------------------------


def read_leases(engine: Engine, account: str | None = None) -> list[LeaseRecord]:
    """Every lease row (or ``account``'s), by account. A plain read: it takes no lease
    and waits for none (on SQLite it reads the WAL snapshot beside any writer). On SQLite
    the heartbeat is the newer of the row's and the lock file's (the owner renews the
    file even while the database is write-locked). A database without the ``leases``
    table (before revision 0002) has none."""
    query = select(LEASES).order_by(LEASES.c.account)
    if account is not None:
        query = query.where(LEASES.c.account == account)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(LEASES.name):
                return []
            records = [record_of(row) for row in connection.execute(query).mappings()]
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
        locked = database is not None and lock_file_in_use(sidecar_path(database, record.account))
        if locked or (database is None and lease_condition(record, now) == "held"):
            owner = _record_message(record.account, record, now)
            raise LeaseHeldError(
                f"cannot {doing}: {owner}; stop its writer first", account=record.account
            )


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
