"""The SQLite WAL stays bounded: ``journal_size_limit`` on every connection, and
``checkpoint_if_due`` truncates a WAL that grew while a reader held an old snapshot, once
the reader lets go, without ever waiting for it.

Real SQLite files; the reader is a second connection holding a read transaction. Rows
are big (64 KiB) so a few dozen commits pass a small test limit. Every assertion is on
file sizes or on the statements SQLite ran, never on time: the checkpoint interval is
driven through ``now``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from oms.store.db import (
    BUSY_TIMEOUT_MS,
    CHECKPOINT_INTERVAL_S,
    WAL_SIZE_LIMIT,
    checkpoint_if_due,
    open_engine,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection, Engine

LIMIT = 1 << 20  # 1 MiB: small, so a test passes it quickly
ROW = os.urandom(64 * 1024)  # random: SQLite cannot make it smaller
CHECKPOINT = "PRAGMA wal_checkpoint(TRUNCATE)"


def wal_size(db: Path) -> int:
    wal = Path(f"{db}-wal")
    return wal.stat().st_size if wal.exists() else 0


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "wal.db"


@pytest.fixture
def engine(db: Path) -> Iterator[Engine]:
    eng = open_engine(str(db), wal_size_limit=LIMIT)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)"))
    yield eng
    eng.dispose()


def commit_rows(conn: Connection, rows: int) -> None:
    """``rows`` commits of one big row each (the way the service commits groups)."""
    for _ in range(rows):
        with conn.begin():
            conn.execute(text("INSERT INTO blobs (data) VALUES (:data)"), {"data": ROW})


def hold_snapshot(reader: Connection) -> None:
    """Begin a read transaction that pins the current snapshot until it ends."""
    reader.begin()
    reader.execute(text("SELECT count(*) FROM blobs")).scalar_one()


def traced(conn: Connection) -> list[str]:
    """The statements SQLite runs on ``conn`` from now on."""
    statements: list[str] = []
    conn.connection.dbapi_connection.set_trace_callback(statements.append)  # type: ignore[union-attr]
    return statements


def pragma(conn: Connection, name: str) -> int:
    return int(conn.exec_driver_sql(f"PRAGMA {name}").scalar_one())


def test_every_sqlite_connection_has_the_journal_size_limit(db, engine):
    with engine.connect() as conn:
        assert pragma(conn, "journal_size_limit") == LIMIT
        assert pragma(conn, "busy_timeout") == BUSY_TIMEOUT_MS
    default = open_engine(str(db))
    try:
        with default.connect() as conn:
            assert pragma(conn, "journal_size_limit") == WAL_SIZE_LIMIT == 64 * 1024 * 1024
    finally:
        default.dispose()


def test_the_wal_grown_behind_a_reader_is_truncated_once_the_reader_lets_go(db, engine):
    rows_past_limit = 2 * LIMIT // len(ROW)  # about 2 MiB of WAL: under SQLite's own 4 MiB
    reader_engine = open_engine(str(db), wal_size_limit=LIMIT)
    try:
        with engine.connect() as writer, reader_engine.connect() as reader:
            commit_rows(writer, 1)
            hold_snapshot(reader)
            commit_rows(writer, rows_past_limit)
            grown = wal_size(db)
            assert grown > LIMIT

            # The reader needs the WAL: the policy gives up, and the writer goes on.
            assert checkpoint_if_due(writer, now=0.0) is False
            commit_rows(writer, 1)
            assert wal_size(db) > grown

            reader.rollback()  # the reader lets go
            commit_rows(writer, 1)
            assert wal_size(db) > LIMIT  # SQLite alone does not shrink it (yet)
            assert checkpoint_if_due(writer, now=CHECKPOINT_INTERVAL_S) is True
            assert wal_size(db) < LIMIT
            assert wal_size(db) == 0

            # and nothing was lost
            commit_rows(writer, 1)
            assert reader.execute(text("SELECT count(*) FROM blobs")).scalar_one() == (
                rows_past_limit + 4
            )
            reader.rollback()
    finally:
        reader_engine.dispose()


def test_the_checkpoint_never_waits_for_a_reader_and_restores_the_busy_timeout(db, engine):
    reader_engine = open_engine(str(db), wal_size_limit=LIMIT)
    try:
        with engine.connect() as writer, reader_engine.connect() as reader:
            commit_rows(writer, 1)
            hold_snapshot(reader)
            commit_rows(writer, 2 * LIMIT // len(ROW))
            statements = traced(writer)
            assert checkpoint_if_due(writer, now=0.0) is False
            # busy_timeout 0 around the checkpoint: SQLite returns "busy" at once instead of
            # retrying for BUSY_TIMEOUT_MS while the writer's caller waits.
            assert statements == [
                "PRAGMA busy_timeout=0",
                CHECKPOINT,
                f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
            ]
            assert pragma(writer, "busy_timeout") == BUSY_TIMEOUT_MS
            reader.rollback()
    finally:
        reader_engine.dispose()


def test_a_blocked_checkpoint_is_tried_again_only_after_the_interval(db, engine):
    reader_engine = open_engine(str(db), wal_size_limit=LIMIT)
    try:
        with engine.connect() as writer, reader_engine.connect() as reader:
            commit_rows(writer, 1)
            hold_snapshot(reader)
            commit_rows(writer, 2 * LIMIT // len(ROW))
            statements = traced(writer)
            assert checkpoint_if_due(writer, now=100.0) is False
            assert statements.count(CHECKPOINT) == 1

            # Commits right after do not try again (each try copies back what it can).
            for _ in range(3):
                commit_rows(writer, 1)
                assert checkpoint_if_due(writer, now=100.0 + CHECKPOINT_INTERVAL_S / 2) is False
            assert statements.count(CHECKPOINT) == 1

            reader.rollback()
            commit_rows(writer, 1)
            assert checkpoint_if_due(writer, now=100.0 + CHECKPOINT_INTERVAL_S) is True
            assert statements.count(CHECKPOINT) == 2
            assert wal_size(db) == 0
    finally:
        reader_engine.dispose()


def test_a_wal_under_the_limit_is_left_alone(db, engine):
    with engine.connect() as writer:
        commit_rows(writer, 2)
        before = wal_size(db)
        assert 0 < before < LIMIT
        statements = traced(writer)
        assert checkpoint_if_due(writer, now=0.0) is False
        assert statements == []  # one stat of the file, no statement
        assert wal_size(db) == before


def test_inside_a_transaction_the_policy_does_nothing(db, engine):
    with engine.connect() as writer:
        commit_rows(writer, 2 * LIMIT // len(ROW) + 1)
        assert wal_size(db) > LIMIT
        with writer.begin():
            assert checkpoint_if_due(writer, now=0.0) is False
        assert wal_size(db) > LIMIT
        assert checkpoint_if_due(writer, now=0.0) is True
        assert wal_size(db) == 0


def test_journal_size_limit_alone_cuts_the_wal_back_to_the_limit_when_sqlite_restarts_it(
    db, engine
):
    """What the pragma does without the policy: once the reader is gone, SQLite's own
    checkpoint (every 1000 pages) completes, the next commit rewrites the WAL from the
    start and truncates the file to ``journal_size_limit``."""
    reader_engine = open_engine(str(db), wal_size_limit=LIMIT)
    try:
        with engine.connect() as writer, reader_engine.connect() as reader:
            commit_rows(writer, 1)
            hold_snapshot(reader)
            commit_rows(writer, 6 * LIMIT // len(ROW))  # 6 MiB: past SQLite's 1000 pages
            assert wal_size(db) > 5 * LIMIT
            reader.rollback()
            commit_rows(writer, 2)
            assert wal_size(db) <= LIMIT
    finally:
        reader_engine.dispose()


def test_the_policy_does_nothing_without_a_wal_file(db_url, tmp_path):
    """PostgreSQL has no WAL file of ours; an in-memory SQLite database has none either."""
    for url in (db_url, "sqlite://"):
        eng = open_engine(url, wal_size_limit=0)
        try:
            with eng.connect() as conn:
                with conn.begin():
                    conn.execute(text("CREATE TABLE t (x INTEGER)"))
                    conn.execute(text("INSERT INTO t VALUES (1)"))
                file_backed = url.startswith("sqlite:///")  # db_url on SQLite only
                assert checkpoint_if_due(conn, now=0.0) is file_backed
        finally:
            eng.dispose()
