"""The ``oms`` command line: its parser, and the entry point that runs one command.

oms replay CAPTURE [--json | --summary | --full] [--db URL [--account NAME]]
oms inspect --db URL orders|positions|fills|events|wallet [--symbol S] [--status S] [--open]
oms events --db URL [--after N] [--follow]
oms db upgrade|current|downgrade --db URL [--revision REV]
oms status --db URL [--account A] [--json]
oms run (--env E | --ws-url U --rest-url U) --db URL [--metrics-port P [--metrics-host H]]

Every command takes ``-v``, ``--log-level LEVEL`` and ``--log-json`` (before or after its
name): log lines go to stderr, as text or one JSON object per line (see ``oms.runtime.logs``).

Building the parser imports the standard library and ``oms.runtime.logs`` only: each
command's code (``oms.cli.replay``, ``oms.cli.commands``) is imported when it runs, and
the defaults that live with that code are read when a command or its ``--help`` needs
them (``_Later``), so ``oms --help`` loads no SQLAlchemy, pydantic, websocket or rich.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import sys
from typing import TYPE_CHECKING, Any, Final

from oms.runtime.logs import LEVELS, account_context, bound, configure

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    _Sub = argparse._SubParsersAction[argparse.ArgumentParser]  # noqa: SLF001 - argparse's own type

#: Exit statuses, the same for every command (README, "Failure model"): 0 stopped on
#: request with everything committed; 1 stopped by a fault (restart it); 2 refused to
#: start (usage, a newer schema, a venue that refuses the credentials).
EXIT_OK, EXIT_FAULT, EXIT_REFUSED = 0, 1, 2


class _Later:
    """A default that lives in the module using it (``module.name``), read only when
    needed: importing it to build the parser would load that module (the store's pull in
    SQLAlchemy) for every ``oms --help``. ``%(default)s`` in a command's help reads it."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def value(self) -> object:
        return getattr(importlib.import_module(self.module), self.name)

    def __str__(self) -> str:
        return str(self.value())


_KEEP_ORDERS = _Later("oms.core.ledger", "DEFAULT_KEEP_TERMINAL_ORDERS")
_STORE_FAULT_DEADLINE = _Later("oms.store.faults", "DEFAULT_STORE_FAULT_DEADLINE_S")
_LEASE_TTL = _Later("oms.store.lease", "DEFAULT_LEASE_TTL_S")


