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
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from websockets.exceptions import ConnectionClosed

from oms.sandbox.public_feed import MarketSource, PublicFeed
from oms.sandbox.public_topics import RESEND_S
from oms.sandbox.public_wire import SPOT_MAX_ARGS, ack, parse_topic, pong

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from websockets.asyncio.server import ServerConnection

    from oms.sandbox.public_feed import Message
    from oms.sim.specs import SymbolSpec

__all__ = ["MarketSource", "PublicStreams"]

log = logging.getLogger(__name__)
#: messages a connection may have waiting before it is cut
QUEUE_LIMIT: Final = 10_000
_MONITOR_S: Final = 0.25


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
        self.feed = PublicFeed(specs, source, quiet_s=quiet_s)
        self.latency, self.queue_limit = latency, queue_limit
        self.categories = tuple(dict.fromkeys(s.category for s in specs))
        self._symbols = {c: {s.symbol for s in specs if s.category == c} for c in self.categories}
        self._ids = random.Random(seed)  # noqa: S311 - connection ids, not secrets
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: set[_Client] = set()
        #: subscribers by (category, topic name)
        self._subs: dict[tuple[str, str], set[_Client]] = {}
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
                self._broadcast(self.feed.quiet_books())
        finally:
            self._loop = None

    def publish(self, events: Iterable[tuple[str, str, object]]) -> None:
        """Hand the market's public events to the loop (any thread; never blocks)."""
        loop, batch = self._loop, list(events)
        if loop is None or not batch:
            return  # not serving: nobody to tell
        number = self.feed.number()
        with contextlib.suppress(RuntimeError):  # the loop closed while stopping
            loop.call_soon_threadsafe(self._dispatch, number, batch)

    def sink(self, event: tuple[str, str, object]) -> None:
        """``Exchange.public_sink``: one event (see ``publish``)."""
        self.publish((event,))

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
                del self._subs[where]
                self.feed.close(*where)

    def _snapshots(self, client: _Client, names: list[str]) -> None:
        """Open the topics; a new subscriber's first book and ticker messages."""
        symbols = self._symbols[client.category]
        for name in names:
            topic = parse_topic(name, client.category, symbols)
            if topic is not None and (body := self.feed.open(client.category, topic)):
                self._reply(client, body)

    # --- market events ------------------------------------------------------------------

    def _dispatch(self, number: int, events: list[tuple[str, str, object]]) -> None:
        """Batch ``number`` of the market's events to the subscribers (on the loop)."""
        self._broadcast(self.feed.apply(number, events))

    def _broadcast(self, messages: list[Message]) -> None:
        for category, name, body in messages:
            subs = self._subs.get((category, name))
            if subs:
                text = json.dumps(body, separators=(",", ":"))
                for client in list(subs):
                    self._send(client, text)
