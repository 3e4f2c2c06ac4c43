"""``oms status``: who writes each account (owner, since when, lease epoch, heartbeat age,
released or expired) and the owner's last report, as a table or one JSON document, on
SQLite and PostgreSQL. It only reads: it takes no lease and changes no row.

(Here rather than in tests/: it needs the store suite's database fixtures.)"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.engine import make_url

from oms.store.db import upgrade
from oms.store.lease import Lease, iso_utc, lease_clock_ms, read_leases
from oms.store.tables import LeaseRow
from tests.store.conftest import oms_cli

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

HOST = socket.gethostname()
PATIENCE_S = 30.0
LAST_FRAME_AT = 1_796_000_000_123


def cli_url(db_url: str) -> str:
    """SQLite as a bare file path (what people type), PostgreSQL as its URL."""
    if db_url.startswith("sqlite"):
        database = make_url(db_url).database
        assert database is not None
        return database
    return db_url


def status(db_url: str, *args: str) -> str:
    done = oms_cli("status", "--db", cli_url(db_url), *args, timeout=PATIENCE_S)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


@pytest.fixture
def three_accounts(engine: Engine) -> Iterator[Lease]:
    """``live``: held and renewing with a report; ``done``: released at epoch 2;
    ``stale``: an owner on another host that stopped renewing a minute ago."""
    upgrade(engine)
    for _ in range(2):
        done = Lease(engine, "done")
        done.acquire()
        done.release()
    live = Lease(engine, "live", ttl_s=0.3)
    live.acquire()
    live.start_renewing(
        lambda: {"state": "running", "last_frame_at": LAST_FRAME_AT, "frames": 42, "lag_ms": 12}
    )
    started = lease_clock_ms(engine) - 60_000
    with engine.begin() as conn:
        conn.execute(
            insert(LeaseRow.__table__),
            [
                {
                    "account": "stale",
                    "owner_host": "h1",
                    "owner_pid": 4242,
                    "owner_started_at": started,
                    "epoch": 7,
                    "heartbeat_at": started,
                    "released": False,
                }
            ],
        )
    deadline = lease_clock_ms(engine) + PATIENCE_S * 1000
    while read_leases(engine, "live")[0].state is None:  # the first report is stored
        assert lease_clock_ms(engine) < deadline, "no report within the patience"
        time.sleep(0.02)
    yield live
    live.release()


def test_status_json_shows_every_lease_and_changes_nothing(db_url, engine, three_accounts):
    before = {r.account: r for r in read_leases(engine) if r.account != "live"}
    document = json.loads(status(db_url, "--json"))
    assert set(document) == {"now", "ttl_ms", "leases"}
    assert document["ttl_ms"] == 15_000
    assert isinstance(document["now"], int)
    done, live, stale = document["leases"]
    assert [done["account"], live["account"], stale["account"]] == ["done", "live", "stale"]

    assert live["condition"] == "held"
    assert (live["owner_host"], live["owner_pid"], live["epoch"]) == (HOST, os.getpid(), 1)
    assert (live["state"], live["last_frame_at"], live["frames"], live["lag_ms"]) == (
        "running",
        LAST_FRAME_AT,
        42,
        12,
    )
    assert live["since"] == iso_utc(live["owner_started_at"])
    assert live["released"] is False
    assert live["heartbeat_age_ms"] >= 0

    assert (done["condition"], done["epoch"], done["released"]) == ("released", 2, True)
    assert done["state"] == "stopped"  # released: its last report says so

    assert (stale["condition"], stale["epoch"], stale["owner_host"]) == ("expired", 7, "h1")
    assert stale["owner_pid"] == 4242
    assert stale["heartbeat_age_ms"] >= 60_000

    only = json.loads(status(db_url, "--account", "stale", "--json"))
    assert [e["account"] for e in only["leases"]] == ["stale"]
    after = {r.account: r for r in read_leases(engine) if r.account != "live"}
    assert after == before  # read, never written
    assert three_accounts.lost is None
    again = Lease(engine, "done")
    assert again.acquire() == 3  # status took no lease
    again.release()


def test_status_table_shows_owner_epoch_and_heartbeat(db_url, engine, three_accounts):
    out = status(db_url)
    assert out.startswith("Leases (3)")
    for heading in ("account", "owner", "since", "epoch", "heartbeat", "state", "last frame"):
        assert heading in out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert set(lines) == {"done", "live", "stale"}
    live = lines["live"]
    assert f"{HOST} pid {os.getpid()}" in live
    assert re.search(r"│\s+1 │ \d+ s ago\s+│ running\s+│", live), live
    assert iso_utc(LAST_FRAME_AT) in live
    assert re.search(r"│\s+42 │\s+12 │$", live), live
    assert re.search(r"│\s+2 │ released \(\d+ s ago\)", lines["done"]), lines["done"]
    stale = lines["stale"]
    assert "h1 pid 4242" in stale
    assert re.search(r"│\s+7 │ expired \(\d+ s ago\)", stale), stale

    only = status(db_url, "--account", "done")
    assert "Leases (1)" in only
    assert "live" not in only


def test_status_without_lease_rows(db_url, engine):
    assert status(db_url) == "no lease rows\n"  # an empty database: no table at all
    upgrade(engine, "0001")
    assert status(db_url) == "no lease rows\n"  # before the leases table
    upgrade(engine)
    assert status(db_url) == "no lease rows\n"
    assert status(db_url, "--account", "main") == "no lease rows for account 'main'\n"
    document = json.loads(status(db_url, "--json"))
    assert document["leases"] == []


def test_status_refuses_a_database_of_a_newer_oms(db_url, engine):
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    done = oms_cli("status", "--db", cli_url(db_url), timeout=PATIENCE_S)
    assert done.returncode == 2
    assert "newer oms" in done.stderr
    assert "Traceback" not in done.stderr


def test_status_reads_a_lease_whose_owner_renews_while_it_reads(db_url, engine):
    """A reader meets a row being renewed every 0.1 s: it never waits nor fails."""
    upgrade(engine)
    owner = Lease(engine, "main", ttl_s=0.3)
    owner.acquire()
    owner.start_renewing()
    try:
        for _ in range(3):
            [entry] = json.loads(status(db_url, "--json"))["leases"]
            assert (entry["account"], entry["epoch"], entry["condition"]) == ("main", 1, "held")
        with engine.begin() as conn:  # the owner is unaffected by its readers
            owner.fence(conn)
    finally:
        owner.release()
    with engine.begin() as conn:
        conn.execute(update(LeaseRow.__table__).values(frames=1))
    [entry] = json.loads(status(db_url, "--json"))["leases"]
    assert (entry["condition"], entry["frames"]) == ("released", 1)
