"""``python -m oms.sandbox``: run the sandbox exchange until Ctrl-C (or ``--seconds``).

Prints the stream and REST URLs and the credentials to use, trades in the background,
and reports the frame count every few seconds. No keys and no internet needed.
"""

from __future__ import annotations

import argparse
import sys
import threading

from oms.sandbox.model import CATEGORIES, DEFAULT_CATEGORIES
from oms.sandbox.server import Sandbox


def _categories(text: str) -> tuple[str, ...]:
    """``linear,inverse,spot`` -> the categories, each known and named once."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in CATEGORIES]
    if not names or unknown:
        message = f"expected some of {', '.join(CATEGORIES)}, got {text!r}"
        raise argparse.ArgumentTypeError(message)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oms.sandbox", description=__doc__)
    parser.add_argument("--key", default="sandbox-key", help="API key (default sandbox-key)")
    parser.add_argument("--secret", default="sandbox-secret", help="API secret")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--rate", type=float, default=5.0, help="actions a second (default 5)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument(
        "--categories",
        type=_categories,
        default=DEFAULT_CATEGORIES,
        help="categories to trade, comma-separated: linear, inverse, spot (default linear)",
    )
    args = parser.parse_args(argv)
    done = threading.Event()
    with Sandbox(args.key, args.secret, seed=args.seed, categories=args.categories) as sandbox:
        sys.stdout.write(
            f"stream  {sandbox.ws_url}\nrest    {sandbox.rest_url}\n"
            f"key     {args.key}\nsecret  {args.secret}\n"
        )
        sys.stdout.flush()
        sandbox.start_trading(args.rate)
        waited = 0.0
        try:
            while args.seconds is None or waited < args.seconds:
                step = 5.0 if args.seconds is None else min(5.0, args.seconds - waited)
                done.wait(step)
                waited += step
                stats = sandbox.stats()
                sys.stdout.write(
                    f"{stats['steps']} actions, {stats['frames']} frames, "
                    f"{stats['connections']} connection(s)\n"
                )
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
