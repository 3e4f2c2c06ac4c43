"""Live: the private stream into the durable service, with a REST resync after every gap.

One worker thread owns the ``Pipeline``: the stream's thread only puts what it
receives on a queue. On every (re)subscription the stream reports ``Subscribed`` and the
worker fetches a REST snapshot while live frames keep queueing behind it (the buffer the
resync needs), applies the snapshot through the ledger's reconciliation, then drains the
buffered frames, which the ledger's ordering rules make safe to apply late or twice.

Supervision: the worker never dies silently. A store fault that may pass blocks the worker
in ``Pipeline.commit_pending`` (capped backoff) while the stream goes on queueing, up
to ``max_buffered_frames``/``max_buffered_bytes``; past the store-fault deadline, with a
full buffer, or on any other error (a bug: logged with its traceback) the runner fails:
``error`` holds the reason, ``on_failed`` is told, and ``drain`` raises it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from oms.clock import now_ms
from oms.core import events as ev
from oms.errors import AccountFailedError, OmsError, StoreUnavailableError
from oms.runtime.metrics import NO_METRICS
from oms.runtime.resync import ResyncScope, fetch_snapshot
from oms.threads import start_thread

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.runtime.metrics import Metrics
    from oms.runtime.pipeline import Pipeline
    from oms.runtime.resync import Converters, SnapshotSource

log = logging.getLogger("oms.runtime.worker")

_IDLE_FLUSH_S: Final = 0.005
#: After this long with no frame at all, nothing is in flight any more: disagreements
#: still pending (a position report without its fills) are reported instead of waiting
#: for the next frame, which in a quiet market may be hours away.
QUIET_SETTLE_S: Final = 5.0
#: A failed resync is retried after this long (doubling, capped), until one succeeds.
RESYNC_RETRY_S: Final = (1.0, 60.0)
#: What the stream may queue for the worker while it waits for the database: past either
#: bound the account fails rather than grow without limit (a restart resyncs).
DEFAULT_MAX_BUFFERED_FRAMES: Final = 200_000
DEFAULT_MAX_BUFFERED_BYTES: Final = 512 * 1024 * 1024


@dataclass(slots=True)
class LiveStats:
    """Counters for the status line."""

    frames: int = 0
    resyncs: int = 0
    last_resync_at: int | None = None
    last_resync: ev.ResyncCompleted | None = None
    resync_failures: int = 0
    started_at: float = field(default_factory=time.monotonic)


class Worker:
    """Feeds a stream into a service on one worker thread; resyncs on every subscribe."""

    def __init__(  # noqa: PLR0913 - keyword-only settings, each with a safe default
        self,
        service: Pipeline,
        rest: SnapshotSource | None,
        convert: Converters,
        *,
        scope: ResyncScope | None = None,
        record: Callable[[str], None] | None = None,
        quiet_settle_s: float = QUIET_SETTLE_S,
        metrics: Metrics = NO_METRICS,
        max_buffered_frames: int = DEFAULT_MAX_BUFFERED_FRAMES,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        on_failed: Callable[[AccountFailedError], None] | None = None,
    ) -> None:
        self.service = service
        self.max_buffered_frames = max_buffered_frames
        self.max_buffered_bytes = max_buffered_bytes
        self._on_failed = on_failed
        #: Frames received after the account failed (never applied; a restart resyncs).
        self.lost_frames = 0
        self.metrics = metrics
        self.quiet_settle_s = quiet_settle_s
        self._last_frame = time.monotonic()
        self.rest = rest
        self.convert = convert
        self.scope = scope or ResyncScope()
        self.stats = LiveStats()
        self._record = record
        self._queue = _Inbox()
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections = 0
        self._retry_at: float | None = None
        self._retry_delay = RESYNC_RETRY_S[0]
        #: Why the worker stopped on its own (an ``AccountFailedError``), if it did.
        self.error: AccountFailedError | None = None
        #: Receipt time (epoch ms) of the frame the worker took last.
        self._taken_at: int | None = None
        #: Receipt time (epoch ms) of the newest frame queued, None before the first.
        self.last_frame_at: int | None = None

    # --- called from the stream's thread ------------------------------------------------

    def feed(self, text: object, received_at: int) -> None:
        """A frame arrived: queue it (never blocks the stream). Past the buffer's bounds
        (the worker is waiting for the database) the account fails instead."""
        self.last_frame_at = received_at
        if self.error is not None:
            self.lost_frames += 1
            return
        buffered = self._queue.count_bytes(text)
        frames = self._queue.qsize()
        if frames >= self.max_buffered_frames or buffered > self.max_buffered_bytes:
            self.lost_frames += 1
            self._failed(
                self.service.fail(
                    f"receive buffer full ({frames} frames, {buffered / 2**20:.0f} MiB waiting "
                    f"for the worker; bounds {self.max_buffered_frames} frames, "
                    f"{self.max_buffered_bytes / 2**20:.0f} MiB)"
                )
            )
            return
        self._queue.put(("frame", text, received_at))

    @property
    def queued(self) -> int:
        """Frames and requests waiting for the worker."""
        return self._queue.qsize()

    def on_subscribed(self, reason: str) -> None:
        """The stream (re)subscribed: what it missed must be fetched over REST."""
        self._connections += 1
        self._queue.put(("resync", reason, self._connections))

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread."""
        # In the caller's log context: its lines name the account and the connection.
        self._worker = start_thread(self._run, name="oms-live-worker")

    def stop(self, timeout: float | None = None) -> bool:
        """Apply what is queued, commit, and stop the worker; False if it was still
        working after ``timeout`` seconds (None: wait as long as it takes)."""
        self._stopping.set()
        # A resync retrying against a venue that is down would hold the stop for the
        # whole backoff (tens of seconds): the account is stopping, and its next start
        # resyncs anyway, so a failed request now ends the resync at once.
        if self.rest is not None:
            self.rest.cancel_retries()
        self._queue.put(("stop", None, 0))
        if self._worker is not None:
            self._worker.join(timeout)
            return not self._worker.is_alive()
        return True

    def call(self, action: Callable[[], object]) -> None:
        """Run ``action`` on the worker thread, in order with the frames queued before it
        (how registrations and queries that must see a settled ledger get in line)."""
        self._queue.put(("call", action, 0))

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far has been applied and committed. False on
        timeout; raises ``AccountFailedError`` if the worker failed."""
        if self.error is not None:
            raise self.error
        done = threading.Event()
        self._queue.put(("sync", done, 0))
        deadline = time.monotonic() + timeout
        while not done.wait(min(0.05, max(deadline - time.monotonic(), 0.0))):
            if self.error is not None:
                raise self.error
            if time.monotonic() >= deadline:
                return False
        if self.error is not None:
            raise self.error
        return True

    # --- the worker ---------------------------------------------------------------------

    def _run(self) -> None:
        """The worker, supervised: whatever ends it is logged and fails the account."""
        try:
            self._loop()
        except AccountFailedError as exc:
            self._failed(exc)
        except OmsError as exc:
            self._failed(self.service.fail(str(exc)))
        except Exception as exc:
            log.exception("live: a bug stopped the worker")
            self._failed(
                self.service.fail(f"a bug stopped the worker: {type(exc).__name__}: {exc}")
            )

    def _failed(self, error: AccountFailedError) -> None:
        if self.error is None:
            self.error = error
            self._stopping.set()
            self.metrics.failed()
            if self._on_failed is not None:
                try:
                    self._on_failed(error)
                except Exception:
                    log.exception("live: the failure callback failed")

    def _loop(self) -> None:
        service = self.service
        while self.error is None:
            try:
                kind, payload, extra = self._queue.get(timeout=_IDLE_FLUSH_S)
            except queue.Empty:
                self._idle()
                continue
            if kind == "frame":
                self._take_frame(payload, extra)
            elif kind == "resync":
                self._guard(self._resync, payload, first=extra == 1)
            elif kind == "call":
                self._guard(_isolated, payload)
            elif kind == "sync":
                self._guard(service.flush)
                payload.set()
            else:
                self._guard(service.flush)
                return

    def _idle(self) -> None:
        service = self.service
        self._guard(service.tick)
        quiet = time.monotonic() - self._last_frame >= self.quiet_settle_s
        if quiet and service.ledger.has_pending:
            self._guard(service.settle)
        if self._retry_at is not None and time.monotonic() >= self._retry_at:
            self._retry_at = None
            self._guard(self._resync, "retry after a failed resync", first=False)

    def lag_ms(self) -> int:
        """How far the worker is behind the stream: the age of the frame it took last
        while more wait behind it, 0 when nothing waits."""
        taken = self._taken_at
        if taken is None or self._queue.qsize() == 0:
            return 0
        return max(0, now_ms() - taken)

    def _take_frame(self, frame: object, received_at: int) -> None:
        self._taken_at = received_at
        self.stats.frames += 1
        self._last_frame = time.monotonic()
        self._queue.uncount_bytes(frame)
        if self._record is not None:
            self._record(frame)  # type: ignore[arg-type]
        self._guard(self._apply, frame, received_at)

    def _guard(self, action: Callable[..., object], *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Run ``action``; a store fault that may pass blocks here, retrying, until the
        database takes the staged group (the stream keeps queueing meanwhile)."""
        try:
            action(*args, **kwargs)
        except StoreUnavailableError:
            self.metrics.store_fault(active=True)
            self.service.commit_pending(abort=self._abort_reason)
            self.metrics.store_fault(active=False)

    def _abort_reason(self) -> str | None:
        return None if self.error is None else self.error.reason

    def request_resync(self, reason: str) -> None:
        """Resync now because the caller's own socket had a gap (it reconnected): a
        ``StreamGapDetected`` is recorded first, then the REST repair runs."""
        self._queue.put(("resync", reason, 0))  # 0: never "the first subscribe"

    def _apply(self, text: object, received_at: int) -> None:
        dequeued_at = now_ms()
        result = self.service.feed(text, received_at=received_at)
        self.metrics.frame_handled(result, received_at=received_at, dequeued_at=dequeued_at)

    def _resync(self, reason: str, *, first: bool) -> None:
        at = now_ms()
        started: list[ev.Event] = []
        if not first:
            started.append(ev.StreamGapDetected(venue_time=0, received_at=at, reason=reason))
        if self.rest is None:  # frames fed by the caller, no REST configured
            if started:
                log.warning("gap (%s) and no REST client to repair it: state may miss it", reason)
            self.service.record(started)
            self.service.flush()
            return
        started.append(ev.ResyncStarted(venue_time=0, received_at=at, reason=reason))
        self.service.record(started)
        try:
            fetched = fetch_snapshot(self.rest, self.convert, self.service, self.scope)
        except OmsError as exc:
            if self._stopping.is_set():
                log.info("resync abandoned, the account is stopping: %s", exc)
                self.service.flush()
            else:
                self._resync_failed(exc)
            return
        self._retry_delay = RESYNC_RETRY_S[0]
        batch = self.service.reconcile(fetched.snapshot, raw=fetched.raw, wallets=fetched.wallets)
        self._resynced(reason, batch.events)

    def _resync_failed(self, exc: OmsError) -> None:
        """Count and log a failed resync, retried later (the gap stays recorded)."""
        self.stats.resync_failures += 1
        self.metrics.resynced(ok=False)
        log.error(  # the reason, not a trace
            "resync failed (retrying in %.0f s), state may miss what the gap lost: %s",
            self._retry_delay,
            exc,
        )
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RESYNC_RETRY_S[1])
        self.service.flush()

    def _resynced(self, reason: str, events: list[ev.Event]) -> None:
        """Count a completed resync and log what it corrected."""
        self.stats.resyncs += 1
        self.metrics.resynced(ok=True)
        self.stats.last_resync_at = now_ms()
        done = [e for e in events if isinstance(e, ev.ResyncCompleted)]
        self.stats.last_resync = done[-1] if done else None
        if done:
            d = done[-1]
            log.info(
                "resync done (%s): %d orders changed, %d new, %d fills added, "
                "%d positions corrected, %d legs mismatched, %d fill gaps, %d rows refused",
                reason,
                d.orders_changed,
                d.orders_new,
                d.fills_added,
                d.positions_changed,
                d.mismatched_legs,
                d.fill_gaps,
                d.refused,
            )


class _Inbox(queue.Queue[tuple[str, Any, int]]):
    """The worker's queue, with the bytes of the frames in it (the stream adds them as it
    queues, the worker takes them off as it takes the frames), to bound what it holds."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = 0
        self._bytes_lock = threading.Lock()

    def count_bytes(self, frame: object) -> int:
        """Count a frame about to be queued; the bytes queued with it."""
        with self._bytes_lock:
            self._bytes += _size(frame)
            return self._bytes

    def uncount_bytes(self, frame: object) -> None:
        """The worker took ``frame`` off the queue."""
        with self._bytes_lock:
            self._bytes -= _size(frame)


def _size(frame: object) -> int:
    return len(frame) if isinstance(frame, str | bytes) else 0


def _isolated(action: Callable[[], object]) -> None:
    """Run a queued call; its own bug is logged, and never stops the worker."""
    try:
        action()
    except OmsError:
        raise
    except Exception:
        log.exception("live: a queued call failed; the worker goes on")
