"""The statements of the writer lease (see ``oms.store.lease``) on the ``leases`` row and
the per-transaction settings around them: the take, the fence and heartbeat, the release,
why a fence found the lease gone, and the errors that name the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import inspect, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from oms.errors import LeaseHeldError, LeaseLostError, StorageError, StoreUnavailableError
from oms.store.db import safe_url
from oms.store.faults import describe, is_transient
from oms.store.lease_records import LEASES, held_error, iso_utc, now_ms, record_of

if TYPE_CHECKING:
    from sqlalchemy import Select, Update
    from sqlalchemy.engine import Connection, Engine

#: ``LeaseRow.state`` holds at most this many characters.
_STATE_LENGTH: Final = 16
_INT64: Final = range(-(2**63), 2**63)
_STATUS_COLUMNS: Final = ("state", "last_frame_at", "frames", "lag_ms")


def storage_error(doing: str, engine: Engine, exc: BaseException) -> StorageError:
    kind = StoreUnavailableError if is_transient(exc) else StorageError
    return kind(f"cannot {doing} in {safe_url(str(engine.url))}: {describe(exc)}")


def check_leases_table(engine: Engine) -> None:
    """Raise a clear ``StorageError`` for a database from before the leases table (a
    missing table is an "operational" error on SQLite, which would look transient)."""
    try:
        with engine.connect() as connection:
            present = inspect(connection).has_table(LEASES.name)
    except SQLAlchemyError:
        return  # the database itself is in trouble: the original error says how
    if not present:
        raise StorageError(
            f"database {safe_url(str(engine.url))} has no leases table (it is at an older "
            "schema revision): run `oms db upgrade --db URL`"
        )


def limit_transaction(connection: Connection, idle_ms: int, statement_ms: int = 0) -> None:
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


def set_busy_timeout(connection: Connection, milliseconds: int) -> None:
    dbapi = connection.connection.dbapi_connection
    if dbapi is None:
        return
    cursor = dbapi.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(milliseconds)}")
    finally:
        cursor.close()


def shorten_busy_wait(connection: Connection, milliseconds: int) -> int | None:
    """SQLite: wait at most ``milliseconds`` for the write lock on this connection.
    Returns the setting to put back (the connection is pooled)."""
    dbapi = connection.connection.dbapi_connection
    if dbapi is None:
        return None
    cursor = dbapi.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout")
        row = cursor.fetchone()
    finally:
        cursor.close()
    set_busy_timeout(connection, milliseconds)
    return int(row[0]) if row else None


def select_row(engine: Engine, account: str, *, lock: bool) -> Select[Any]:
    """The account's row with the lease clock's reading (``now_ms``)."""
    query = select(LEASES, now_ms(engine).label("now_ms")).where(LEASES.c.account == account)
    return query.with_for_update(nowait=True) if lock else query


def insert_if_absent(pg: bool, account: str) -> Any:  # noqa: ANN401 - a dialect's Insert
    """A placeholder row (epoch 0, released) unless the account has one; two takers
    racing to insert it both go on to lock the one row."""
    insert = pg_insert if pg else sqlite_insert
    return (
        insert(LEASES)
        .values(
            account=account,
            owner_host="",
            owner_pid=0,
            owner_started_at=0,
            epoch=0,
            heartbeat_at=0,
            released=True,
        )
        .on_conflict_do_nothing(index_elements=["account"])
    )


def take_update(account: str, host: str, boot: str | None, pid: int, now: int, epoch: int) -> Any:  # noqa: ANN401 - an Update
    """The update that makes process ``pid`` of ``host`` (booted as ``boot``) the holder
    at ``epoch`` since ``now``, with a fresh heartbeat and no status report yet."""
    return (
        update(LEASES)
        .where(LEASES.c.account == account)
        .values(
            owner_host=host,
            owner_boot=boot,
            owner_pid=pid,
            owner_started_at=now,
            epoch=epoch,
            heartbeat_at=now,
            released=False,
            **dict.fromkeys(_STATUS_COLUMNS),
        )
    )


def renewal(connection: Connection, account: str, epoch: int, fields: dict[str, object]) -> Any:  # noqa: ANN401
    """The heartbeat (and ``fields``) of the holder at ``epoch``, if it still holds."""
    return _of_holder(account, epoch).values(heartbeat_at=now_ms(connection), **fields)


def release_update(account: str, epoch: int) -> Any:  # noqa: ANN401
    """Mark the lease of the holder at ``epoch`` released, with its last report."""
    return _of_holder(account, epoch).values(released=True, state="stopped")


def _of_holder(account: str, epoch: int) -> Update:
    """An update of the account's row while the holder at ``epoch`` still holds it."""
    return update(LEASES).where(
        LEASES.c.account == account,
        LEASES.c.epoch == epoch,
        LEASES.c.released.is_(False),
    )


def lost_error(connection: Connection, account: str, epoch: int) -> LeaseLostError:
    """Why the row no longer matches this writer's epoch, as one line."""
    row = (
        connection.execute(select(LEASES).where(LEASES.c.account == account))
        .mappings()
        .one_or_none()
    )
    where = f"account {account!r}: the lease"
    if row is None:
        now = "is gone (its row was deleted)"
    elif row["epoch"] == epoch:
        now = "was released"
    else:
        taker = record_of(row)
        now = (
            f"moved on to epoch {taker.epoch} (host {taker.owner_host} pid "
            f"{taker.owner_pid} since {iso_utc(taker.owner_started_at)})"
        )
    return LeaseLostError(f"{where} {now}; this writer held epoch {epoch} and stops")


def row_owner_error(engine: Engine, account: str) -> LeaseHeldError:
    """PostgreSQL: the row is locked by a live writer's transaction. Its committed
    version names the owner (a plain read waits for no lock)."""
    try:
        with engine.connect() as connection:
            row = connection.execute(select_row(engine, account, lock=False)).mappings().one()
    except SQLAlchemyError:
        return LeaseHeldError(
            f"account {account!r} is owned by another writer (committing now)",
            account=account,
        )
    return held_error(account, record_of(row), int(row["now_ms"]))


def status_fields(report: dict[str, object]) -> dict[str, object]:
    """The owner's report for the heartbeat: valid values only, None for the rest."""
    state = report.get("state")
    fields: dict[str, object] = {"state": state[:_STATE_LENGTH] if isinstance(state, str) else None}
    for key in ("last_frame_at", "frames", "lag_ms"):
        value = report.get(key)
        fields[key] = value if type(value) is int and value in _INT64 else None
    return fields
