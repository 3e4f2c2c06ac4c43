"""How events leave an account in-process: ``Publisher``, the only fan-out.

Every committed event goes through ``Publisher.publish``, once, in commit order, after its
commit. From there it reaches *listeners* (called inline on the committing thread; cheap
hooks such as the metrics; one that raises is logged and never stops the others) and
*subscriptions*. The durable way out, for other processes and after restarts, is the
outbox (``oms.runtime.outbox``), written in the commit itself.

**Subscriptions.** Each ``Subscription`` has its own bounded queue and its own delivery
thread, so a slow subscriber never slows ingestion and a failing one never stops it (its
exception is logged and counted; delivery goes on with the next event). Events are
offered after their commit, in commit order, each once. Overflow policy: when a
subscription already holds ``max_pending`` undelivered events, newer events for it are
dropped and counted; as soon as it has caught up it receives one ``EventsDropped`` saying
how many it lost, then events resume. Nothing is lost for good: every event is also in
the outbox, and the state it described can be queried.

"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from oms.core.events import Event
from oms.threads import start_thread

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

log = logging.getLogger(__name__)

#: Undelivered events a subscription may hold before newer ones are dropped.
DEFAULT_MAX_PENDING: Final = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsDropped(Event):
    """This subscriber fell ``max_pending`` events behind and ``count`` events were not
    delivered to it (``venue_time``/``received_at`` are those of the first one lost).
    Read them from the outbox (``oms events``) or re-query the state."""

    count: int


class Subscription:
    """One subscriber: a callback, the event types it wants, a bounded queue and a thread.

    ``delivered``, ``dropped`` and ``failures`` count what happened to its events."""

    def __init__(
        self,
        callback: Callable[[Event], object],
        types: tuple[type[Event], ...] = (),
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        name: str = "",
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.callback = callback
        self.types = types or (Event,)
        self.max_pending = max_pending
        self.name = name or getattr(callback, "__qualname__", repr(callback))
        self.delivered = 0
        self.dropped = 0
        self.failures = 0
        self._queue: deque[Event] = deque()
        self._lost: EventsDropped | None = None
        self._wake = threading.Condition()
        self._closing = False
        self._busy = False
        # In a copy of the creator's context: its log lines name the account.
        self._thread = start_thread(self._deliver, name=f"oms-subscriber-{self.name}")

    def __repr__(self) -> str:
        return (
            f"Subscription({self.name}, types={[t.__name__ for t in self.types]}, "
            f"delivered={self.delivered}, dropped={self.dropped}, failures={self.failures})"
        )

    @property
    def pending(self) -> int:
        """Events queued and not yet delivered."""
        return len(self._queue)

    def offer(self, events: Iterable[Event]) -> None:
        """Queue the events this subscription wants; never blocks (see the overflow
        policy in the module docstring)."""
        with self._wake:
            if self._closing:
                return
            for event in events:
                if not isinstance(event, self.types):
                    continue
                if self._lost is not None or len(self._queue) >= self.max_pending:
                    # Full, or still catching up after a loss: drop until it has caught up
                    # completely (``_deliver`` then reports the loss, in its place).
                    self.dropped += 1
                    lost = self._lost
                    count = 1 if lost is None else lost.count + 1
                    first = event if lost is None else lost
                    self._lost = EventsDropped(
                        venue_time=first.venue_time, received_at=first.received_at, count=count
                    )
                    continue
                self._queue.append(event)
            self._wake.notify()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been handed to the callback."""
        with self._wake:
            return self._wake.wait_for(
                lambda: not self._queue and not self._busy and self._lost is None, timeout
            )

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop the thread."""
        self.wait_idle(timeout)
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        self._thread.join(timeout)

    def _deliver(self) -> None:
        while True:
            with self._wake:
                while not self._queue and self._lost is None and not self._closing:
                    self._wake.wait()
                event: Event
                if self._queue:
                    event = self._queue.popleft()
                elif self._lost is not None:  # caught up completely: report the loss now
                    event, self._lost = self._lost, None
                else:
                    return  # closing, and nothing left
                self._busy = True
            try:
                self.callback(event)
                self.delivered += 1
            except Exception:
                self.failures += 1
                log.exception("subscriber %s failed on %s; it keeps receiving", self.name, event)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()


class Publisher:
    """The listeners and subscriptions of one account; the pipeline calls ``publish``
    after each commit with the events that commit holds."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[Event], object]] = []
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()

    def listen(self, callback: Callable[[Event], object]) -> None:
        """Call ``callback(event)`` inline, on the committing thread, for every event.
        For cheap hooks only (a slow one slows ingestion); use a ``Subscription``
        (``add``) for anything else."""
        with self._lock:
            self._listeners = [*self._listeners, callback]

    def add(self, subscription: Subscription) -> Subscription:
        """Start delivering to ``subscription``."""
        with self._lock:
            self._subscriptions = [*self._subscriptions, subscription]
        return subscription

    def remove(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription`` (it is closed)."""
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s is not subscription]
        subscription.close()

    def publish(self, events: Sequence[Event]) -> None:
        """Hand one commit's events, in order, to every listener, then offer them to
        every subscription (non-blocking)."""
        if not events:
            return
        for event in events:
            for callback in self._listeners:  # a snapshot: listen/add/remove replace lists
                try:
                    callback(event)
                except Exception:
                    log.exception("listener %r failed on %s; ignored", callback, event)
        for subscription in self._subscriptions:
            subscription.offer(events)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued and stop every subscription."""
        with self._lock:
            subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            subscription.close(timeout)
