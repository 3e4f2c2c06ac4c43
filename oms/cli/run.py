"""``oms run``: keep a database in step with a live Bybit account.

Wires the private stream (``oms.bybit.stream``), the REST resync (``oms.bybit.rest``) and
the account's runtime (``oms.runtime``), shows a live status view, and stops cleanly on
SIGINT/SIGTERM (exit 0, everything received committed). It exits 1 with one line saying
why when the account failed (a store fault past its deadline, a bug: a supervisor should
restart it), and 2 when the venue refused it (credentials, topics: restarting cannot
help). Every log line of a session names its account and connection
(``oms.runtime.logs``); with ``metrics_port`` it serves Prometheus metrics
(``oms.runtime.metrics``).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from oms.bybit.rest import REST_URLS
from oms.bybit.signing import Credentials
from oms.bybit.stream import StreamSettings
from oms.core.events import Anomaly
from oms.core.ledger import DEFAULT_KEEP_TERMINAL_ORDERS
from oms.errors import AccountFailedError, AuthError, LocalError, SubscribeError
from oms.runtime.account import Account
from oms.runtime.logs import bound
from oms.runtime.metrics import NO_METRICS, PrometheusMetrics, start_exporter
from oms.runtime.resync import ResyncScope
from oms.store.faults import DEFAULT_STORE_FAULT_DEADLINE_S
from oms.store.lease import DEFAULT_LEASE_TTL_S

if TYPE_CHECKING:
    from collections.abc import Iterator

    from oms.core.events import Event
    from oms.runtime.metrics import Metrics

log = logging.getLogger("oms.cli.run")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything ``oms run`` needs besides the credentials."""

    ws_url: str
    rest_url: str
    db: str
    account: str = "default"
    topics: tuple[str, ...] = ("order", "execution", "position")
    record: str | None = None
    duration_s: float | None = None
    live_view: bool = True
    scope: ResyncScope = field(default_factory=ResyncScope)
    max_active_time: str | None = None
    auth_expiry_ms: int = 10_000
    ping_interval_s: float = 20.0
    #: A ping answered by nothing at all (no pong, no data) within this long: dead.
    pong_timeout_s: float = 10.0
    #: Optional limit on silence since the last frame (None: pings alone decide).
    dead_after_s: float | None = None
    #: Serve Prometheus metrics on this port (0: any free one); None: no metrics.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    #: Ended orders kept in memory (older ones are read back from the database).
    keep_terminal_orders: int | None = DEFAULT_KEEP_TERMINAL_ORDERS
    #: A store fault lasting longer than this (seconds) stops the run with exit status 1.
    store_fault_deadline_s: float = DEFAULT_STORE_FAULT_DEADLINE_S
    #: Wait this long for a lease another process holds (0: refuse at once, exit 2).
    wait_lease_s: float = 0.0
    #: A lease not renewed for this long has expired (another process may take it).
    lease_ttl_s: float = DEFAULT_LEASE_TTL_S


class _Recorder:
    """Appends every raw frame to a capture that ``oms replay`` accepts. A new capture
    file is created ``0600`` (frames name the account's orders and positions); an
    existing one keeps its mode. Lines end in ``\\n``, written as such on every OS."""

    def __init__(self, path: str) -> None:
        capture = Path(path)
        # touch creates a missing file with this mode (os.open with O_CREAT and 0o600, less
        # the umask): it is never readable by others, not even between a create and a
        # chmod. It leaves an existing file's mode alone.
        capture.touch(mode=0o600, exist_ok=True)
        self._handle: TextIO = capture.open("a", encoding="utf-8", newline="\n")  # see close()

    def __call__(self, text: str) -> None:
        self._handle.write(text.replace("\n", " ") + "\n")

    def close(self) -> None:
        self._handle.close()


class Session:
    """A running account (an ``oms.Account`` on its own stream) for ``oms run``, with the
    recorder and the state the live view shows. ``stop()`` ends it cleanly.

    Its threads log in ``log_context`` (the account, and the stream's current
    connection); ``metrics`` (default: none) is told what happens."""

    def __init__(
        self, options: RunOptions, credentials: Credentials, *, metrics: Metrics = NO_METRICS
    ) -> None:
        self.options = options
        self._recorder = _Recorder(options.record) if options.record else None
        settings = StreamSettings(
            url=options.ws_url,
            api_key=credentials.api_key,
            api_secret=credentials.api_secret,
            topics=options.topics,
            max_active_time=options.max_active_time,
            auth_expiry_ms=options.auth_expiry_ms,
            ping_interval_s=options.ping_interval_s,
            pong_timeout_s=options.pong_timeout_s,
            dead_after_s=options.dead_after_s,
        )
        self.account = Account(
            options.db,
            options.account,
            stream=settings,
            rest_url=options.rest_url,
            credentials=credentials,
            scope=options.scope,
            metrics=metrics,
            record=self._recorder,
            keep_terminal_orders=options.keep_terminal_orders,
            store_fault_deadline_s=options.store_fault_deadline_s,
            wait_lease_s=options.wait_lease_s,
            lease_ttl_s=options.lease_ttl_s,
        )
        self.log_context = self.account.log_context
        self.account.subscribe(_log_anomaly, Anomaly)
        self.stopped = threading.Event()
        self.started_at = time.monotonic()

    @property
    def state(self) -> str:
        """The stream's state: connecting, authenticated, subscribed, ..."""
        return self.account.health().state

    def start(self) -> None:
        """Start the worker, then the stream (both in ``log_context``)."""
        self.started_at = time.monotonic()
        self.account.start()

    def stop(self) -> None:
        """Stop the stream, apply and commit what was received, release everything.
        Raises ``AccountFailedError`` if what was received could not be committed."""
        try:
            self.account.close()
        finally:
            if self._recorder is not None:
                self._recorder.close()
            self.stopped.set()

    @property
    def error(self) -> BaseException | None:
        """Why the session ended on its own, if it did."""
        return self.account.failure


