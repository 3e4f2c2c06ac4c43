"""What a symbol's public side shows besides the book: the trades on its tape, the
liquidations of others, and the ticker (last, mark and index price, best levels, 24 h
statistics, funding and open interest).

``Tape`` keeps the recent trades (newest last), the tick direction of the last one and
hourly buckets of the last 24 h for the ticker's statistics.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from oms.sim.records import ZERO, exec_value

if TYPE_CHECKING:
    from decimal import Decimal

    from oms.sim.book import Level
    from oms.sim.specs import SymbolSpec

__all__ = ["Liquidation", "PublicTrade", "Tape", "Ticker"]

HOUR_MS: Final = 3_600_000
#: trades a tape keeps for ``recent_trades`` (Bybit serves up to 1000)
RECENT: Final = 1000


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """One trade on the symbol's tape (ours or anyone's)."""

    time: int
    key: str
    symbol: str
    category: str
    #: the TAKER side, Buy/Sell
    side: str
    qty: Decimal
    price: Decimal
    #: unique
    trade_id: str
    #: PlusTick, ZeroPlusTick, MinusTick, ZeroMinusTick
    tick_direction: str
    seq: int
    block: bool = False


@dataclass(frozen=True, slots=True)
class Liquidation:
    """Someone's position liquidated on the symbol (the public feed)."""

    time: int
    key: str
    symbol: str
    category: str
    #: Bybit's allLiquidation ``S``: Buy = a long was liquidated, Sell = a short
    side: str
    qty: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class Ticker:
    """A symbol's ticker now; funding and open interest are None on spot."""

    key: str
    symbol: str
    category: str
    time: int
    last: Decimal
    mark: Decimal
    index: Decimal
    bid1: Level
    ask1: Level
    prev24h: Decimal
    high24h: Decimal
    low24h: Decimal
    volume24h: Decimal
    turnover24h: Decimal
    funding_rate: Decimal | None
    next_funding_time: int | None
    open_interest: Decimal | None


@dataclass(slots=True)
class _Hour:
    """One hour of trades: open, high, low, volume (qty) and turnover (value)."""

    hour: int
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal = ZERO
    turnover: Decimal = ZERO


class Tape:
    """A symbol's printed trades and their statistics."""

    def __init__(self, spec: SymbolSpec) -> None:
        self.spec = spec
        self.trades: deque[PublicTrade] = deque(maxlen=RECENT)
        self.hours: deque[_Hour] = deque()
        self._last_price: Decimal | None = None
        self._direction = "ZeroPlusTick"

    def direction(self, price: Decimal) -> str:
        """The tick direction of a trade at ``price`` after the previous one (a trade
        at the same price keeps the sign of the last move)."""
        last = self._last_price
        if last is None or price == last:
            self._direction = (
                "ZeroPlusTick" if self._direction.endswith("PlusTick") else ("ZeroMinusTick")
            )
        else:
            self._direction = "PlusTick" if price > last else "MinusTick"
        self._last_price = price
        return self._direction

    def print(self, trade: PublicTrade) -> None:
        """Put a trade on the tape and into its hour."""
        self.trades.append(trade)
        hour = trade.time // HOUR_MS
        if not self.hours or self.hours[-1].hour != hour:
            self.hours.append(_Hour(hour, trade.price, trade.price, trade.price))
        bucket = self.hours[-1]
        bucket.high = max(bucket.high, trade.price)
        bucket.low = min(bucket.low, trade.price)
        bucket.volume += trade.qty
        bucket.turnover += exec_value(self.spec, trade.qty, trade.price)

    def recent(self, limit: int) -> list[PublicTrade]:
        """The newest ``limit`` trades, newest first."""
        if limit < 1:
            return []
        out: list[PublicTrade] = []
        for trade in reversed(self.trades):
            out.append(trade)
            if len(out) == limit:
                break
        return out

    def day(self, now: int, last: Decimal) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """(prev24h, high24h, low24h, volume24h, turnover24h) over the hours of the last
        24 h; before any trade: the start price, the last price, and zeros."""
        first = now // HOUR_MS - 23
        while self.hours and self.hours[0].hour < first:
            self.hours.popleft()
        if not self.hours:
            return (
                self.spec.price,
                max(last, self.spec.price),
                min(last, self.spec.price),
                (ZERO),
                ZERO,
            )
        prev = self.hours[0].open
        high = max(*(h.high for h in self.hours), last)
        low = min(*(h.low for h in self.hours), last)
        volume = sum((h.volume for h in self.hours), ZERO)
        turnover = sum((h.turnover for h in self.hours), ZERO)
        return prev, high, low, volume, turnover
