"""How often the random policy (``oms.sim.policies.RandomPolicy``) takes each action:
``BENCH_MIX`` makes the benchmark's capture, ``SANDBOX_MIX`` the sandbox's background
trading. Changing ``BENCH_MIX`` changes the benchmark's input (its SHA-256 is recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["BENCH_MIX", "SANDBOX_MIX", "Mix"]


@dataclass(frozen=True, slots=True)
class Mix:
    """How often each action runs (relative weights), and how often an order create,
    amend or cancel is followed by the leg's position report (Bybit sends one)."""

    weights: Mapping[str, float]
    position_report: float


BENCH_MIX: Final = Mix(
    {
        "place_market": 25,
        "place_limit": 18,
        "place_ioc_limit": 4,
        "place_conditional": 6,
        "trigger": 5,
        "maker_fill": 19,
        "cancel": 11,
        "amend": 5,
        "cancel_all": 0.5,
        "cancel_race": 0,
        "funding": 0.2,
        "idle": 6.3,
    },
    position_report=0.03,
)
SANDBOX_MIX: Final = Mix(
    {
        "place_market": 22,
        "place_limit": 20,
        "place_ioc_limit": 4,
        "place_conditional": 6,
        "trigger": 5,
        "maker_fill": 19,
        "cancel": 10,
        "amend": 6,
        "cancel_all": 0.5,
        "cancel_race": 1,
        "funding": 0.5,
        "idle": 6,
    },
    position_report=1.0,
)
