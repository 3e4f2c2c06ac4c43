"""One symbol's order book of OTHER accounts' liquidity: levels on the tick grid, sizes in
whole qty steps (lots), at least ``depth`` levels each side and a spread of one or two
ticks around the symbol's last price.

``Depth`` is the mutable book the market works on; ``Book`` and ``Level`` are the copies
it hands out (safe to keep). A taker takes liquidity level by level (``take``); what it
took is gone until the next ``refresh`` refills the book around the new price. The
account's own resting orders are not levels of this book (see ``oms.sim.market``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import random
    from decimal import Decimal

    from oms.sim.specs import SymbolSpec

__all__ = ["Book", "Depth", "Level"]

#: levels beyond ``depth`` a side keeps before it is trimmed back
_SLACK: Final = 20
#: levels a book keeps made for its snapshots before it starts afresh
_LEVEL_CACHE: Final = 50_000
#: levels near the top whose size others change on each refresh
_CHURN: Final = 6


@dataclass(frozen=True, slots=True)
class Level:
    """One price level of a book."""

    price: Decimal
    size: Decimal


@dataclass(slots=True)
class Book:
    """One symbol's order book at one moment (a copy)."""

    #: instrument key (``oms.sim.specs.instrument_key``)
    key: str
    #: best (highest) first
    bids: list[Level]
    #: best (lowest) first
    asks: list[Level]
    #: grows by one with every change (orderbook ``u``); 1 after a rebuild
    update_id: int
    #: the symbol's cross sequence at that change (orderbook ``seq``)
    seq: int
    #: venue ms of that change
    time: int


class Depth:
    """The mutable book of one symbol: ``bids`` and ``asks`` map a price in ticks to a
    size in lots."""

    def __init__(self, spec: SymbolSpec, depth: int, rng: random.Random) -> None:
        if depth < 1:
            raise ValueError("a book has at least one level each side")
        self.spec, self.depth, self.rng = spec, depth, rng
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.update_id = 0
        self._levels: dict[tuple[int, int], Level] = {}

    @property
    def best_bid(self) -> int:
        return max(self.bids) if self.bids else 0

    @property
    def best_ask(self) -> int:
        return min(self.asks) if self.asks else 0

    def _lots(self, rng: random.Random, distance: int) -> int:
        """A fresh level's size: a few lots near the top, more further out."""
        cap = max(1, self.spec.max_lots // 3) * (1 + distance // 25)
        return rng.randint(1, cap)

    def refresh(self, last: int) -> None:
        """Others re-quote around ``last`` (in ticks): levels the price moved through are
        gone, missing levels (taken or never there) refill, a few sizes near the top
        change, and each side is trimmed to ``depth`` plus a little slack."""
        rng = self.rng
        below, above = rng.choice(((0, 1), (1, 0), (1, 1)))
        bid1, ask1 = max(1, last - below), max(2, last + above)
        if bid1 >= ask1:
            bid1 = ask1 - 1
        for t in [t for t in self.bids if t > bid1]:
            del self.bids[t]
        for t in [t for t in self.asks if t < ask1]:
            del self.asks[t]
        self._fill(self.bids, bid1, -1, rng)
        self._fill(self.asks, ask1, 1, rng)
        self.update_id += 1

    def _fill(self, side: dict[int, int], best: int, away: int, rng: random.Random) -> None:
        for i in range(self.depth):
            t = best + away * i
            if t < 1:
                break
            if t not in side:
                side[t] = self._lots(rng, i)
        for _ in range(_CHURN):
            t = best + away * rng.randint(0, min(self.depth, 50) - 1)
            if t in side:
                side[t] = max(1, side[t] + rng.randint(-2, 2) * max(1, self.spec.max_lots // 20))
        limit = best + away * (self.depth + _SLACK)
        for t in [t for t in side if (t - limit) * away > 0]:
            del side[t]

    def available(self, taker_side: str, limit: int | None) -> int:
        """Lots a taker of ``taker_side`` could take at prices up to ``limit`` (ticks;
        None: any price)."""
        return sum(lots for _, lots in self._walk(taker_side, limit))

    def _walk(self, taker_side: str, limit: int | None) -> list[tuple[int, int]]:
        """The opposite side's (tick, lots), best first, up to ``limit``."""
        if taker_side == "Buy":
            levels = sorted(self.asks.items())
            return [(t, n) for t, n in levels if limit is None or t <= limit]
        levels = sorted(self.bids.items(), reverse=True)
        return [(t, n) for t, n in levels if limit is None or t >= limit]

    def take(self, taker_side: str, lots: int, limit: int | None) -> list[tuple[int, int]]:
        """Take up to ``lots`` from the opposite side, best level first, no worse than
        ``limit``: the (tick, lots) taken per level, in order. The taken liquidity is
        removed."""
        side = self.asks if taker_side == "Buy" else self.bids
        taken: list[tuple[int, int]] = []
        for t, size in self._walk(taker_side, limit):
            if lots <= 0:
                break
            n = min(size, lots)
            taken.append((t, n))
            lots -= n
            if n == size:
                del side[t]
            else:
                side[t] = size - n
        if taken:
            self._extend(side, 1 if taker_side == "Buy" else -1)
            self.update_id += 1
        return taken

    def _extend(self, side: dict[int, int], away: int) -> None:
        """Keep ``depth`` levels: new ones behind the worst (the taken ones stay gone
        until ``refresh``; an emptied side waits for it too)."""
        if not side:
            return
        worst = max(side) if away > 0 else min(side)
        while len(side) < self.depth and worst + away >= 1:
            worst += away
            side[worst] = self._lots(self.rng, len(side))

    def snapshot(self, key: str, seq: int, time: int) -> Book:
        """A copy of the book now."""
        level = self._level
        bids = [level(t, n) for t, n in sorted(self.bids.items(), reverse=True)]
        asks = [level(t, n) for t, n in sorted(self.asks.items())]
        return Book(key, bids, asks, max(1, self.update_id), seq, time)

    def _level(self, t: int, lots: int) -> Level:
        """The (immutable, so shared) level of ``lots`` at ``t`` ticks: most levels are
        unchanged from one snapshot to the next, so they are made once."""
        made = self._levels.get((t, lots))
        if made is None:
            if len(self._levels) > _LEVEL_CACHE:
                self._levels.clear()
            made = self._levels[t, lots] = Level(self.spec.tick * t, self.spec.qty_step * lots)
        return made
