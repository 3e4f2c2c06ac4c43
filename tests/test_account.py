"""``Account``, the object a trading system embeds: real SQLite files, real threads.

Fed by the caller (the recorded session), the account's queries equal the exchange's
truth, from any thread at any time. Subscribers hear every committed event once, in
commit order, after its commit; a failing one or a slow one never disturbs the others.
Registered orders and positions raise reconciliation events that reach subscribers and
the outbox. A reopened database restores the state and recognises frames seen before.
Run live against the embedded sandbox, the account subscribes, resyncs and converges to
the sandbox's truth. Every wait polls with a deadline; nothing asserts a duration.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from oms import (
    Account,
    Anomaly,
    Event,
    EventsDropped,
    ExpectedOrderRejected,
    FillBooked,
    FillQtyMismatched,
    LocalError,
    MalformedFrame,
    OrderMismatched,
    OrderNotAcknowledged,
    PositionChanged,
    PositionDiverged,
    PositionReconverged,
    Reconciliation,
    ResyncCompleted,
    Side,
    StreamSettings,
    UnexpectedOrderSeen,
)
from oms.cli.demo import compare_with_truth, load_ledger
from oms.core import events as core_events
from oms.core.states import TERMINAL
from oms.runtime.outbox import read_events
from oms.runtime.resync import ResyncScope
from oms.sandbox import Sandbox
from oms.store.repository import event_json
from tests.core.frames import T0, position, position_frame
from tests.e2e.conftest import KEY, SECRET, SEED, database_differences, history_in_the_past
from tests.test_expectations_properties import placed_orders

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from oms.runtime.outbox import StoredEvent

#: Upper bounds of waits, never expected durations: a healthy run is far quicker.
WAIT_S = 60.0
POLL_S = 0.02
#: An ack timeout no test run comes near: registered orders never time out by accident.
NEVER_MS = 3_600_000
TERMINAL_NAMES = frozenset(s.value for s in TERMINAL)
ANOMALY_NAMES = frozenset(
    name
    for name, value in vars(core_events).items()
    if isinstance(value, type) and issubclass(value, Anomaly)
)


def wait_for(predicate: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_S)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "oms.db"


@pytest.fixture
def url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture(autouse=True)
def _no_thread_left_behind() -> Iterator[None]:
    """Closing an account ends every thread it started (worker, stream, subscribers)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + WAIT_S
    while left := [t for t in threading.enumerate() if t not in before and t.is_alive()]:
        if time.monotonic() >= deadline:
            pytest.fail(f"threads left behind: {sorted(t.name for t in left)}")
        time.sleep(POLL_S)


@dataclass
class Recorder:
    """A subscriber callback that keeps what it was given."""

    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def snapshot(self) -> list[Event]:
        with self.lock:
            return list(self.events)

    def wait_for(self, count: int, what: str) -> list[Event]:
        wait_for(lambda: len(self.snapshot()) >= count, what)
        return self.snapshot()


def outbox(url: str) -> list[StoredEvent]:
    """Every outbox row, in id (commit) order."""
    rows: list[StoredEvent] = []
    while batch := read_events(url, after_id=rows[-1].id if rows else 0, limit=5000):
        rows += batch
    return rows


def as_row(event: Event) -> tuple[str, str | None, dict[str, Any]]:
    """What the outbox row of ``event`` holds."""
    return type(event).__name__, getattr(event, "order_id", None), json.loads(event_json(event))


def row_of(stored: StoredEvent) -> tuple[str, str | None, dict[str, Any]]:
    return stored.type, stored.order_id, stored.payload


def feed_all(account: Account, lines: list[str]) -> None:
    for line in lines:
        account.feed(line)
    assert account.drain(WAIT_S), "the account did not drain"


def _dec(text: str | None) -> Decimal | None:
    return None if text in {None, ""} else Decimal(text)


def query_differences(account: Account, truth: dict[str, Any]) -> list[str]:
    """How the account's queries differ from the recorded session's truth."""
    return (
        order_differences(account, truth)
        + fill_differences(account, truth)
        + position_differences(account, truth)
    )


