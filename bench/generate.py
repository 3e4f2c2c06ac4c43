"""A large, realistic, deterministic Bybit v5 private-stream capture for the benchmark.

A thin driver over the simulator (``oms.sim``): a ``Venue`` trading the six linear
perpetuals of ``CATALOGUE`` (three one-way, three hedge mode), driven by a seeded
``RandomPolicy`` with the benchmark's mix (``BENCH_MIX``), every frame in the element
layout, key order and value types of ``/work/shared/data/sample-clean.jsonl``. Orders go
Created/New -> PartiallyFilled -> Filled or Cancelled, are amended, rejected, cancelled in
bulk; conditional orders go Untriggered -> Triggered -> New/Filled or are Deactivated;
reduce-only orders and TP/SL are cancelled when the position leaves nothing to reduce;
every match is one ``execution`` frame (1-3 elements, one seq) with the order report and
the leg's position, in varying order; funding rounds push a Funding execution and a
position frame per open leg.

The stream is valid by construction: replayed through ``oms.Ledger`` it must raise no
anomaly (``bench/run.py`` checks). The same seed gives the same frames.
``python bench/generate.py --frames N [--seed S] -o FILE`` writes a capture to a file.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from oms.sim import BENCH_MIX, CATALOGUE, T0, RandomIds, RandomPolicy, Terms, Venue

if TYPE_CHECKING:
    from decimal import Decimal

#: An action produces at most 18 frames (a funding round over 9 legs); with fewer than
#: this many left, only single-frame actions run, so the capture ends at exactly N frames.
_TAIL: Final = 24


@dataclass(frozen=True, slots=True)
class Capture:
    """The generated frames and what they contain."""

    lines: list[str]
    seed: int
    #: frames per topic
    mix: dict[str, int]
    #: elements per topic
    elements: dict[str, int]
    #: what the simulator did
    stats: dict[str, int]
    #: final signed net of every reported leg: (symbol, positionIdx) -> net
    positions: dict[tuple[str, int], Decimal]
    #: final status of every order
    order_status: dict[str, str]


def _place_one(venue: Venue, rng: random.Random) -> None:
    """A resting limit order: exactly one frame."""
    market = rng.choice(list(venue.markets.values()))
    side, away = rng.choice(("Buy", "Sell")), rng.randint(1, 60)
    price = market.ticks_away(-away if side == "Buy" else away)
    venue.place(Terms(market.spec.symbol, side, market.spec.qty_step * rng.randint(1, 5), price))


def generate(frames: int = 100_000, seed: int = 1001) -> Capture:
    """A capture of exactly ``frames`` frames; the same ``seed`` gives the same frames."""
    if frames < 1:
        raise ValueError("frames must be positive")
    rng = random.Random(seed)
    venue = Venue(
        tuple(CATALOGUE.values()), ids=RandomIds(rng), start_ms=T0, link_prefix=f"oms-{seed}-"
    )
    venue.delay = lambda _i: rng.randint(0, 3)  # a frame is created a little after its event
    policy = RandomPolicy(venue, rng, BENCH_MIX)
    lines: list[str] = []
    mix: Counter[str] = Counter()
    elements: Counter[str] = Counter()
    reported: set[tuple[str, int]] = set()
    while len(lines) < frames:
        venue.now += rng.randint(20, 900)
        if frames - len(lines) < _TAIL:
            _place_one(venue, rng)
        else:
            policy.step()
        for push in venue.take():
            lines.append(push.text)
            mix[push.topic] += 1
            elements[push.topic] += len(push.data)
            if push.topic == "position":
                reported.update((str(e["symbol"]), int(str(e["positionIdx"]))) for e in push.data)
    if len(lines) != frames:
        raise RuntimeError(f"simulator bug: {len(lines)} frames, not {frames}")
    return Capture(
        lines=lines,
        seed=seed,
        mix=dict(mix),
        elements=dict(elements),
        stats=dict(sorted(venue.stats.items())),
        positions={key: venue.legs[key].net for key in sorted(reported)},
        order_status={o.order_id: o.status for o in venue.orders.values()},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=100_000, help="frames (default 100000)")
    parser.add_argument("--seed", type=int, default=1001, help="random seed (default 1001)")
    parser.add_argument("-o", "--out", type=Path, help="write JSONL here (default stdout)")
    args = parser.parse_args(argv)
    capture = generate(args.frames, args.seed)
    text = "\n".join(capture.lines) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"{len(capture.lines)} frames -> {args.out}: {capture.mix}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
