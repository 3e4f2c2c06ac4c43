"""``PublicStreams``: the sandbox's public WebSocket channels ``/v5/public/{category}``
(one per category the sandbox trades; any other category is refused at the handshake),
fed by the market's public events (``Exchange.public_sink``).

No auth. ``subscribe`` / ``unsubscribe`` / ``ping`` in the public shapes
(``oms.sandbox.public_wire``); the topics ``orderbook.{1,50,200,1000}.{symbol}`` (a
snapshot on subscribe, then deltas; see ``oms.sandbox.public_topics``),
``publicTrade.{symbol}``, ``tickers.{symbol}`` (a snapshot on subscribe, then deltas on
linear and inverse, snapshots on spot), ``allLiquidation.{symbol}`` and the deprecated
``liquidation.{symbol}``, rendered by ``oms.sandbox.public_feed``. A subscribe request is
all or nothing: one topic the channel does not serve, or one already subscribed, refuses
the request. Each connection gets, in order, what happened after it subscribed; nothing
is replayed.

Threads: ``sink`` / ``publish`` may be called from any thread (the exchange's, with its
lock held): they only hand the events to the event loop, so the exchange never waits for
a client. A connection's messages leave through its queue (``oms.sandbox.connection``,
``latency`` late, silenced by the ``silence`` fault like every socket); a connection with
``queue_limit`` messages waiting (a client that does not read) is cut, as a venue cuts a
consumer that falls behind, and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from websockets.protocol import State

from oms.sandbox.public_feed import MarketSource, PublicFeed
from oms.sandbox.public_topics import RESEND_S
from oms.sandbox.public_wire import SPOT_MAX_ARGS, ack, parse_topic, pong

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from oms.sandbox.connection import Client
    from oms.sandbox.exchange import Exchange
    from oms.sandbox.public_feed import Message
    from oms.sim.market import Book, Ticker
    from oms.sim.specs import SymbolSpec

__all__ = ["ExchangeMarket", "MarketSource", "PublicStreams", "path"]

log = logging.getLogger(__name__)
#: messages a connection may have waiting before it is cut
QUEUE_LIMIT: Final = 10_000
_MONITOR_S: Final = 0.25


def path(category: str) -> str:
    """The public channel's path of ``category``."""
    return f"/v5/public/{category}"


