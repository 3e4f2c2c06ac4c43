"""The order-entry rate limiter on its own: rolling one-second budgets per route and
category group, batches granted in part, and the reset timestamps Bybit reports."""

from __future__ import annotations

import pytest

from oms.sandbox.limits import DEFAULT_LIMITS, RateLimits, budget_group


class _Clock:
    def __init__(self) -> None:
        self.tick = 10_000

    def __call__(self) -> int:
        return self.tick


def _limits(**kwargs: object) -> tuple[RateLimits, _Clock]:
    clock = _Clock()
    # the server clock runs 1_700_000_000_000 ms ahead of the ticks: reported times are
    # server times, windows run on ticks
    return RateLimits(now=lambda: clock.tick + 1_700_000_000_000, ticks=clock, **kwargs), clock  # type: ignore[arg-type]


def test_defaults_are_bybits_table():
    limits, _ = _limits()
    assert limits.limit("order/create", "linear") == 10
    assert limits.limit("order/create", "spot") == 20
    assert limits.limit("order/amend", "spot") == 10
    assert limits.limit("order/cancel-all", "option") == 1
    assert limits.limit("order/create-batch", "inverse") == 10
    assert budget_group("linear") == budget_group("inverse") == "futures"
    assert len(DEFAULT_LIMITS) == 24


def test_a_rolling_second_then_10006_with_the_time_the_oldest_leaves():
    limits, clock = _limits(limits={"order/create": 3})
    grants = []
    for step in (0, 100, 200):
        clock.tick = 10_000 + step
        grants.append(limits.take("order/create", "linear"))
    assert [g.remaining for g in grants] == [2, 1, 0]
    assert [g.reset_ms - 1_700_000_010_000 for g in grants] == [0, 100, 200]  # now
    clock.tick = 10_500
    refused = limits.take("order/create", "linear")
    assert refused.refused
    assert refused.headers() == {
        "X-Bapi-Limit": "3",
        "X-Bapi-Limit-Status": "0",
        # the first request (tick 10_000) leaves the window at 11_000
        "X-Bapi-Limit-Reset-Timestamp": str(1_700_000_011_000),
    }
    clock.tick = 10_999
    assert limits.take("order/create", "linear").refused  # a refusal is not counted
    clock.tick = 11_000
    again = limits.take("order/create", "linear")
    assert (again.refused, again.remaining) == (False, 0)


def test_linear_and_inverse_share_a_budget_spot_and_other_routes_do_not():
    limits, _ = _limits(limits={"order/create": 1, ("order/create", "spot"): 2})
    assert not limits.take("order/create", "linear").refused
    assert limits.take("order/create", "inverse").refused
    assert not limits.take("order/create", "spot").refused
    assert not limits.take("order/create", "spot").refused
    assert limits.take("order/create", "spot").refused
    assert not limits.take("order/cancel", "linear").refused
    assert not limits.take("order/create-batch", "linear", 5, partial=True).refused


def test_a_batch_over_the_remaining_budget_is_granted_in_part():
    limits, _ = _limits(limits={"order/create-batch": 5})
    first = limits.take("order/create-batch", "linear", 3, partial=True)
    assert (first.granted, first.remaining) == (3, 2)
    second = limits.take("order/create-batch", "linear", 8, partial=True)
    assert (second.granted, second.remaining, second.refused) == (2, 0, False)
    assert second.reset_ms == 1_700_000_011_000  # some of it exceeded: the reset time
    third = limits.take("order/create-batch", "linear", 1, partial=True)
    assert third.refused


def test_a_whole_request_is_all_or_nothing():
    limits, _ = _limits(limits={"order/create": 2})
    assert limits.take("order/create", "linear", 3).refused
    assert limits.take("order/create", "linear", 2).granted == 2


@pytest.mark.parametrize(
    "limits", [{"order/create": -1}, {"order/create": True}, {"order/nothing": 3}]
)
def test_bad_limits_are_refused(limits):
    with pytest.raises(ValueError, match="rate limit"):
        RateLimits(limits, now=lambda: 0)