def order_differences(account: Account, truth: dict[str, Any]) -> list[str]:
    diffs: list[str] = []
    for order_id, want in truth["orders"].items():
        got = account.order(order_id)
        if got is None:
            diffs.append(f"order {order_id}: missing")
            continue
        pairs = (
            ("status", got.status.value, want["status"]),
            ("cumExecQty", got.cum_exec_qty, _dec(want["cumExecQty"])),
            ("leavesQty", got.leaves_qty, _dec(want["leavesQty"])),
            ("avgPrice", got.avg_price, _dec(want["avgPrice"])),
            ("cumExecFee", got.cum_exec_fee, _dec(want["cumExecFee"])),
            ("qty", got.qty, _dec(want["qty"])),
            ("symbol", got.symbol, want["symbol"]),
            ("side", got.side.value, want["side"]),
            ("positionIdx", got.position_idx, want["positionIdx"]),
            ("orderType", got.order_type, want["orderType"]),
            ("stopOrderType", got.stop_order_type, want["stopOrderType"]),
            ("orderLinkId", got.order_link_id, want["orderLinkId"]),
            ("updatedTime", got.updated_time, int(want["updatedTime"])),
        )
        diffs += [f"order {order_id} {n}: {g!r} != {w!r}" for n, g, w in pairs if g != w]
        if want["orderLinkId"] and account.order_by_link_id(want["orderLinkId"]) != got:
            diffs.append(f"order_by_link_id({want['orderLinkId']!r}) is not order {order_id}")
    open_ids = {i for i, o in truth["orders"].items() if o["status"] not in TERMINAL_NAMES}
    if {o.order_id for o in account.open_orders()} != open_ids:
        diffs.append(f"open orders: {sorted(o.order_id for o in account.open_orders())}")
    for symbol in {o["symbol"] for o in truth["orders"].values()}:
        want_open = {i for i in open_ids if truth["orders"][i]["symbol"] == symbol}
        if {o.order_id for o in account.open_orders(symbol)} != want_open:
            diffs.append(f"open orders of {symbol}")
    return diffs


def fill_differences(account: Account, truth: dict[str, Any]) -> list[str]:
    diffs: list[str] = []
    fills = {f.exec_id: f for f in account.fills()}
    if len(fills) != len(account.fills()) or sorted(fills) != truth["exec_ids"]:
        diffs.append("the booked execIds differ from the truth's")
    for exec_id, want in truth["executions"].items():
        f = fills.get(exec_id)
        got_fill = None if f is None else (f.order_id, f.exec_qty, f.exec_price, f.exec_fee)
        want_fill = (
            want["orderId"],
            Decimal(want["execQty"]),
            Decimal(want["execPrice"]),
            Decimal(want["execFee"]),
        )
        if got_fill != want_fill:
            diffs.append(f"fill {exec_id}: {got_fill} != {want_fill}")
    return diffs


def position_differences(account: Account, truth: dict[str, Any]) -> list[str]:
    diffs: list[str] = []
    positions = {f"{p.symbol}:{p.position_idx}": p for p in account.positions()}
    if set(positions) != set(truth["positions"]):
        diffs.append(f"legs {sorted(positions)} != {sorted(truth['positions'])}")
    nets: dict[str, Decimal] = {}
    for key, want in truth["positions"].items():
        p = positions.get(key)
        signed = Decimal(want["signedSize"])
        nets[want["symbol"]] = nets.get(want["symbol"], Decimal(0)) + signed
        got_leg = None if p is None else (p.net_qty, p.size, p.side and p.side.value, p.seq)
        want_leg = (signed, Decimal(want["size"]), want["side"] or None, want["seq"])
        if got_leg != want_leg:
            diffs.append(f"leg {key}: {got_leg} != {want_leg}")
    diffs += [
        f"net_position({s}): {account.net_position(s)} != {net}"
        for s, net in nets.items()
        if account.net_position(s) != net
    ]
    return diffs


# --- fed by the caller ------------------------------------------------------------------