class _Command:
    """A command's handler, ``module.name(args) -> exit status``, imported when it runs."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, args: argparse.Namespace) -> int:
        handler: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(self.module), self.name
        )
        return handler(args)


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


#: The longest duration any option takes (about 115 days): beyond it a deadline or a
#: lease's expiry overflows a timestamp or a wait (``--lease-ttl 1e20`` killed the lease
#: renewer's thread), and no setting needs more.
MAX_SECONDS = 10_000_000


def _duration(*, zero: bool) -> Callable[[str], float]:
    """An argparse type: a finite number of seconds > 0 (``zero``: >= 0), at most
    ``MAX_SECONDS``."""
    bound = ">= 0" if zero else "> 0"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        low_ok = value >= 0 if zero else value > 0
        if not (math.isfinite(value) and low_ok and value <= MAX_SECONDS):
            raise argparse.ArgumentTypeError(
                f"must be a number of seconds {bound} (at most {MAX_SECONDS}), got {text!r}"
            )
        return value

    return parse


_seconds: Final = _duration(zero=False)
_non_negative_seconds: Final = _duration(zero=True)


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
        help="log this level and above on stderr (default WARNING, INFO with -v)",
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
    _add_replay(sub, common)
    _add_inspect(sub, common)
    _add_events(sub, common)
    _add_run(sub, common)
    _add_db(sub, common)
    _add_status(sub, common)
    return parser


def _add_replay(sub: _Sub, common: list[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser(
        "replay", help="apply a capture of raw frames and print the state", parents=common
    )
    replay.add_argument("capture", help="one frame per line; '-' for stdin; .gz accepted")
    # Not exclusive (they never were): --json wins over --full, --full over --summary.
    replay.add_argument("--json", action="store_true", help="print one JSON object")
    replay.add_argument(
        "--summary",
        action="store_true",
        help="without --db: tables of open orders only, not every order; with --db: the "
        "default (counts, open orders, positions, anomalies)",
    )
    replay.add_argument(
        "--full",
        action="store_true",
        help="every order and fill (with --db: listed from the database as they are read)",
    )
    replay.add_argument("--db", help="database URL (or SQLite file) to journal and store into")
    replay.add_argument("--account", default="default", help="account name in the database")
    replay.add_argument(
        "--keep-orders",
        type=int,
        default=_KEEP_ORDERS,
        help="with --db: ended orders kept in memory (default %(default)s)",
    )
    _add_store_fault_deadline(replay)
    _add_lease_options(replay)
    replay.set_defaults(handler=_Command("oms.cli.replay", "cmd_replay"))


def _add_inspect(sub: _Sub, common: list[argparse.ArgumentParser]) -> None:
    inspect = sub.add_parser(
        "inspect", help="show stored orders, positions, fills, events or wallets", parents=common
    )
    inspect.add_argument("what", choices=("orders", "positions", "fills", "events", "wallet"))
    inspect.add_argument("--db", required=True, help="database URL (or SQLite file)")
    inspect.add_argument("--account", default=None, help="only this account")
    inspect.add_argument("--symbol", help="only this symbol")
    inspect.add_argument("--status", help="only orders with this status (Bybit spelling)")
    inspect.add_argument("--open", action="store_true", help="only open orders")
    inspect.add_argument("--limit", type=_at_least(1), default=200, help="rows at most (newest)")
    inspect.set_defaults(handler=_Command("oms.cli.commands", "cmd_inspect"))


def _add_events(sub: _Sub, common: list[argparse.ArgumentParser]) -> None:
    events = sub.add_parser("events", help="print outbox events as JSON lines", parents=common)
    events.add_argument("--db", required=True, help="database URL (or SQLite file)")
    events.add_argument(
        "--after", type=_at_least(0), default=0, help="print events with id > N (N >= 0)"
    )
    events.add_argument("--follow", action="store_true", help="keep waiting for new events")
    events.add_argument("--account", default=None, help="only this account")
    events.add_argument("--limit", type=_at_least(1), default=1000, help="events per read (>= 1)")
    events.add_argument("--poll", type=_seconds, default=0.5, help="seconds between reads (> 0)")
    events.set_defaults(handler=_Command("oms.cli.commands", "cmd_events"))


def _add_db(sub: _Sub, common: list[argparse.ArgumentParser]) -> None:
    dbp = sub.add_parser("db", help="schema migrations", parents=common)
    dbp.add_argument("action", choices=("upgrade", "current", "downgrade"))
    dbp.add_argument("--db", required=True, help="database URL (or SQLite file)")
    dbp.add_argument(
        "--revision",
        default=None,
        help="target revision: upgrade goes to head by default; downgrade needs one "
        "(e.g. 0001, or base for an empty database)",
    )
    dbp.set_defaults(handler=_Command("oms.cli.commands", "cmd_db"))


def _add_status(sub: _Sub, common: list[argparse.ArgumentParser]) -> None:
    status = sub.add_parser(
        "status", help="who writes each account: lease owner, epoch, heartbeat", parents=common
    )
    status.add_argument("--db", required=True, help="database URL (or SQLite file)")
    status.add_argument("--account", default=None, help="only this account")
    status.add_argument("--json", action="store_true", help="print one JSON document")
    status.set_defaults(handler=_Command("oms.cli.commands", "cmd_status"))


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
        default=_LEASE_TTL,
        metavar="SECONDS",
        help="a lease not renewed for this long has expired and may be taken over "
        "(default %(default)s; every writer of a database should use the same)",
    )


def _add_store_fault_deadline(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store-fault-deadline",
        type=_seconds,
        default=_STORE_FAULT_DEADLINE,
        metavar="SECONDS",
        help="how long writes may fail (locked, disk full, connection lost) while received "
        "frames are kept and the write retried, before it stops with exit status 1 "
        "(default %(default)s)",
    )


def _add_run(sub: _Sub, common: list[argparse.ArgumentParser]) -> None:
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
        default=_KEEP_ORDERS,
        help="ended orders kept in memory; older ones stay in the database (default %(default)s)",
    )
    run.add_argument("--duration", type=float, help="stop after this many seconds")
    run.add_argument("--no-view", action="store_true", help="no live table (log lines only)")
    _add_resync_options(run)
    _add_connection_options(run)
    _add_metrics_options(run)
    _add_store_fault_deadline(run)
    _add_lease_options(run)
    run.set_defaults(handler=_Command("oms.cli.commands", "cmd_run"))


def _add_resync_options(run: argparse.ArgumentParser) -> None:
    """What a resync of ``oms run`` fetches over REST."""
    run.add_argument(
        "--category",
        nargs="+",
        default=["linear", "inverse", "spot", "option"],
        help="resync categories (default: all four)",
    )
    run.add_argument("--settle-coin", nargs="+", default=["USDT"], help="resync settle coins")


def _add_connection_options(run: argparse.ArgumentParser) -> None:
    """The private stream's connection: its login, idle limit and liveness checks."""
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


def _add_metrics_options(run: argparse.ArgumentParser) -> None:
    """The Prometheus exporter of ``oms run``."""
    run.add_argument(
        "--metrics-port",
        type=_port,
        help="serve Prometheus metrics on this port (0: any free port); needs oms[metrics]",
    )
    run.add_argument(
        "--metrics-host", default="127.0.0.1", help="address the metrics are served on"
    )


class _Args(argparse.Namespace):
    """Parsed arguments whose ``_Later`` defaults are read when first used: an in-memory
    ``oms replay`` never reads ``--lease-ttl``, so it never imports the store for it."""

    def __getattribute__(self, name: str) -> Any:  # noqa: ANN401 - any option's value
        value = super().__getattribute__(name)
        if isinstance(value, _Later):
            value = value.value()
            setattr(self, name, value)
        return value


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The arguments of one command (defaults that live elsewhere are read when used)."""
    return build_parser().parse_args(argv, namespace=_Args())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``oms`` console script."""
    args = parse(argv)
    # WARNING by default: what an operator must see without asking (a connection lost, a
    # store that cannot write and is being retried, a lease that cannot be renewed, a REST
    # call retried, a refused login) is logged at WARNING; routine progress is INFO (-v).
    level = args.log_level or ("INFO" if args.verbose else "WARNING")
    configure(json=args.log_json, level=level)
    from oms.errors import LeaseHeldError, LocalError, NewerSchemaError, OmsError  # noqa: PLC0415

    with bound(account_context(getattr(args, "account", None) or "-")):
        try:
            code: int = args.handler(args)
        except (NewerSchemaError, LeaseHeldError, LocalError) as exc:
            # Refused to start (a usage error, a database a newer oms wrote, an account
            # another process owns, missing credentials): nothing was touched.
            _log_error(exc)
            return EXIT_REFUSED
        except OmsError as exc:
            _log_error(exc)
            return EXIT_FAULT
        except BrokenPipeError:
            return 0
    return code


def _log_error(exc: BaseException) -> None:
    """A clear line, no trace."""
    logging.getLogger("oms.cli").error("%s", exc)


if __name__ == "__main__":
    sys.exit(main())
