"""``PublicFeed``: the market's public events (``oms.sim.market.PublicEvent``) as the
messages of each open public topic, in order (no connections, no I/O).

A topic is open while someone subscribes to it; an order book or ticker topic keeps its
state (``oms.sandbox.public_topics``) only while open, and a trade or liquidation topic
is rendered only then. A topic opened from the market now (``MarketSource``: no event of
that symbol seen yet) is stamped with the number of the last batch published before it
was read, so that a batch still in flight to the feed is not applied twice.

The feed runs on one thread (the event loop); ``number()`` may be called on any.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

from oms.clock import now_ms
from oms.sandbox.public_topics import (
    RESEND_S,
    BookTopic,
    Scales,
    TickerTopic,
    ticker_fields,
    trade_items,
)
from oms.sandbox.public_wire import book_view, liquidation_messages, text, trade_messages

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from decimal import Decimal

    from oms.sandbox.public_topics import BookLike, TickerLike, TradeLike
    from oms.sandbox.public_wire import Topic
    from oms.sim.specs import SymbolSpec

__all__ = ["MarketSource", "Message", "PublicFeed"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_HOUR_MS: Final = 3_600_000
#: (category, topic name, message body)
Message = tuple[str, str, dict[str, object]]
Where = tuple[str, str]


class MarketSource(Protocol):
    """The market now (``oms.sim.market.Markets``, read under the exchange's lock)."""

    def book(self, key: str) -> BookLike: ...
    def ticker(self, key: str) -> TickerLike: ...


class _Liquidation(Protocol):
    @property
    def time(self) -> int: ...
    @property
    def side(self) -> str: ...
    @property
    def qty(self) -> Decimal: ...
    @property
    def price(self) -> Decimal: ...


class PublicFeed:
    """The open topics of every channel and the messages the market's events make."""

    def __init__(
        self, specs: Sequence[SymbolSpec], source: MarketSource, *, quiet_s: float = RESEND_S
    ) -> None:
        self.source, self.quiet_s = source, quiet_s
        self.specs = {s.key: s for s in specs}
        self.by_symbol = {(s.category, s.symbol): s for s in specs}
        self._open: set[Where] = set()
        self._books: dict[Where, BookTopic] = {}
        self._tickers: dict[Where, TickerTopic] = {}
        #: when each book topic last printed (monotonic s), and the batch it starts after
        self._pushed: dict[Where, float] = {}
        self._since: dict[Where, int] = {}
        self._published = self._applied = 0
        self._count = threading.Lock()
        #: per instrument: the newest book and ticker, the last tick direction, and
        #: (time, last price) of the past hour of tickers (for prevPrice1h)
        self._book: dict[str, BookLike] = {}
        self._ticker: dict[str, TickerLike] = {}
        self._direction: dict[str, str] = {}
        self._hour: dict[str, deque[tuple[int, Decimal]]] = {}

    def number(self) -> int:
        """Number the next batch of events (any thread, in publishing order)."""
        with self._count:
            self._published += 1
            return self._published

    # --- topics -------------------------------------------------------------------------

    def open(self, category: str, topic: Topic) -> dict[str, object] | None:
        """Open ``topic`` (or keep it open); the snapshot a new subscriber starts from
        (order book and ticker topics), None for the others."""
        where = (category, topic.name)
        self._open.add(where)
        key = self.by_symbol[category, topic.symbol].key
        if topic.kind == "orderbook":
            return self._book_topic(where, key, topic).snapshot(now_ms())
        if topic.kind == "tickers":
            return self._ticker_topic(where, key, topic).snapshot(now_ms())
        return None

    def close(self, category: str, name: str) -> None:
        """Close a topic nobody subscribes to any more: its state is forgotten."""
        where = (category, name)
        self._open.discard(where)
        for table in (self._books, self._tickers, self._pushed, self._since):
            table.pop(where, None)

    def _book_topic(self, where: Where, key: str, topic: Topic) -> BookTopic:
        state = self._books.get(where)
        if state is None:
            book, self._since[where] = self._now(key, self._book, self.source.book)
            state = self._books[where] = BookTopic(topic, Scales.of(self.specs[key]), book)
            self._pushed[where] = time.monotonic()
        return state

    def _ticker_topic(self, where: Where, key: str, topic: Topic) -> TickerTopic:
        state = self._tickers.get(where)
        if state is None:
            ticker, self._since[where] = self._now(key, self._ticker, self.source.ticker)
            fields, cs = self._ticker_fields(key, ticker)
            if key not in self._book:  # no book event yet: the market's sequence now
                cs = self.source.book(key).seq
            spot = self.specs[key].category == "spot"
            state = TickerTopic(topic, fields, cs, snapshots_only=spot)
            self._tickers[where] = state
        return state

    def _now(self, key: str, seen: dict[str, T], read: Callable[[str], T]) -> tuple[T, int]:
        """The newest ``key`` value of the batches applied, or else the market's now;
        and the number of the last batch it holds."""
        if key in seen:
            return seen[key], self._applied
        while True:  # the market now, with no batch published between the two counts
            before = self._published
            value = read(key)
            if self._published == before:
                return value, before

    def _fresh(self, where: Where) -> bool:
        """Whether the batch being applied is news to the topic's state."""
        return self._applied > self._since.get(where, 0)

    def _ticker_fields(self, key: str, ticker: TickerLike) -> tuple[dict[str, str], int]:
        """A ticker's fields and its cross sequence (the symbol's newest book seq)."""
        hour = self._hour.get(key)
        old = hour[0] if hour else None
        prev1h = old[1] if old and old[0] <= ticker.time - _HOUR_MS else ticker.prev24h
        direction = self._direction.get(key, "ZeroPlusTick")
        scales = Scales.of(self.specs[key])
        fields = ticker_fields(ticker, scales, tick_direction=direction, prev1h=prev1h)
        book = self._book.get(key)
        return fields, book.seq if book is not None else 0

    # --- events -------------------------------------------------------------------------

    def apply(self, number: int, events: Iterable[tuple[str, str, object]]) -> list[Message]:
        """The messages of batch ``number``, in order. An event that cannot be rendered
        is logged with its traceback and skipped: the others still flow."""
        self._applied = number
        out: list[Message] = []
        for kind, key, payload in events:
            spec = self.specs.get(key)
            if spec is None:
                log.error("public event %r for an unknown instrument %r", kind, key)
                continue
            try:
                out += self._event(kind, spec, payload)
            except Exception:
                log.exception("public event %r of %s could not be rendered", kind, key)
        return out

    def _event(self, kind: str, spec: SymbolSpec, payload: object) -> list[Message]:
        if kind == "orderbook":
            return self._on_book(spec, payload)  # type: ignore[arg-type]
        if kind == "publicTrade":
            return self._on_trades(spec, payload)  # type: ignore[arg-type]
        if kind == "tickers":
            return self._on_ticker(spec, payload)  # type: ignore[arg-type]
        if kind == "liquidation":
            return self._on_liquidation(spec, payload)  # type: ignore[arg-type]
        log.error("unknown public event kind %r", kind)
        return []

    def _on_book(self, spec: SymbolSpec, book: BookLike) -> list[Message]:
        self._book[spec.key] = book
        topics = [
            (where, state)
            for where, state in self._books.items()
            if where[0] == spec.category and state.topic.symbol == spec.symbol
            and self._fresh(where)
        ]  # fmt: skip
        if not topics:
            return []
        scales = Scales.of(spec)
        deepest = max(state.topic.depth for _, state in topics)
        view = book_view(book.bids, book.asks, deepest, scales.price, scales.size)
        out: list[Message] = []
        for where, state in topics:  # the book printed once, sliced per depth
            body = state.advance(book, now_ms(), view)
            if body is not None:
                self._pushed[where] = time.monotonic()
                out.append((*where, body))
        return out

    def quiet_books(self) -> list[Message]:
        """orderbook.1: the snapshot again (same ``u``) after ``quiet_s`` without a change."""
        now, out = time.monotonic(), []
        for where, state in self._books.items():
            if state.topic.depth == 1 and now - self._pushed.get(where, 0) >= self.quiet_s:
                self._pushed[where] = now
                out.append((*where, state.snapshot(now_ms())))
        return out

    def _on_trades(self, spec: SymbolSpec, trades: Sequence[TradeLike]) -> list[Message]:
        if not trades:
            return []
        self._direction[spec.key] = trades[-1].tick_direction
        name = f"publicTrade.{spec.symbol}"
        if (spec.category, name) not in self._open:
            return []
        ts = max(now_ms(), trades[-1].time)
        bodies = trade_messages(name, trade_items(trades, Scales.of(spec)), ts)
        return [(spec.category, name, body) for body in bodies]

    def _on_ticker(self, spec: SymbolSpec, ticker: TickerLike) -> list[Message]:
        self._ticker[spec.key] = ticker
        hour = self._hour.setdefault(spec.key, deque())
        hour.append((ticker.time, ticker.last))
        while len(hour) > 1 and hour[1][0] <= ticker.time - _HOUR_MS:
            hour.popleft()  # keep one entry at or before an hour ago
        where = (spec.category, f"tickers.{spec.symbol}")
        state = self._tickers.get(where)
        if state is None or not self._fresh(where):
            return []
        fields, cs = self._ticker_fields(spec.key, ticker)
        body = state.advance(fields, cs, max(now_ms(), ticker.time))
        return [] if body is None else [(*where, body)]

    def _on_liquidation(self, spec: SymbolSpec, liq: _Liquidation) -> list[Message]:
        scales = Scales.of(spec)
        size, price = text(liq.qty, scales.size), text(liq.price, scales.price)
        ts = max(now_ms(), liq.time)
        bodies = liquidation_messages(spec.symbol, liq.time, liq.side, size, price, ts)
        names = {kind: f"{kind}.{spec.symbol}" for kind in bodies}
        return [
            (spec.category, names[kind], body)
            for kind, body in bodies.items()
            if (spec.category, names[kind]) in self._open
        ]
