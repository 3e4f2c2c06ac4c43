"""Alembic owns the schema: an empty database is migrated when a store opens it, the
models and the migrations agree, and downgrade/upgrade round-trips; downgrading 0002 (the
leases) to 0001 keeps every row the older schema has (``oms db downgrade``)."""

from __future__ import annotations

import gc
import json
import warnings
from dataclasses import fields

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from oms.errors import StorageError
from oms.runtime.pipeline import Pipeline
from oms.store.db import current_revision, downgrade, head_revision, upgrade
from oms.store.lease import Lease, LeaseRecord, read_leases
from oms.store.tables import Base
from tests.store.conftest import TABLES, count, oms_cli, rows, table_rows

#: the newest revision (later revisions keep every test below true as it is)
HEAD = head_revision()
#: columns added after 0002 (by table): absent from a database downgraded to 0002 or below
LATER_COLUMNS = {"positions": ("opening_net_qty", "opening_seq"), "frames": ("parsed",)}

FRAMES_COLUMNS = {"id", "account", "received_at", "topic", "raw", "outcome", "error", "parsed"}
EVENTS_COLUMNS = {"id", "account", "type", "order_id", "symbol", "payload", "created_at"}


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _views(engine) -> set[str]:
    return set(inspect(engine).get_view_names())


def _named(difference) -> tuple[str, str]:
    """(kind, what) of one model/database difference: a table's, or a column's name."""
    if difference[0] == "add_column":
        return ("add_column", f"{difference[2]}.{difference[3].name}")
    return (difference[0], difference[1].name)