def test_feed_reproduces_the_recorded_session(url, clean_lines, truth):
    account = Account(url)
    assert account.health().state == "stopped"
    assert account.drain() is True  # nothing started, nothing to wait for
    with account:
        assert account.health().state == "running"
        for number, line in enumerate(clean_lines):
            # bytes and text alike, as a socket library may hand them over
            frame = line.encode() if number % 2 else line
            account.feed(frame, received_at=1_717_300_000_000 + number)
        assert account.drain(WAIT_S)
        assert query_differences(account, truth) == []
        health = account.health()
        assert health.state == "running"
        assert (health.frames, health.queued) == (len(clean_lines), 0)
        assert health.last_frame_at == 1_717_300_000_000 + len(clean_lines) - 1
        assert (health.connections, health.reconnects) == (0, 0)
        assert (health.resyncs, health.resync_failures, health.last_resync_at) == (0, 0, None)
        assert health.last_resync is None
        assert account.last_resync is None
        assert health.error is None
    assert account.health().state == "stopped"
    # The database holds the same state, as a restart would load it.
    assert compare_with_truth(load_ledger(url), truth) == []
    with pytest.raises(LocalError, match="closed"):
        account.start()


def test_queries_from_many_threads_while_feeding_never_fail(url, clean_lines, truth):
    link_ids = [o["orderLinkId"] for o in truth["orders"].values() if o["orderLinkId"]]
    order_ids = list(truth["orders"])
    errors: list[BaseException] = []
    rounds = [0] * 4
    stop = threading.Event()

    def hammer(number: int, account: Account) -> None:
        seen_fills = 0
        try:
            while not stop.is_set():
                i = rounds[number]
                open_orders = account.open_orders()
                assert all(o.is_open for o in open_orders)
                legs = account.positions()
                assert legs == sorted(legs, key=lambda p: (p.category, p.symbol, p.position_idx))
                fills = account.fills()
                assert len(fills) >= seen_fills, "a booked fill vanished"
                assert len({f.exec_id for f in fills}) == len(fills), "an execId booked twice"
                seen_fills = len(fills)
                link_id = link_ids[(i * 7 + number) % len(link_ids)]
                got = account.order_by_link_id(link_id)
                assert got is None or got.order_link_id == link_id
                order_id = order_ids[i % len(order_ids)]
                by_id = account.order(order_id)
                assert by_id is None or by_id.order_id == order_id
                account.net_position("ETHUSDT")
                account.health()
                account.expected_orders()
                rounds[number] = i + 1
        except BaseException as exc:  # noqa: BLE001 - every failure is reported below
            errors.append(exc)

    with Account(url) as account:
        readers = [
            threading.Thread(target=hammer, args=(n, account), name=f"reader-{n}")
            for n in range(len(rounds))
        ]
        for reader in readers:
            reader.start()
        try:
            # every reader is querying before the first frame goes in
            wait_for(lambda: all(rounds) or bool(errors), "every reader to start")
            before = list(rounds)
            feed_all(account, clean_lines)
            wait_for(
                lambda: all(r > b for r, b in zip(rounds, before, strict=True)) or bool(errors),
                "every reader to query again after the feed",
            )
        finally:
            stop.set()
            for reader in readers:
                reader.join(WAIT_S)
        assert errors == []
        assert query_differences(account, truth) == []


# --- subscriptions ----------------------------------------------------------------------


def test_events_reach_subscribers_after_commit_in_commit_order_exactly_once(
    url, db_path, clean_lines
):
    not_yet_committed: list[tuple[int, str]] = []
    delivered: list[Event] = []
    handles: dict[str, sqlite3.Connection] = {}

    def check_committed(event: Event) -> None:
        # Runs on the subscription's thread: a connection of its own, reading what is
        # committed. The n-th event delivered must be the n-th row of the outbox already.
        reader = handles.get("db")
        if reader is None:
            reader = handles["db"] = sqlite3.connect(
                f"file:{db_path}?mode=ro", uri=True, check_same_thread=False
            )
        row = reader.execute(
            "SELECT type FROM events ORDER BY id LIMIT 1 OFFSET ?", (len(delivered),)
        ).fetchone()
        if row is None or row[0] != type(event).__name__:
            not_yet_committed.append((len(delivered), type(event).__name__))
        delivered.append(event)

    with Account(url) as account:
        subscription = account.subscribe(check_committed)
        feed_all(account, clean_lines)
    if handles:
        handles["db"].close()
    assert not_yet_committed == []
    rows = outbox(url)
    assert len(rows) > len(clean_lines) // 2
    assert [as_row(e) for e in delivered] == [row_of(r) for r in rows]
    assert (subscription.delivered, subscription.dropped, subscription.failures) == (
        len(rows),
        0,
        0,
    )


