"""``oms replay``: apply a capture, in memory or into a database, and print the state.

Without ``--db`` the state is the ledger's, printed from it. With ``--db`` it is the
database's, read back after the replay's last commit by ``oms.cli.stored`` in bounded
memory: a summary by default (``--summary`` is the same), every order and fill with
``--full``, the JSON document with ``--json``; the replay never reloads the account.
"""

from __future__ import annotations

import gc
import gzip
import logging
import math
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

from oms.bybit.ledger import Ledger
from oms.cli.capture import bytes_read, capture_identity, open_capture
from oms.cli.views import ledger_rows, state_document, write_document
from oms.clock import now_ms
from oms.core.events import Anomaly, Event

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator
    from typing import TextIO

    from oms.runtime.pipeline import Pipeline

log = logging.getLogger("oms.cli")

#: Files larger than this get a progress bar (on a terminal).
_PROGRESS_BYTES = 1 << 20
_READ_ERRORS = (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile)
#: A replay into a database commits once this many lines are staged and no cross-topic
#: check waits in its settle window (see ``_replay_into_db``) ...
_REPLAY_GROUP_LINES: Final = 100
#: ... or once this many are, window or not (only a stream that is never quiet gets there).
_REPLAY_MAX_GROUP_LINES: Final = 20_000
#: Where the rest is, under the summary of ``oms replay --db`` (not "run it again with
#: --full": a second replay journals every frame again, as duplicates).
_MORE: Final = "stored rows, newest first: oms inspect --db URL orders|fills|positions|events"


#: The collector's thresholds while a replay without ``--db`` runs (a batch that exits,
#: not a service). Such a replay keeps every order and fill it books, and at the default
#: thresholds (700, 10, 10) the collector traverses each of them two or three times on the
#: way to the oldest generation: 0.17 s of a 100k-frame ``replay --json`` (measured with
#: ``gc.callbacks``), 0.06 s at these. Cyclic garbage is still collected, in batches of
#: at most 50,000 objects. ``--db`` keeps the defaults: its store objects (SQLAlchemy's)
#: are what a service holds too, and its target is met at them.
_BATCH_GC_THRESHOLDS: Final = (50_000, 20, 20)


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        if args.db:
            _replay_into_db(args)
            _print_stored(args)
        else:
            with _batch_collection():
                _print_ledger(_replay_in_memory(args), args)
    except _READ_ERRORS as exc:
        log.error("cannot read %s: %s", args.capture, exc)  # noqa: TRY400 - a clear line, no trace
        return 2
    return 0


