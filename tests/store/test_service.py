"""Pipeline: one transaction per group of frames (journal, state rows, events),
subscribers after the commit, restore on open, idempotent re-delivery, accounts apart."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import text

from oms.cli.views import state_document
from oms.core import events as ev
from oms.runtime.outbox import read_events
from oms.runtime.pipeline import Pipeline
from oms.store.db import open_engine
from tests.store.conftest import (
    ANOMALIES,
    DIRTY,
    ROOT,
    SUBPROCESS_TIMEOUT,
    count,
    event_rows,
    replay,
    rows,
    state_tables,
    table_rows,
)

NEVER = 1e12  # group_ms that never triggers a commit by time
STATE = ("orders", "executions", "positions", "order_updates", "events", "frames")


def _counts(engine, account: str | None = None) -> dict[str, int]:
    return {table: count(engine, table, account) for table in STATE}


def _state_without_stats(service: Pipeline) -> dict[str, object]:
    doc = state_document(service.ledger)
    doc.pop("stats")
    return doc


# --- one transaction per group ----------------------------------------------------------


def test_a_group_is_committed_as_one_transaction(db_url, engine, clean_lines):
    published: list[ev.Event] = []
    service = Pipeline(db_url, group_frames=10_000, group_ms=NEVER)
    try:
        service.subscribe(published.append)
        for line in clean_lines[:60]:
            service.feed(line)
        # nothing of the group is visible to another connection, nothing is published
        assert _counts(engine) == dict.fromkeys(STATE, 0)
        assert published == []
        at_commit: list[tuple[dict[str, int], int]] = []

        @sqlalchemy_event.listens_for(service.engine, "commit")
        def before_commit(_conn) -> None:
            at_commit.append((_counts(engine), len(published)))

        service.flush()
        # one commit wrote everything: just before it, another connection saw nothing
        assert at_commit == [(dict.fromkeys(STATE, 0), 0)]
        counts = _counts(engine)
        assert counts["frames"] == 60
        assert counts["orders"] > 0
        assert counts["executions"] > 0
        assert counts["positions"] > 0
        assert counts["order_updates"] > 0
        assert counts["events"] == len(published) > 0
        stored = rows(engine, "SELECT type, order_id FROM events ORDER BY id")
        assert [(r["type"], r["order_id"]) for r in stored] == [
            (type(e).__name__, getattr(e, "order_id", None)) for e in published
        ]
    finally:
        service.close()


def test_a_full_group_commits_by_itself(db_url, engine, clean_lines):
    published: list[ev.Event] = []
    with Pipeline(db_url, group_frames=10, group_ms=NEVER) as service:
        service.subscribe(published.append)
        for line in clean_lines[:25]:
            service.feed(line)
        assert count(engine, "frames") == 20  # two whole groups, the third still staged
        assert count(engine, "events") == len(published)
    assert count(engine, "frames") == 25  # close commits what was staged
    assert count(engine, "events") == len(published)


def test_a_zero_group_time_commits_every_frame(db_url, engine, clean_lines):
    with Pipeline(db_url, group_frames=10_000, group_ms=0) as service:
        for n, line in enumerate(clean_lines[:5], 1):
            service.feed(line)
            assert count(engine, "frames") == n


# --- the journal ------------------------------------------------------------------------


def test_the_journal_holds_every_frame_exactly_as_received(db_url, engine, dirty_lines):
    lines = [line for line in dirty_lines if line]
    lines += ["  not json at all ✓ naïve  ", '{"op":"pong","args":["1717200000000"]}\t']
    results = []
    with Pipeline(db_url, group_frames=37) as service:
        for n, line in enumerate(lines):
            results.append(service.feed(line, received_at=1_717_200_000_000 + n))
    journal = table_rows(engine, "frames")
    assert len(journal) == len(lines)
    assert [r["raw"] for r in journal] == lines
    assert [r["received_at"] for r in journal] == [1_717_200_000_000 + n for n in range(len(lines))]
    assert [r["outcome"] for r in journal] == [r.outcome.value for r in results]
    assert [r["topic"] for r in journal] == [r.topic for r in results]
    assert {r["account"] for r in journal} == {"default"}
    ids = [r["id"] for r in journal]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    outcomes = Counter(r["outcome"] for r in journal)
    assert outcomes["malformed"] > 0
    assert outcomes["duplicate"] > 0
    assert outcomes["control"] > 0
    for row, result in zip(journal, results, strict=True):
        reasons = [e.reason for e in result.events if isinstance(e, ev.MalformedFrame)]
        if reasons:
            assert row["error"] == "; ".join(reasons)
        else:
            assert row["error"] is None


def test_state_rows_point_at_the_frame_that_wrote_them(db_url, engine, clean_lines):
    with Pipeline(db_url) as service:
        for line in clean_lines[:300]:
            service.feed(line)
    frames = {r["id"]: r for r in table_rows(engine, "frames")}
    updates = table_rows(engine, "order_updates")
    assert updates
    for update in updates:
        frame = frames[update["frame_id"]]
        assert frame["topic"] == "order"
        assert update["order_id"] in frame["raw"]
    executions = table_rows(engine, "executions")
    assert executions
    for execution in executions:
        frame = frames[execution["frame_id"]]
        assert frame["topic"].startswith("execution")
        assert execution["exec_id"] in frame["raw"]


def test_a_frame_with_a_nul_character_is_journaled_and_ingestion_goes_on(
    db_url, engine, clean_lines
):
    """A garbage frame is malformed, never fatal: its exact text goes to the journal and
    the next frames are stored as usual."""
    garbage = "\x00\x00binary junk"
    with Pipeline(db_url, group_ms=0) as service:
        assert service.feed(garbage).outcome.value == "malformed"
        for line in clean_lines[:20]:
            service.feed(line)
    journal = table_rows(engine, "frames")
    # PostgreSQL text cannot hold NUL at all: there (only there) it is journaled as U+FFFD
    stored = garbage.replace("\x00", "\ufffd") if db_url.startswith("postgresql") else garbage
    assert [r["raw"] for r in journal] == [stored, *clean_lines[:20]]
    assert count(engine, "orders") > 0


# --- subscribers ------------------------------------------------------------------------


def test_subscribers_hear_of_events_only_after_their_commit(db_url, clean_lines):
    """A subscriber reading through its own engine already sees each event's rows."""
    checked: list[str] = []
    problems: list[str] = []
    seen = 0
    own = open_engine(db_url)

    def subscriber(event: ev.Event) -> None:
        nonlocal seen
        seen += 1
        name = type(event).__name__
        try:
            with own.connect() as conn:
                n = conn.execute(text("SELECT COUNT(*) FROM events")).scalar_one()
                if n < seen:
                    problems.append(f"{name}: {n} events stored, {seen} published")
                if isinstance(event, ev.FillBooked):
                    query = "SELECT COUNT(*) FROM executions WHERE exec_id = :k"
                    params = {"k": event.exec_id}
                elif isinstance(event, (ev.OrderStatusChanged, ev.OrderAmended)):
                    query = "SELECT COUNT(*) FROM orders WHERE order_id = :k"
                    params = {"k": event.order_id}
                elif isinstance(event, ev.PositionChanged):
                    query = "SELECT COUNT(*) FROM positions WHERE symbol = :k AND position_idx = :i"
                    params = {"k": event.symbol, "i": event.position_idx}
                else:
                    return
                if conn.execute(text(query), params).scalar_one() != 1:
                    problems.append(f"{name} {params}: its row is not visible")
                checked.append(name)
        except Exception as exc:  # noqa: BLE001 - the service would swallow it
            problems.append(f"{name}: {exc!r}")

    try:
        with Pipeline(db_url, group_frames=7, group_ms=NEVER) as service:
            service.subscribe(subscriber)
            for line in clean_lines[:250]:
                service.feed(line)
    finally:
        own.dispose()
    assert problems == []
    kinds = Counter(checked)
    assert kinds["FillBooked"] > 0
    assert kinds["OrderStatusChanged"] > 0
    assert kinds["PositionChanged"] > 0
    engine = open_engine(db_url)
    try:
        assert seen == count(engine, "events")  # every stored event was handed over
    finally:
        engine.dispose()