def test_subscriptions_get_only_the_types_they_asked_for(url, dirty_lines):
    everything, anomalies, trades = Recorder(), Recorder(), Recorder()
    with Account(url) as account:
        account.subscribe(everything)
        account.subscribe(anomalies, Anomaly)
        account.subscribe(trades, FillBooked, PositionChanged)
        feed_all(account, dirty_lines)
    rows = outbox(url)
    assert [as_row(e) for e in everything.events] == [row_of(r) for r in rows]
    want_anomalies = [row_of(r) for r in rows if r.type in ANOMALY_NAMES]
    assert [as_row(e) for e in anomalies.events] == want_anomalies
    assert any(isinstance(e, MalformedFrame) for e in anomalies.events)  # the dirty capture
    want_trades = [row_of(r) for r in rows if r.type in {"FillBooked", "PositionChanged"}]
    assert [as_row(e) for e in trades.events] == want_trades
    assert {type(e) for e in trades.events} == {FillBooked, PositionChanged}


class SubscriberBugError(Exception):
    """What the failing subscriber raises."""


def test_a_failing_subscriber_stops_neither_ingestion_nor_the_others(
    url, clean_lines, truth, caplog
):
    good = Recorder()
    bad_calls: list[Event] = []

    def bad(event: Event) -> None:
        bad_calls.append(event)
        if isinstance(event, FillBooked):
            raise SubscriberBugError(event)

    with caplog.at_level(logging.ERROR, logger="oms.runtime.publish"), Account(url) as account:
        account.subscribe(good)
        failing = account.subscribe(bad)
        feed_all(account, clean_lines)
        assert query_differences(account, truth) == []
        assert account.health().error is None
    rows = outbox(url)
    fills = sum(r.type == "FillBooked" for r in rows)
    assert fills == len(truth["exec_ids"])
    assert failing.failures == fills
    assert failing.delivered == len(rows) - fills
    assert [as_row(e) for e in bad_calls] == [row_of(r) for r in rows]  # it kept receiving
    assert [as_row(e) for e in good.events] == [row_of(r) for r in rows]
    assert sum("subscriber" in r.getMessage() for r in caplog.records) == fills


def test_a_slow_subscriber_drops_and_then_hears_exactly_how_many(url, clean_lines):
    gate = threading.Event()
    slow_got: list[Event] = []

    def slow(event: Event) -> None:
        slow_got.append(event)
        gate.wait(WAIT_S)  # stuck until the test lets it go

    fast = Recorder()
    with Account(url) as account:
        lagging = account.subscribe(slow, max_pending=5)
        account.subscribe(fast)
        feed_all(account, clean_lines)  # every event offered, the slow one stuck
        assert lagging.dropped > 0
        assert lagging.pending <= 5
        gate.set()
        assert lagging.wait_idle(WAIT_S)
        # Caught up: events resume (a malformed frame makes one).
        account.feed("<html>502 Bad Gateway</html>")
        assert account.drain(WAIT_S)
        assert lagging.wait_idle(WAIT_S)
    rows = outbox(url)
    assert rows[-1].type == "MalformedFrame"
    notes = [e for e in slow_got if isinstance(e, EventsDropped)]
    assert len(notes) == 1
    [note] = notes
    assert note.count == lagging.dropped
    assert slow_got[-2] is note  # after everything it did get, before events resumed
    kept = [e for e in slow_got if e is not note]
    assert lagging.delivered == len(slow_got)
    assert lagging.delivered - 1 + lagging.dropped == len(rows)  # delivered + dropped = all
    # What it got is the outbox's beginning, then (after the loss) its end.
    assert [as_row(e) for e in kept[:-1]] == [row_of(r) for r in rows[: len(kept) - 1]]
    assert as_row(kept[-1]) == row_of(rows[-1])
    # The note carries the times of the first event lost.
    assert note.received_at == rows[len(kept) - 1].created_at
    # The fast one lost nothing.
    assert [as_row(e) for e in fast.events] == [row_of(r) for r in rows]


