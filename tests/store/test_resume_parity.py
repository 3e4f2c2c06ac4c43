"""A replay SIGKILLed and resumed, several times over, writes the same outbox as one that
was never interrupted: the same events, in the same order, with the same payloads (receipt
times aside), and the same state and journal.

The bundled captures never leave a cross-topic check waiting past its settle window, so
their outbox holds no ``PositionMismatch`` or ``FillForUnknownOrder``: their late-and-lost
variants (``tests/late_and_lost.py``) hold mismatches that stay, mismatches resolved late,
and fills whose order never comes or comes late, which a restore must neither announce
again nor forget to follow up.

Each kill lands at a chosen commit: the replay runs in a child process that SIGKILLs
itself right before its n-th write of replay progress, i.e. inside the transaction of its
n-th group (``CRASH_CHILD`` of ``test_crash``), so the database holds exactly its first
n - 1 groups. A replay commits by line counts (every 100 lines or more, and only where no
settle window is open: a restore cannot say how far one had run), so each kill lands at
the same line on every run.

Last, on a real database in-process: what was announced is remembered across eviction and
restarts (a cancel race is reported once; an open mismatch gets its resolution, not a
second announcement).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from oms import (
    CancelRejected,
    FillBooked,
    FillForUnknownOrder,
    LegKey,
    PositionMismatch,
    PositionMismatchResolved,
)
from oms.runtime.pipeline import Pipeline
from oms.store.db import open_engine
from tests.core.frames import (
    execution,
    execution_frame,
    ms,
    order,
    order_frame,
    position,
    position_frame,
)
from tests.late_and_lost import capture_lines, write_late_and_lost
from tests.store.conftest import (
    BACKENDS,
    CLEAN,
    DIRTY,
    ROOT,
    SUBPROCESS_TIMEOUT,
    event_rows,
    make_databases,
    replay,
    rows,
    state_tables,
    table_rows,
)
from tests.store.test_crash import CRASH_CHILD

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy.engine import Engine

#: Per capture, where each attempt is killed: before its n-th commit (each attempt counts
#: from its start). A replay commits every 100 lines or more, where no settle window is
#: open, so the first kill of a late-and-lost capture leaves open mismatches behind (those
#: announced in its first 700 to 800 lines) and the second one more.
KILL_PLANS = {
    "clean": (4, 9),
    "dirty": (8, 6),
    "clean-late-and-lost": (3, 10),
    "dirty-late-and-lost": (4, 8),
}
OID = "9aac161b-8ed6-450d-9cab-c5cc67c21784"  # the order of tests.core.frames
#: The announcements a restore must remember, present in the derived captures' outboxes.
CROSS_TOPIC = {"PositionMismatch", "PositionMismatchResolved", "FillForUnknownOrder"}


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("captures")
    return {
        "clean": CLEAN,
        "dirty": DIRTY,
        "clean-late-and-lost": write_late_and_lost(CLEAN, folder / "clean-ll.jsonl.gz"),
        "dirty-late-and-lost": write_late_and_lost(DIRTY, folder / "dirty-ll.jsonl.gz"),
    }


class References:
    """Per backend and capture, what one uninterrupted replay leaves (made when first
    asked for, in databases of its own)."""

    def __init__(self, request: pytest.FixtureRequest, folder: Path) -> None:
        for backend in BACKENDS:
            (folder / backend).mkdir()
        self._databases = {b: make_databases(request, b, folder / b) for b in BACKENDS}
        self._found: dict[tuple[str, Path], dict[str, Any]] = {}

    def of(self, backend: str, capture: Path) -> dict[str, Any]:
        key = (backend, capture)
        if key not in self._found:
            url = self._databases[backend].new()
            replay(capture, url)
            self._found[key] = _everything(url)
        return self._found[key]

    def drop_all(self) -> None:
        for databases in self._databases.values():
            databases.drop_all()


@pytest.fixture(scope="module")
def references(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[References]:
    found = References(request, tmp_path_factory.mktemp("references"))
    yield found
    found.drop_all()


def _everything(url: str) -> dict[str, Any]:
    """The state tables (the outbox among them, see ``event_rows``) and the journal."""
    engine = open_engine(url)
    try:
        found: dict[str, Any] = state_tables(engine)
        found["frames"] = [
            (r["topic"], r["raw"], r["outcome"], r["error"]) for r in table_rows(engine, "frames")
        ]
        found["progress"] = _progress(engine)
    finally:
        engine.dispose()
    return found


def _progress(engine: Engine) -> tuple[int, bool] | None:
    rows = table_rows(engine, "replays")
    return None if not rows else (rows[0]["lines_done"], rows[0]["finished"])


def _killed_before_commit(capture: Path, url: str, nth: int) -> None:
    """Replay ``capture`` into ``url`` in a child that SIGKILLs itself right before the
    ``nth`` write of replay progress."""
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASH_CHILD,
            "INSERT INTO replays",
            str(nth),
            *("replay", str(capture), "--db", url, "--json"),
        ],
        capture_output=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
        cwd=ROOT,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode(errors="replace")


def _killed_and_resumed(
    capture: Path, url: str, plan: tuple[int, ...], lines: int
) -> dict[str, Any]:
    """Replay ``capture`` into ``url``, killed as ``plan`` says, then to its end; return
    what it left (see ``_everything``)."""
    engine = open_engine(url)
    try:
        done_before = 0
        for nth in plan:
            _killed_before_commit(capture, url, nth)
            progress = _progress(engine)
            assert progress is not None, "killed before its first commit"
            assert not progress[1], "the replay finished before its kill"
            assert done_before < progress[0] < lines, progress
            done_before = progress[0]
    finally:
        engine.dispose()
    replay(capture, url)
    return _everything(url)


#: Every capture on SQLite; on PostgreSQL (slower to set up) those with announcements.
CASES = [("sqlite", name) for name in KILL_PLANS] + [
    ("postgresql", name) for name in KILL_PLANS if name.endswith("late-and-lost")
]


@pytest.mark.parametrize(("backend", "name"), CASES)
def test_resumed_replay_writes_the_outbox_of_an_uninterrupted_one(
    backend, name, request, tmp_path, captures, references
):
    capture = captures[name]
    lines = len(capture_lines(capture))
    want = references.of(backend, capture)
    if name.endswith("late-and-lost"):
        assert {e["type"] for e in want["events"]} >= CROSS_TOPIC, "nothing to remember"
    databases = make_databases(request, backend, tmp_path)
    try:
        got = _killed_and_resumed(capture, databases.new(), KILL_PLANS[name], lines)
    finally:
        databases.drop_all()
    assert got["progress"] == (lines, True)
    assert got["events"] == want["events"]
    for table in ("orders", "executions", "positions", "order_updates", "frames"):
        assert got[table] == want[table], table


def test_the_kill_plans_cover_every_capture(captures):
    assert set(KILL_PLANS) == set(captures)


# --- what was announced, across eviction and a restart, on a real database ----------------


def _order_frame(**fields: str) -> str:
    return order_frame(order(**{"orderStatus": "Filled", "cumExecQty": "1", **fields}))


#: The echo Bybit sends when a cancel raced the final fill (``CancelRejected``).
ECHO = _order_frame(
    cancelType="CancelByUser", rejectReason="EC_OrigClOrdIDDoesNotExist", updatedTime=ms(12)
)


def test_a_cancel_race_is_reported_once_across_eviction_and_restart(db_url):
    with Pipeline(db_url, keep_terminal_orders=0) as service:
        service.feed(_order_frame(updatedTime=ms(10)), received_at=1)
        service.feed(execution_frame(execution()), received_at=1)
        assert [type(e) for e in service.feed(ECHO, received_at=2).events] == [CancelRejected]
        service.flush()  # the order is terminal and fully booked: it leaves memory
        assert service.ledger.order(OID) is None
        assert service.feed(ECHO, received_at=3).events == []  # recalled, still silent
        assert service.ledger.order(OID) is not None
    with Pipeline(db_url) as restarted:
        assert restarted.feed(ECHO, received_at=4).events == []
        restarted.flush()
    engine = open_engine(db_url)
    try:
        assert [e["type"] for e in event_rows(engine)].count("CancelRejected") == 1
    finally:
        engine.dispose()


def test_an_open_mismatch_is_resolved_after_a_restart_not_announced_again(db_url):
    with Pipeline(db_url, settle_frames=2) as service:
        service.feed(_order_frame(qty="2", cumExecQty="2"), received_at=1)
        service.feed(execution_frame(execution(seq=100)), received_at=2)
        service.feed(position_frame(position(size="2", seq=100)), received_at=3)
        (mismatch,) = service.settle()
        assert isinstance(mismatch, PositionMismatch)
    with Pipeline(db_url, settle_frames=2) as restarted:
        assert restarted.settle() == []
        late = restarted.feed(execution_frame(execution(execId="late", seq=100)))
        assert [type(e) for e in late.events] == [FillBooked, PositionMismatchResolved]


def test_a_fill_that_waits_for_its_order_still_waits_after_a_restart(db_url):
    """Booked to no leg (its symbol not known one-way then), it must not move the leg the
    report since showed one-way: the outbox's ``FillBooked`` says so."""
    xrp = {"symbol": "XRPUSDT", "orderId": "o1", "execId": "x", "seq": 7}
    with Pipeline(db_url, settle_frames=2) as service:
        service.feed(execution_frame(execution(**xrp)), received_at=1)
        service.feed(position_frame(position(symbol="XRPUSDT", seq=7)), received_at=2)
        assert {type(e) for e in service.settle()} == {PositionMismatch, FillForUnknownOrder}
        assert service.ledger.derived_position("XRPUSDT") == 0
    with Pipeline(db_url, settle_frames=2) as restarted:
        assert restarted.ledger.derived_position("XRPUSDT") == 0
        assert restarted.settle() == []
        order_id = {"symbol": "XRPUSDT", "orderId": "o1"}
        arrived = restarted.feed(_order_frame(**order_id)).events
        assert PositionMismatchResolved in {type(e) for e in arrived}
        assert restarted.ledger.derived_position("XRPUSDT") == 1