class ExchangeMarket:
    """The exchange's market now, read under its lock (``MarketSource``)."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def book(self, key: str) -> Book:
        with self.exchange.lock:
            return self.exchange.markets.book(key)

    def ticker(self, key: str) -> Ticker:
        with self.exchange.lock:
            return self.exchange.markets.ticker(key)


@dataclass(eq=False)
class _Subscriber:
    """A public connection: its channel and topics."""

    client: Client
    category: str
    topics: set[str] = field(default_factory=set)


class Channel:
    """``/v5/public/<category>`` as a socket kind of the server (``SocketKind``)."""

    def __init__(self, streams: PublicStreams, category: str) -> None:
        self.streams, self.category = streams, category

    def on_message(self, client: Client, message: str | bytes) -> None:
        self.streams.on_message(client, self.category, message)


class PublicStreams:
    """The public channels of the categories the sandbox trades (see the module doc)."""

    def __init__(
        self,
        specs: Sequence[SymbolSpec],
        source: MarketSource,
        *,
        queue_limit: int = QUEUE_LIMIT,
        quiet_s: float = RESEND_S,
    ) -> None:
        self.feed = PublicFeed(specs, source, quiet_s=quiet_s)
        self.queue_limit = queue_limit
        self.categories = tuple(dict.fromkeys(s.category for s in specs))
        self._symbols = {c: {s.symbol for s in specs if s.category == c} for c in self.categories}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._people: dict[Client, _Subscriber] = {}
        #: connections cut for falling behind (their last messages are ignored)
        self._gone: weakref.WeakSet[Client] = weakref.WeakSet()
        #: subscribers by (category, topic name)
        self._subs: dict[tuple[str, str], set[_Subscriber]] = {}
        self.stats: Counter[str] = Counter()

    def channels(self) -> dict[str, Channel]:
        """Path -> socket kind of each public channel (for the server's path table)."""
        return {path(c): Channel(self, c) for c in self.categories}

    # --- market events (any thread) ------------------------------------------------------

    def sink(self, event: tuple[str, str, object]) -> None:
        """``Exchange.public_sink``: one event (see ``publish``)."""
        self.publish((event,))

    def publish(self, events: Iterable[tuple[str, str, object]]) -> None:
        """Hand the market's public events to the loop (any thread; never blocks)."""
        loop, batch = self._loop, list(events)
        if loop is None or not batch:
            return  # no connection yet: nobody to tell
        number = self.feed.number()
        with contextlib.suppress(RuntimeError):  # the loop closed while stopping
            loop.call_soon_threadsafe(self._dispatch, number, batch)

    def subscribers(self, category: str, topic: str) -> int:
        """How many live connections of the ``category`` channel subscribe to ``topic``
        (each gets every event published from now on)."""
        return sum(1 for s in self._subs.get((category, topic), ()) if _live(s.client))

    # --- on the loop --------------------------------------------------------------------

    def _bind(self) -> None:
        """Serve on the running loop (at the first connection): events, the monitor."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._monitor = self._loop.create_task(self._quiet_books())

    async def _quiet_books(self) -> None:
        """Forget ended connections; repeat the quiet level-1 books (until cancelled)."""
        while True:
            await asyncio.sleep(_MONITOR_S)
            try:
                self._prune()
                self._broadcast(self.feed.quiet_books())
            except Exception:  # the monitor must outlive one bad round, loudly
                log.exception("public channel monitor failed")

    def _dispatch(self, number: int, events: list[tuple[str, str, object]]) -> None:
        """Batch ``number`` of the market's events to the subscribers."""
        self._broadcast(self.feed.apply(number, events))

    def _broadcast(self, messages: list[Message]) -> None:
        for category, name, body in messages:
            subs = self._subs.get((category, name))
            if subs:
                text = json.dumps(body, separators=(",", ":"))
                for sub in list(subs):
                    self._send(sub, text)

    def _send(self, sub: _Subscriber, text: str) -> None:
        client = sub.client
        if client in self._gone:
            return
        if not _live(client):
            self._drop(sub)
        elif client.queue.qsize() >= self.queue_limit:
            self._cut(sub)
        else:
            client.send(text)
            self.stats["public_messages"] += 1

    def _cut(self, sub: _Subscriber) -> None:
        """Cut a client that fell ``queue_limit`` messages behind (TCP abort)."""
        self.stats["public_cut"] += 1
        log.warning(
            "public %s connection %s cut: %d messages waiting (a client that does not read)",
            sub.category, sub.client.conn_id, sub.client.queue.qsize(),
        )  # fmt: skip
        self._gone.add(sub.client)
        self._drop(sub)
        sub.client.cut()

    def _drop(self, sub: _Subscriber) -> None:
        """Forget a connection that ended (its topics close when it was the last)."""
        self._people.pop(sub.client, None)
        for name in list(sub.topics):
            self._leave(sub, name)

    def _prune(self) -> None:
        for sub in [s for s in self._people.values() if not _live(s.client)]:
            self._drop(sub)

    def _leave(self, sub: _Subscriber, name: str) -> None:
        sub.topics.discard(name)
        where = (sub.category, name)
        subs = self._subs.get(where)
        if subs is not None:
            subs.discard(sub)
            if not subs:  # the last one left: forget the topic's state
                del self._subs[where]
                self.feed.close(*where)

    # --- requests -----------------------------------------------------------------------

    def on_message(self, client: Client, category: str, message: str | bytes) -> None:
        """One message a client of the ``category`` channel sent (on the loop)."""
        self._bind()
        if client in self._gone:
            return
        sub = self._people.get(client)
        if sub is None:
            sub = self._people[client] = _Subscriber(client, category)
        try:
            request = json.loads(message)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            self._reply(sub, "", f"Failed to decode incoming data: {exc}", None)
            return
        if not isinstance(request, dict):
            self._reply(sub, "", "Failed to decode incoming data: not a JSON object", None)
            return
        op, req_id = request.get("op"), request.get("req_id")
        req = req_id if isinstance(req_id, str) else None
        if op == "ping":
            self._send(sub, json.dumps(pong(category, client.conn_id, req), separators=(",", ":")))
        elif op in ("subscribe", "unsubscribe"):
            args = request.get("args")
            refusal = self._subscription(sub, str(op), args)
            self._reply(sub, str(op), refusal, req)
            if not refusal and op == "subscribe" and isinstance(args, list):
                self._open(sub, args)
        else:
            self._reply(sub, op if isinstance(op, str) else "", "error:invalid op", req)

    def _reply(self, sub: _Subscriber, op: str, refusal: str, req_id: str | None) -> None:
        body = ack(sub.category, op, refusal, sub.client.conn_id, req_id)
        self._send(sub, json.dumps(body, separators=(",", ":")))

    def _subscription(self, sub: _Subscriber, op: str, args: object) -> str:
        """Apply a subscribe/unsubscribe; the refusal text, ``""`` when done."""
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            return "Params Error"
        if sub.category == "spot" and len(args) > SPOT_MAX_ARGS:
            return f"args size >{SPOT_MAX_ARGS}"
        symbols = self._symbols[sub.category]
        for name in args:
            if parse_topic(name, sub.category, symbols) is None:
                return f"error:handler not found,topic:{name}"
            if op == "subscribe" and (name in sub.topics or args.count(name) > 1):
                return f"error:already subscribed,topic:{name}"
        for name in args:
            if op == "subscribe":
                sub.topics.add(name)
                self._subs.setdefault((sub.category, name), set()).add(sub)
            else:
                self._leave(sub, name)
        return ""

    def _open(self, sub: _Subscriber, names: list[str]) -> None:
        """Open the topics; a new subscriber's first book and ticker messages."""
        symbols = self._symbols[sub.category]
        for name in names:
            topic = parse_topic(name, sub.category, symbols)
            if topic is not None and (body := self.feed.open(sub.category, topic)):
                self._send(sub, json.dumps(body, separators=(",", ":")))


def _live(client: Client) -> bool:
    return client.ws.state is State.OPEN