def test_unsubscribe_ends_delivery(url, clean_lines):
    left, stays = Recorder(), Recorder()
    with Account(url) as account:
        leaving = account.subscribe(left)
        account.subscribe(stays)
        half = len(clean_lines) // 2
        feed_all(account, clean_lines[:half])
        account.unsubscribe(leaving)
        heard = len(left.events)
        feed_all(account, clean_lines[half:])
    rows = outbox(url)
    assert 0 < heard < len(rows)
    assert len(left.events) == heard
    assert [as_row(e) for e in left.events] == [row_of(r) for r in rows[:heard]]
    assert [as_row(e) for e in stays.events] == [row_of(r) for r in rows]


# --- expectations, end to end -----------------------------------------------------------


def _filled_as_placed(clean_lines: list[str], truth: dict[str, Any]) -> list[Any]:
    """Orders of the sample that were filled exactly as placed (no amend of qty)."""
    placed = placed_orders(clean_lines)
    return [
        p
        for order_id, p in placed.items()
        if p.link_id
        and truth["orders"][order_id]["status"] == "Filled"
        and Decimal(truth["orders"][order_id]["qty"]) == p.qty
        and Decimal(truth["orders"][order_id]["cumExecQty"]) == p.qty
    ]


def reconciliation_rows(url: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    names = {
        t.__name__
        for t in (
            OrderNotAcknowledged,
            ExpectedOrderRejected,
            OrderMismatched,
            FillQtyMismatched,
            UnexpectedOrderSeen,
            PositionDiverged,
            PositionReconverged,
        )
    }
    return [row_of(r) for r in outbox(url) if r.type in names]


def test_registered_orders_are_checked_as_their_frames_are_fed(url, clean_lines, truth):
    right, wrong = _filled_as_placed(clean_lines, truth)[:2]
    heard = Recorder()
    with Account(url) as account:
        account.subscribe(heard, Reconciliation)
        account.expect_order(
            right.link_id,
            symbol=right.symbol,
            side=right.side,  # a str is accepted
            qty=str(right.qty),
            ack_timeout_ms=NEVER_MS,
        )
        account.expect_order(
            wrong.link_id,
            symbol=wrong.symbol,
            side=Side(wrong.side),
            qty=wrong.qty * 2,
            ack_timeout_ms=NEVER_MS,
        )
        assert account.drain(WAIT_S)  # registrations are applied in line, like frames
        assert [e.order_link_id for e in account.expected_orders()] == [
            right.link_id,
            wrong.link_id,
        ]
        feed_all(account, clean_lines)
        assert account.expected_orders() == []  # both ended
        assert query_differences(account, truth) == []
    twice = wrong.qty * 2
    assert [type(e) for e in heard.events] == [OrderMismatched, FillQtyMismatched]
    mismatch, fill_qty = heard.events
    assert isinstance(mismatch, OrderMismatched)
    assert (mismatch.order_link_id, mismatch.order_id, mismatch.field) == (
        wrong.link_id,
        wrong.order_id,
        "qty",
    )
    assert (Decimal(mismatch.expected), Decimal(mismatch.actual)) == (twice, wrong.qty)
    assert isinstance(fill_qty, FillQtyMismatched)
    assert (fill_qty.order_link_id, fill_qty.status.value) == (wrong.link_id, "Filled")
    assert (fill_qty.expected_qty, fill_qty.filled_qty) == (twice, wrong.qty)
    # Stored in the outbox too, in the same order.
    assert reconciliation_rows(url) == [as_row(e) for e in heard.events]


def test_unexpected_orders_through_feed(url, clean_lines, truth):
    registered = _filled_as_placed(clean_lines, truth)[0]
    heard = Recorder()
    with Account(url, report_unexpected_orders=True) as account:
        account.subscribe(heard, UnexpectedOrderSeen)
        account.expect_order(
            registered.link_id,
            symbol=registered.symbol,
            side=registered.side,
            qty=registered.qty,
            ack_timeout_ms=NEVER_MS,
        )
        feed_all(account, clean_lines)
    seen = [e.order_id for e in heard.events if isinstance(e, UnexpectedOrderSeen)]
    assert len(seen) == len(heard.events)
    assert sorted(seen) == sorted(set(truth["orders"]) - {registered.order_id})
    assert reconciliation_rows(url) == [as_row(e) for e in heard.events]


def test_an_order_never_reported_is_announced_once_its_ack_timeout_passed(url):
    heard = Recorder()
    with Account(url) as account:
        account.subscribe(heard, OrderNotAcknowledged)
        account.expect_order(
            "never-sent-1", symbol="BTCUSDT", side="Sell", qty="0.5", ack_timeout_ms=50
        )
        [missed] = heard.wait_for(1, "OrderNotAcknowledged")
        assert account.expected_orders() == []
    assert isinstance(missed, OrderNotAcknowledged)
    assert (missed.order_link_id, missed.symbol, missed.side, missed.qty) == (
        "never-sent-1",
        "BTCUSDT",
        Side.SELL,
        Decimal("0.5"),
    )
    assert heard.events == [missed]
    assert reconciliation_rows(url) == [as_row(missed)]


def test_forgotten_registrations_raise_nothing(url):
    heard = Recorder()
    # Long enough that the worker applies all six requests before any is due.
    due_ms = 1_000
    with Account(url, position_grace_ms=due_ms) as account:
        account.subscribe(heard, Reconciliation)
        # Each forgotten one is registered first: had it been kept, it would be due no
        # later than the one kept, so it would be heard first.
        for link_id in ("forgotten", "kept"):
            account.expect_order(
                link_id, symbol="BTCUSDT", side="Buy", qty="1", ack_timeout_ms=due_ms
            )
        account.forget_order("forgotten")
        account.expect_position("SOLUSDT", "5")
        account.expect_position("ETHUSDT", "5")
        account.forget_position("SOLUSDT")
        assert account.drain(WAIT_S)
        events = heard.wait_for(2, "the kept registrations' events")
        assert [e.symbol for e in account.expected_positions()] == ["ETHUSDT"]
        assert account.expected_orders() == []
    assert [summary_of(e) for e in events] == [
        ("OrderNotAcknowledged", "kept"),
        ("PositionDiverged", "ETHUSDT"),
    ]
    assert reconciliation_rows(url) == [as_row(e) for e in events]


def summary_of(event: Event) -> tuple[str, str]:
    name = getattr(event, "order_link_id", None) or getattr(event, "symbol", "")
    return type(event).__name__, name


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"symbol": "BTCUSDT", "side": "Long", "qty": "1"}, "side"),
        ({"symbol": "BTCUSDT", "side": "Buy", "qty": 0.1}, "float"),
        ({"symbol": "BTCUSDT", "side": "Buy", "qty": "NaN"}, "finite"),
        ({"symbol": "BTCUSDT", "side": "Buy", "qty": "one"}, "decimal"),
        ({"symbol": "", "side": "Buy", "qty": "1"}, "symbol"),
    ],
)
def test_a_bad_registration_is_refused_at_once(url, kwargs, complaint):
    with Account(url) as account:
        with pytest.raises(LocalError, match=complaint):
            account.expect_order("L1", **kwargs)
        assert account.drain(WAIT_S)
        assert account.expected_orders() == []


