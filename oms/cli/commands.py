"""The commands that read or migrate a database, and ``oms run``: each imports the store
(or the live stack) when it runs, not when ``oms`` starts (see ``oms.cli.main``)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING

from oms.cli.main import EXIT_OK, EXIT_REFUSED
from oms.errors import LeaseHeldError, LocalError

if TYPE_CHECKING:
    import argparse

log = logging.getLogger("oms.cli")


def check_schema(url: str) -> None:
    """Refuse (``NewerSchemaError``: exit 2) a database at a revision this oms does not
    know, for commands that read it without opening a store."""
    from oms.store.db import check_known_revision, open_engine  # noqa: PLC0415

    engine = open_engine(url)
    try:
        check_known_revision(engine)
    finally:
        engine.dispose()


def cmd_inspect(args: argparse.Namespace) -> int:
    from oms.cli.render import console, rows_table  # noqa: PLC0415
    from oms.cli.stored import inspect_rows  # noqa: PLC0415

    check_schema(args.db)
    title, rows, columns = inspect_rows(
        args.db,
        args.what,
        account=args.account,
        symbol=args.symbol,
        status=args.status,
        open_only=args.open,
        limit=args.limit,
    )
    console().print(rows_table(title, rows, columns))
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    from oms.runtime.outbox import read_events_from  # noqa: PLC0415
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
                return EXIT_OK
    finally:
        engine.dispose()


def cmd_db(args: argparse.Namespace) -> int:
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


def cmd_status(args: argparse.Namespace) -> int:
    """Who writes each account: its lease owner, epoch, heartbeat and last report. A
    plain read: it takes no lease and waits for none."""
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
        from oms.cli.render import console, status_table  # noqa: PLC0415

        console().print(status_table(document))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from oms.errors import MetricsError  # noqa: PLC0415
    from oms.runtime.metrics import require  # noqa: PLC0415

    try:
        if args.metrics_port is not None:
            require()  # before connecting anywhere
        return _run(args)
    except MetricsError as exc:
        log.error("%s", exc)  # noqa: TRY400 - a clear line, no trace
        return EXIT_REFUSED


def _run(args: argparse.Namespace) -> int:
    from oms.cli.run import RunOptions, main_run, resolve_urls  # noqa: PLC0415
    from oms.runtime.resync import ResyncScope  # noqa: PLC0415

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
