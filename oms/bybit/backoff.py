"""Reconnect pacing: exponential backoff with full jitter, and a sliding-window connection budget.

Both are pure: they take the time as an argument (or need none) and never sleep, so the
schedule can be tested exactly with a fake clock and a seeded random generator.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Final

from oms.errors import LocalError

#: Bybit counts connections per IP and WebSocket domain over five minutes.
BUDGET_WINDOW_S: Final = 300.0
#: The exchange's own limit per ``BUDGET_WINDOW_S``; a budget may not come near it.
EXCHANGE_CONNECTION_LIMIT: Final = 500
_MAX_EXPONENT: Final = 62  # 2**62 * any sane initial delay is far past any cap


class Backoff:
    """Delays for consecutive reconnects: ``uniform(0, min(max, initial * 2**attempt))``.

    Full jitter (every delay drawn from the whole range) spreads the reconnects of many
    clients that lost the same server, instead of bunching them on the same beat.
    """

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if not 0 < initial_s <= max_s:
            raise LocalError(f"backoff needs 0 < initial ({initial_s}) <= max ({max_s})")
        self._initial = initial_s
        self._max = max_s
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not crypto
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Delays handed out since the last reset."""
        return self._attempts

    @property
    def ceiling(self) -> float:
        """Upper bound of the next delay."""
        return min(self._max, self._initial * 2.0 ** min(self._attempts, _MAX_EXPONENT))

    def next(self) -> float:
        """The next delay in seconds (and one more attempt counted)."""
        ceiling = self.ceiling
        self._attempts += 1
        return self._rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        """Start over from ``initial``: the last connection stayed healthy."""
        self._attempts = 0


class ConnectionBudget:
    """At most ``limit`` connection attempts in any window of ``window_s`` seconds.

    ``try_acquire(now)`` either records an attempt at ``now`` and returns 0, or records
    nothing and returns how long to wait until the oldest attempt leaves the window.
    ``now`` must come from a monotonic clock.
    """

    def __init__(self, limit: int, window_s: float = BUDGET_WINDOW_S) -> None:
        if limit < 1 or window_s <= 0:
            raise LocalError(f"a connection budget needs limit >= 1 and window > 0, not {limit}")
        self._limit = limit
        self._window = window_s
        self._starts: deque[float] = deque()

    @property
    def limit(self) -> int:
        """Attempts allowed per window."""
        return self._limit

    def used(self, now: float) -> int:
        """Attempts inside the window that ends at ``now``."""
        self._forget(now)
        return len(self._starts)

    def delay(self, now: float) -> float:
        """Seconds until an attempt is allowed (0: allowed now)."""
        self._forget(now)
        if len(self._starts) < self._limit:
            return 0.0
        return self._starts[0] + self._window - now

    def try_acquire(self, now: float) -> float:
        """Record an attempt at ``now`` and return 0, or return the wait and record nothing."""
        wait = self.delay(now)
        if wait <= 0:
            self._starts.append(now)
            return 0.0
        return wait

    def _forget(self, now: float) -> None:
        while self._starts and self._starts[0] + self._window <= now:
            self._starts.popleft()
