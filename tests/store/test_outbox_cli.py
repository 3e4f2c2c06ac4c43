"""The outbox API (``read_events``, ``oms events [--follow]``) and the store's command
line (``oms inspect`` with its filters, several accounts in one database)."""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event as sqlalchemy_event

from oms.cli import main
from oms.core.states import OPEN
from oms.runtime.outbox import read_events
from oms.runtime.pipeline import Pipeline
from oms.store.db import open_engine
from oms.store.types import canonical
from tests.store.conftest import (
    BACKENDS,
    CLEAN,
    DIRTY,
    ROOT,
    SUBPROCESS_TIMEOUT,
    count,
    dec,
    make_databases,
    oms_cli,
    replay,
    rows,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from oms.core import events as ev

FOLLOW_DEADLINE = 60.0
OPEN_STATUSES = {s.value for s in OPEN}


def _no_float(text: str) -> Any:
    raise AssertionError(f"a JSON float in the output: {text}")


def _json_lines(output: str) -> list[dict[str, Any]]:
    assert output == "" or output.endswith("\n")
    return [json.loads(line, parse_float=_no_float) for line in output.splitlines()]


def _ingest(url: str, lines: list[str], *, account: str = "default", start: int = 0) -> list:
    published: list[ev.Event] = []
    with Pipeline(url, account=account) as service:
        service.subscribe(published.append)
        for n, line in enumerate(lines):
            service.feed(line, received_at=1_717_300_000_000 + start + n)
    return published


def count_events(url: str) -> int:
    return len(read_events(url, 0, 1_000_000))


# --- read_events ------------------------------------------------------------------------


def test_read_events_returns_events_after_an_id_in_id_order(db_url, clean_lines):
    published = _ingest(db_url, clean_lines[:300])
    stored = read_events(db_url, 0, 100_000)
    assert len(stored) == len(published) > 20
    ids = [e.id for e in stored]
    assert all(a < b for a, b in itertools.pairwise(ids))  # strictly increasing
    for got, want in zip(stored, published, strict=True):
        assert got.type == type(want).__name__
        assert got.account == "default"
        assert got.order_id == getattr(want, "order_id", None)
        assert got.symbol == getattr(want, "symbol", None)
        assert got.created_at == want.received_at
        assert got.payload["received_at"] == want.received_at
        for key, value in got.payload.items():
            field = getattr(want, key)
            if isinstance(field, Decimal):
                assert value == canonical(field), key  # exact text, never a float
                assert Decimal(value) == field

    pivot = ids[10]
    assert read_events(db_url, pivot, 100_000) == stored[11:]
    assert read_events(db_url, pivot, 5) == stored[11:16]
    assert read_events(db_url, ids[-1], 100) == []
    assert read_events(db_url, 0, 100_000, account="default") == stored
    assert read_events(db_url, 0, 100_000, account="someone-else") == []


def test_read_events_of_one_account(db_url, clean_lines):
    _ingest(db_url, clean_lines[:100], account="a")
    _ingest(db_url, clean_lines[:150], account="b")
    everything = read_events(db_url, 0, 100_000)
    a = read_events(db_url, 0, 100_000, account="a")
    b = read_events(db_url, 0, 100_000, account="b")
    assert {e.account for e in a} == {"a"}
    assert {e.account for e in b} == {"b"}
    assert sorted([*a, *b], key=lambda e: e.id) == everything
    # the limit counts the account's own events, after the given id
    assert read_events(db_url, a[2].id, 3, account="b") == [e for e in b if e.id > a[2].id][:3]


# --- oms events -------------------------------------------------------------------------


def test_events_command_prints_json_lines_after_n(db_url, clean_lines):
    _ingest(db_url, clean_lines[:200])
    stored = read_events(db_url, 0, 100_000)
    after = stored[5].id
    done = oms_cli("events", "--db", db_url, "--after", str(after))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [e.to_json() for e in stored[6:]]
    for line in _json_lines(done.stdout):
        assert set(line) == {"id", "account", "type", "order_id", "symbol", "payload", "created_at"}
        assert line["id"] > after


def test_events_command_prints_every_event_whatever_the_read_size(two_accounts):
    """``--limit`` is the number of events per read: all events after N are printed."""
    url = two_accounts
    total = count_events(url)
    assert total > 1000
    for args in ((), ("--limit", "7")):
        done = oms_cli("events", "--db", url, "--after", "0", *args)
        assert done.returncode == 0, done.stderr
        printed = len(_json_lines(done.stdout))
        assert printed == total, f"`oms events --after 0 {' '.join(args)}`"


def test_events_command_filters_by_account(db_url, clean_lines):
    _ingest(db_url, clean_lines[:80], account="a")
    _ingest(db_url, clean_lines[:80], account="b")
    done = oms_cli("events", "--db", db_url, "--after", "0", "--account", "b")
    assert done.returncode == 0, done.stderr
    printed = _json_lines(done.stdout)
    assert printed
    assert {e["account"] for e in printed} == {"b"}
    assert [e["id"] for e in printed] == [e.id for e in read_events(db_url, 0, 10_000, "b")]


class _Lines:
    """The stdout lines of a child process, read by a thread so the test never blocks."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.got: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line)

    def wait_for(self, n: int) -> list[str]:
        deadline = time.monotonic() + FOLLOW_DEADLINE
        while len(self.got) < n:
            left = deadline - time.monotonic()
            assert left > 0, f"only {len(self.got)} of {n} lines within the deadline"
            try:
                self.got.append(self.lines.get(timeout=min(left, 1.0)).rstrip("\n"))
            except queue.Empty:
                continue
        return self.got

    def join(self) -> None:
        self._thread.join(timeout=SUBPROCESS_TIMEOUT)
        while not self.lines.empty():
            self.got.append(self.lines.get().rstrip("\n"))


@pytest.fixture
def follower(db_url) -> Iterator[tuple[subprocess.Popen[str], _Lines]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "oms.cli", "events", "--db", db_url, "--follow", "--poll", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield proc, _Lines(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=SUBPROCESS_TIMEOUT)


def test_events_follow_prints_what_another_writer_appends(db_url, clean_lines, follower):
    first = _ingest(db_url, clean_lines[:100])
    proc, out = follower
    out.wait_for(len(first))
    second = _ingest(db_url, clean_lines[100:250], start=100)
    assert second
    out.wait_for(len(first) + len(second))
    third = _ingest(db_url, clean_lines[250:300], start=250)
    out.wait_for(len(first) + len(second) + len(third))

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=SUBPROCESS_TIMEOUT) == 0  # a clean stop, not death by signal
    out.join()
    stored = read_events(db_url, 0, 100_000)
    assert out.got == [e.to_json() for e in stored]  # each event once, in id order
    assert len(stored) == len(first) + len(second) + len(third)
    assert proc.stderr is not None
    assert "Traceback" not in proc.stderr.read()


def test_events_follow_stops_cleanly_on_sigterm_while_idle(db_url, follower, clean_lines):
    _ingest(db_url, clean_lines[:30])
    proc, out = follower
    total = len(read_events(db_url, 0, 10_000))
    out.wait_for(total)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=SUBPROCESS_TIMEOUT) == 0
    out.join()
    assert len(out.got) == total


# --- oms inspect ------------------------------------------------------------------------


def _table(output: str) -> tuple[str, list[dict[str, str]]]:
    """The title and the rows of a rich table printed by ``oms inspect``."""
    lines = output.splitlines()
    title = lines[0].strip()
    (header,) = [line for line in lines if line.startswith("┃")]
    names = [c.strip() for c in header.strip().strip("┃").split("┃")]
    found = []
    for line in lines:
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            found.append(dict(zip(names, cells, strict=True)))
    return title, found


def _inspect(url: str, *args: str) -> tuple[str, list[dict[str, str]]]:
    """``oms inspect`` as a process."""
    done = oms_cli("inspect", "--db", url, *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return _table(done.stdout)


@pytest.fixture
def inspect(capsys, monkeypatch):
    """``oms inspect`` through ``main()`` in this process (no interpreter start-up)."""
    monkeypatch.setenv("COLUMNS", "400")

    def run(url: str, *args: str) -> tuple[str, list[dict[str, str]]]:
        capsys.readouterr()
        code = main(["inspect", "--db", url, *args])
        out = capsys.readouterr()
        assert code == 0, out.err
        return _table(out.out)

    return run


@pytest.fixture(scope="module", params=BACKENDS)
def two_accounts(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    """One database per backend holding the clean capture as account ``a`` and the dirty
    one as account ``b`` (shared by the read-only tests below)."""
    databases = make_databases(request, request.param, tmp_path_factory.mktemp("accounts"))
    url = databases.new()
    replay(CLEAN, url, "--account", "a")
    replay(DIRTY, url, "--account", "b")
    yield url
    databases.drop_all()


def _query(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    engine = open_engine(url)
    try:
        return rows(engine, sql, **params)
    finally:
        engine.dispose()


def _sql_count(url: str, sql: str, **params: Any) -> int:
    return int(_query(url, sql, **params)[0]["n"])


def test_inspect_orders_with_filters(two_accounts, inspect):
    url = two_accounts
    title, shown = _inspect(url, "orders", "--account", "a", "--limit", "100000")
    n = _sql_count(url, "SELECT COUNT(*) AS n FROM orders WHERE account = 'a'")
    assert title == f"orders ({n} shown)"
    assert len(shown) == n > 0
    assert {r["account"] for r in shown} == {"a"}
    times = [int(r["updated_time"]) for r in shown]
    assert times == sorted(times)  # oldest of the newest first

    title, shown = inspect(url, "orders", "--symbol", "BTCUSDT", "--limit", "100000")
    n = _sql_count(url, "SELECT COUNT(*) AS n FROM orders WHERE symbol = 'BTCUSDT'")
    assert len(shown) == n > 0
    assert {r["symbol"] for r in shown} == {"BTCUSDT"}
    assert {r["account"] for r in shown} == {"a", "b"}

    _, shown = inspect(url, "orders", "--status", "Filled", "--account", "b", "--limit", "100000")
    n = _sql_count(url, "SELECT COUNT(*) AS n FROM orders WHERE status = 'Filled' AND account='b'")
    assert len(shown) == n > 0
    assert {r["status"] for r in shown} == {"Filled"}
    assert all(row["avg_price"] != "" for row in shown)

    _, shown = inspect(url, "orders", "--open", "--limit", "100000")
    assert shown
    assert {r["status"] for r in shown} <= OPEN_STATUSES
    assert len(shown) == sum(
        _sql_count(url, "SELECT COUNT(*) AS n FROM orders WHERE status = :s", s=status)
        for status in OPEN_STATUSES
    )

    title, shown = inspect(url, "orders", "--account", "a", "--limit", "5")
    assert title == "orders (5 shown)"
    times = sorted(r["updated_time"] for r in _query(url, "SELECT * FROM orders WHERE account='a'"))
    assert [int(r["updated_time"]) for r in shown] == times[-5:]  # the newest, oldest first


def test_inspect_positions_fills_and_events(two_accounts, truth, inspect):
    url = two_accounts
    _, shown = inspect(url, "positions", "--account", "b")
    got = {f"{r['symbol']}:{r['position_idx']}": r for r in shown}
    assert set(got) == set(truth["positions"])
    for key, want in truth["positions"].items():
        assert Decimal(got[key]["net_qty"]) == Decimal(want["signedSize"])
        assert Decimal(got[key]["size"]) == Decimal(want["size"])

    _, shown = inspect(url, "fills", "--account", "a", "--symbol", "ETHUSDT", "--limit", "100000")
    want = {e for e, x in truth["executions"].items() if x["symbol"] == "ETHUSDT"}
    assert {r["exec_id"] for r in shown} == want
    for row in shown:
        exec_fee = truth["executions"][row["exec_id"]]["execFee"]
        assert Decimal(row["exec_fee"]) == Decimal(exec_fee)

    title, shown = inspect(url, "events", "--account", "b", "--limit", "20")
    assert title == "events (20 shown)"
    ids = [int(r["id"]) for r in shown]
    newest = [e.id for e in read_events(url, 0, 1_000_000, account="b")][-20:]
    assert ids == newest
    assert {r["account"] for r in shown} == {"b"}


def test_accounts_replayed_into_one_database_stay_separate(two_accounts, truth):
    url = two_accounts
    engine = open_engine(url)
    try:
        for account in ("a", "b"):
            orders = rows(engine, "SELECT * FROM orders WHERE account = :a", a=account)
            assert {o["order_id"] for o in orders} == set(truth["orders"])
            for order in orders:
                want = truth["orders"][order["order_id"]]
                assert order["status"] == want["status"]
                assert dec(order["cum_exec_qty"]) == Decimal(want["cumExecQty"])
            execs = rows(engine, "SELECT exec_id FROM executions WHERE account = :a", a=account)
            assert sorted(e["exec_id"] for e in execs) == truth["exec_ids"]
            assert count(engine, "frames", account) > 0
        progress = rows(engine, "SELECT account, source, finished FROM replays ORDER BY account")
        assert [(p["account"], bool(p["finished"])) for p in progress] == [("a", True), ("b", True)]
        # the second account's replay was not taken for a repeat of the first one's
        applied = rows(
            engine,
            "SELECT account, COUNT(*) AS n FROM frames WHERE outcome = 'applied' "
            "GROUP BY account ORDER BY account",
        )
        assert [r["account"] for r in applied] == ["a", "b"]
        assert all(r["n"] > 2000 for r in applied)
    finally:
        engine.dispose()
    a_events = read_events(url, 0, 1_000_000, account="a")
    b_events = read_events(url, 0, 1_000_000, account="b")
    assert a_events
    assert b_events
    assert {e.account for e in a_events} == {"a"}
    assert len(a_events) + len(b_events) == len(read_events(url, 0, 1_000_000))


def _wait_for_advisory_lock_waiter(url: str, deadline_s: float = 30.0) -> bool:
    """Poll pg_locks until some session waits for an advisory lock."""
    engine = open_engine(url)
    try:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            with engine.connect() as conn:
                waiting = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).scalar_one()
            if waiting:
                return True
            time.sleep(0.05)
        return False
    finally:
        engine.dispose()


def test_a_follower_misses_no_event_of_concurrent_writers(pg_server, clean_lines):
    """Two accounts written by two services at once (PostgreSQL lets their transactions
    overlap). A follower that reads "after the last id it handled" must still get every
    event: ids have to follow commit order, as the outbox promises."""
    url = pg_server.create_database()
    entered, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    slow = Pipeline(url, account="slow", group_frames=10_000, group_ms=1e12)
    fast = Pipeline(url, account="fast", group_frames=10_000, group_ms=1e12)

    @sqlalchemy_event.listens_for(slow.engine, "commit")
    def hold(_conn) -> None:  # the slow writer's events are written, not yet committed
        if not release.is_set():
            entered.set()
            release.wait(timeout=SUBPROCESS_TIMEOUT)

    def run(service: Pipeline) -> None:
        try:
            service.flush()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    try:
        for line in clean_lines[:50]:
            slow.feed(line)
            fast.feed(line)
        slow_writer = threading.Thread(target=run, args=(slow,))
        slow_writer.start()
        try:
            assert entered.wait(timeout=SUBPROCESS_TIMEOUT)
            fast_writer = threading.Thread(target=run, args=(fast,))
            fast_writer.start()
            # the second writer must queue behind the first one's uncommitted events
            # (the outbox lock), not slip its events in with lower ids
            assert _wait_for_advisory_lock_waiter(url), "the fast writer never queued"
            # a follower polls now: it sees what is committed and remembers the last id
            seen = read_events(url, 0, 100_000)
            after = seen[-1].id if seen else 0
        finally:
            release.set()
            slow_writer.join(timeout=SUBPROCESS_TIMEOUT)
        fast_writer.join(timeout=SUBPROCESS_TIMEOUT)
        assert not fast_writer.is_alive()
        assert errors == []
        seen += read_events(url, after, 100_000)  # and polls again after the slow commit
        everything = read_events(url, 0, 100_000)
        assert {e.account for e in everything} == {"slow", "fast"}
        missed = [e.id for e in everything if e not in seen]
        assert missed == [], f"the follower never got {len(missed)} of {len(everything)} events"
    finally:
        slow.close()
        fast.close()
        pg_server.drop_database(url)
