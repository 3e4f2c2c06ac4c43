"""``python -m oms.sandbox``: run the sandbox exchange until SIGTERM, Ctrl-C (SIGINT) or
``--seconds``.

Prints the private stream, trade socket, public channel and REST URLs and the
credentials to use, runs the market (one step every ``--tick-ms``), trades in the
background (``--rate`` actions a second; 0: none, only what clients place), serves order
entry, and reports the counts every few seconds. ``--seed`` fixes the market and the
background flow. On SIGTERM or SIGINT it stops trading, closes both servers and every
connection, prints one last line and exits 0. If the market clock or the background
trading stopped on an error (logged with its traceback), it stops too and exits 1.
No keys and no internet needed.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from typing import TYPE_CHECKING

from oms.sandbox.model import CATEGORIES, COMMAND_CATEGORIES
from oms.sandbox.server import DEFAULT_LATENCY_MS, DEFAULT_TICK_MS, Sandbox

if TYPE_CHECKING:
    from types import FrameType

_REPORT_S = 5.0
#: how often the main loop looks for a failed driver
_CHECK_S = 0.25


def _categories(text: str) -> tuple[str, ...]:
    """``linear,inverse,spot`` -> the categories, each known and named once."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in CATEGORIES]
    if not names or unknown:
        message = f"expected some of {', '.join(CATEGORIES)}, got {text!r}"
        raise argparse.ArgumentTypeError(message)
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m oms.sandbox", description=__doc__)
    parser.add_argument("--key", default="sandbox-key", help="API key (default sandbox-key)")
    parser.add_argument("--secret", default="sandbox-secret", help="API secret")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--rate",
        type=float,
        default=5.0,
        help="background actions a second (default 5; 0: no background trading)",
    )
    parser.add_argument(
        "--tick-ms",
        type=float,
        default=DEFAULT_TICK_MS,
        help=f"ms between two market steps (default {DEFAULT_TICK_MS:g})",
    )
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=DEFAULT_LATENCY_MS,
        help=f"delay of every WebSocket message and REST answer (default {DEFAULT_LATENCY_MS:g})",
    )
    parser.add_argument(
        "--categories",
        type=_categories,
        default=COMMAND_CATEGORIES,
        help="categories to trade, comma-separated: linear, inverse, spot (default all three)",
    )
    return parser


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _stats_line(sandbox: Sandbox) -> str:
    stats = sandbox.stats()
    return (
        f"{stats['steps']} actions, {stats['entry_ops']} order-entry ops, "
        f"{stats['ticks']} market steps, {stats['frames']} frames, "
        f"{stats['connections']} connection(s)"
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """The arguments, the numbers checked (a usage error exits with status 2)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not (math.isfinite(args.latency_ms) and args.latency_ms >= 0):
        parser.error("--latency-ms must be a finite number, 0 or more")
    if not (math.isfinite(args.rate) and args.rate >= 0):
        parser.error("--rate must be a finite number, 0 or more")
    if not (math.isfinite(args.tick_ms) and args.tick_ms > 0):
        parser.error("--tick-ms must be a finite number above 0")
    return args


def _announce(sandbox: Sandbox, args: argparse.Namespace) -> None:
    """Where to connect, and the credentials to log in with."""
    public = " ".join(sandbox.public_url(c) for c in sandbox.exchange.categories)
    _say(
        f"stream  {sandbox.ws_url}\ntrade   {sandbox.trade_url}\npublic  {public}\n"
        f"rest    {sandbox.rest_url}\nkey     {args.key}\nsecret  {args.secret}"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    done = threading.Event()
    reason = ["time is up"]

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        reason[0] = signal.Signals(signum).name
        done.set()  # the main loop wakes at once and leaves the with block

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        sandbox = Sandbox(
            args.key,
            args.secret,
            seed=args.seed,
            categories=args.categories,
            latency_ms=args.latency_ms,
            tick_ms=args.tick_ms,
        )
        with sandbox:
            _announce(sandbox, args)
            if args.rate > 0:
                sandbox.start_trading(args.rate)
            _run(sandbox, done, args.seconds)
            last = _stats_line(sandbox)
            failure = sandbox.failure
        if failure is not None:
            _say(f"stopped (failed: {type(failure).__name__}: {failure}): {last}; servers closed")
            return 1
        _say(f"stopped ({reason[0]}): {last}; servers closed")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _run(sandbox: Sandbox, done: threading.Event, seconds: float | None) -> None:
    """Report every few seconds until ``done`` is set, ``seconds`` have passed or the
    sandbox failed (checked every ``_CHECK_S``)."""
    waited, reported = 0.0, 0.0
    while (seconds is None or waited < seconds) and sandbox.failure is None:
        step = _CHECK_S if seconds is None else min(_CHECK_S, seconds - waited)
        if done.wait(step):
            return
        waited += step
        if waited - reported >= _REPORT_S:
            reported = waited
            _say(_stats_line(sandbox))


if __name__ == "__main__":
    raise SystemExit(main())