def _differences(engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def test_opening_a_store_on_an_empty_database_migrates_it(db_url, engine):
    assert _tables(engine) == set()
    Pipeline(db_url).close()
    assert current_revision(engine) == head_revision()
    assert head_revision() is not None
    assert _tables(engine) == {*TABLES, "alembic_version"}
    assert _views(engine) == {"net_positions"}
    for table in (*TABLES, "net_positions"):
        names = {c["name"] for c in inspect(engine).get_columns(table)}
        assert "account" in names, table
    assert {c["name"] for c in inspect(engine).get_columns("frames")} == FRAMES_COLUMNS
    assert {c["name"] for c in inspect(engine).get_columns("events")} == EVENTS_COLUMNS
    assert {c["name"] for c in inspect(engine).get_columns("net_positions")} == {
        "account",
        "category",
        "symbol",
        "net_qty",
    }


def test_opening_a_migrated_database_again_changes_nothing(db_url, engine):
    Pipeline(db_url).close()
    Pipeline(db_url).close()
    assert current_revision(engine) == head_revision()
    assert _differences(engine) == []


def test_models_and_migrations_agree(engine):
    upgrade(engine)
    assert _differences(engine) == []


def test_downgrade_to_base_then_upgrade_round_trips(db_url, engine, clean_lines):
    with Pipeline(db_url) as service:
        for line in clean_lines[:200]:
            service.feed(line)
    assert count(engine, "orders") > 0
    assert count(engine, "events") > 0

    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert _tables(engine) & set(TABLES) == set()
    assert _views(engine) == set()

    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _tables(engine) >= set(TABLES)
    assert _views(engine) == {"net_positions"}
    for table in (*TABLES, "net_positions"):
        assert count(engine, table) == 0, table
    assert _differences(engine) == []

    # and the store works on it from scratch
    with Pipeline(db_url) as service:
        assert service.feed(clean_lines[0]).outcome.value == "applied"
    assert count(engine, "frames") == 1


def _open_refused(url: str) -> None:
    # in a function of its own, so the test's frame is not part of the traceback
    with pytest.raises(StorageError, match="oms db upgrade"):
        Pipeline(url)


def test_a_database_oms_did_not_make_is_refused(db_url, engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE foreign_data (x INTEGER)"))
        conn.execute(text("INSERT INTO foreign_data VALUES (1)"))
    try:
        _open_refused(db_url)
    finally:
        # a refused open leaks its engine (see test_service): close it here, not elsewhere
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
    assert _tables(engine) == {"foreign_data"}
    assert count(engine, "foreign_data") == 1


def test_db_current_and_upgrade_commands(db_url, engine):
    head = head_revision()
    url = db_url
    if make_url(db_url).get_backend_name() == "sqlite":
        url = make_url(db_url).database  # a bare file path means SQLite
        assert url is not None
    done = oms_cli("db", "current", "--db", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"empty (head: {head})\n"

    done = oms_cli("db", "upgrade", "--db", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{head} (head: {head})\n"
    assert current_revision(engine) == head
    assert _tables(engine) == {*TABLES, "alembic_version"}
    assert _views(engine) == {"net_positions"}

    done = oms_cli("db", "current", "--db", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{head} (head: {head})\n"

    done = oms_cli("db", "upgrade", "--db", url)  # idempotent
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{head} (head: {head})\n"


# --- revision 0002: leases -----------------------------------------------------------------

#: The tables of revision 0001 (every one but leases).
TABLES_0001 = tuple(t for t in TABLES if t != "leases")


def test_the_leases_table_holds_what_a_lease_record_shows(engine):
    upgrade(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("leases")}
    assert columns == {f.name for f in fields(LeaseRecord)}
    key = inspect(engine).get_pk_constraint("leases")
    assert (key["name"], key["constrained_columns"]) == ("pk_leases", ["account"])


def _snapshot(engine) -> dict[str, list[dict[str, object]]]:
    """Every row of every 0001 table and of the view, ids and all."""
    found = {
        table: table_rows(engine, table, drop=LATER_COLUMNS.get(table, ())) for table in TABLES_0001
    }
    found["net_positions"] = rows(
        engine, "SELECT * FROM net_positions ORDER BY account, category, symbol"
    )
    return found


def test_downgrading_0002_to_0001_keeps_every_row_of_the_older_schema(db_url, engine, clean_lines):
    with Pipeline(db_url) as service:
        for line in clean_lines[:300]:
            service.feed(line)
    lease = Lease(engine, "default")
    lease.acquire()
    lease.release()
    before = _snapshot(engine)
    assert all(before[t] for t in ("orders", "frames", "events", "executions", "positions"))
    assert read_leases(engine) != []

    downgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "leases" not in _tables(engine)
    assert _snapshot(engine) == before
    # the models describe 0001 plus exactly the leases table and the later columns
    assert sorted(_named(d) for d in _differences(engine)) == sorted(
        [("add_table", "leases")]
        + [("add_column", f"{t}.{c}") for t, cols in LATER_COLUMNS.items() for c in cols]
    )
    assert read_leases(engine) == []  # a reader of a 0001 database finds no leases

    upgrade(engine)
    assert current_revision(engine) == head_revision() == HEAD
    assert _snapshot(engine) == before
    assert count(engine, "leases") == 0  # the lease rows went with the table
    assert _differences(engine) == []
    again = Lease(engine, "default")
    assert again.acquire() == 1  # epochs start again with a new leases table
    again.release()


def test_db_downgrade_command(db_url, engine):
    url = make_url(db_url).database if db_url.startswith("sqlite") else db_url
    assert url is not None
    done = oms_cli("db", "upgrade", "--db", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{HEAD} (head: {HEAD})\n"

    done = oms_cli("db", "downgrade", "--db", url)
    assert done.returncode == 2
    assert "oms db downgrade needs --revision REV" in done.stderr
    assert current_revision(engine) == HEAD

    writer = Lease(engine, "main")
    writer.acquire()
    try:
        done = oms_cli("db", "downgrade", "--db", url, "--revision", "0001")
    finally:
        writer.release()
    assert done.returncode == 2, done.stderr
    assert "cannot downgrade: account 'main' is owned by host " in done.stderr
    assert "stop its writer first" in done.stderr
    assert "Traceback" not in done.stderr
    assert current_revision(engine) == HEAD

    done = oms_cli("db", "downgrade", "--db", url, "--revision", "0001")  # released: free
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"0001 (head: {HEAD})\n"
    assert _tables(engine) == {*TABLES_0001, "alembic_version"}

    done = oms_cli("db", "downgrade", "--db", url, "--revision", "nosuch")
    assert done.returncode == 1
    assert "cannot migrate" in done.stderr
    assert current_revision(engine) == "0001"

    done = oms_cli("db", "upgrade", "--db", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{HEAD} (head: {HEAD})\n"
    assert _tables(engine) == {*TABLES, "alembic_version"}

    done = oms_cli("db", "downgrade", "--db", url, "--revision", "base")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"empty (head: {HEAD})\n"
    assert _tables(engine) == {"alembic_version"}


def test_downgrading_0004_to_0003_drops_only_the_parsed_flag(db_url, engine, clean_lines):
    with Pipeline(db_url) as service:
        for line in clean_lines[:50]:
            service.feed(json.loads(line))  # parsed frames: flagged
        for line in clean_lines[50:100]:
            service.feed(line)
    flags = [r["parsed"] for r in table_rows(engine, "frames")]
    assert sum(map(bool, flags)) == 50
    assert len(flags) == 100
    before = _snapshot(engine)
    downgrade(engine, "0003")
    assert current_revision(engine) == "0003"
    assert "parsed" not in {c["name"] for c in inspect(engine).get_columns("frames")}
    assert _snapshot(engine) == before
    upgrade(engine)
    assert _snapshot(engine) == before
    assert not any(r["parsed"] for r in table_rows(engine, "frames"))  # the flags went with it
    assert _differences(engine) == []
