"""``Markets``: every symbol's market over a ``Venue``, seeded and reproducible.

Per symbol: a price path (a bounded random walk pulled back to the symbol's level; mark
and index a few ticks from last), a book of others' liquidity that follows it
(``oms.sim.book``), others' trades printed on the tape, now and then someone's
liquidation, the 24 h statistics, the funding rate and next funding time, and the open
interest (``oms.sim.tape``). ``tick()`` is one market step for every symbol; the
account's orders the market works (``tracked``: those placed through order entry) are
matched against it by ``oms.sim.matching``. Private frames queue in the venue
(``venue.take()``), public events here (``take_public()``).

The same venue, the same seed and the same calls give the same everything: every draw
comes from ``rng``, every time from the venue's clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from oms.sim.book import Book, Depth, Level
from oms.sim.matching import Matcher
from oms.sim.records import ZERO
from oms.sim.specs import FUNDING_RATE
from oms.sim.tape import Liquidation, PublicTrade, Tape, Ticker

if TYPE_CHECKING:
    import random

    from oms.sim.records import Execution, Market
    from oms.sim.specs import SymbolSpec
    from oms.sim.venue import Venue

__all__ = [
    "FUNDING_INTERVAL_MS",
    "Book",
    "Level",
    "Liquidation",
    "Markets",
    "PublicEvent",
    "PublicTrade",
    "Ticker",
]

#: Bybit's usual funding interval: 8 h (at 00:00, 08:00 and 16:00 UTC)
FUNDING_INTERVAL_MS: Final = 8 * 3_600_000
#: what the public side saw, in order; kind is "orderbook", "publicTrade", "tickers" or
#: "liquidation": (kind, instrument key, Book | list[PublicTrade] | Ticker | Liquidation)
PublicEvent = tuple[str, str, object]
#: how many others' taker orders a step prints, drawn uniformly from this
_OTHERS: Final = (0, 1, 1, 2, 3)
#: chance per step and symbol of someone's liquidation
_LIQUIDATION: Final = 0.03
#: the funding rate's bounds and step
_RATE_BOUND: Final = Decimal("0.001")
_RATE_STEP: Final = Decimal("0.000001")


@dataclass(slots=True)
class SymbolState:
    """One symbol's market: the venue's prices, the book, the tape and the rest."""

    spec: SymbolSpec
    market: Market
    depth: Depth
    tape: Tape
    #: the symbol's price level in ticks, and its typical move per step in ticks
    base: int
    scale: int
    funding_rate: Decimal
    next_funding: int
    open_interest_lots: int
    book_time: int

    @property
    def key(self) -> str:
        return self.spec.key


class Markets:
    """Every symbol's market over ``venue`` (see the module docstring)."""

    def __init__(
        self,
        venue: Venue,
        rng: random.Random,
        *,
        depth: int = 200,
        funding_interval_ms: int = FUNDING_INTERVAL_MS,
    ) -> None:
        if funding_interval_ms < 1:
            raise ValueError("the funding interval is a positive number of ms")
        self.venue, self.rng, self.funding_interval_ms = venue, rng, funding_interval_ms
        now = venue.time()
        self.symbols: dict[str, SymbolState] = {}
        for key, spec in venue.specs.items():
            base = int(spec.price / spec.tick)
            state = SymbolState(
                spec, venue.markets[key], Depth(spec, depth, rng), Tape(spec), base,
                max(1, base // 50_000), FUNDING_RATE, self._next_funding(now),
                spec.max_lots * 500, now,
            )  # fmt: skip
            state.depth.refresh(state.market.mid_ticks)
            self.symbols[key] = state
        #: the account's orders the market works (resting fills, triggers, TP/SL)
        self.tracked: dict[str, None] = {}
        self._public: list[PublicEvent] = []
        self.matcher = Matcher(self)

    # --- views ------------------------------------------------------------------------

    def state(self, key: str) -> SymbolState:
        try:
            return self.symbols[key]
        except KeyError:
            raise KeyError(f"unknown instrument {key!r}") from None

    def book(self, key: str) -> Book:
        """The symbol's book now (a copy: safe to keep)."""
        s = self.state(key)
        return s.depth.snapshot(key, s.market.cross_seq, s.book_time)

    def ticker(self, key: str) -> Ticker:
        """The symbol's ticker now."""
        s = self.state(key)
        now, m, spec = self.venue.time(), s.market, s.spec
        prev, high, low, volume, turnover = s.tape.day(now, m.mid)
        derivative = spec.category != "spot"
        return Ticker(
            key=key, symbol=spec.symbol, category=spec.category, time=now, last=m.mid,
            mark=m.mark, index=m.index, bid1=self._top(s, "bids"), ask1=self._top(s, "asks"),
            prev24h=prev, high24h=high, low24h=low, volume24h=volume, turnover24h=turnover,
            funding_rate=s.funding_rate if derivative else None,
            next_funding_time=s.next_funding if derivative else None,
            open_interest=spec.qty_step * s.open_interest_lots if derivative else None,
        )  # fmt: skip

    @staticmethod
    def _top(s: SymbolState, side: str) -> Level:
        levels = s.depth.bids if side == "bids" else s.depth.asks
        if not levels:
            return Level(ZERO, ZERO)
        t = max(levels) if side == "bids" else min(levels)
        return Level(s.spec.tick * t, s.spec.qty_step * levels[t])

    def recent_trades(self, key: str, limit: int) -> list[PublicTrade]:
        """The symbol's newest ``limit`` public trades, newest first."""
        return self.state(key).tape.recent(limit)

    def take_public(self) -> list[PublicEvent]:
        """The public events since the last call, in order (and clear them)."""
        events, self._public = self._public, []
        return events

    def publish(self, kind: str, key: str, payload: object) -> None:
        self._public.append((kind, key, payload))

    def publish_book(self, s: SymbolState) -> None:
        s.book_time = self.venue.time()
        self.publish("orderbook", s.key, self.book(s.key))

    # --- the market step ----------------------------------------------------------------

    def tick(self) -> None:
        """One market step for every symbol: prices move along the seeded path, the book
        follows, others trade (the tape), maybe a liquidation; then the account's resting
        orders the price traded through fill, the triggers crossed fire, funding is paid
        when due; the symbol's book and ticker are published."""
        for s in self.symbols.values():
            moved = self._walk(s)
            s.depth.refresh(s.market.mid_ticks)
            trades = self._others_trade(s, moved)
            self.publish_book(s)
            if trades:
                self.publish("publicTrade", s.key, trades)
            prices = [int(t.price / s.spec.tick) for t in trades] or [s.market.mid_ticks]
            self.matcher.work(s, min(prices), max(prices))
            self._fund(s)
            self._maybe_liquidation(s)
            self.publish("tickers", s.key, self.ticker(s.key))

    def _walk(self, s: SymbolState) -> int:
        """Move last, mark and index; return the move of last in ticks."""
        m, rng = s.market, self.rng
        pull = (s.base - m.mid_ticks) // 100
        low, high = s.base * 8 // 10, s.base * 12 // 10
        mid = min(high, max(low, m.mid_ticks + rng.randint(-3, 3) * s.scale + pull))
        moved, m.mid_ticks = mid - m.mid_ticks, mid
        m.mark_ticks = mid + rng.randint(-2, 2) * s.scale
        m.index_ticks = mid + rng.randint(-3, 3) * s.scale
        s.funding_rate = min(
            _RATE_BOUND, max(-_RATE_BOUND, s.funding_rate + rng.randint(-1, 1) * _RATE_STEP)
        )
        s.open_interest_lots = max(
            s.spec.max_lots, s.open_interest_lots + rng.randint(-3, 3) * s.spec.max_lots
        )
        return moved

    def _others_trade(self, s: SymbolState, moved: int) -> list[PublicTrade]:
        """Others' taker orders against the book: one public trade per level taken."""
        rng, spec, trades = self.rng, s.spec, []
        buy_odds = 0.7 if moved > 0 else 0.3 if moved < 0 else 0.5
        for _ in range(rng.choice(_OTHERS)):
            side = "Buy" if rng.random() < buy_odds else "Sell"
            lots = rng.randint(1, max(1, spec.max_lots // 6))
            for t, n in s.depth.take(side, lots, None):
                s.market.cross_seq += rng.randint(1, 5)
                trades.append(self._trade(s, side, spec.qty_step * n, spec.tick * t))
        if trades:
            s.market.mid_ticks = int(trades[-1].price / spec.tick)
        return trades

    def _trade(
        self, s: SymbolState, side: str, qty: Decimal, price: Decimal, *, time: int = 0,
        seq: int = 0,
    ) -> PublicTrade:  # fmt: skip
        """A trade put on the symbol's tape."""
        trade = PublicTrade(
            time=time or self.venue.time(), key=s.key, symbol=s.spec.symbol,
            category=s.spec.category, side=side, qty=qty, price=price,
            trade_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            tick_direction=s.tape.direction(price), seq=seq or s.market.cross_seq,
        )  # fmt: skip
        s.tape.print(trade)
        return trade

    def print_fills(self, s: SymbolState, executions: list[Execution], taker_side: str) -> None:
        """The account's fills on the public tape (the taker's side), the last price at
        the last of them, and the book they took from."""
        trades = [
            self._trade(s, taker_side, e.qty, e.price, time=e.time, seq=e.seq) for e in executions
        ]
        if trades:
            s.market.mid_ticks = int(trades[-1].price / s.spec.tick)
            self.publish("publicTrade", s.key, trades)

    def _maybe_liquidation(self, s: SymbolState) -> None:
        rng, spec = self.rng, s.spec
        if spec.category == "spot" or rng.random() >= _LIQUIDATION:
            return
        side = rng.choice(("Buy", "Sell"))
        away = rng.randint(0, 5) * s.scale * (-1 if side == "Buy" else 1)
        qty = spec.qty_step * rng.randint(1, max(1, spec.max_lots // 2))
        price = spec.tick * max(1, s.market.mid_ticks + away)
        liquidation = Liquidation(
            self.venue.time(), s.key, spec.symbol, spec.category, side, qty, price
        )
        self.publish("liquidation", s.key, liquidation)

    # --- funding ------------------------------------------------------------------------

    def _next_funding(self, now: int) -> int:
        return (now // self.funding_interval_ms + 1) * self.funding_interval_ms

    def _fund(self, s: SymbolState) -> None:
        """At the funding time: a funding payment on each open leg of the symbol, at the
        symbol's current rate; then the next funding time."""
        if s.spec.category == "spot":
            return
        now = self.venue.time()
        if now < s.next_funding:
            return
        for idx in s.spec.legs:
            if self.venue.legs[s.key, idx].net:
                self.venue.funding(s.key, idx, rate=s.funding_rate)
        s.next_funding = self._next_funding(now)

    # --- liquidity for the matcher ----------------------------------------------------

    def take(
        self, s: SymbolState, taker_side: str, qty: Decimal, limit: Decimal | None
    ) -> list[tuple[Decimal, Decimal]]:
        """Take up to ``qty`` of others' liquidity, no worse than ``limit``: the
        (qty, price) taken per level, best first; publishes the book if it changed."""
        spec = s.spec
        ticks = None if limit is None else int(limit / spec.tick)
        taken = s.depth.take(taker_side, int(qty / spec.qty_step), ticks)
        if taken:
            self.publish_book(s)
        return [(spec.qty_step * n, spec.tick * t) for t, n in taken]

    def available(self, s: SymbolState, taker_side: str, limit: Decimal | None) -> Decimal:
        """What a taker could take at prices no worse than ``limit``."""
        ticks = None if limit is None else int(limit / s.spec.tick)
        return s.spec.qty_step * s.depth.available(taker_side, ticks)