def test_a_subscriber_that_raises_is_isolated(db_url, engine, clean_lines, caplog):
    before: list[ev.Event] = []
    after: list[ev.Event] = []

    def broken(event: ev.Event) -> None:
        raise RuntimeError(f"subscriber bug on {type(event).__name__}")

    caplog.set_level(logging.ERROR, logger="oms.runtime.pipeline")
    with Pipeline(db_url, group_frames=10, group_ms=NEVER) as service:
        service.subscribe(before.append)
        service.subscribe(broken)
        service.subscribe(after.append)
        results = [service.feed(line) for line in clean_lines[:120]]
    assert len(results) == 120  # ingestion went on
    assert before
    assert after == before
    assert count(engine, "frames") == 120
    assert count(engine, "events") == len(before)
    assert count(engine, "orders") > 0
    failures = [r for r in caplog.records if r.name == "oms.runtime.publish" and r.exc_info]
    assert len(failures) == len(before)
    assert all(isinstance(r.exc_info[1], RuntimeError) for r in failures)


# --- restart ----------------------------------------------------------------------------


def test_restart_restores_the_ledger(db_url, new_db_url, clean_lines):
    half = 1500
    with Pipeline(db_url) as first:
        for line in clean_lines[:half]:
            first.feed(line)
        before = _state_without_stats(first)
        stats = first.ledger.stats
    engine = open_engine(db_url)
    try:
        committed = state_tables(engine)
        with Pipeline(db_url) as second:
            assert _state_without_stats(second) == before
            assert second.ledger.stats == stats
            # every frame seen before the restart is a duplicate (or stale) after it
            outcomes = Counter(second.feed(line).outcome.value for line in clean_lines[:half])
            assert set(outcomes) <= {"duplicate", "stale"}, outcomes
            second.flush()
            assert state_tables(engine) == committed
            for line in clean_lines[half:]:
                second.feed(line)
        resumed = state_tables(engine)
    finally:
        engine.dispose()

    reference_url = new_db_url()
    with Pipeline(reference_url) as once:
        for line in clean_lines:
            once.feed(line)
    reference = open_engine(reference_url)
    try:
        assert resumed == state_tables(reference)
    finally:
        reference.dispose()