def test_positions_diverge_after_the_grace_and_reconverge(url, clean_lines, truth):
    heard = Recorder()
    nets = {
        s: sum(
            (Decimal(p["signedSize"]) for p in truth["positions"].values() if p["symbol"] == s),
            Decimal(0),
        )
        for s in ("BTCUSDT", "DOGEUSDT")
    }
    assert nets["DOGEUSDT"] != 0
    with Account(url, position_grace_ms=50) as account:
        feed_all(account, clean_lines)
        account.subscribe(heard, PositionDiverged, PositionReconverged)
        account.expect_position("BTCUSDT", nets["BTCUSDT"])  # right
        account.expect_position("DOGEUSDT", "0")  # wrong
        [divergence] = heard.wait_for(1, "PositionDiverged")
        # BTCUSDT was registered first and agrees: it would have been announced first.
        assert isinstance(divergence, PositionDiverged)
        assert (divergence.symbol, divergence.category) == ("DOGEUSDT", "linear")
        assert (divergence.expected_net_qty, divergence.actual_net_qty) == (
            Decimal(0),
            nets["DOGEUSDT"],
        )
        assert [(p.symbol, p.net_qty) for p in account.expected_positions()] == [
            ("BTCUSDT", nets["BTCUSDT"]),
            ("DOGEUSDT", Decimal(0)),
        ]
        # The exchange reports the DOGEUSDT position closed: it agrees again.
        doge = truth["positions"]["DOGEUSDT:0"]
        closed = position(
            symbol="DOGEUSDT",
            side="",
            size="0",
            seq=doge["seq"] + 1,
            updatedTime=str(truth["meta"]["end_ms"] + 1),
        )
        account.feed(position_frame(closed, creation_time=truth["meta"]["end_ms"] + 1))
        events = heard.wait_for(2, "PositionReconverged")
        assert account.net_position("DOGEUSDT") == 0
    assert len(events) == 2
    reconverged = events[1]
    assert isinstance(reconverged, PositionReconverged)
    assert (reconverged.symbol, reconverged.net_qty) == ("DOGEUSDT", Decimal(0))
    assert reconciliation_rows(url) == [as_row(e) for e in events]


