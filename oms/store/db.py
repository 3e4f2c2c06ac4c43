"""Engines and migrations.

``open_engine(url)`` accepts any SQLAlchemy URL (a bare file path means SQLite). SQLite
runs in WAL mode with foreign keys on; PostgreSQL goes through psycopg 3. The schema is
owned by Alembic: ``upgrade(engine)`` applies the migrations shipped inside the package,
and ``ensure_schema`` migrates an empty database when a store opens it. A database at a
revision this oms does not know (a newer oms wrote it) raises ``NewerSchemaError``.

SQLite files: a new database file is created ``0600`` (its ``-wal`` and ``-shm`` files
inherit that mode from it); an existing file keeps the mode it has. The WAL is kept
bounded: ``PRAGMA journal_size_limit`` (``WAL_SIZE_LIMIT``) truncates it once SQLite
restarts it, and ``checkpoint_if_due(connection)``, called after each commit, truncates a
WAL that grew past the limit (while a reader held an old snapshot) as soon as no reader
needs it any more, without ever waiting for one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from alembic import command
from oms.errors import NewerSchemaError, StorageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import URL, Connection, Engine
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

log = logging.getLogger(__name__)

#: ``PRAGMA journal_size_limit`` of every SQLite connection, in bytes. The WAL normally
#: cycles at about 4 MiB (SQLite checkpoints it every 1000 pages and then rewrites it from
#: the start); it grows past that only while a reader holds an old snapshot, since the
#: pages that reader may still need cannot be copied back. 64 MiB is far above the normal
#: cycle, so routine work never truncates (and regrows) the file, and low enough that a
#: stuck reader costs a bounded amount of disk once it lets go.
WAL_SIZE_LIMIT: Final = 64 * 1024 * 1024
#: Seconds between two truncating checkpoints tried on one connection while its WAL is
#: over the limit (each try copies back what it can, so it is not free).
CHECKPOINT_INTERVAL_S: Final = 5.0
#: How long a SQLite statement waits for another connection's lock before failing.
BUSY_TIMEOUT_MS: Final = 10_000
#: Key of the WAL policy in a SQLite connection's ``info`` dictionary.
_WAL_POLICY: Final = "oms.wal_policy"


def normalise_url(url: str) -> str:
    """A bare path becomes a SQLite URL; ``postgresql://`` uses the psycopg 3 driver."""
    if "://" not in url:
        return f"sqlite:///{url}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(
    wal_size_limit: int,
) -> Callable[[DBAPIConnection, ConnectionPoolEntry], None]:
    """The ``connect`` listener: settings of every new SQLite connection."""

    def on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        # Take transactions out of the sqlite3 module's hands: by default it begins one only
        # before INSERT/UPDATE/DELETE and runs DDL in autocommit, so a migration killed
        # half-way would leave half a schema. SQLAlchemy now emits BEGIN itself (_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # NORMAL in WAL mode: a commit is durable against a process crash (SIGKILL); only an
        # OS crash or power loss can lose the last commits, which the REST resync recovers.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA journal_size_limit={int(wal_size_limit)}")
        # database_list names the main file ('' for an in-memory database: no WAL file).
        main_file = next(
            (row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"), ""
        )
        cursor.close()
        if main_file:
            record.info[_WAL_POLICY] = _WalPolicy(wal_path=f"{main_file}-wal", limit=wal_size_limit)

    return on_connect


def _begin(connection: Connection) -> None:
    """Start every SQLite transaction explicitly, so DDL and DML share it."""
    connection.exec_driver_sql("BEGIN")


def open_engine(url: str, *, wal_size_limit: int = WAL_SIZE_LIMIT) -> Engine:
    """An engine for ``url`` with the project's connection settings. ``wal_size_limit``
    (bytes) is SQLite's ``journal_size_limit`` and the size ``checkpoint_if_due`` brings
    a larger WAL back under; it means nothing on PostgreSQL."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            _create_private_file(parsed)
            engine = create_engine(url)
            event.listen(engine, "connect", _sqlite_pragmas(wal_size_limit))
            event.listen(engine, "begin", _begin)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise StorageError(f"cannot open database {safe_url(url)}: {exc}") from exc


def _create_private_file(parsed: URL) -> None:
    """Create a SQLite database file that does not exist yet, empty and ``0600``, before
    SQLite does: SQLite gives the ``-wal`` and ``-shm`` files the database file's mode, and
    would create all three with the umask's (usually world-readable) mode. An existing file
    keeps its mode; in-memory databases and ``file:`` URIs are left to SQLite."""
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        # O_EXCL: never touch a file that exists (nor follow a symlink planted there).
        descriptor = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # no such folder, no permission: SQLite says so when it connects
    os.close(descriptor)


@dataclass(slots=True)
class _WalPolicy:
    """When to truncate one SQLite connection's WAL (see ``checkpoint_if_due``)."""

    wal_path: str
    limit: int
    next_try: float = float("-inf")
    #: The last try found a reader in the way (logged once, until the WAL is back).
    blocked: bool = False

    def after_commit(self, dbapi_connection: DBAPIConnection, now: float) -> bool:
        if now < self.next_try:
            return False
        size = _file_size(self.wal_path)
        if size <= self.limit:
            if self.blocked:
                log.info("the WAL %s is back under its limit (%d bytes)", self.wal_path, size)
                self.blocked = False
            return False
        self.next_try = now + CHECKPOINT_INTERVAL_S
        if _truncate_wal(dbapi_connection):
            log.info("truncated the WAL %s (it had grown to %d bytes)", self.wal_path, size)
            self.blocked = False
            return True
        if not self.blocked:
            log.warning(
                "the WAL %s has grown to %d bytes (limit %d): a reader holds an old snapshot;"
                " it is truncated once no reader needs it",
                self.wal_path,
                size,
                self.limit,
            )
            self.blocked = True
        return False


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size  # noqa: PTH116 - one stat per commit, no Path object
    except FileNotFoundError:
        return 0


def _truncate_wal(dbapi_connection: DBAPIConnection) -> bool:
    """``wal_checkpoint(TRUNCATE)`` that gives up at once instead of waiting for a reader
    (or another writer): copy back every page, then cut the WAL to zero bytes. True when
    it got that far; False when a reader still needs part of the WAL."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=0")
        try:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = cursor.fetchone()
        finally:
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        # The commit is done; a real I/O problem shows on the next one.
        log.warning("checkpoint of the WAL failed: %s", exc)
        return False
    finally:
        cursor.close()
    # (busy, frames in the WAL, frames copied back): busy is 1 when something was in the way.
    return row is not None and row[0] == 0


def checkpoint_if_due(connection: Connection, *, now: float | None = None) -> bool:
    """Call after each commit on ``connection``: if its SQLite WAL has grown past the limit
    (a reader held an old snapshot while this connection wrote), copy it back and truncate
    it to zero bytes, unless a reader still needs it. Never waits: a reader or writer in
    the way makes it give up at once, and it tries again after ``CHECKPOINT_INTERVAL_S``
    (measured on ``now``, default ``time.monotonic()``). Costs one ``stat`` otherwise.
    True when it truncated the WAL. Does nothing on PostgreSQL, on in-memory SQLite and
    inside a transaction (a checkpoint cannot complete there)."""
    policy = connection.info.get(_WAL_POLICY)
    if not isinstance(policy, _WalPolicy) or connection.in_transaction():
        return False
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is None:
        return False
    return policy.after_commit(dbapi_connection, time.monotonic() if now is None else now)


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(normalise_url(url)).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return "<unparseable database URL>"


def migrations_location() -> str:
    """Where the migrations are: ``oms/migrations`` inside an installed wheel, or the
    repository's top-level ``alembic/`` in a source checkout (editable install)."""
    package = Path(str(resources.files("oms")))
    for candidate in (package / "migrations", package.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return str(candidate)
    raise StorageError(f"migrations not found next to {package}")


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs the shipped migrations on ``engine``."""
    config = Config()
    config.set_main_option("script_location", migrations_location())
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Revert migrations down to ``revision`` (``base`` for an empty database)."""
    _run(engine, command.downgrade, revision)


def _run(engine: Engine, action: Callable[[Config, str], None], revision: str) -> None:
    check_known_revision(engine)  # alembic itself would fail with a traceback
    config = alembic_config(engine)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            action(config, revision)
    except CommandError as exc:  # e.g. a --revision that does not exist
        raise StorageError(f"cannot migrate {safe_url(str(engine.url))}: {exc}") from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"migration failed on {safe_url(str(engine.url))}: {exc}") from exc


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this package."""
    return ScriptDirectory(migrations_location()).get_current_head()


def known_revisions() -> frozenset[str]:
    """Every revision shipped with this package."""
    script = ScriptDirectory(migrations_location())
    return frozenset(revision.revision for revision in script.walk_revisions())


def check_known_revision(engine: Engine) -> None:
    """Raise ``NewerSchemaError`` if the database is at a revision this oms does not know
    (a newer oms migrated it: reading or migrating it could only go wrong)."""
    try:
        with engine.connect() as connection:
            stored = MigrationContext.configure(connection).get_current_heads()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read {safe_url(str(engine.url))}: {exc}") from exc
    unknown = sorted(set(stored) - known_revisions())
    if unknown:
        raise NewerSchemaError(
            f"database {safe_url(str(engine.url))} is at revision {', '.join(unknown)}, which "
            "this oms does not know: it was written by a newer oms; upgrade oms"
        )


def ensure_schema(engine: Engine) -> None:
    """Migrate an empty database; refuse one that is behind or from a newer release
    (``NewerSchemaError``)."""
    check_known_revision(engine)
    try:
        current = current_revision(engine)
        tables = set(inspect(engine).get_table_names())
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read {safe_url(str(engine.url))}: {exc}") from exc
    head = head_revision()
    if current == head:
        return
    if current is None and not (tables - {"alembic_version"}):
        log.info("migrating empty database %s to %s", safe_url(str(engine.url)), head)
        upgrade(engine)
        return
    raise StorageError(
        f"database {safe_url(str(engine.url))} is at revision {current}, this oms needs "
        f"{head}: run `oms db upgrade --db URL`"
    )