def test_restarting_anywhere_ends_like_one_uninterrupted_run(db_url, new_db_url, dirty_lines):
    """Close and reopen the service every 37 frames of the dirty capture (reordered and
    repeated frames straddle the restarts): the stored state and the outbox equal those
    of one service that saw every frame."""
    reference_url = new_db_url()
    with Pipeline(reference_url) as once:
        for line in dirty_lines:
            once.feed(line)
        once.settle()
    step = 37
    for start in range(0, len(dirty_lines), step):
        with Pipeline(db_url) as service:
            for line in dirty_lines[start : start + step]:
                service.feed(line)
            if start + step >= len(dirty_lines):
                service.settle()
    got, want = open_engine(db_url), open_engine(reference_url)
    try:
        resumed, reference = state_tables(got), state_tables(want)
    finally:
        got.dispose()
        want.dispose()
    for table in ("orders", "executions", "positions", "order_updates"):
        assert resumed[table] == reference[table], table
    extra = Counter(e["type"] for e in resumed["events"]) - Counter(
        e["type"] for e in reference["events"]
    )
    assert not extra, f"events only the restarted service emitted: {dict(extra)}"
    assert resumed["events"] == reference["events"]


def test_replaying_a_capture_twice_changes_no_state(db_url, engine):
    replay(DIRTY, db_url)
    first = state_tables(engine)
    first_frames = table_rows(engine, "frames")
    last_event = max(r["id"] for r in table_rows(engine, "events"))
    assert first["orders"]
    assert first["executions"]

    replay(DIRTY, db_url)
    second = state_tables(engine)
    for table in ("orders", "executions", "positions", "order_updates"):
        assert second[table] == first[table], table
    new_events = rows(engine, "SELECT type FROM events WHERE id > :n ORDER BY id", n=last_event)
    assert {r["type"] for r in new_events} <= ANOMALIES, Counter(r["type"] for r in new_events)
    assert second["events"][: len(first["events"])] == first["events"]

    # the journal has the second receipt of every frame, none of them applied again
    frames = table_rows(engine, "frames")
    assert len(frames) == 2 * len(first_frames)
    again = frames[len(first_frames) :]
    assert [r["raw"] for r in again] == [r["raw"] for r in first_frames]
    for old, new in zip(first_frames, again, strict=True):
        if old["topic"] == "wallet":
            continue  # no wallet state is stored, so none is restored to compare against
        if old["outcome"] in ("applied", "duplicate", "stale"):
            assert new["outcome"] in ("duplicate", "stale"), (old["outcome"], new)
        else:
            assert new["outcome"] == old["outcome"], (old["outcome"], new)
    (progress,) = rows(engine, "SELECT lines_done, finished FROM replays")
    assert bool(progress["finished"])


