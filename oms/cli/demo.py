"""``make demo`` / ``oms run --env sandbox``: the whole OMS against the embedded exchange.

Starts ``oms.sandbox.Sandbox`` in-process on 127.0.0.1 with a few faults switched on (the
first login refused, a connection dropped mid-stream, corrupted copies of frames), lets
it trade for a while before the OMS connects (so the first resync has history to find),
runs ``oms run`` against it with the live view, stops trading a few seconds before the
end so the last frames can land, and finally compares the database with the sandbox's
own truth: every order's status and quantities, every execId, every leg's position.
"""

from __future__ import annotations

import logging
import secrets
import sys
import threading
from typing import TYPE_CHECKING, Any, Final

from rich.console import Console
from rich.table import Table

from oms.bybit.signing import Credentials, Secret
from oms.cli.run import RunOptions, Session, run_session, serving_metrics
from oms.core.ledger import CoreLedger
from oms.runtime.resync import ResyncScope
from oms.sandbox import Faults, Sandbox
from oms.sandbox.model import COMMAND_CATEGORIES
from oms.sim.compare import differences
from oms.store.db import open_engine
from oms.store.faults import DEFAULT_STORE_FAULT_DEADLINE_S
from oms.store.repository import Repository

if TYPE_CHECKING:
    import argparse

log = logging.getLogger("oms.cli.demo")

#: Seconds of trading before the OMS connects, and before the end when trading stops.
HEAD_START_STEPS: Final = 60
QUIET_TAIL_S: Final = 3.0


def load_ledger(db: str, account: str = "default") -> CoreLedger:
    """A ledger restored from a database, exactly as a restart would see it."""
    engine = open_engine(db)
    try:
        repo = Repository(engine.dialect, account)
        with engine.connect() as conn:
            ledger = CoreLedger()
            ledger.restore(
                orders=repo.load_orders(conn),
                fills=repo.load_fills(conn),
                legs=repo.load_legs(conn),
                openings=repo.load_openings(conn),
            )
    finally:
        engine.dispose()
    return ledger


def compare_with_truth(ledger: CoreLedger, truth: dict[str, Any]) -> list[str]:
    """Every way the ledger differs from the exchange's truth (empty when equal): the
    simulator's one comparer, ``oms.sim.compare.differences`` (every order's status, qty,
    price, cumExecQty, cumExecValue, cumExecFee, leavesQty and avgPrice; every execution
    by execId with its fields; every leg's side, size and signed net). A field the truth
    leaves out (a recorded truth may) is not compared; the sandbox's truth has them all."""
    return differences(ledger, truth)


def print_result(console: Console, ledger: CoreLedger, diffs: list[str]) -> None:
    """Final orders and positions, and whether the database equals the truth."""
    orders = Table(title=f"open orders ({len(ledger.open_orders())} of {len(ledger.orders())})")
    for column in ("order_id", "symbol", "side", "status", "qty", "price", "cum_exec_qty"):
        orders.add_column(column)
    for o in ledger.open_orders():
        orders.add_row(
            o.order_id,
            o.symbol,
            o.side.value,
            o.status.value,
            str(o.qty),
            str(o.price),
            str(o.cum_exec_qty),
        )
    console.print(orders)
    positions = Table(title="positions")
    for column in ("category", "symbol", "position_idx", "net_qty"):
        positions.add_column(column)
    for p in ledger.position_reports():
        positions.add_row(p.category, p.symbol, str(p.position_idx), str(p.net_qty))
    console.print(positions)
    console.print(f"{len(ledger.fills())} executions booked")
    if diffs:
        console.print(f"[red]database differs from the sandbox's truth in {len(diffs)} ways:[/]")
        for line in diffs[:20]:
            console.print(f"  {line}")
    else:
        console.print(
            "[green]database equals the sandbox's truth[/] (orders, executions, positions)"
        )


def run_demo(  # noqa: PLR0913 - keyword-only settings, each with a safe default
    db: str,
    *,
    seconds: float = 20.0,
    seed: int = 7,
    rate_per_s: float = 15.0,
    live_view: bool | None = None,
    faults: Faults | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    store_fault_deadline_s: float = DEFAULT_STORE_FAULT_DEADLINE_S,
) -> int:
    """Run the OMS against a faulty embedded exchange; 0 if the database ends equal to
    the exchange's truth."""
    console = Console()
    key = "sandbox-" + secrets.token_hex(4)
    secret = secrets.token_hex(24)
    faults = faults or Faults(refuse_auth=1, drop_after_frames=120, malformed_every=53, seed=seed)
    with Sandbox(key, secret, seed=seed, faults=faults, categories=COMMAND_CATEGORIES) as sandbox:
        sandbox.step(HEAD_START_STEPS)  # history the first resync must find
        options = RunOptions(
            ws_url=sandbox.ws_url,
            rest_url=sandbox.rest_url,
            db=db,
            duration_s=seconds,
            live_view=sys.stdout.isatty() if live_view is None else live_view,
            scope=ResyncScope(),  # every category: the sandbox trades three
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            store_fault_deadline_s=store_fault_deadline_s,
        )
        credentials = Credentials(key, Secret(secret))
        code = _run_while_trading(sandbox, options, credentials, rate_per_s, console)
        truth = sandbox.truth()
    ledger = load_ledger(db)
    diffs = compare_with_truth(ledger, truth)
    print_result(console, ledger, diffs)
    return code or (1 if diffs else 0)


def _run_while_trading(
    sandbox: Sandbox,
    options: RunOptions,
    credentials: Credentials,
    rate_per_s: float,
    console: Console,
) -> int:
    """The OMS session against ``sandbox`` while it trades; trading stops
    ``QUIET_TAIL_S`` before the end, so that the last frames land before the comparison."""
    with serving_metrics(options) as metrics:
        session = Session(options, credentials, metrics=metrics)
        sandbox.start_trading(rate_per_s)
        seconds = options.duration_s or 0.0  # run_demo always sets one
        quiet = threading.Timer(max(seconds - QUIET_TAIL_S, 0.0), sandbox.stop_trading)
        quiet.start()
        try:
            return run_session(session, options, console)
        finally:
            quiet.cancel()
            quiet.join()
            sandbox.stop_trading()


def run_against_sandbox(args: argparse.Namespace) -> int:
    """``oms run --env sandbox``: the demo with the command's --db and --duration."""
    return run_demo(
        args.db,
        seconds=args.duration or 20.0,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        store_fault_deadline_s=args.store_fault_deadline,
    )
