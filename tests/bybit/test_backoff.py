"""Backoff schedule and connection budget: pure, exact, no network and no real time."""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.bybit.backoff import BUDGET_WINDOW_S, Backoff, ConnectionBudget
from oms.errors import LocalError


def test_ceiling_doubles_from_initial_up_to_the_cap():
    backoff = Backoff(0.5, 30.0, random.Random(1))
    ceilings = []
    for _ in range(10):
        ceilings.append(backoff.ceiling)
        backoff.next()
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert backoff.attempts == 10


def test_delays_are_full_jitter_within_zero_and_the_ceiling():
    backoff = Backoff(0.5, 30.0, random.Random(7))
    delays = [(backoff.ceiling, backoff.next()) for _ in range(200)]
    assert all(0.0 <= delay <= ceiling for ceiling, delay in delays)
    capped = [delay for ceiling, delay in delays if ceiling == 30.0]
    # full jitter: the capped delays use the whole range, not a band near the cap
    assert min(capped) < 5.0
    assert max(capped) > 25.0


def test_a_seeded_generator_gives_the_same_schedule():
    first = Backoff(0.5, 30.0, random.Random(42))
    second = Backoff(0.5, 30.0, random.Random(42))
    assert [first.next() for _ in range(20)] == [second.next() for _ in range(20)]
    rng = random.Random(42)
    expected = [rng.uniform(0.0, min(30.0, 0.5 * 2**n)) for n in range(5)]
    replay = Backoff(0.5, 30.0, random.Random(42))
    assert [replay.next() for _ in range(5)] == expected


def test_reset_starts_over_from_initial():
    backoff = Backoff(1.0, 8.0, random.Random(3))
    for _ in range(6):
        backoff.next()
    assert backoff.ceiling == 8.0
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.ceiling == 1.0
    assert 0.0 <= backoff.next() <= 1.0


def test_huge_attempt_counts_do_not_overflow():
    backoff = Backoff(0.5, 30.0, random.Random(0))
    for _ in range(5000):
        assert 0.0 <= backoff.next() <= 30.0


@pytest.mark.parametrize(("initial", "maximum"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_backoff_refuses_nonsense_bounds(initial, maximum):
    with pytest.raises(LocalError):
        Backoff(initial, maximum)


def test_budget_allows_the_limit_then_waits_for_the_oldest_to_leave():
    budget = ConnectionBudget(3, window_s=300.0)
    assert budget.try_acquire(0.0) == 0.0
    assert budget.try_acquire(10.0) == 0.0
    assert budget.try_acquire(20.0) == 0.0
    assert budget.try_acquire(25.0) == pytest.approx(275.0)  # until 0 + 300
    assert budget.used(25.0) == 3  # a refused attempt is not recorded
    assert budget.delay(299.0) == pytest.approx(1.0)
    assert budget.try_acquire(300.0) == 0.0  # the attempt at 0 left the window
    assert budget.try_acquire(305.0) == pytest.approx(5.0)  # until 10 + 300
    assert budget.try_acquire(310.0) == 0.0
    assert budget.used(310.0) == 3


def test_budget_default_window_is_five_minutes():
    assert BUDGET_WINDOW_S == 300.0
    budget = ConnectionBudget(1)
    assert budget.try_acquire(1000.0) == 0.0
    assert budget.delay(1000.0) == pytest.approx(300.0)


def test_budget_refuses_a_zero_limit():
    with pytest.raises(LocalError):
        ConnectionBudget(0)


def _simulate(limit: int, gaps: list[float]) -> list[float]:
    """A client that wants to reconnect after each gap, but waits whenever told to."""
    budget = ConnectionBudget(limit, window_s=BUDGET_WINDOW_S)
    now = 0.0
    starts = []
    for gap in gaps:
        now += gap
        while (wait := budget.try_acquire(now)) > 0:
            now += wait  # a well-behaved caller sleeps exactly the wait it was given
        starts.append(now)
    return starts


@given(
    limit=st.integers(min_value=1, max_value=8),
    gaps=st.lists(st.floats(min_value=0.0, max_value=120.0), min_size=1, max_size=60),
)
def test_never_more_than_limit_connections_in_any_five_minute_window(limit, gaps):
    starts = _simulate(limit, gaps)
    assert starts == sorted(starts)
    for index, start in enumerate(starts):
        # every window [start, start + 300) holds at most `limit` attempts
        inside = bisect_left(starts, start + BUDGET_WINDOW_S) - bisect_left(starts, start)
        assert inside <= limit, (index, starts)


@given(limit=st.integers(min_value=1, max_value=8), count=st.integers(min_value=1, max_value=40))
def test_waits_exactly_as_long_as_needed_when_reconnecting_in_a_tight_loop(limit, count):
    starts = _simulate(limit, [0.0] * count)
    # bursts of `limit` every 300 s: waiting longer than that would be waiting too long
    assert starts == [BUDGET_WINDOW_S * (n // limit) for n in range(count)]
    assert bisect_right(starts, 0.0) == min(limit, count)
