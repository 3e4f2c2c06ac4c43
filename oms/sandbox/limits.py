"""Bybit's per-account order-entry rate limits: a rolling one-second window per endpoint
and category group, shared by REST and the WebSocket trade endpoint.

The defaults are Bybit's for a UTA 2.0 account without VIP level (``DEFAULT_LIMITS``):

==========================================  ==================  ======  ====
endpoint                                    linear + inverse    option  spot
==========================================  ==================  ======  ====
``order/create``                            10                  10      20
``order/amend``                             10                  10      10
``order/cancel``                            10                  10      20
``order/cancel-all``                        10                  1       20
``order/create-batch``, ``amend-batch``,    10 orders           10      20
``cancel-batch`` (each its own budget)
``position/trading-stop``                   10                  10      10
==========================================  ==================  ======  ====

Linear and inverse share one budget (Bybit lists them in one column; a client that keeps
under a shared budget keeps under separate ones too). A batch costs one per order in it;
when it holds more orders than the budget has left, the first ones are granted and the
rest fail item by item (``RateLimits.take(..., partial=True)``); with nothing left the
whole request is refused. A refused request is not counted.

``Grant.headers()`` are the values Bybit sends (REST headers, the WS ``header`` object):
``X-Bapi-Limit`` the budget, ``X-Bapi-Limit-Status`` what is left after this request,
``X-Bapi-Limit-Reset-Timestamp`` the current time, or, when the request was (partly)
refused, the time at which the oldest counted request leaves the window (pybit sleeps
until then before it retries).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["DEFAULT_LIMITS", "WINDOW_MS", "Grant", "RateLimits", "budget_group"]

WINDOW_MS: Final = 1000
_ROUTES: Final = (
    "order/create", "order/amend", "order/cancel", "order/cancel-all",
    "order/create-batch", "order/amend-batch", "order/cancel-batch", "position/trading-stop",
)  # fmt: skip
_FUTURES: Final = dict.fromkeys(_ROUTES, 10)
_OPTION: Final = _FUTURES | {"order/cancel-all": 1}
_SPOT: Final = dict.fromkeys(_ROUTES, 20) | {"order/amend": 10, "position/trading-stop": 10}
#: (route without ``/v5/``, budget group) -> requests (batch: orders) per rolling second
DEFAULT_LIMITS: Final[Mapping[tuple[str, str], int]] = {
    **{(r, "futures"): n for r, n in _FUTURES.items()},
    **{(r, "option"): n for r, n in _OPTION.items()},
    **{(r, "spot"): n for r, n in _SPOT.items()},
}
#: the budget of a category Bybit does not list (the request then fails on its category)
_UNLISTED: Final = 10


def budget_group(category: str) -> str:
    """The budget a category counts against: ``futures`` for linear and inverse."""
    return "futures" if category in ("linear", "inverse") else category


@dataclass(frozen=True, slots=True)
class Grant:
    """The rate limiter's answer to one request."""

    #: how much of the request's cost may run (all of it, part of a batch, or 0)
    granted: int
    cost: int
    limit: int
    remaining: int
    reset_ms: int

    @property
    def refused(self) -> bool:
        """Nothing may run: answer 10006 "Too many visits!"."""
        return self.granted == 0 and self.cost > 0

    def headers(self) -> dict[str, str]:
        """``X-Bapi-Limit``, ``X-Bapi-Limit-Status`` and ``X-Bapi-Limit-Reset-Timestamp``."""
        return {
            "X-Bapi-Limit": str(self.limit),
            "X-Bapi-Limit-Status": str(self.remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(self.reset_ms),
        }


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class RateLimits:
    """Rolling one-second budgets per (route, budget group), thread safe.

    ``limits`` override ``DEFAULT_LIMITS``: a key ``"order/create"`` sets every group of
    the route, ``("order/create", "spot")`` one group (``budget_group``). ``now`` is the
    server clock the reset timestamps are given in; the windows run on ``ticks`` (a
    monotonic millisecond clock), so a change of the server clock moves no window.
    """

    def __init__(
        self,
        limits: Mapping[str | tuple[str, str], int] | None = None,
        *,
        now: Callable[[], int],
        ticks: Callable[[], int] = _monotonic_ms,
    ) -> None:
        self._limits = dict(DEFAULT_LIMITS)
        for key, value in (limits or {}).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"rate limit {key!r} must be an integer >= 0, not {value!r}")
            route = key if isinstance(key, str) else key[0]
            if route not in _ROUTES:
                raise ValueError(f"no rate limit for {route!r}; known: {', '.join(_ROUTES)}")
            if isinstance(key, str):
                self._limits.update({(r, g): value for r, g in self._limits if r == key})
            else:
                self._limits[key] = value
        self._now = now
        self._ticks = ticks
        self._lock = threading.Lock()
        #: (route, group) -> (tick, server time, cost) of the requests in the window
        self._windows: dict[tuple[str, str], deque[tuple[int, int, int]]] = {}

    def limit(self, route: str, category: str) -> int:
        """The budget of ``route`` (``order/create``...) for ``category``."""
        return self._limits.get((route, budget_group(category)), _UNLISTED)

    def peek(self, route: str, category: str) -> Grant:
        """The budget of ``route`` for ``category`` now, counting nothing (the headers of
        a request refused before it was counted)."""
        return self.take(route, category, 0)

    def take(self, route: str, category: str, cost: int = 1, *, partial: bool = False) -> Grant:
        """Count a request of ``cost`` (orders) against its budget: all of it, or (with
        ``partial``, for a batch) as much as is left, or nothing."""
        key = (route, budget_group(category))
        limit = self.limit(route, category)
        with self._lock:
            tick, now = self._ticks(), self._now()
            window = self._windows.setdefault(key, deque())
            while window and window[0][0] <= tick - WINDOW_MS:
                window.popleft()
            free = max(0, limit - sum(n for _, _, n in window))
            granted = min(cost, free) if partial else (cost if cost <= free else 0)
            if granted:
                window.append((tick, now, granted))
            reset = now
            if granted < cost:  # exceeded: when the oldest counted request leaves
                reset = window[0][1] + WINDOW_MS if window else now + WINDOW_MS
            return Grant(granted, cost, limit, free - granted, reset)
