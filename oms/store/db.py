"""Engines and migrations.

``open_engine(url)`` accepts any SQLAlchemy URL (a bare file path means SQLite). SQLite
runs in WAL mode with foreign keys on; PostgreSQL goes through psycopg 3. The schema is
owned by Alembic: ``upgrade(engine)`` applies the migrations shipped inside the package,
and ``ensure_schema`` migrates an empty database when a store opens it.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from alembic import command
from oms.errors import StorageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.engine.interfaces import DBAPIConnection

log = logging.getLogger(__name__)


def normalise_url(url: str) -> str:
    """A bare path becomes a SQLite URL; ``postgresql://`` uses the psycopg 3 driver."""
    if "://" not in url:
        return f"sqlite:///{url}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: object) -> None:
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
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _begin(connection: Connection) -> None:
    """Start every SQLite transaction explicitly, so DDL and DML share it."""
    connection.exec_driver_sql("BEGIN")


def open_engine(url: str) -> Engine:
    """An engine for ``url`` with the project's connection settings."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(url)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _begin)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise StorageError(f"cannot open database {safe_url(url)}: {exc}") from exc


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
    config = alembic_config(engine)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            action(config, revision)
    except SQLAlchemyError as exc:
        raise StorageError(f"migration failed on {safe_url(str(engine.url))}: {exc}") from exc


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this package."""
    return ScriptDirectory(migrations_location()).get_current_head()


def ensure_schema(engine: Engine) -> None:
    """Migrate an empty database; refuse one that is behind or from a newer release."""
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
