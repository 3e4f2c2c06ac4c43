"""What the order-entry tests share: an account with a market and order entry over it, and
the frames it pushed, decoded."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms.sim import DEFAULT_SYMBOLS, Venue
from oms.sim.entry import OrderEntry
from oms.sim.market import Markets
from oms.sim.specs import T0, symbols_of

D = Decimal
ALL = symbols_of(("linear", "inverse", "spot"), DEFAULT_SYMBOLS)


class Clock:
    """A venue clock the test moves."""

    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


@dataclass
class Desk:
    """An account, its market and order entry."""

    venue: Venue
    markets: Markets
    entry: OrderEntry
    clock: Clock

    def frames(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """The frames pushed since the last call: (topic, data)."""
        return [(p.topic, json.loads(p.text)["data"]) for p in self.venue.take()]

    def topics(self) -> list[str]:
        return [topic for topic, _ in self.frames()]

    def orders(self) -> list[dict[str, Any]]:
        """Every order element pushed since the last call, in order."""
        return [e for topic, data in self.frames() if topic == "order" for e in data]

    def create(self, category: str = "linear", **fields: object) -> dict[str, str]:
        return self.entry.create(category, {"category": category, **fields})

    def state(self) -> tuple[object, ...]:
        """Everything a refusal must leave unchanged."""
        v = self.venue
        return (
            copy.deepcopy(v.truth()), v.now, dict(v.stats), dict(v.links),
            len(self.markets.tracked), [self.markets.book(k) for k in self.markets.symbols],
        )  # fmt: skip

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.clock.now += 100
            self.markets.tick()

    def best(self, key: str = "BTCUSDT") -> tuple[Decimal, Decimal]:
        book = self.markets.book(key)
        return book.bids[0].price, book.asks[0].price


def desk(seed: int = 5, depth: int = 30, **kw: int) -> Desk:
    clock = Clock()
    venue = Venue(ALL, detail=True, wallet=True, clock=clock, start_ms=T0)
    markets = Markets(venue, random.Random(seed), depth=depth, **kw)
    return Desk(venue, markets, OrderEntry(venue, markets), clock)