def test_the_grace_runs_on_the_wall_clock_whatever_received_at_the_caller_gives(url):
    heard = Recorder()
    with Account(url, position_grace_ms=3_600_000) as account:
        subscription = account.subscribe(heard, PositionDiverged)
        account.expect_position("BTCUSDT", "0")
        # A replayed frame, stamped with its old receipt time, moves the position.
        moved = position(size="1", seq=5, updatedTime=str(T0 + 5))
        account.feed(position_frame(moved, creation_time=T0 + 5), received_at=T0 + 5)
        assert account.drain(WAIT_S)
        assert account.net_position("BTCUSDT") == 1
        account._runner.call(account._service.tick)  # ask for what is due, now
        assert account.drain(WAIT_S)
        assert subscription.wait_idle(WAIT_S)
    # An hour's grace has not passed on the wall clock: nothing is announced.
    assert heard.events == []
    assert reconciliation_rows(url) == []


# --- restart ----------------------------------------------------------------------------


def persisted(account: Account, order_ids: list[str]) -> tuple[object, ...]:
    """Orders, fills and positions as the database keeps them. It does not store an
    order's timeInForce nor an execution's leavesQty (see oms.store.repository): a
    restored value holds ``""`` and None there. Restored fills come back in execution
    order rather than in the order they were first booked: compared as a set."""
    orders = [account.order(i) for i in order_ids]
    return (
        [o._replace(time_in_force="") if o is not None else None for o in orders],
        [o._replace(time_in_force="") for o in account.open_orders()],
        sorted(f._replace(leaves_qty=None) for f in account.fills()),
        account.positions(),
    )


