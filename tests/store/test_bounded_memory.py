"""Bounded memory: terminal orders leave memory but never the truth.

A service that keeps only a few terminal orders (and their fills) in memory must write
exactly the database an unbounded one writes, for the same frames: the same orders,
executions, positions, order updates and outbox events, including for the dirty capture's
late repeats of frames whose order was evicted long before (those are recognised from the
database). A restart loads only the open orders and the newest terminal ones, and goes on
exactly as before.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms.core.states import TERMINAL
from oms.runtime.pipeline import Pipeline
from oms.store.db import open_engine
from oms.testing import disorder, session
from tests.store.conftest import BACKENDS, CLEAN, DIRTY, make_databases, state_tables

if TYPE_CHECKING:
    from pathlib import Path

    from oms.testing import Session


def lines_of(capture: Path) -> list[str]:
    with gzip.open(capture, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


def run(url: str, lines: list[str], *, settle: bool = True, **options: int) -> dict[str, int]:
    """Feed every line (receipt time = its number) and report what stayed in memory."""
    service = Pipeline(url, **options)
    try:
        for at, line in enumerate(lines):
            service.feed(line, received_at=at)
        if settle:
            service.settle()
    finally:
        service.close()
    ledger = service.ledger
    terminal = [o for o in ledger.orders() if o.status in TERMINAL]
    return {"orders": len(ledger.orders()), "terminal": len(terminal), "fills": len(ledger.fills())}


def state(url: str) -> dict[str, list[dict[str, object]]]:
    engine = open_engine(url)
    try:
        return state_tables(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("capture", [CLEAN, DIRTY], ids=["clean", "dirty"])
@pytest.mark.parametrize("keep", [0, 3])
def test_evicting_terminal_orders_changes_nothing_in_the_database(
    request, tmp_path, backend, capture, keep
):
    databases = make_databases(request, backend, tmp_path)
    try:
        lines = lines_of(capture)
        unbounded, bounded = databases.new(), databases.new()
        full = run(unbounded, lines, keep_terminal_orders=1_000_000)
        kept = run(bounded, lines, keep_terminal_orders=keep)
        assert full["terminal"] > 100  # the sample really has many ended orders
        assert kept["terminal"] <= keep
        assert kept["fills"] < full["fills"]
        assert state(bounded) == state(unbounded)
    finally:
        databases.drop_all()


def test_a_restart_loads_only_what_it_keeps_and_goes_on_exactly(tmp_path):
    lines = lines_of(DIRTY)
    half = len(lines) // 2
    straight, restarted = (f"sqlite:///{tmp_path / n}.db" for n in ("straight", "restarted"))
    run(straight, lines, keep_terminal_orders=1_000_000)
    run(restarted, lines[:half], settle=False, keep_terminal_orders=2)
    reopened = Pipeline(restarted, keep_terminal_orders=2)
    try:
        terminal = [o for o in reopened.ledger.orders() if o.status in TERMINAL]
        assert len(terminal) <= 2
        for at, line in enumerate(lines[half:], start=half):
            reopened.feed(line, received_at=at)
        reopened.settle()
    finally:
        reopened.close()
    assert state(restarted) == state(straight)


def test_old_frames_repeated_after_eviction_are_duplicates(tmp_path):
    lines = lines_of(CLEAN)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    run(url, lines, keep_terminal_orders=0)
    before = state(url)
    service = Pipeline(url, keep_terminal_orders=0)
    try:
        results = [service.feed(line, received_at=10**9 + i) for i, line in enumerate(lines)]
    finally:
        service.close()
    assert {r.outcome.value for r in results} <= {"duplicate", "stale", "control", "ignored"}
    assert [e for r in results for e in r.events] == []
    after = state(url)
    assert after["orders"] == before["orders"]
    assert after["executions"] == before["executions"]
    assert after["positions"] == before["positions"]
    assert after["events"] == before["events"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), generated=session(min_actions=5, max_actions=30))
def test_any_disordered_session_ends_the_same_with_or_without_eviction(
    tmp_path_factory, data, generated: Session
):
    delivered = data.draw(disorder(generated.frames, window=5, duplicates=True))
    directory = tmp_path_factory.mktemp("evict")
    unbounded = f"sqlite:///{directory / 'full.db'}"
    bounded = f"sqlite:///{directory / 'kept.db'}"
    run(unbounded, delivered, keep_terminal_orders=1_000_000)
    run(bounded, delivered, keep_terminal_orders=0)
    assert state(bounded) == state(unbounded)


def test_terminal_orders_also_leave_memory_by_age(tmp_path):
    lines = lines_of(DIRTY)
    unbounded, aged = (f"sqlite:///{tmp_path / n}.db" for n in ("full", "aged"))
    full = run(unbounded, lines, keep_terminal_orders=1_000_000)
    # the recorded session is years old: every ended order is older than 1 s
    kept = run(aged, lines, keep_terminal_orders=1_000_000, keep_terminal_ms=1_000)
    assert kept["terminal"] * 10 < full["terminal"]
    assert state(aged) == state(unbounded)