# --- accounts ---------------------------------------------------------------------------


def test_accounts_in_one_database_stay_separate(db_url, engine, clean_lines):
    with Pipeline(db_url, account="alpha") as alpha:
        for line in clean_lines[:400]:
            alpha.feed(line)
    with Pipeline(db_url, account="beta") as beta:
        assert beta.ledger.orders() == []  # nothing of alpha's is restored into beta
        outcomes = Counter(beta.feed(line).outcome.value for line in clean_lines[:400])
        assert outcomes["applied"] > 0  # alpha's frames are new to beta
        for line in clean_lines[400:600]:
            beta.feed(line)

    alpha_state = state_tables(engine, "alpha")
    beta_state = state_tables(engine, "beta")
    assert alpha_state["orders"]
    for table in ("orders", "executions", "positions", "order_updates", "events"):
        assert {r["account"] for r in alpha_state[table]} == {"alpha"}, table
        assert {r["account"] for r in beta_state[table]} == {"beta"}, table
    assert count(engine, "frames", "alpha") == 400
    assert count(engine, "frames", "beta") == 600
    assert len(beta_state["executions"]) > len(alpha_state["executions"])
    total = count(engine, "orders")
    assert total == len(alpha_state["orders"]) + len(beta_state["orders"])

    with Pipeline(db_url, account="alpha") as alpha:
        assert len(alpha.ledger.orders()) == len(alpha_state["orders"])
        assert alpha.ledger.stats["frames"] == 400
    assert [e.account for e in read_events(db_url, 0, 100_000, account="beta")] == ["beta"] * len(
        beta_state["events"]
    )
    assert [e.type for e in read_events(db_url, 0, 100_000, account="alpha")] == [
        r["type"] for r in alpha_state["events"]
    ]
    assert event_rows(engine, "alpha") == alpha_state["events"]


#: Opens a database the store refuses, then counts the server connections to it that
#: are still open. Cyclic garbage collection is off, so an engine the refused service
#: did not dispose of is seen deterministically instead of whenever gc happens to run.
REFUSED_CHILD = """
import gc, sys
gc.disable()
from sqlalchemy import text
from oms.errors import StorageError
from oms.runtime.pipeline import Pipeline
from oms.store.db import open_engine

url = sys.argv[1]
try:
    Pipeline(url)
except StorageError:
    pass
else:
    sys.exit("the database was not refused")
probe = open_engine(url)
with probe.connect() as conn:
    print(conn.execute(text(
        "SELECT COUNT(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )).scalar_one())
probe.dispose()
"""


def test_a_refused_postgresql_database_keeps_no_connection_open(pg_server):
    """Opening a database the store refuses must not leave connections behind."""
    url = pg_server.create_database()
    try:
        own = open_engine(url)
        with own.begin() as conn:
            conn.execute(text("CREATE TABLE notes (body TEXT)"))
        own.dispose()
        child = subprocess.run(
            [sys.executable, "-c", REFUSED_CHILD, url],
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
            cwd=ROOT,
        )
        assert child.returncode == 0, child.stderr
        left = int(child.stdout)
        assert left == 0, f"{left} connection(s) left open by the refused Pipeline"
    finally:
        pg_server.drop_database(url)


def test_events_payload_is_json_with_exact_decimals(db_url, engine, clean_lines):
    with Pipeline(db_url) as service:
        for line in clean_lines[:100]:
            service.feed(line)
    raw = rows(engine, "SELECT payload FROM events ORDER BY id")
    assert raw
    for row in raw:
        payload = row["payload"]
        if isinstance(payload, str):  # SQLite hands back the JSON text
            payload = json.loads(payload, parse_float=lambda s: pytest.fail(f"float {s}"))
        for key in ("cum_exec_qty", "exec_qty", "exec_price", "net_qty", "qty"):
            if payload.get(key) is not None:
                assert isinstance(payload[key], str), (key, payload)
