"""The ``oms`` command line.

oms replay CAPTURE [--json] [--db URL [--account NAME]]
oms inspect --db URL orders|positions|fills|events [--symbol S] [--status S] [--open]
oms events --db URL [--after N] [--follow]
oms db upgrade|current|downgrade --db URL [--revision REV]
oms status --db URL [--account A] [--json]
oms run (--env E | --ws-url U --rest-url U) --db URL [--metrics-port P [--metrics-host H]]

Every command takes ``-v``, ``--log-level LEVEL`` and ``--log-json`` (before or after its
name): log lines go to stderr, as text or one JSON object per line (see ``oms.runtime.logs``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Final

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from oms.bybit.ledger import Ledger, now_ms
from oms.cli.capture import bytes_read, capture_identity, open_capture
from oms.cli.render import console, inspect_table, print_state
from oms.cli.views import state_document
from oms.core.events import Anomaly, Event
from oms.core.ledger import DEFAULT_KEEP_TERMINAL_ORDERS
from oms.errors import LeaseHeldError, LocalError, NewerSchemaError, OmsError
from oms.runtime.logs import LEVELS, account_context, bound, configure
from oms.store.faults import DEFAULT_STORE_FAULT_DEADLINE_S
from oms.store.lease import DEFAULT_LEASE_TTL_S

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TextIO

    from oms.runtime.pipeline import Pipeline

log = logging.getLogger("oms.cli")

#: Files larger than this get a progress bar (on a terminal).
_PROGRESS_BYTES = 1 << 20
_READ_ERRORS = (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile)
#: Exit statuses, the same for every command (README, "Failure model"): 0 stopped on
#: request with everything committed; 1 stopped by a fault (restart it); 2 refused to
#: start (usage, a newer schema, a venue that refuses the credentials).
EXIT_OK, EXIT_FAULT, EXIT_REFUSED = 0, 1, 2
#: A replay into a database commits once this many lines are staged and no cross-topic
#: check waits in its settle window (see ``_replay_into_db``) ...
_REPLAY_GROUP_LINES: Final = 100
#: ... or once this many are, window or not (only a stream that is never quiet gets there).
_REPLAY_MAX_GROUP_LINES: Final = 20_000


def _log_anomalies(events: list[Event]) -> int:
    count = 0
    for event in events:
        if isinstance(event, Anomaly):
            count += 1
            log.warning("%s: %s", type(event).__name__, event.reason)
    return count


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("replaying"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[frames]} frames"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not show,
    )


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
    with _progress(show_progress) as progress:
        task = progress.add_task("replay", total=size or None, frames=0)
        for count, line in enumerate(handle, 1):
            if count <= skip:
                continue
            anomalies += _apply_line(line.rstrip("\r\n"), count, apply, before_line)
            if count % 2048 == 0:
                progress.update(task, completed=bytes_read(handle), frames=count)
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


def _replay_in_memory(args: argparse.Namespace) -> int:
    ledger = Ledger()
    with open_capture(args.capture) as (handle, size):
        show = sys.stderr.isatty() and size > _PROGRESS_BYTES
        replay_lines(handle, ledger.apply_frame, size=size, show_progress=show)
    _log_anomalies(ledger.settle(received_at=now_ms()))
    _emit_state(state_document(ledger), args)
    return 0


def _replay_into_db(args: argparse.Namespace) -> int:
    from oms.runtime.pipeline import Pipeline  # noqa: PLC0415 - the store is only loaded when asked for

    source = capture_identity(args.capture)
    with Pipeline(
        args.db,
        account=args.account,
        keep_terminal_orders=args.keep_orders,
        store_fault_deadline_s=args.store_fault_deadline,
        wait_lease_s=args.wait_lease,
        lease_ttl_s=args.lease_ttl,
        group_frames=sys.maxsize,  # the replay decides when to commit: see progress()
        group_ms=math.inf,
    ) as service:
        skip = _resume_point(service, source)
        if skip:
            log.info("resuming the replay of %s after line %d", args.capture, skip)

        lines_done = [skip]
        committed = [skip]

        def progress(done: int) -> None:
            # Before line ``done`` (not when a failed line is taken back): commit the lines
            # before it, but only where no cross-topic check waits in its settle window.
            # The store keeps no frame count per window, so a restore cannot say how far
            # one had run; resumed from such a commit, the replay has no window to restore
            # and goes on exactly as an uninterrupted one (see CoreLedger.restore).
            staged = done - 1 - committed[0]
            if (
                done > lines_done[0]
                and staged >= _REPLAY_GROUP_LINES
                and (not service.ledger.has_pending or staged >= _REPLAY_MAX_GROUP_LINES)
            ):
                _durably(service, _commit(service))
                committed[0] = done - 1
            lines_done[0] = done
            if source is not None:
                service.set_replay_progress(source, done, finished=False)

        with open_capture(args.capture) as (handle, size):
            show = sys.stderr.isatty() and size > _PROGRESS_BYTES
            total = replay_lines(
                handle,
                lambda text: _durably(service, lambda: service.feed(text).events),
                size=size,
                show_progress=show,
                skip=skip,
                before_line=progress,
            )
        if source is not None:
            service.set_replay_progress(source, lines_done[0], finished=True)
        total += _log_anomalies(_durably(service, service.settle))
        log.info("replay done: %d anomalies", total)
    # Memory held only the newest ended orders; the document shows them all.
    # Only reads (the lease was released with the replay's last commit).
    with Pipeline(
        args.db, account=args.account, keep_terminal_orders=None, take_lease=False
    ) as full:
        _emit_state(state_document(full.ledger), args)
    return 0


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


def _emit_state(document: dict[str, Any], args: argparse.Namespace) -> None:
    if args.json:
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    else:
        print_state(document, console(), summary=args.summary)


def _cmd_replay(args: argparse.Namespace) -> int:
    try:
        return _replay_into_db(args) if args.db else _replay_in_memory(args)
    except _READ_ERRORS as exc:
        log.error("cannot read %s: %s", args.capture, exc)  # noqa: TRY400 - a clear line, no trace
        return 2


def _cmd_inspect(args: argparse.Namespace) -> int:
    console().print(
        inspect_table(
            args.db,
            args.what,
            account=args.account,
            symbol=args.symbol,
            status=args.status,
            open_only=args.open,
            limit=args.limit,
        )
    )
    return 0


def _cmd_events(args: argparse.Namespace) -> int:
    from oms.runtime.publish import read_events_from  # noqa: PLC0415
    from oms.store.db import check_known_revision, open_engine  # noqa: PLC0415

    engine = open_engine(args.db)
    stop = threading.Event()
    if args.follow:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    after = args.after
    try:
        check_known_revision(engine)  # NewerSchemaError: exit 2
        while True:
            batch = read_events_from(engine, after, args.limit, args.account)
            for event in batch:
                sys.stdout.write(event.to_json() + "\n")
                after = event.id
            sys.stdout.flush()
            if len(batch) == args.limit and not stop.is_set():
                continue  # a full read: there may be more right away
            if not args.follow or stop.wait(args.poll):
                return 0
    finally:
        engine.dispose()


def _cmd_db(args: argparse.Namespace) -> int:
    from oms.errors import LeaseHeldError  # noqa: PLC0415
    from oms.store import db  # noqa: PLC0415
    from oms.store.lease import refuse_while_written  # noqa: PLC0415

    engine = db.open_engine(args.db)
    try:
        db.check_known_revision(engine)  # NewerSchemaError: exit 2, nothing touched
        if args.action == "upgrade":
            db.upgrade(engine, args.revision or "head")
        elif args.action == "downgrade":
            if args.revision is None:
                raise LocalError(
                    "oms db downgrade needs --revision REV (a revision such as 0001, or base)"
                )
            # a downgrade changes the schema under a running writer and drops its lease
            refuse_while_written(engine, "downgrade")
            db.downgrade(engine, args.revision)
        current = db.current_revision(engine)
        sys.stdout.write(f"{current or 'empty'} (head: {db.head_revision()})\n")
    except LeaseHeldError as exc:
        log.error("%s", exc)  # noqa: TRY400 - a clear line, no trace
        return EXIT_REFUSED
    finally:
        engine.dispose()
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    """Who writes each account: its lease owner, epoch, heartbeat and last report. A
    plain read: it takes no lease and waits for none."""
    from oms.cli.render import status_table  # noqa: PLC0415
    from oms.store.db import check_known_revision, open_engine  # noqa: PLC0415
    from oms.store.lease import status_document  # noqa: PLC0415

    engine = open_engine(args.db)
    try:
        check_known_revision(engine)  # NewerSchemaError: exit 2
        document = status_document(engine, args.account)
    finally:
        engine.dispose()
    if args.json:
        sys.stdout.write(json.dumps(document, sort_keys=True) + "\n")
    elif not document["leases"]:
        only = "" if args.account is None else f" for account {args.account!r}"
        sys.stdout.write(f"no lease rows{only}\n")
    else:
        console().print(status_table(document))
    return EXIT_OK


def _checking_schema(
    handler: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """``handler`` after a check that ``--db`` is not at a revision this oms does not
    know (for commands that read the database without opening a store)."""

    def checked(args: argparse.Namespace) -> int:
        from oms.store.db import check_known_revision, open_engine  # noqa: PLC0415

        engine = open_engine(args.db)
        try:
            check_known_revision(engine)
        finally:
            engine.dispose()
        return handler(args)

    return checked


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}")
        return value

    return parse


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _cmd_run(args: argparse.Namespace) -> int:
    from oms.errors import MetricsError  # noqa: PLC0415 - only loaded when asked for
    from oms.runtime.metrics import require  # noqa: PLC0415

    try:
        if args.metrics_port is not None:
            require()  # before connecting anywhere
        return _run(args)
    except MetricsError as exc:
        log.error("%s", exc)  # noqa: TRY400 - a clear line, no trace
        return 2


def _run(args: argparse.Namespace) -> int:
    from oms.cli.run import RunOptions, main_run, resolve_urls  # noqa: PLC0415
    from oms.runtime.resync import ResyncScope  # noqa: PLC0415 - the live stack is only loaded when asked for

    if args.env == "sandbox":
        from oms.cli.demo import run_against_sandbox  # noqa: PLC0415

        return run_against_sandbox(args)
    ws_url, rest_url = resolve_urls(args.env, args.ws_url, args.rest_url)
    options = RunOptions(
        ws_url=ws_url,
        rest_url=rest_url,
        db=args.db,
        account=args.account,
        topics=tuple(args.topics),
        record=args.record,
        duration_s=args.duration,
        live_view=not args.no_view and sys.stdout.isatty(),
        scope=ResyncScope(tuple(args.category), tuple(args.settle_coin)),
        max_active_time=args.max_active_time,
        auth_expiry_ms=args.auth_expiry_ms,
        ping_interval_s=args.ping_interval,
        pong_timeout_s=args.pong_timeout,
        dead_after_s=args.dead_after,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        keep_terminal_orders=args.keep_orders,
        store_fault_deadline_s=args.store_fault_deadline,
        wait_lease_s=args.wait_lease,
        lease_ttl_s=args.lease_ttl,
    )
    return main_run(options)


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text}")
    return port


def _logging_options(defaults: bool) -> argparse.ArgumentParser:
    """-v, --log-level and --log-json, accepted before and after the command's name (the
    command's copies default to nothing, so they never undo what came before it)."""
    parser = argparse.ArgumentParser(add_help=False)
    off: object = False if defaults else argparse.SUPPRESS
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=off,
        help="log progress and anomalies (same as --log-level INFO)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=None if defaults else argparse.SUPPRESS,
        help="log this level and above on stderr (default ERROR, INFO with -v)",
    )
    parser.add_argument(
        "--log-json",
        action="store_true",
        default=off,
        help="log lines as JSON objects (ts, level, logger, message, account, connection)",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``oms``."""
    parser = argparse.ArgumentParser(
        prog="oms",
        description="Order and position management for Bybit v5 private streams.",
        parents=[_logging_options(defaults=True)],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = [_logging_options(defaults=False)]

    replay = sub.add_parser(
        "replay", help="apply a capture of raw frames and print the state", parents=common
    )
    replay.add_argument("capture", help="one frame per line; '-' for stdin; .gz accepted")
    replay.add_argument("--json", action="store_true", help="print one JSON object")
    replay.add_argument(
        "--summary", action="store_true", help="tables of open orders only, not every order"
    )
    replay.add_argument("--db", help="database URL (or SQLite file) to journal and store into")
    replay.add_argument("--account", default="default", help="account name in the database")
    replay.add_argument(
        "--keep-orders",
        type=int,
        default=DEFAULT_KEEP_TERMINAL_ORDERS,
        help="with --db: ended orders kept in memory (default %(default)s)",
    )
    _add_store_fault_deadline(replay)
    _add_lease_options(replay)
    replay.set_defaults(handler=_cmd_replay)

    inspect = sub.add_parser(
        "inspect", help="show stored orders, positions, fills or events", parents=common
    )
    inspect.add_argument("what", choices=("orders", "positions", "fills", "events"))
    inspect.add_argument("--db", required=True, help="database URL (or SQLite file)")
    inspect.add_argument("--account", default=None, help="only this account")
    inspect.add_argument("--symbol", help="only this symbol")
    inspect.add_argument("--status", help="only orders with this status (Bybit spelling)")
    inspect.add_argument("--open", action="store_true", help="only open orders")
    inspect.add_argument("--limit", type=_at_least(1), default=200, help="rows at most (newest)")
    inspect.set_defaults(handler=_checking_schema(_cmd_inspect))

    events = sub.add_parser("events", help="print outbox events as JSON lines", parents=common)
    events.add_argument("--db", required=True, help="database URL (or SQLite file)")
    events.add_argument(
        "--after", type=_at_least(0), default=0, help="print events with id > N (N >= 0)"
    )
    events.add_argument("--follow", action="store_true", help="keep waiting for new events")
    events.add_argument("--account", default=None, help="only this account")
    events.add_argument("--limit", type=_at_least(1), default=1000, help="events per read (>= 1)")
    events.add_argument("--poll", type=_seconds, default=0.5, help="seconds between reads (> 0)")
    events.set_defaults(handler=_cmd_events)

    _add_run(sub, common)

    dbp = sub.add_parser("db", help="schema migrations", parents=common)
    dbp.add_argument("action", choices=("upgrade", "current", "downgrade"))
    dbp.add_argument("--db", required=True, help="database URL (or SQLite file)")
    dbp.add_argument(
        "--revision",
        default=None,
        help="target revision: upgrade goes to head by default; downgrade needs one "
        "(e.g. 0001, or base for an empty database)",
    )
    dbp.set_defaults(handler=_cmd_db)

    status = sub.add_parser(
        "status", help="who writes each account: lease owner, epoch, heartbeat", parents=common
    )
    status.add_argument("--db", required=True, help="database URL (or SQLite file)")
    status.add_argument("--account", default=None, help="only this account")
    status.add_argument("--json", action="store_true", help="print one JSON document")
    status.set_defaults(handler=_cmd_status)
    return parser


def _add_lease_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait-lease",
        type=_non_negative_seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait up to this long for the account's lease while another process holds it "
        "(default 0: refuse at once with exit status 2)",
    )
    parser.add_argument(
        "--lease-ttl",
        type=_seconds,
        default=DEFAULT_LEASE_TTL_S,
        metavar="SECONDS",
        help="a lease not renewed for this long has expired and may be taken over "
        "(default %(default)s; every writer of a database should use the same)",
    )


def _non_negative_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _add_store_fault_deadline(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store-fault-deadline",
        type=_seconds,
        default=DEFAULT_STORE_FAULT_DEADLINE_S,
        metavar="SECONDS",
        help="how long writes may fail (locked, disk full, connection lost) while received "
        "frames are kept and the write retried, before it stops with exit status 1 "
        "(default %(default)s)",
    )


def _add_run(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: list[argparse.ArgumentParser],
) -> None:
    run = sub.add_parser("run", help="keep a database in step with a live account", parents=common)
    run.add_argument("--env", choices=("mainnet", "testnet", "demo", "sandbox"))
    run.add_argument("--ws-url", help="private stream URL (ws:// or wss://), instead of --env")
    run.add_argument("--rest-url", help="REST base URL, instead of --env")
    run.add_argument("--db", required=True, help="database URL (or SQLite file)")
    run.add_argument("--account", default="default", help="account name in the database")
    run.add_argument(
        "--topics", nargs="+", default=["order", "execution", "position"], help="topics"
    )
    run.add_argument("--record", help="append every raw frame to this capture file")
    run.add_argument(
        "--keep-orders",
        type=int,
        default=DEFAULT_KEEP_TERMINAL_ORDERS,
        help="ended orders kept in memory; older ones stay in the database (default %(default)s)",
    )
    run.add_argument("--duration", type=float, help="stop after this many seconds")
    run.add_argument("--no-view", action="store_true", help="no live table (log lines only)")
    run.add_argument("--category", nargs="+", default=["linear"], help="resync categories")
    run.add_argument("--settle-coin", nargs="+", default=["USDT"], help="resync settle coins")
    run.add_argument("--max-active-time", help="server idle limit, e.g. 60s (30s-600s)")
    run.add_argument("--auth-expiry-ms", type=int, default=10_000, help="login signature validity")
    run.add_argument("--ping-interval", type=float, default=20.0, help="seconds between pings")
    run.add_argument(
        "--pong-timeout",
        type=_seconds,
        default=10.0,
        help="seconds a ping may go unanswered (nothing received at all) before the "
        "connection is presumed dead and replaced (default %(default)s: with pings every "
        "20 s a silent connection is found within 30 s)",
    )
    run.add_argument(
        "--dead-after",
        type=_seconds,
        default=None,
        help="optional limit on seconds of silence since the last frame (default: off)",
    )
    run.add_argument(
        "--metrics-port",
        type=_port,
        help="serve Prometheus metrics on this port (0: any free port); needs oms[metrics]",
    )
    run.add_argument(
        "--metrics-host", default="127.0.0.1", help="address the metrics are served on"
    )
    _add_store_fault_deadline(run)
    _add_lease_options(run)
    run.set_defaults(handler=_cmd_run)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``oms`` console script."""
    args = build_parser().parse_args(argv)
    level = args.log_level or ("INFO" if args.verbose else "ERROR")
    configure(json=args.log_json, level=level)
    with bound(account_context(getattr(args, "account", None) or "-")):
        try:
            code: int = args.handler(args)
        except (NewerSchemaError, LeaseHeldError, LocalError) as exc:
            # Refused to start (a usage error, a database a newer oms wrote, an account
            # another process owns, missing credentials): nothing was touched.
            log.error("%s", exc)  # noqa: TRY400 - a clear line, no trace
            return EXIT_REFUSED
        except OmsError as exc:
            log.error("%s", exc)  # noqa: TRY400 - a clear line, no trace
            return EXIT_FAULT
        except BrokenPipeError:
            return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