def _log_anomaly(event: Event) -> None:
    """Committed anomalies as warnings (on the subscription's thread, in the account's
    log context)."""
    if isinstance(event, Anomaly):
        log.warning("%s: %s", type(event).__name__, event.reason)


def status_view(session: Session) -> Group:
    """The live view: stream, throughput, orders, positions, last resync."""
    account = session.account
    health = account.health()
    elapsed = max(time.monotonic() - session.started_at, 1e-9)
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"stream: [bold]{health.stream or health.state}[/]",
        f"frames: {health.frames} ({health.frames / elapsed:.0f}/s)",
        f"connections: {health.connections} (reconnects {health.reconnects})",
        f"resyncs: {health.resyncs}",
    )
    last = health.last_resync
    if last is not None:
        head.add_row(
            "last resync:",
            f"{last.orders_changed} orders changed, {last.orders_new} new",
            f"{last.fills_added} fills added, {last.positions_changed} positions fixed",
            f"{last.mismatched_legs} legs mismatched",
        )
    positions = Table(title="positions", title_justify="left")
    for column in ("symbol", "idx", "net_qty", "from fills"):
        positions.add_column(column, justify="right" if column != "symbol" else "left")
    try:
        legs = account.positions()
    except AccountFailedError:  # it failed between health() and now: the loop stops next
        legs = []
    for leg in legs:
        positions.add_row(
            leg.symbol, str(leg.position_idx), str(leg.net_qty), str(leg.fills_net_qty)
        )
    summary = f"open orders: {health.open_orders}   fills: {health.fills}"
    return Group(head, summary, positions)


@contextmanager
def stopping_on_signals() -> Iterator[threading.Event]:
    """An event SIGINT and SIGTERM set while the block runs (the handlers before restored)."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_session(
    session: Session,
    options: RunOptions,
    console: Console,
    *,
    stop: threading.Event | None = None,
) -> int:
    """Run until a signal, the duration, or a fatal stream error; return the exit code."""
    with bound(session.log_context):
        if stop is not None:
            return _run_session(session, options, console, stop)
        with stopping_on_signals() as own:
            return _run_session(session, options, console, own)


def _run_session(
    session: Session, options: RunOptions, console: Console, stop: threading.Event
) -> int:
    deadline = None if options.duration_s is None else time.monotonic() + options.duration_s
    live = (
        Live(status_view(session), console=console, refresh_per_second=4)
        if options.live_view
        else None
    )
    try:
        session.start()
        with live if live is not None else nullcontext():
            while not stop.wait(0.25):
                if session.error is not None or session.account.ended:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if live is not None:
                    live.update(status_view(session))
    finally:
        stop_error = _stop(session)
    error = session.error or stop_error
    if error is None:
        return 0
    console.print(f"[red]stopped:[/] {error}", highlight=False)
    return exit_status(error)


def _stop(session: Session) -> AccountFailedError | None:
    try:
        session.stop()
    except AccountFailedError as exc:
        return exc
    return None


def exit_status(error: BaseException) -> int:
    """The exit status for what stopped a run (the README's table): 2 when the venue
    refused it (credentials, topics: a restart cannot help), 1 for every other fault."""
    return 2 if isinstance(error, AuthError | SubscribeError) else 1


def resolve_urls(env: str | None, ws_url: str | None, rest_url: str | None) -> tuple[str, str]:
    """The stream and REST URLs of a named environment, or the ones given."""
    if ws_url and rest_url:
        return ws_url, rest_url
    if env in REST_URLS:
        return (ws_url or env or ""), (rest_url or REST_URLS[env or ""])
    raise LocalError("give --env mainnet|testnet|demo|sandbox, or both --ws-url and --rest-url")


@contextmanager
def serving_metrics(options: RunOptions) -> Iterator[Metrics]:
    """Prometheus metrics for ``options.account`` served on ``options.metrics_port``
    while the block runs; ``NO_METRICS`` without a port."""
    if options.metrics_port is None:
        yield NO_METRICS
        return
    metrics = PrometheusMetrics(options.account)  # raises first if prometheus is missing
    exporter = start_exporter(options.metrics_host, options.metrics_port)
    try:
        yield metrics
    finally:
        exporter.close()


def main_run(options: RunOptions, credentials: Credentials | None = None) -> int:
    """Run an account session with credentials from the environment (or given)."""
    creds = credentials or Credentials.from_env()
    console = Console(stderr=True) if not sys.stderr.isatty() else Console()
    # The handlers come first: a signal while the account opens (the lease is taken, the
    # state restored) must stop it cleanly too, not kill it with its lease held.
    with stopping_on_signals() as stop, serving_metrics(options) as metrics:
        session = Session(options, creds, metrics=metrics)
        return run_session(session, options, console, stop=stop)