def test_a_reopened_account_restores_its_state_and_recognises_old_frames(url, clean_lines, truth):
    order_ids = list(truth["orders"])
    with Account(url) as first:
        feed_all(first, clean_lines)
        state = persisted(first, order_ids)
    rows = outbox(url)
    assert rows

    heard = Recorder()
    with Account(url) as second:
        assert query_differences(second, truth) == []
        assert persisted(second, order_ids) == state
        second.subscribe(heard)
        feed_all(second, clean_lines)
        stats = second._service.ledger.stats
        assert persisted(second, order_ids) == state
        assert second.health().frames == len(clean_lines)
    assert heard.events == []  # nothing new happened
    assert stats["frames"] == 2 * len(clean_lines)  # every frame journaled, both times
    assert stats["applied"] == len(clean_lines)  # ... and applied once
    assert stats["duplicate"] + stats["stale"] == len(clean_lines)
    assert outbox(url) == rows  # none lost, none added


# --- live, against the embedded sandbox ---------------------------------------------------


def test_live_stream_subscribes_resyncs_and_converges_to_the_sandbox(url):
    resyncs = Recorder()
    with Sandbox(KEY, SECRET, seed=SEED) as sandbox:
        sandbox.step(60)  # history before the account connects: the first resync finds it
        history_in_the_past(sandbox)
        settings = StreamSettings(
            url=sandbox.ws_url,
            api_key=KEY,
            api_secret=SECRET,
            topics=("order", "execution", "position"),
            backoff_initial_s=0.05,
            backoff_max_s=0.5,
        )
        account = Account(
            url,
            stream=settings,
            rest_url=sandbox.rest_url,
            scope=ResyncScope(("linear",), ("USDT",)),
        )
        account.subscribe(resyncs, ResyncCompleted)  # before start: hears the first one
        with account:
            wait_for(lambda: account.health().resyncs >= 1, "the first resync")
            sandbox.start_trading(25.0)
            try:
                wait_for(lambda: account.health().frames >= 30, "live frames")
                account.resync("asked by the test while trading")
                wait_for(lambda: account.health().resyncs >= 2, "the requested resync")
            finally:
                sandbox.stop_trading()
            wait_for(
                lambda: account.drain(WAIT_S) and not database_differences(url, sandbox),
                "the database to equal the sandbox's truth",
            )
            health = account.health()
            assert health.state == "running"
            assert health.stream == "subscribed"
            assert health.connections >= 1
            assert health.frames >= 30
            assert health.last_frame_at is not None
            assert health.resyncs >= 2
            assert health.resync_failures == 0
            assert health.last_resync_at is not None
            assert health.error is None
            last = account.last_resync
            assert last is not None
            assert health.last_resync == last
            assert resyncs.wait_for(health.resyncs, "ResyncCompleted delivered")[-1] == last
        assert account.health().state == "stopped"
        # After a clean close the database, as a restart loads it, is the sandbox's truth.
        assert database_differences(url, sandbox) == []
    kinds = [r.type for r in outbox(url)]
    # The requested resync follows a gap (the caller's socket reconnected): recorded.
    assert kinds.count("StreamGapDetected") == kinds.count("ResyncStarted") - 1 >= 1
    assert kinds.count("ResyncCompleted") == kinds.count("ResyncStarted") >= health.resyncs


def test_resync_without_rest_records_the_gap_and_a_closed_account_refuses_subscribers(url):
    gaps = Recorder()
    with Account(url) as account:
        account.subscribe(gaps, core_events.StreamGapDetected, core_events.ResyncStarted)
        account.resync("my socket reconnected")
        assert account.drain()
        wait_for(lambda: len(gaps.events) >= 1, "the recorded gap")
    assert [type(e).__name__ for e in gaps.events] == ["StreamGapDetected"]
    assert gaps.events[0].reason == "my socket reconnected"
    assert [e.type for e in outbox(url)] == ["StreamGapDetected"]
    with pytest.raises(LocalError, match="closed"):
        account.subscribe(gaps)


def test_an_unknown_stream_host_without_rest_url_is_refused_before_the_database_opens(
    tmp_path,
):
    settings = StreamSettings(url="ws://127.0.0.1:9/v5/private", api_key=KEY, api_secret=SECRET)
    with pytest.raises(LocalError, match="rest_url"):
        Account(f"sqlite:///{tmp_path / 'x.db'}", stream=settings)
    assert not (tmp_path / "x.db").exists()
