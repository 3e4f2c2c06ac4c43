"""The sandbox's two background threads over an ``Exchange``: the background trading
(``Trader``: random account actions at a rate, "another program on the account") and the
market clock (``MarketClock``: one market step every interval). Each starts and stops on
its own; stop waits for the last action.

Neither dies silently: an exception in a step (a simulator bug) is logged with its
traceback, kept as the driver's ``error``, and ends that driver; ``Sandbox.failure``
reports it and ``python -m oms.sandbox`` exits 1 with it."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.sandbox.exchange import Exchange

__all__ = ["MarketClock", "Trader"]

log = logging.getLogger(__name__)


def _guarded(what: str, loop: Callable[[], None], failed: Callable[[BaseException], None]) -> None:
    """Run ``loop``; an exception is logged loudly and handed to ``failed``."""
    try:
        loop()
    except Exception as exc:
        log.exception("sandbox: the %s stopped on an error", what)
        failed(exc)


class Trader:
    """Background trading at about ``rate_per_s`` actions a second."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        #: what stopped the trading by itself, if anything did
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _failed(self, exc: BaseException) -> None:
        self.error = exc

    def start(self, rate_per_s: float) -> None:
        """(Re)start trading at ``rate_per_s`` (positive) actions a second."""
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.stop()
        self._stop = threading.Event()
        stop, exchange = self._stop, self.exchange

        def trade() -> None:
            start, done = time.monotonic(), 0
            while not stop.is_set():
                due = int((time.monotonic() - start) * rate_per_s) + 1
                if done < due:  # catch up, at most a second's worth at once
                    exchange.step(min(due - done, max(1, int(rate_per_s))))
                    done = due
                stop.wait(1 / rate_per_s)

        self._thread = threading.Thread(
            target=_guarded,
            args=("background trading", trade, self._failed),
            name="sandbox-trader",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop trading (if running) and wait for its last action."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


class MarketClock:
    """One ``Exchange.tick()`` every ``interval_s``, on schedule: a late step is not made
    up for by a burst."""

    def __init__(self, exchange: Exchange, interval_s: float) -> None:
        self.exchange, self.interval_s = exchange, interval_s
        #: what stopped the clock by itself, if anything did
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _failed(self, exc: BaseException) -> None:
        self.error = exc

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the market clock already runs")
        self._thread = threading.Thread(
            target=_guarded,
            args=("market clock", self._run, self._failed),
            name="sandbox-clock",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the clock (if running) and wait for its last step."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            self.exchange.tick()
            due = max(due + self.interval_s, time.monotonic())
