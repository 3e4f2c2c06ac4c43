"""Wiring: frame -> ledger -> one transaction (journal, state rows, events) -> publish.

``Pipeline`` owns the database transaction; nothing else commits. Frames are
committed in small groups (``group_frames`` frames, or ``group_ms`` after the first
uncommitted one, whichever comes first): each group is one transaction holding the
journal rows, every state row the frames changed and every event they produced, so a
crash at any instant leaves the database exactly as it was after some whole group.
Subscribers hear of events only after their commit; one that raises is logged and
isolated, and never rolls back state or stops ingestion.

On open, the ledger is restored from the database, so a frame seen before a restart is
a duplicate after it.

Faults (see the README's "Failure model"). A frame is staged, exactly as received, before
it is decoded: whatever happens next, its journal row is in the group. A write that fails
for a reason that may pass (``oms.store.faults.is_transient``: locked, disk full,
connection lost) keeps the staged group and raises ``StoreUnavailableError``; the caller
retries with ``commit_pending``, which backs off (capped) until the write succeeds or the
store-fault deadline passes. Meanwhile ``fault`` says since when and why. Anything else
(a deadline passed, a write the database refuses for good, a bug while applying a frame)
fails the service: ``failure`` holds the reason, and every later call raises it (the
handling is ``oms.runtime.write_faults``).

Threads: frames are applied by one thread (the caller's, or ``oms.runtime.worker``'s worker). Other
threads may read the ledger while holding ``lock``, which every mutation of the ledger
takes. ``watchers`` see each applied frame's events and the orders it touched before its
commit, and may add events of their own to the same commit (``oms.runtime.account`` checks the
user's expectations this way).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol, Self

from sqlalchemy.exc import SQLAlchemyError

from oms.bybit.frames import valid_unicode
from oms.bybit.ledger import Ledger
from oms.clock import now_ms
from oms.core.ledger import (
    DEFAULT_KEEP_TERMINAL_ORDERS,
    DEFAULT_SETTLE_FRAMES,
    Batch,
)
from oms.core.reconcile import VenueSnapshot, reconcile
from oms.errors import (
    AccountFailedError,
    LeaseLostError,
    OmsError,
    StorageError,
)
from oms.runtime.commit import Staged, write_group
from oms.runtime.publish import Publisher
from oms.runtime.restore import StoredState, restore
from oms.runtime.staging import complete_row, journal_row, stage
from oms.runtime.write_faults import WriteFaults
from oms.store.db import checkpoint_if_due, ensure_schema, open_engine, safe_url
from oms.store.faults import (
    DEFAULT_STORE_FAULT_DEADLINE_S,
)
from oms.store.lease import DEFAULT_LEASE_TTL_S, Lease
from oms.store.repository import Repository
from oms.store.tables import DEFAULT_ACCOUNT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Connection, Engine

    from oms.bybit.ledger import FrameResult
    from oms.bybit.models import WireModel
    from oms.core.events import Event
    from oms.core.fills import Fill
    from oms.core.orders import Order
    from oms.store.repository import Row

log = logging.getLogger(__name__)

Subscriber = Callable[["Event"], None]
DEFAULT_GROUP_FRAMES: Final = 100
DEFAULT_GROUP_MS: Final = 5.0
#: How often (ms) watchers are asked for events that are due by the clock alone.
WATCH_TICK_MS: Final = 100


class Watcher(Protocol):
    """Something that judges applied frames and adds events to their commit."""

    def after_apply(self, events: list[Event], orders: list[Order], at: int) -> list[Event]:
        """Events to add for a frame that caused ``events`` and touched ``orders``."""
        ...

    def due(self, now: int) -> list[Event]:
        """Events that the clock alone makes due (deadlines)."""
        ...


class Pipeline(WriteFaults):
    """One account's durable ledger in one database."""

    def __init__(  # noqa: PLR0913 - keyword-only settings, each with a safe default
        self,
        url: str,
        *,
        account: str = DEFAULT_ACCOUNT,
        settle_frames: int = DEFAULT_SETTLE_FRAMES,
        group_frames: int = DEFAULT_GROUP_FRAMES,
        group_ms: float = DEFAULT_GROUP_MS,
        keep_terminal_orders: int | None = DEFAULT_KEEP_TERMINAL_ORDERS,
        keep_terminal_ms: int | None = None,
        store_fault_deadline_s: float = DEFAULT_STORE_FAULT_DEADLINE_S,
        take_lease: bool = True,
        wait_lease_s: float = 0.0,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        publisher: Publisher | None = None,
    ) -> None:
        super().__init__(store_fault_deadline_s)
        self.account = account
        self.group_frames = group_frames
        self.group_ms = group_ms
        #: None: keep every order in memory (and load every order on open).
        self.keep_terminal_orders = keep_terminal_orders
        #: Terminal orders last updated longer ago than this (venue time) leave memory too.
        self.keep_terminal_ms = keep_terminal_ms
        self.engine: Engine = open_engine(url)
        self.repo = Repository(self.engine.dialect, account)
        self.ledger = Ledger(settle_frames=settle_frames)
        #: The one fan-out of committed events (``Account`` passes its own).
        self.publisher = publisher if publisher is not None else Publisher()
        self.lock = threading.RLock()
        self.watchers: list[Watcher] = []
        self._next_tick = 0
        self._staged = Staged()
        self._connection: Connection | None = None
        #: The writer's lease (None for a service that only reads: ``take_lease=False``).
        self.lease: Lease | None = None
        #: What the lease's heartbeat reports besides itself (``oms status`` shows it).
        self.heartbeat: Callable[[], dict[str, object]] = self._heartbeat
        self._open(url, take_lease=take_lease, wait_lease_s=wait_lease_s, lease_ttl_s=lease_ttl_s)

    def _open(self, url: str, *, take_lease: bool, wait_lease_s: float, lease_ttl_s: float) -> None:
        """Migrate the schema, take the lease (a writer) and restore the state; a refused
        open leaves nothing taken or open behind."""
        try:
            ensure_schema(self.engine)
            if take_lease:
                # Before the state is loaded, so it is the last owner's final state.
                self.lease = Lease(self.engine, self.account, ttl_s=lease_ttl_s)
                self.lease.acquire(wait_s=wait_lease_s)
                self.lease.start_renewing(lambda: self.heartbeat())  # noqa: PLW0108 - read late: Account replaces it
            self._connection = self.engine.connect()
            restore(self)
        except BaseException as exc:
            if self.lease is not None:
                self.lease.release()
            self.engine.dispose()  # leave no pooled connection behind a refused open
            if isinstance(exc, SQLAlchemyError):
                raise StorageError(f"cannot load {safe_url(url)}: {exc}") from exc
            raise

    @property
    def connection(self) -> Connection:
        """The service's own connection; a new one after a fault closed the old one."""
        if self._connection is None:
            self._connection = self.engine.connect()
        return self._connection

    def _drop_connection(self) -> None:
        """Forget a connection a fault may have broken (the next use opens another)."""
        conn, self._connection = self._connection, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("closing a faulted connection failed", exc_info=True)

    def _heartbeat(self) -> dict[str, object]:
        stats = self.ledger.stats
        return {
            "state": "failed" if self.failure else ("degraded" if self.fault else "running"),
            "frames": stats["frames"],
        }

    # --- subscribers --------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(event)`` for every event, after the commit that holds it
        (inline: a ``Publisher`` listener)."""
        self.publisher.listen(callback)

    # --- ingestion ----------------------------------------------------------------------

    def feed(self, frame: object, *, received_at: int | None = None) -> FrameResult:
        """Apply one raw frame and stage everything it changed for the next commit.

        The frame's journal row is staged before the frame is decoded, so it is kept
        whatever happens next. Raises ``StoreUnavailableError`` when the group it
        completed could not be written (it is kept: call ``commit_pending``), and
        ``AccountFailedError`` when the service has failed."""
        self._check_usable()
        at = now_ms() if received_at is None else received_at
        row, frame = journal_row(frame, at)
        try:
            with self.lock:
                result = self.ledger.feed(frame, received_at=at)  # type: ignore[arg-type]
        except Exception as exc:
            raise self._bug_in_frame(row, exc) from exc
        self._stage(row, result)
        if self.watchers and now_ms() >= self._next_tick:
            self._record_due()
        staged = self._staged
        if len(staged.frames) >= self.group_frames or (
            (time.monotonic() - staged.since) * 1000.0 >= self.group_ms
        ):
            self.flush()
        return result

    def _bug_in_frame(self, row: Row, exc: Exception) -> AccountFailedError:
        """A bug raised while applying a frame: journal the frame, commit what was
        received before it, and fail loudly (a restart restores and resyncs)."""
        reason = f"a bug stopped the account while applying a frame: {type(exc).__name__}: {exc}"
        log.error("%s", reason, exc_info=exc)
        row["error"] = f"internal error ({type(exc).__name__}: {exc}); the account stopped"
        row["raw"] = valid_unicode(row["raw"])
        self._stage_batch(row, Batch(), [])
        try:
            self.flush()
        except OmsError:
            log.exception("the frames received before the failing one could not be written")
        return self.fail(reason)

    def _stage(self, row: Row, result: FrameResult) -> None:
        complete_row(row, result)
        if result.wallets:
            self._staged.wallets.update(result.wallets)
        self._stage_batch(row, result.batch, result.events)

    def _stage_batch(self, frame: Row, batch: Batch, events: list[Event]) -> None:
        if self.watchers:
            events = self._watch(events, batch.orders, frame["received_at"])
        stage(self._staged, frame, batch, events)

    def _watch(self, events: list[Event], touched: set[str], at: int) -> list[Event]:
        ledger = self.ledger
        orders = [o for i in sorted(touched) if (o := ledger.order(i)) is not None]
        added: list[Event] = []
        with self.lock:
            for watcher in self.watchers:
                added += watcher.after_apply(events, orders, at)
        if added:
            events.extend(added)  # the frame's own list: callers see them too
        return events

    def _record_due(self) -> None:
        """Stage what the watchers' clocks make due; the next check is a tick away."""
        now = now_ms()
        self._next_tick = now + WATCH_TICK_MS
        with self.lock:
            due = [e for watcher in self.watchers for e in watcher.due(now)]
        self.record(due)

    def tick(self) -> None:
        """Record what the watchers' clocks make due, and commit what is staged."""
        if self.watchers:
            self._record_due()
        self.flush()

    # --- reading what memory no longer holds (any thread) -------------------------------

    def stored_order(self, order_id: str) -> Order | None:
        """An order as stored (committed), read on a connection of its own."""
        with self.engine.connect() as conn:
            return self.repo.load_order(conn, order_id)

    def stored_order_by_link_id(self, order_link_id: str) -> Order | None:
        """The newest stored order with this orderLinkId, on a connection of its own."""
        with self.engine.connect() as conn:
            return self.repo.load_order_by_link_id(conn, order_link_id)

    def stored_fills(self, order_id: str) -> list[Fill]:
        """An order's stored executions, on a connection of its own."""
        with self.engine.connect() as conn:
            return self.repo.load_fills(conn, order_id)

    def replay_progress(self, source: str) -> tuple[int, bool] | None:
        """(lines done, finished) of an earlier replay of ``source`` in this database."""
        conn = self.connection
        with conn.begin():
            return self.repo.replay_progress(conn, source)

    def set_replay_progress(self, source: str, lines_done: int, *, finished: bool) -> None:
        """Record replay progress in the next commit (atomically with its frames)."""
        self._staged.replay = (source, lines_done, finished)

    def flush(self) -> None:
        """Commit everything staged, then publish its events.

        On a write fault that may pass, the staged group is kept and
        ``StoreUnavailableError`` is raised (retry with ``commit_pending``); on one that
        cannot, the service fails (``AccountFailedError``)."""
        staged = self._staged
        if not staged.frames and staged.replay is None:
            return
        self._check_usable()
        if self.lease is not None and self.lease.lost is not None:
            raise self.fail(self.lease.lost.reason)
        began = time.monotonic()
        try:
            events = write_group(self.connection, self.repo, self.ledger, staged, self.lease)
        except Exception as exc:
            raise self._write_failed(exc, began) from exc
        self._staged = Staged()
        checkpoint_if_due(self.connection)  # keeps the SQLite WAL bounded; never waits
        self._wrote_again()
        self._evict()
        self.publisher.publish(events)

    @property
    def staged_frames(self) -> int:
        """Frames received and applied but not yet committed."""
        return sum(1 for frame, *_ in self._staged.frames if frame is not None)

    def _evict(self) -> None:
        """After a commit (so that what leaves memory is in the database)."""
        keep = self.keep_terminal_orders
        if keep is None:
            return
        # An age pass scans the orders held (a few thousand) once per commit.
        before = None if self.keep_terminal_ms is None else now_ms() - self.keep_terminal_ms
        # Evict in steps (a tenth of what is kept) rather than one order per commit.
        if before is not None or self.ledger.terminal_count > keep + keep // 10:
            with self.lock:
                if self.ledger.recall is None:
                    self.ledger.recall = StoredState(self)
                self.ledger.evict(keep, updated_before=before)

    def settle(self) -> list[Event]:
        """Report pending cross-topic disagreements now, put them in the outbox, commit."""
        with self.lock:
            events = self.ledger.settle(received_at=now_ms())
        self.record(events)
        self.flush()
        return events

    def record(self, events: list[Event]) -> None:
        """Put events that no frame caused (gap detected, resync started) in the outbox
        with the next commit."""
        if events:
            stage(self._staged, None, Batch(), list(events))

    def reconcile(
        self, snapshot: VenueSnapshot, *, raw: str = "", wallets: Sequence[WireModel] = ()
    ) -> Batch:
        """Apply a REST snapshot (see ``oms.core.reconcile``) and its ``wallets``
        (``/v5/account/wallet-balance`` rows), journal it under topic ``rest.snapshot``
        with ``raw`` (the rows as received), and commit at once."""
        at = now_ms()
        with self.lock:
            batch = reconcile(self.ledger, snapshot, received_at=at)
            self._staged.wallets.update(self.ledger.apply_rest_wallets(wallets))
        frame = {
            "received_at": at,
            "topic": "rest.snapshot",
            "raw": raw,
            "outcome": batch.outcome.value,
            "error": None,
            "parsed": False,
        }
        self._stage_batch(frame, batch, batch.events)
        self.flush()
        return batch

    def close(self) -> None:
        """Commit what is staged (riding out a store fault up to its deadline) and release
        the database. Raises ``AccountFailedError`` if what was received could not be
        committed: it never discards frames quietly."""
        try:
            if self.failure is None:
                self.commit_pending()
        finally:
            self._drop_connection()
            if self.lease is not None and not isinstance(self.failure, LeaseLostError):
                self.lease.release()  # after the last commit: the next writer takes it at once
            self.engine.dispose()
        if self.failure is not None:
            raise self.failure

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