@contextmanager
def _batch_collection() -> Iterator[None]:
    """The collector at ``_BATCH_GC_THRESHOLDS`` inside, as it was after."""
    before = gc.get_threshold()
    gc.set_threshold(*_BATCH_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _log_anomalies(events: list[Event]) -> int:
    """Count the anomalies; log each at INFO (``-v``): a replay's output holds them all
    already, so by default its stderr keeps to what went wrong with the replay itself."""
    count = 0
    for event in events:
        if isinstance(event, Anomaly):
            count += 1
            log.info("%s: %s", type(event).__name__, event.reason)
    return count


@contextmanager
def _progress(show: bool, size: int) -> Iterator[Callable[[int, int], None]]:
    """``update(bytes_done, frames)`` of a progress bar on stderr, if ``show`` (rich is
    only imported then)."""
    if not show:
        yield lambda _done, _frames: None
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415

    columns = (
        TextColumn("replaying"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[frames]} frames"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("replay", total=size or None, frames=0)
        yield lambda done, frames: progress.update(task, completed=done, frames=frames)


def replay_lines(
    handle: TextIO,
    apply: Callable[[str], list[Event]],
    *,
    size: int,
    show_progress: bool,
    skip: int = 0,
    before_line: Callable[[int], None] | None = None,
) -> int:
    """Apply every non-empty line after the first ``skip``; return the anomaly count.

    ``before_line(n)`` is told the number of lines done once line n is applied: n. It is
    called right before line n is applied, so that a commit the apply makes holds line n
    and its count together (a killed replay resumes after the last line committed, and
    journals no line twice). If applying line n raises, it is told n - 1 before the error
    goes on: line n is not done, and a replay resumed from the count applies it again
    instead of skipping it. Lines end at ``\\n`` only (see ``oms.cli.capture``); a ``\\r``
    before it is not part of the frame."""
    anomalies = 0
    with _progress(show_progress, size) as update:
        for count, line in enumerate(handle, 1):
            if count <= skip:
                continue
            anomalies += _apply_line(line.rstrip("\r\n"), count, apply, before_line)
            if count % 2048 == 0:
                update(bytes_read(handle), count)
    return anomalies


def _apply_line(
    text: str,
    count: int,
    apply: Callable[[str], list[Event]],
    before_line: Callable[[int], None] | None,
) -> int:
    """Apply line number ``count`` (see ``replay_lines``); return its anomaly count."""
    if before_line is not None:
        before_line(count)
    if not text:  # blank lines separate nothing and are not frames
        return 0
    try:
        return _log_anomalies(apply(text))
    except BaseException:
        if before_line is not None:
            before_line(count - 1)  # the line was not applied: it is not done
        raise


def _replay_in_memory(args: argparse.Namespace) -> Ledger:
    ledger = Ledger()
    with open_capture(args.capture) as (handle, size):
        show = sys.stderr.isatty() and size > _PROGRESS_BYTES
        replay_lines(handle, ledger.apply_frame, size=size, show_progress=show)
    _log_anomalies(ledger.settle(received_at=now_ms()))
    return ledger


def _print_ledger(ledger: Ledger, args: argparse.Namespace) -> None:
    if args.json:
        write_document(sys.stdout, *ledger_rows(ledger), ledger.stats)
        return
    from oms.cli.render import console, print_state  # noqa: PLC0415

    print_state(state_document(ledger), console(), summary=args.summary and not args.full)


def _print_stored(args: argparse.Namespace) -> None:
    """The account as stored, read in bounded memory (only reads: the replay released
    the lease with its last commit)."""
    from oms.cli.stored import StoredAccount  # noqa: PLC0415

    with StoredAccount(args.db, args.account) as stored:
        if args.json:
            stats, positions = stored.stats(), stored.positions()
            write_document(sys.stdout, stored.orders(), stored.executions(), positions, stats)
            return
        from oms.cli.render import console, print_summary, write_listing  # noqa: PLC0415
        from oms.cli.views import FILL_COLUMNS, ORDER_COLUMNS  # noqa: PLC0415
        from oms.store.repository import EXECUTIONS, ORDERS  # noqa: PLC0415

        if args.full:
            out = sys.stdout
            write_listing(out, f"Orders ({stored.count(ORDERS)})", stored.orders(), ORDER_COLUMNS)
            title = f"Executions ({stored.count(EXECUTIONS)})"
            write_listing(out, title, stored.executions(), FILL_COLUMNS)
        print_summary(stored.summary(), console(), more=None if args.full else _MORE)


def _replay_into_db(args: argparse.Namespace) -> None:
    from oms.runtime.pipeline import Pipeline  # noqa: PLC0415 - the store is only loaded when asked for

    source = capture_identity(args.capture)
    with Pipeline(
        args.db,
        account=args.account,
        keep_terminal_orders=args.keep_orders,
        store_fault_deadline_s=args.store_fault_deadline,
        wait_lease_s=args.wait_lease,
        lease_ttl_s=args.lease_ttl,
        group_frames=sys.maxsize,  # the replay decides when to commit: see _Committer
        group_ms=math.inf,
    ) as service:
        skip = _resume_point(service, source)
        if skip:
            log.info("resuming the replay of %s after line %d", args.capture, skip)
        committer = _Committer(service, source, skip)
        with open_capture(args.capture) as (handle, size):
            show = sys.stderr.isatty() and size > _PROGRESS_BYTES
            total = replay_lines(
                handle,
                lambda text: _durably(service, lambda: service.feed(text).events),
                size=size,
                show_progress=show,
                skip=skip,
                before_line=committer.before_line,
            )
        if source is not None:
            service.set_replay_progress(source, committer.lines_done, finished=True)
        total += _log_anomalies(_durably(service, service.settle))
        log.info("replay done: %d anomalies", total)


class _Committer:
    """When the replay commits, and how far it got (``before_line`` of ``replay_lines``)."""

    def __init__(self, service: Pipeline, source: str | None, skip: int) -> None:
        self.service, self.source = service, source
        self.lines_done = self.committed = skip

    def before_line(self, done: int) -> None:
        # Before line ``done`` (not when a failed line is taken back): commit the lines
        # before it, but only where no cross-topic check waits in its settle window.
        # The store keeps no frame count per window, so a restore cannot say how far
        # one had run; resumed from such a commit, the replay has no window to restore
        # and goes on exactly as an uninterrupted one (see CoreLedger.restore).
        service = self.service
        staged = done - 1 - self.committed
        if (
            done > self.lines_done
            and staged >= _REPLAY_GROUP_LINES
            and (not service.ledger.has_pending or staged >= _REPLAY_MAX_GROUP_LINES)
        ):
            _durably(service, _commit(service))
            self.committed = done - 1
        self.lines_done = done
        if self.source is not None:
            service.set_replay_progress(self.source, done, finished=False)


def _commit(service: Pipeline) -> Callable[[], list[Event]]:
    """``service.flush`` as an action for ``_durably``."""

    def commit() -> list[Event]:
        service.flush()
        return []

    return commit


def _durably(service: Pipeline, action: Callable[[], list[Event]]) -> list[Event]:
    """Run ``action``; when the group it completed cannot be written yet (a store fault
    that may pass), wait for the write with the service's backoff and deadline."""
    from oms.errors import StoreUnavailableError  # noqa: PLC0415

    try:
        return action()
    except StoreUnavailableError:
        service.commit_pending()
        return []


def _resume_point(service: Pipeline, source: str | None) -> int:
    """Lines to skip: those of an unfinished earlier replay of the same capture."""
    if source is None:
        return 0
    progress = service.replay_progress(source)
    if progress is None or progress[1]:
        return 0  # never replayed, or replayed to the end: replay all (as duplicates)
    return progress[0]