def test_an_opening_balance_survives_a_restart(db_url, engine):
    """A position held before oms started: its opening balance is stored with the leg, so
    after a restart a late fill inside it still moves nothing, a fill after it moves the
    derived net on, and no PositionMismatch is raised on either side of the restart."""
    with Pipeline(db_url, settle_frames=2) as service:
        service.feed(position_frame(position(side="Sell", size="3", seq=500)), received_at=1)
        assert service.settle() == []
    (row,) = rows(engine, "SELECT opening_net_qty, opening_seq, fills_net_qty FROM positions")
    assert (Decimal(str(row["opening_net_qty"])), row["opening_seq"]) == (Decimal(-3), 500)
    with Pipeline(db_url, settle_frames=2) as restarted:
        leg = restarted.ledger.legs()[LegKey("linear", "BTCUSDT", 0)]
        assert leg.opening == (Decimal(-3), 500)
        assert leg.derived_net == Decimal(-3)
        restarted.feed(_order_frame(side="Sell", qty="1", cumExecQty="1"), received_at=2)
        inside = restarted.feed(execution_frame(execution(side="Sell", seq=499)))
        assert [type(e) for e in inside.events] == [FillBooked]
        assert leg.derived_net == Decimal(-3)
        restarted.feed(_order_frame(orderId="o-2", side="Buy", qty="1", cumExecQty="1"))
        restarted.feed(execution_frame(execution(execId="after", orderId="o-2", seq=501)))
        assert leg.derived_net == Decimal(-2)
        restarted.feed(position_frame(position(side="Sell", size="2", seq=501)))
        assert restarted.settle() == []
    with Pipeline(db_url, settle_frames=2) as again:
        leg = again.ledger.legs()[LegKey("linear", "BTCUSDT", 0)]
        assert (leg.opening, leg.derived_net) == ((Decimal(-3), 500), Decimal(-2))
        assert again.settle() == []
