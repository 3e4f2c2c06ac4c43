"""How events leave the service: in-process subscriptions and the durable outbox.

**Subscriptions.** Each ``Subscription`` has its own bounded queue and its own delivery
thread, so a slow subscriber never slows ingestion and a failing one never stops it (its
exception is logged and counted; delivery goes on with the next event). Events are
offered after their commit, in commit order, each once. Overflow policy: when a
subscription already holds ``max_pending`` undelivered events, newer events for it are
dropped and counted; as soon as it has caught up it receives one ``EventsDropped`` saying
how many it lost, then events resume. Nothing is lost for good: every event is also in
the outbox, and the state it described can be queried.

**The outbox.** Events are appended to the ``events`` table in the same transaction as the
state they describe, with ids that strictly increase in commit order. A follower
remembers the last id it handled and asks for what came after it: nothing is missed
across restarts of either side.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from oms.core.events import Event
from oms.errors import StorageError
from oms.store.db import open_engine, safe_url
from oms.store.tables import EventRow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy.engine import Engine

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
        self._thread = threading.Thread(
            target=self._deliver, name=f"oms-subscriber-{self.name}", daemon=True
        )
        self._thread.start()

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
    """The subscriptions of one service; ``publish`` is called after each commit."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()

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

    def publish(self, event: Event) -> None:
        """Offer one committed event to every subscription (non-blocking); the service
        calls it for each event, in commit order, after the commit."""
        for subscription in self._subscriptions:  # a snapshot: add/remove replace the list
            subscription.offer((event,))

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued and stop every subscription."""
        with self._lock:
            subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            subscription.close(timeout)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One outbox row. ``payload`` holds the event's fields (decimals as strings)."""

    id: int
    account: str
    type: str
    order_id: str | None
    symbol: str | None
    payload: dict[str, Any]
    created_at: int

    def to_json(self) -> str:
        """One JSON line."""
        return json.dumps(
            {
                "id": self.id,
                "account": self.account,
                "type": self.type,
                "order_id": self.order_id,
                "symbol": self.symbol,
                "payload": self.payload,
                "created_at": self.created_at,
            },
            separators=(",", ":"),
        )


def read_events_from(
    engine: Engine, after_id: int = 0, limit: int = 1000, account: str | None = None
) -> list[StoredEvent]:
    """Events with id > ``after_id``, oldest first, at most ``limit``."""
    t = EventRow.__table__
    query = select(t).where(t.c.id > after_id).order_by(t.c.id).limit(limit)
    if account is not None:
        query = query.where(t.c.account == account)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read events from {safe_url(str(engine.url))}: {exc}") from exc
    return [
        StoredEvent(
            id=int(r["id"]),
            account=r["account"],
            type=r["type"],
            order_id=r["order_id"],
            symbol=r["symbol"],
            payload=r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"]),
            created_at=int(r["created_at"]),
        )
        for r in rows
    ]


def read_events(
    url: str, after_id: int = 0, limit: int = 1000, account: str | None = None
) -> list[StoredEvent]:
    """Events of the database at ``url`` with id > ``after_id`` (see ``read_events_from``)."""
    engine = open_engine(url)
    try:
        return read_events_from(engine, after_id, limit, account)
    finally:
        engine.dispose()
