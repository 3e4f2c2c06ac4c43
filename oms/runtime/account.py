"""``Account``: the one object a trading system embeds.

It keeps one Bybit account's orders, fills and positions in a database and in memory,
fed either by its own private stream (``start()`` with ``stream=`` settings: a
background thread connects, authenticates, subscribes, reconnects and resyncs over REST
after every gap) or by the caller's frames (``feed()``, for systems that already own a
socket, such as pybit's callbacks). Frames are applied on one worker thread in the
order they arrive; every query may be made from any thread at any time.

It also checks the user's own bookkeeping: register the orders you send
(``expect_order``) and the positions you believe you hold (``expect_position``), and
the account raises reconciliation events (``oms.core.expectations``) whenever the
exchange disagrees. Events reach subscribers after their commit, in commit order, each
once, on the subscriber's own thread (see ``oms.runtime.publish`` for the overflow policy).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from oms.bybit.frames import parsed_frame
from oms.bybit.stream import StreamSettings, Subscribed
from oms.clock import now_ms
from oms.core.expectations import DEFAULT_POSITION_GRACE_MS
from oms.core.ledger import DEFAULT_KEEP_TERMINAL_ORDERS
from oms.errors import AccountFailedError, LocalError, MalformedFrameError
from oms.runtime.expecting import Expecting
from oms.runtime.health import Health
from oms.runtime.logs import account_context, bound
from oms.runtime.metrics import NO_METRICS
from oms.runtime.pipeline import Pipeline
from oms.runtime.publish import DEFAULT_MAX_PENDING, Subscription
from oms.runtime.queries import Queries
from oms.runtime.resync import RestRows, ResyncScope
from oms.runtime.wiring import private_stream, rest_client, watch_with
from oms.runtime.worker import DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_BUFFERED_FRAMES, Worker
from oms.store.faults import DEFAULT_STORE_FAULT_DEADLINE_S
from oms.store.lease import DEFAULT_LEASE_TTL_S
from oms.store.tables import DEFAULT_ACCOUNT

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.bybit.frames import Text
    from oms.bybit.signing import Credentials
    from oms.bybit.stream import StreamStatus
    from oms.core.events import Event, ResyncCompleted
    from oms.runtime.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Lifecycle:
    """Where the account is in its life: what ``health()`` makes its state of."""

    #: The stream's own state, as last reported ("stopped" before it starts).
    stream_state: str = "stopped"
    subscribed_once: bool = False
    #: Since when (epoch ms) the account is in its state.
    since: int = field(default_factory=now_ms)
    started: bool = False
    closed: bool = False
    #: Feed mode: why the caller's socket ended for good, once it says so.
    feed_error: BaseException | None = None


class Account(Queries, Expecting):
    """One Bybit account kept in a database, queried and watched from any thread.

    ``url`` is a SQLAlchemy URL (``sqlite:///oms.db``, ``postgresql+psycopg://...``).
    ``stream``: settings of the private stream to run in the background; without them,
    frames come from ``feed()``. ``rest_url``/``credentials``: the REST API used to
    resync after a gap; derived from ``stream`` for the named networks. Use as a context
    manager, or call ``start()`` and ``close()``.
    """

    def __init__(  # noqa: PLR0913 - keyword-only settings, each with a safe default
        self,
        url: str = "sqlite:///oms.db",
        account: str = DEFAULT_ACCOUNT,
        *,
        stream: StreamSettings | None = None,
        rest_url: str | None = None,
        credentials: Credentials | None = None,
        scope: ResyncScope | None = None,
        report_unexpected_orders: bool = False,
        position_grace_ms: int = DEFAULT_POSITION_GRACE_MS,
        metrics: Metrics = NO_METRICS,
        record: Callable[[str], None] | None = None,
        keep_terminal_orders: int | None = DEFAULT_KEEP_TERMINAL_ORDERS,
        keep_terminal_ms: int | None = None,
        store_fault_deadline_s: float = DEFAULT_STORE_FAULT_DEADLINE_S,
        max_buffered_frames: int = DEFAULT_MAX_BUFFERED_FRAMES,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        wait_lease_s: float = 0.0,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
    ) -> None:
        self.name = account
        #: Every log line of this account's threads names it and the stream's connection.
        self.log_context = account_context(account)
        rest = rest_client(stream, rest_url, credentials)  # before the database: may refuse
        with bound(self.log_context):
            self._service = Pipeline(
                url,
                account=account,
                keep_terminal_orders=keep_terminal_orders,
                keep_terminal_ms=keep_terminal_ms,
                store_fault_deadline_s=store_fault_deadline_s,
                wait_lease_s=wait_lease_s,
                lease_ttl_s=lease_ttl_s,
            )
        self._service.heartbeat = self._heartbeat
        self._watch_expectations(
            report_unexpected_orders=report_unexpected_orders,
            position_grace_ms=position_grace_ms,
        )
        self._publisher = self._service.publisher  # the one way out of committed events
        self._runner = Worker(
            self._service,
            rest,
            RestRows(),
            scope=scope,
            metrics=metrics,
            record=record,
            max_buffered_frames=max_buffered_frames,
            max_buffered_bytes=max_buffered_bytes,
            on_failed=self._on_failed,
        )
        self._stream = private_stream(stream, self._runner, self._on_status, metrics)
        watch_with(metrics, self._publisher, self._runner, self._last_frame_at)
        self._life = _Lifecycle()

    def __repr__(self) -> str:
        return f"Account({self.name!r}, state={self.health().state!r})"

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Start the worker thread (and the stream, if configured). Idempotent."""
        if self._life.closed:
            raise LocalError("this Account is closed")
        self._raise_if_failed()
        if not self._life.started:
            self._life.started = True
            self._life.since = now_ms()
            with bound(self.log_context):  # the threads inherit it
                self._runner.start()
                if self._stream is not None:
                    self._life.stream_state = "connecting"
                    self._stream.start()
                elif self._runner.rest is not None:
                    # Feed mode with REST: what the account did before is fetched now,
                    # ahead of every frame fed (as a stream does on its first subscribe).
                    self._runner.on_subscribed("feed mode: the account started")
        return self

    def close(self, timeout: float | None = None) -> None:
        """Stop the stream, apply and commit what was received, deliver what subscribers
        have queued, and release the database.

        Raises ``AccountFailedError`` if the account failed, or if what was received
        could not be committed (a store fault that outlasted its deadline): ``close``
        never discards frames quietly. ``timeout``: seconds to wait for the worker
        (None: as long as it takes, which a store fault bounds by its deadline)."""
        if self._life.closed:
            self._raise_if_failed()
            return
        self._life.closed = True
        self._stop_everything(timeout)
        self._life.since = now_ms()
        self._raise_if_failed()

    def _stop_everything(self, timeout: float | None) -> None:
        with bound(self.log_context):
            if self._stream is not None:
                self._stream.stop()
            finished = True
            if self._life.started:
                finished = self._runner.stop(timeout)
            self._publisher.close(10.0 if timeout is None else timeout)
            if not finished:  # the worker still holds the database: leave it to finish
                self._service.fail(
                    f"close() timed out after {timeout} s with {self._runner.queued} frames "
                    "not yet applied"
                )
                return
            # A failure was logged where it happened; it is raised once all is released.
            with contextlib.suppress(AccountFailedError):
                self._service.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _on_status(self, status: StreamStatus) -> None:
        self._life.stream_state = type(status).__name__.lower()
        self._life.since = now_ms()
        log.info("stream: %s", status)
        if isinstance(status, Subscribed):
            self._life.subscribed_once = True
            self._runner.on_subscribed(f"subscribed on connection {status.conn_id}")

    def _on_failed(self, error: AccountFailedError) -> None:
        """The worker failed: stop the stream too (nothing received could be applied)."""
        self._life.since = now_ms()
        if self._stream is not None:
            self._stream.stop(timeout=0)
        log.debug("stream stopped: the account failed (%s)", error.reason)

    def _heartbeat(self) -> dict[str, object]:
        """What the lease's heartbeat writes for ``oms status`` (from its own thread)."""
        health = self.health()
        return {
            "state": health.state,
            "last_frame_at": health.last_frame_at,
            "frames": health.frames,
            "lag_ms": self._runner.lag_ms(),
        }

    def _raise_if_failed(self) -> None:
        failure = self._service.failure or self._runner.error
        if failure is not None:
            raise failure

    # --- feeding ------------------------------------------------------------------------

    def feed(self, frame: Text, *, received_at: int | None = None) -> None:
        """Queue one private-stream frame: its text exactly as received, or the mapping a
        client parsed it into (pybit's dict: journaled as its compact JSON, flagged
        ``parsed``; a float where Bybit sends a decimal string is refused). Never blocks,
        never raises for bad input (a malformed frame, or an object that is neither text
        nor a mapping, becomes a ``MalformedFrame`` event). Raises ``AccountFailedError``
        once the account has failed: nothing fed after that could be applied."""
        self.start()
        if frame.__class__ is not str and isinstance(frame, Mapping):
            # Now, on the caller's thread: the caller may reuse or change its dict later.
            with contextlib.suppress(MalformedFrameError):  # the worker then says why
                frame = parsed_frame(frame)
        self._runner.feed(frame, now_ms() if received_at is None else received_at)

    def resync(self, reason: str = "requested by the caller") -> None:
        """Repair the state over REST now (a feed-mode account with REST settings also
        does when it starts). Call it when your own socket reconnected (the adapters of
        ``oms.adapters`` do): the exchange never replays what a gap lost. Without REST
        settings the gap is only recorded (``StreamGapDetected``)."""
        self.start()
        self._runner.request_resync(reason)

    def feed_ended(self, error: BaseException) -> None:
        """Feed mode: the caller's socket has died for good (``oms.adapters.pybit`` says
        so when pybit gives up reconnecting). The account then reports ``failed`` with
        this ``error`` (``health()``, ``failure``, ``ended``), like an account whose own
        stream ended; what was fed stays applied and queryable."""
        log.error("the feed ended for good: %s", error)
        if self._life.feed_error is None:
            self._life.feed_error = error
            self._life.since = now_ms()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything fed or received so far is applied and committed, and its
        events handed to the subscriptions' queues. False on timeout."""
        self._raise_if_failed()
        if not self._life.started:
            return True
        return self._runner.drain(timeout)

    # --- health (any thread; the queries are ``oms.runtime.queries``) -------------------

    def health(self) -> Health:
        """State (see ``HEALTH_STATES``), error, counters, and the last resync. Never
        raises: a failed account reports ``failed`` and why."""
        stats = self._runner.stats
        stream = self._stream.stats if self._stream is not None else None
        state, error, since = self._state_and_error()
        with self._service.lock:
            ledger = self._service.ledger
            outcomes = dict(ledger.stats)
            open_orders, fills = ledger.counts()
        return Health(
            state=state,
            error=error,
            since=since,
            frames=stats.frames,
            queued=self._runner.queued,
            connections=stream.connections if stream else 0,
            reconnects=stream.reconnects if stream else 0,
            last_frame_at=self._last_frame_at(),
            resyncs=stats.resyncs,
            resync_failures=stats.resync_failures,
            last_resync_at=stats.last_resync_at,
            last_resync=stats.last_resync,
            stream=None if self._stream is None else self._life.stream_state,
            uncommitted=self._service.staged_frames,
            received=stream.frames if stream else stats.frames,
            outcomes=outcomes,
            open_orders=open_orders,
            fills=fills,
        )

    def _last_frame_at(self) -> int | None:
        """Receipt time (epoch ms) of the newest frame: what a scrape reads, without the
        rest of ``health()`` (which takes the ledger's lock)."""
        if self._stream is not None:
            return self._stream.stats.last_frame_at
        return self._runner.last_frame_at

    def _state_and_error(self) -> tuple[str, str | None, int]:
        failure = self._service.failure or self._runner.error
        if failure is None and self._stream is not None and self._stream.error is not None:
            failure = AccountFailedError(str(self._stream.error))  # e.g. refused credentials
        if failure is None and self._life.feed_error is not None:
            failure = AccountFailedError(f"feed: {self._life.feed_error}")
        if failure is not None:
            return "failed", failure.reason, self._life.since
        if self._life.closed or not self._life.started:
            return "stopped", None, self._life.since
        fault = self._service.fault
        if fault is not None:
            return "degraded", f"store: {fault.error}", fault.since_ms
        if self._stream is None or self._life.stream_state == "subscribed":
            return "running", None, self._life.since
        if self._life.subscribed_once:
            return "degraded", f"stream: {self._life.stream_state}", self._life.since
        return "starting", None, self._life.since

    @property
    def failure(self) -> BaseException | None:
        """What stopped the account by itself, if anything did: a failure
        (``AccountFailedError``), the stream's fatal error (refused credentials or
        topics), or the error given to ``feed_ended``. ``health().error`` says the same in words."""
        failure: BaseException | None = self._runner.error or self._service.failure
        if failure is None and self._stream is not None:
            failure = self._stream.error
        return failure or self._life.feed_error

    @property
    def ended(self) -> bool:
        """The account's stream has ended by itself, or (feed mode) the caller said its
        socket did (``feed_ended``); see ``failure``."""
        stream = self._stream
        if stream is None:
            return self._life.feed_error is not None
        return self._life.started and stream.wait(0)

    @property
    def last_resync(self) -> ResyncCompleted | None:
        """What the last completed resync corrected, if one completed."""
        return self._runner.stats.last_resync

    # --- subscribing --------------------------------------------------------------------

    def subscribe(
        self,
        callback: Callable[[Event], object],
        *types: type[Event],
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> Subscription:
        """Call ``callback(event)`` for every committed event of the given types (all
        events if none given; subclasses included, e.g. ``Anomaly``). Delivery runs on
        the subscription's own thread; ``unsubscribe`` ends it."""
        if self._life.closed:
            raise LocalError("this Account is closed")
        with bound(self.log_context):  # its thread's log lines name the account
            subscription = Subscription(callback, types, max_pending=max_pending)
        return self._publisher.add(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Deliver what is queued for ``subscription`` and stop it."""
        self._publisher.remove(subscription)
