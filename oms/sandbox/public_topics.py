"""What each public topic has told its subscribers so far, and the next message it owes
them (no I/O): the state behind ``orderbook.{depth}.{symbol}`` and ``tickers.{symbol}``,
and the renderers of trades, tickers and liquidations from the market's values.

A ``BookTopic`` keeps the window of the book it last printed; each new book becomes a
delta of that window (changed or new levels, ``"0"`` for each level gone, ``u`` one more),
so every subscriber that started from this topic's snapshot holds exactly the book the
market has. ``orderbook.1`` prints snapshots only (Bybit, 2025-03-20), and a snapshot
again with the same ``u`` when 3 s pass without a change (the caller's clock). When the
market rebuilds the book (its ``update_id`` goes back), the topic prints a snapshot with
``u = 1``: "please overwrite your local orderbook". A ``TickerTopic`` keeps the fields it
last printed: linear and inverse print deltas of the changed fields, spot snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final, Protocol

from oms.sandbox.public_wire import (
    BookView,
    book_changes,
    book_view,
    decimals,
    orderbook_message,
    text,
    ticker_delta,
    ticker_message,
)
from oms.sim.wire import fmt

if TYPE_CHECKING:
    from collections.abc import Sequence

    from oms.sandbox.public_wire import PriceLevel, Topic
    from oms.sim.specs import SymbolSpec

__all__ = [
    "BookTopic",
    "Scales",
    "TickerTopic",
    "ticker_fields",
    "trade_items",
]

#: orderbook.1 prints its snapshot again after this many seconds without a change
RESEND_S: Final = 3.0
#: the funding cap the sandbox's perpetuals list (their instruments' upper funding rate)
FUNDING_CAP: Final = "0.005"
FUNDING_HOURS: Final = "8"


class BookLike(Protocol):
    """``oms.sim.market.Book``: one symbol's order book now."""

    @property
    def bids(self) -> Sequence[PriceLevel]: ...
    @property
    def asks(self) -> Sequence[PriceLevel]: ...
    @property
    def update_id(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def time(self) -> int: ...


class TradeLike(Protocol):
    """``oms.sim.market.PublicTrade``."""

    @property
    def time(self) -> int: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def qty(self) -> Decimal: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def trade_id(self) -> str: ...
    @property
    def tick_direction(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def block(self) -> bool: ...


class TickerLike(Protocol):
    """``oms.sim.market.Ticker``."""

    @property
    def symbol(self) -> str: ...
    @property
    def time(self) -> int: ...
    @property
    def last(self) -> Decimal: ...
    @property
    def mark(self) -> Decimal: ...
    @property
    def index(self) -> Decimal: ...
    @property
    def bid1(self) -> PriceLevel: ...
    @property
    def ask1(self) -> PriceLevel: ...
    @property
    def prev24h(self) -> Decimal: ...
    @property
    def high24h(self) -> Decimal: ...
    @property
    def low24h(self) -> Decimal: ...
    @property
    def volume24h(self) -> Decimal: ...
    @property
    def turnover24h(self) -> Decimal: ...
    @property
    def funding_rate(self) -> Decimal | None: ...
    @property
    def next_funding_time(self) -> int | None: ...
    @property
    def open_interest(self) -> Decimal | None: ...


@dataclass(frozen=True, slots=True)
class Scales:
    """How a symbol's numbers are printed: its category, price and size decimals."""

    category: str
    price: int
    size: int

    @classmethod
    def of(cls, spec: SymbolSpec) -> Scales:
        return cls(spec.category, decimals(spec.tick), decimals(spec.qty_step))


class BookTopic:
    """One ``orderbook.{depth}.{symbol}`` topic of one channel."""

    def __init__(self, topic: Topic, scales: Scales, book: BookLike) -> None:
        self.topic, self.scales = topic, scales
        self.view = self._view(book)
        #: the topic's own update id: one more per message that changed the window
        self.u = max(1, book.update_id)
        self.seq, self.cts = book.seq, book.time
        #: the market's update id of the book last seen (a smaller one is a rebuild)
        self.book_u = book.update_id

    def _view(self, book: BookLike) -> BookView:
        s = self.scales
        return book_view(book.bids, book.asks, self.topic.depth, s.price, s.size)

    def snapshot(self, ts: int) -> dict[str, object]:
        """The whole window as it stands (what a new subscriber starts from)."""
        levels = (self.view.bids, self.view.asks)
        return self._message("snapshot", levels, ts)

    def advance(
        self, book: BookLike, ts: int, view: BookView | None = None
    ) -> dict[str, object] | None:
        """The message that takes a subscriber from the last window to ``book``'s, or
        None when the window did not change. ``view``: the book printed at least this
        topic's depth deep, when the caller printed it already (for several depths)."""
        rebuilt = book.update_id < self.book_u
        self.book_u = book.update_id
        old = self.view
        if view is None:
            new = self._view(book)
        else:
            depth = self.topic.depth
            new = BookView(view.bids[:depth], view.asks[:depth])
        self.view, self.seq, self.cts = new, book.seq, book.time
        if rebuilt:
            self.u = 1
            return self.snapshot(ts)
        if new == old:
            return None
        self.u += 1
        if self.topic.depth == 1:
            return self.snapshot(ts)
        bids = book_changes(old.bids, new.bids, descending=True)
        asks = book_changes(old.asks, new.asks, descending=False)
        return self._message("delta", (bids, asks), ts)

    def _message(
        self, kind: str, levels: tuple[Sequence[Sequence[str]], Sequence[Sequence[str]]], ts: int
    ) -> dict[str, object]:
        ids, times = (self.u, self.seq), (max(ts, self.cts), self.cts)
        return orderbook_message(self.topic.name, kind, self.topic.symbol, levels, ids, times)


class TickerTopic:
    """One ``tickers.{symbol}`` topic of one channel."""

    def __init__(
        self, topic: Topic, fields: dict[str, str], cs: int, *, snapshots_only: bool = False
    ) -> None:
        self.topic, self.snapshots_only = topic, snapshots_only
        self.fields, self.cs = fields, cs

    def snapshot(self, ts: int) -> dict[str, object]:
        return ticker_message(self.topic.name, "snapshot", self.fields, self.cs, ts)

    def advance(self, fields: dict[str, str], cs: int, ts: int) -> dict[str, object] | None:
        """A delta of the changed fields (spot: a snapshot), None when nothing changed."""
        delta = ticker_delta(self.fields, fields)
        self.fields, self.cs = fields, cs
        if delta is None:
            return None
        if self.snapshots_only:  # spot
            return self.snapshot(ts)
        return ticker_message(self.topic.name, "delta", delta, cs, ts)


def trade_items(trades: Sequence[TradeLike], scales: Scales) -> list[dict[str, object]]:
    """The ``data`` items of a batch of public trades: ``S`` the taker's side, ``L`` the
    tick direction (none on spot), ``RPI`` false (the sandbox has no RPI orders)."""
    items: list[dict[str, object]] = []
    for t in trades:
        item: dict[str, object] = {"T": t.time, "s": t.symbol, "S": t.side}
        item |= {"v": text(t.qty, scales.size), "p": text(t.price, scales.price)}
        if scales.category != "spot":
            item["L"] = t.tick_direction
        items.append(item | {"i": t.trade_id, "BT": t.block, "RPI": False, "seq": t.seq})
    return items


def ticker_fields(
    t: TickerLike, scales: Scales, *, tick_direction: str, prev1h: Decimal
) -> dict[str, str]:
    """A ticker's fields in Bybit's order for the category (spot: no mark, funding, open
    interest or book; linear and inverse: the perpetual's fields)."""
    p, q = scales.price, scales.size
    change = _change(t.last, t.prev24h, 4 if scales.category == "spot" else 6)
    if scales.category == "spot":
        return {
            "symbol": t.symbol, "lastPrice": text(t.last, p), "highPrice24h": text(t.high24h, p),
            "lowPrice24h": text(t.low24h, p), "prevPrice24h": text(t.prev24h, p),
            "volume24h": fmt(t.volume24h), "turnover24h": fmt(t.turnover24h),
            "price24hPcnt": change, "usdIndexPrice": fmt(t.index),
        }  # fmt: skip
    oi = t.open_interest if t.open_interest is not None else Decimal(0)
    # the value of the open interest in the settle coin: USDT (2 places) or BTC (8)
    if scales.category == "inverse":
        value = (oi / t.mark if t.mark else oi).quantize(Decimal("1e-8"))
    else:
        value = (oi * t.mark).quantize(Decimal("0.01"))
    fields = {
        "symbol": t.symbol, "tickDirection": tick_direction, "price24hPcnt": change,
        "lastPrice": text(t.last, p), "prevPrice24h": text(t.prev24h, p),
        "highPrice24h": text(t.high24h, p), "lowPrice24h": text(t.low24h, p),
        "prevPrice1h": text(prev1h, p), "markPrice": text(t.mark, p),
        "indexPrice": text(t.index, p), "openInterest": text(oi, q),
        "openInterestValue": fmt(value),
        "turnover24h": fmt(t.turnover24h), "volume24h": fmt(t.volume24h),
        "nextFundingTime": str(t.next_funding_time or 0),
        "fundingRate": fmt(t.funding_rate or Decimal(0)),
        "bid1Price": text(t.bid1.price, p), "bid1Size": text(t.bid1.size, q),
        "ask1Price": text(t.ask1.price, p), "ask1Size": text(t.ask1.size, q),
    }  # fmt: skip
    if scales.category == "linear":
        fields |= {"preOpenPrice": "", "preQty": "", "curPreListingPhase": ""}
    return fields | {"fundingIntervalHour": FUNDING_HOURS, "fundingCap": FUNDING_CAP}


def _change(last: Decimal, prev: Decimal, places: int) -> str:
    """``price24hPcnt``: the change since 24 h ago as a fraction, ``places`` decimals."""
    if not prev:
        return "0"
    return fmt(((last - prev) / prev).quantize(Decimal(1).scaleb(-places)))
