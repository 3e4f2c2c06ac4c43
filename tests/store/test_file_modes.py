"""Files oms creates are private (``0600``) even under a permissive umask: the SQLite
database with its ``-wal`` and ``-shm`` files, and the capture ``oms run --record``
writes. Files that exist already keep their mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from oms.cli.run import _Recorder
from oms.runtime.pipeline import Pipeline
from oms.store.db import open_engine

if TYPE_CHECKING:
    from collections.abc import Iterator

PERMISSIVE_UMASK = 0o022  # the usual default: new files would be 0644, readable by all


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    previous = os.umask(PERMISSIVE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sidecars(db: Path) -> tuple[Path, Path]:
    return Path(f"{db}-wal"), Path(f"{db}-shm")


def test_a_new_sqlite_database_and_its_wal_and_shm_are_0600(tmp_path):
    db = tmp_path / "new.db"
    engine = open_engine(str(db))
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x TEXT)"))
            conn.execute(text("INSERT INTO t VALUES ('written')"))
        wal, shm = sidecars(db)
        assert wal.stat().st_size > 0  # the write is in the WAL: both files exist now
        assert {path.name: mode(path) for path in (db, wal, shm)} == {
            "new.db": 0o600,
            "new.db-wal": 0o600,
            "new.db-shm": 0o600,
        }
    finally:
        engine.dispose()


def test_a_store_opened_on_a_new_file_creates_it_0600(tmp_path):
    db = tmp_path / "store.db"
    with Pipeline(str(db)) as service:
        service.flush()
        assert [mode(path) for path in (db, *sidecars(db))] == [0o600, 0o600, 0o600]
    assert mode(db) == 0o600


def test_a_bare_path_and_a_sqlite_url_are_both_created_0600(tmp_path):
    for db, url in ((tmp_path / "bare.db", None), (tmp_path / "url.db", "sqlite:///")):
        engine = open_engine(str(db) if url is None else f"{url}{db}")
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        assert mode(db) == 0o600, db


def test_an_existing_database_keeps_its_mode(tmp_path):
    db = tmp_path / "shared.db"
    engine = open_engine(str(db))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT)"))
    engine.dispose()
    db.chmod(0o640)  # the operator chose to share it with a group

    engine = open_engine(str(db))
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES ('again')"))
        assert mode(db) == 0o640
        assert [mode(path) for path in sidecars(db)] == [0o640, 0o640]  # SQLite follows it
    finally:
        engine.dispose()


def test_an_in_memory_database_creates_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    engine = open_engine("sqlite://")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
    assert list(tmp_path.iterdir()) == []


def test_the_record_file_is_created_0600(tmp_path):
    capture = tmp_path / "frames.jsonl"
    recorder = _Recorder(str(capture))
    try:
        recorder('{"topic":"order","data":[]}')
    finally:
        recorder.close()
    assert mode(capture) == 0o600
    assert capture.read_bytes() == b'{"topic":"order","data":[]}\n'


def test_an_existing_record_file_keeps_its_mode_and_is_appended_to(tmp_path):
    capture = tmp_path / "frames.jsonl"
    capture.write_bytes(b"first\n")
    capture.chmod(0o644)
    recorder = _Recorder(str(capture))
    try:
        recorder("second\rstill second")
    finally:
        recorder.close()
    assert mode(capture) == 0o644
    assert capture.read_bytes() == b"first\nsecond\rstill second\n"
