"""A database's journal, read from a test while the process under test writes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oms.store.db import open_engine

if TYPE_CHECKING:
    from pathlib import Path


def journaled(db: str | Path) -> int:
    """How many frames the journal of ``db`` (a database URL, or a SQLite file's path)
    holds; 0 while it does not exist yet or its schema is not migrated yet."""
    url = str(db) if "://" in str(db) else f"sqlite:///{db}"
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM frames").scalar_one())
    except Exception:  # noqa: BLE001 - not created, or not migrated, yet
        return 0
    finally:
        engine.dispose()
