"""``PublicStreams``: the sandbox's public WebSocket channels ``/v5/public/{category}``,
fed by the market's public events (``oms.sim.market.PublicEvent``).

No auth. ``subscribe`` / ``unsubscribe`` / ``ping`` in the public shapes
(``oms.sandbox.public_wire``); the topics ``orderbook.{1,50,200,1000}.{symbol}`` (a
snapshot on subscribe, then deltas; see ``oms.sandbox.public_topics``),
``publicTrade.{symbol}``, ``tickers.{symbol}`` (a snapshot on subscribe, then deltas on
linear and inverse, snapshots on spot), ``allLiquidation.{symbol}`` and the deprecated
``liquidation.{symbol}``. A subscribe request is all or nothing: one topic the channel does
not serve, or already subscribed, refuses the request. Each connection gets, in order,
what happened after it subscribed; nothing is replayed.

Threads: ``publish`` may be called from any thread (the exchange's, with its lock held):
it only hands the events to the event loop, so the exchange never waits for a client.
Every message waits in its connection's bounded queue and leaves ``latency`` seconds
late; a connection whose queue overflows (a client that does not read) is cut, as a
venue cuts a consumer that falls behind, and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import string
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

from websockets.exceptions import ConnectionClosed

from oms.clock import now_ms
from oms.sandbox.public_topics import (
    RESEND_S,
    BookTopic,
    Scales,
    TickerTopic,
    ticker_fields,
    trade_items,
)
from oms.sandbox.public_wire import (
    SPOT_MAX_ARGS,
    Topic,
    ack,
    book_view,
    liquidation_messages,
    parse_topic,
    pong,
    text,
    trade_messages,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from decimal import Decimal

    from websockets.asyncio.server import ServerConnection

    from oms.sandbox.public_topics import BookLike, TickerLike, TradeLike
    from oms.sim.specs import SymbolSpec

__all__ = ["MarketSource", "PublicStreams"]

log = logging.getLogger(__name__)
T = TypeVar("T")
#: messages a connection may have waiting before it is cut
QUEUE_LIMIT: Final = 10_000
_HOUR_MS: Final = 3_600_000
_MONITOR_S: Final = 0.25


class MarketSource(Protocol):
    """Where a new subscriber's snapshot comes from when no event has been seen yet:
    the market now (``oms.sim.market.Markets``, read under the exchange's lock)."""

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


@dataclass(eq=False)
class _Client:
    ws: ServerConnection
    category: str
    conn_id: str
    queue: asyncio.Queue[tuple[str, float] | None]
    topics: set[str] = field(default_factory=set)
    cut: bool = False


class PublicStreams:
    """The public channels of the categories the sandbox trades (see the module doc)."""

    def __init__(
        self,
        specs: Sequence[SymbolSpec],
        source: MarketSource,
        *,
        latency: float = 0.0,
        queue_limit: int = QUEUE_LIMIT,
        seed: int = 1,
        quiet_s: float = RESEND_S,
    ) -> None:
        self.source = source
        #: orderbook.1 prints its snapshot again after this long without a change
        self.quiet_s = quiet_s
        self.latency, self.queue_limit = latency, queue_limit
        self.specs = {s.key: s for s in specs}
        self.categories = tuple(dict.fromkeys(s.category for s in specs))
        self._by_symbol = {(s.category, s.symbol): s for s in specs}
        self._symbols = {c: {s.symbol for s in specs if s.category == c} for c in self.categories}
        self._ids = random.Random(seed)  # noqa: S311 - connection ids, not secrets
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: set[_Client] = set()
        #: subscribers and book/ticker state, by (category, topic name)
        self._subs: dict[tuple[str, str], set[_Client]] = {}
        self._books: dict[tuple[str, str], BookTopic] = {}
        self._tickers: dict[tuple[str, str], TickerTopic] = {}
        self._pushed: dict[tuple[str, str], float] = {}
        #: batches published and dispatched so far; a topic state made from the market
        #: now (``source``) already holds the batches up to its ``_since``
        self._published = self._dispatched = 0
        self._count = threading.Lock()
        self._since: dict[tuple[str, str], int] = {}
        #: the newest book and ticker seen per instrument key, the last tick direction,
        #: and (time, last price) of the past hour of tickers (for prevPrice1h)
        self._book: dict[str, BookLike] = {}
        self._ticker: dict[str, TickerLike] = {}
        self._direction: dict[str, str] = {}
        self._hour: dict[str, deque[tuple[int, Decimal]]] = {}
        self.stats: Counter[str] = Counter()

    # --- wiring -------------------------------------------------------------------------

    def serves(self, category: str) -> bool:
        """Whether ``/v5/public/<category>`` is a channel here."""
        return category in self.categories

    async def run(self) -> None:
        """Serve on the running loop until cancelled (orderbook.1 re-snapshots)."""
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(_MONITOR_S)
                self._resend_quiet_books()
        finally:
            self._loop = None

    def publish(self, events: Iterable[tuple[str, str, object]]) -> None:
        """Hand the market's public events to the loop (any thread; never blocks)."""
        loop, batch = self._loop, list(events)
        if loop is None or not batch:
            return  # not serving: nobody to tell
        with self._count:
            self._published += 1
            number = self._published
        with contextlib.suppress(RuntimeError):  # the loop closed while stopping
            loop.call_soon_threadsafe(self._dispatch, number, batch)

    def connections(self) -> int:
        return len(self._clients)

    def subscribers(self, category: str, topic: str) -> int:
        """How many connections of the ``category`` channel are subscribed to ``topic``
        (each gets every event published from now on)."""
        return len(self._subs.get((category, topic), ()))

    # --- a connection -------------------------------------------------------------------

    async def serve(self, ws: ServerConnection, category: str) -> None:
        """Serve one connection of the ``category`` channel until it ends."""
        queue: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue(self.queue_limit + 1)
        client = _Client(ws, category, self._conn_id(), queue)
        self._clients.add(client)
        writer = asyncio.create_task(self._writer(client))
        try:
            async for message in ws:
                self._on_message(client, message)
        except ConnectionClosed:
            pass
        finally:
            self._drop(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _writer(self, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        while (item := await client.queue.get()) is not None:
            message, due = item
            if (wait := due - loop.time()) > 0:  # FIFO with one delay keeps the order
                await asyncio.sleep(wait)
            try:
                await client.ws.send(message)
            except ConnectionClosed:
                return

    def _conn_id(self) -> str:
        chars = string.ascii_lowercase + string.digits
        head = "".join(self._ids.choices(chars, k=20))
        return f"{head}-{''.join(self._ids.choices(chars, k=self._ids.randint(1, 5)))}"

    def _drop(self, client: _Client) -> None:
        self._clients.discard(client)
        for name in list(client.topics):
            self._unsubscribe_one(client, name)

    def _send(self, client: _Client, message: str) -> None:
        if client.cut:
            return
        try:
            client.queue.put_nowait((message, asyncio.get_running_loop().time() + self.latency))
        except asyncio.QueueFull:
            self._cut(client)
            return
        self.stats["public_messages"] += 1

    def _cut(self, client: _Client) -> None:
        """Cut a client that fell ``queue_limit`` messages behind (TCP abort)."""
        client.cut = True
        self.stats["public_cut"] += 1
        log.warning(
            "public %s connection %s cut: more than %d messages waiting (a client that "
            "does not read)", client.category, client.conn_id, self.queue_limit,
        )  # fmt: skip
        self._drop(client)
        client.ws.transport.abort()

    def _reply(self, client: _Client, body: dict[str, object]) -> None:
        self._send(client, json.dumps(body, separators=(",", ":")))

    # --- requests -----------------------------------------------------------------------

    def _on_message(self, client: _Client, message: str | bytes) -> None:
        try:
            request = json.loads(message)
        except ValueError as exc:
            reason = f"Failed to decode incoming data: {exc}"
            self._reply(client, ack(client.category, "", reason, client.conn_id, None))
            return
        if not isinstance(request, dict):
            reason = "Failed to decode incoming data: not a JSON object"
            self._reply(client, ack(client.category, "", reason, client.conn_id, None))
            return
        op, req_id = request.get("op"), request.get("req_id")
        req = req_id if isinstance(req_id, str) else None
        if op == "ping":
            self._reply(client, pong(client.category, client.conn_id, req))
        elif op in ("subscribe", "unsubscribe"):
            refusal = self._subscription(client, str(op), request.get("args"))
            self._reply(client, ack(client.category, str(op), refusal, client.conn_id, req))
            if not refusal and op == "subscribe":
                self._snapshots(client, request["args"])
        else:
            name = op if isinstance(op, str) else ""
            self._reply(client, ack(client.category, name, "error:invalid op", client.conn_id, req))

    def _subscription(self, client: _Client, op: str, args: object) -> str:
        """Apply a subscribe/unsubscribe; the refusal text, ``""`` when done."""
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            return "Params Error"
        if client.category == "spot" and len(args) > SPOT_MAX_ARGS:
            return f"args size >{SPOT_MAX_ARGS}"
        symbols = self._symbols[client.category]
        for name in args:
            if parse_topic(name, client.category, symbols) is None:
                return f"error:handler not found,topic:{name}"
            if op == "subscribe" and (name in client.topics or args.count(name) > 1):
                return f"error:already subscribed,topic:{name}"
        for name in args:
            if op == "subscribe":
                client.topics.add(name)
                self._subs.setdefault((client.category, name), set()).add(client)
            else:
                self._unsubscribe_one(client, name)
        return ""

    def _unsubscribe_one(self, client: _Client, name: str) -> None:
        client.topics.discard(name)
        where = (client.category, name)
        subs = self._subs.get(where)
        if subs is not None:
            subs.discard(client)
            if not subs:  # the last one left: forget the topic's state
                for table in (self._subs, self._books, self._tickers, self._pushed, self._since):
                    table.pop(where, None)

    def _snapshots(self, client: _Client, names: list[str]) -> None:
        """A new subscriber's first book and ticker messages: the topics' current state."""
        symbols = self._symbols[client.category]
        for name in names:
            topic = parse_topic(name, client.category, symbols)
            if topic is None or topic.kind not in ("orderbook", "tickers"):
                continue
            key = self._by_symbol[client.category, topic.symbol].key
            if topic.kind == "orderbook":
                self._reply(client, self._book_topic(key, topic).snapshot(now_ms()))
            else:
                self._reply(client, self._ticker_topic(key, topic).snapshot(now_ms()))

    # --- topic state --------------------------------------------------------------------

    def _book_topic(self, key: str, topic: Topic) -> BookTopic:
        spec = self.specs[key]
        where = (spec.category, topic.name)
        state = self._books.get(where)
        if state is None:
            book, self._since[where] = self._now(key, self._book, self.source.book)
            state = self._books[where] = BookTopic(topic, Scales.of(spec), book)
            self._pushed[where] = asyncio.get_running_loop().time()
        return state

    def _now(self, key: str, seen: dict[str, T], read: Callable[[str], T]) -> tuple[T, int]:
        """The newest ``key`` value the loop has dispatched, or the market's now, and the
        number of the last batch it holds (later batches apply to it; earlier ones not)."""
        if key in seen:
            return seen[key], self._dispatched
        while True:  # the market now, with no publish in between the two counts
            before = self._published
            value = read(key)
            if self._published == before:
                return value, before

    def _ticker_topic(self, key: str, topic: Topic) -> TickerTopic:
        spec = self.specs[key]
        where = (spec.category, topic.name)
        state = self._tickers.get(where)
        if state is None:
            ticker, self._since[where] = self._now(key, self._ticker, self.source.ticker)
            fields, cs = self._ticker_fields(key, ticker)
            state = self._tickers[where] = TickerTopic(topic, fields, cs)
        return state

    def _ticker_fields(self, key: str, ticker: TickerLike) -> tuple[dict[str, str], int]:
        """A ticker's fields and its cross sequence (the symbol's newest book seq)."""
        hour = self._hour.get(key)
        old = hour[0] if hour else None
        prev1h = old[1] if old and old[0] <= ticker.time - _HOUR_MS else ticker.prev24h
        direction = self._direction.get(key, "ZeroPlusTick")
        fields = ticker_fields(
            ticker, Scales.of(self.specs[key]), tick_direction=direction, prev1h=prev1h
        )
        book = self._book.get(key)
        return fields, book.seq if book is not None else 0

    # --- market events ------------------------------------------------------------------

    def _dispatch(self, number: int, events: list[tuple[str, str, object]]) -> None:
        """Turn one batch of market events into messages, in order (on the loop)."""
        self._dispatched = number
        for kind, key, payload in events:
            spec = self.specs.get(key)
            if spec is None:
                log.error("public event %r for an unknown instrument %r", kind, key)
                continue
            try:
                self._event(kind, spec, payload)
            except Exception:  # one bad event must not stop the stream of the others
                log.exception("public event %r of %s could not be rendered", kind, key)

    def _event(self, kind: str, spec: SymbolSpec, payload: object) -> None:
        if kind == "orderbook":
            self._on_book(spec, payload)  # type: ignore[arg-type]
        elif kind == "publicTrade":
            self._on_trades(spec, payload)  # type: ignore[arg-type]
        elif kind == "tickers":
            self._on_ticker(spec, payload)  # type: ignore[arg-type]
        elif kind == "liquidation":
            self._on_liquidation(spec, payload)  # type: ignore[arg-type]
        else:
            log.error("unknown public event kind %r", kind)

    def _broadcast(self, category: str, name: str, body: dict[str, object]) -> None:
        subs = self._subs.get((category, name))
        if not subs:
            return
        message = json.dumps(body, separators=(",", ":"))
        for client in list(subs):
            self._send(client, message)

    def _on_book(self, spec: SymbolSpec, book: BookLike) -> None:
        self._book[spec.key] = book
        topics = [
            (where, state)
            for where, state in self._books.items()
            if where[0] == spec.category
            and state.topic.symbol == spec.symbol
            # a state made from the market after this batch holds it already
            and self._dispatched > self._since.get(where, 0)
        ]
        if not topics:
            return
        scales = Scales.of(spec)
        deepest = max(state.topic.depth for _, state in topics)
        view = book_view(book.bids, book.asks, deepest, scales.price, scales.size)
        now = now_ms()
        for (category, name), state in topics:
            body = state.advance(book, now, view)
            if body is not None:
                self._pushed[category, name] = asyncio.get_running_loop().time()
                self._broadcast(category, name, body)

    def _resend_quiet_books(self) -> None:
        """orderbook.1: the snapshot again (same ``u``) after 3 s without a change."""
        loop_now = asyncio.get_running_loop().time()
        for where, state in list(self._books.items()):
            if state.topic.depth == 1 and loop_now - self._pushed.get(where, 0) >= self.quiet_s:
                self._pushed[where] = loop_now
                self._broadcast(*where, state.snapshot(now_ms()))

    def _on_trades(self, spec: SymbolSpec, trades: Sequence[TradeLike]) -> None:
        if not trades:
            return
        self._direction[spec.key] = trades[-1].tick_direction
        name = f"publicTrade.{spec.symbol}"
        if not self._subs.get((spec.category, name)):
            return
        ts = max(now_ms(), trades[-1].time)
        for body in trade_messages(name, trade_items(trades, Scales.of(spec)), ts):
            self._broadcast(spec.category, name, body)

    def _on_ticker(self, spec: SymbolSpec, ticker: TickerLike) -> None:
        self._ticker[spec.key] = ticker
        hour = self._hour.setdefault(spec.key, deque())
        hour.append((ticker.time, ticker.last))
        while len(hour) > 1 and hour[1][0] <= ticker.time - _HOUR_MS:
            hour.popleft()  # keep one entry at or before an hour ago
        name = f"tickers.{spec.symbol}"
        state = self._tickers.get((spec.category, name))
        if state is None or self._dispatched <= self._since.get((spec.category, name), 0):
            return
        fields, cs = self._ticker_fields(spec.key, ticker)
        body = state.advance(fields, cs, max(now_ms(), ticker.time))
        if body is not None:
            self._broadcast(spec.category, name, body)

    def _on_liquidation(self, spec: SymbolSpec, liq: _Liquidation) -> None:
        scales = Scales.of(spec)
        size, price = text(liq.qty, scales.size), text(liq.price, scales.price)
        ts = max(now_ms(), liq.time)
        bodies = liquidation_messages(spec.symbol, liq.time, liq.side, size, price, ts)
        for kind, body in bodies.items():
            self._broadcast(spec.category, f"{kind}.{spec.symbol}", body)
