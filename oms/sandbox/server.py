"""``Sandbox``: the exchange on the network, a Bybit v5 private stream plus REST on 127.0.0.1.

Two servers on free ports: a ``websockets`` asyncio server (``ws_url``, path
``/v5/private``, optional ``?max_active_time=30s..600s|1m..10m``) on a background thread
with its own event loop, and a ``ThreadingHTTPServer`` (``rest_url``, see
``oms.sandbox.rest``). Frames the exchange pushes go to every authenticated connection
subscribed to the topic, in emission order; nothing is replayed to a connection that was
not there (resync over REST). Control messages follow the wire spec: auth (HMAC of
``"GET/realtime" + expires``; "Params Error" when expired, "Request not authorized" for a
bad key or signature), subscribe/unsubscribe acks ("error:handler not found" for unknown
topics), ``ping`` -> ``pong``. A connection that sends nothing for its idle limit (600 s,
``max_active_time``, or the ``idle_timeout`` argument) is closed. ``Faults`` are applied
live. Every WebSocket message and REST answer leaves ``latency_ms`` late (3 ms by default,
in order), as over any real network.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import random
import re
import string
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from oms.sandbox.exchange import Exchange, wall_ms
from oms.sandbox.faults import Faults
from oms.sandbox.model import DEFAULT_CATEGORIES, DEFAULT_SYMBOLS, Push, SymbolSpec
from oms.sandbox.rest import RestApi, make_handler

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from websockets.http11 import Request, Response
    from websockets.protocol import Event

_PATH: Final = "/v5/private"
_CATS: Final = ("spot", "linear", "inverse", "option")
#: all-in-one topic -> its categorised variants
_CATEGORISED: Final = {
    "order": frozenset(f"order.{c}" for c in _CATS),
    "execution": frozenset(f"execution.{c}" for c in _CATS),
    "execution.fast": frozenset(f"execution.fast.{c}" for c in _CATS),
    "position": frozenset(f"position.{c}" for c in ("linear", "inverse", "option")),
}
#: every private topic a subscription may name (data flows on the categories traded)
TOPICS: Final = frozenset(
    {"wallet", "greeks", "dcp.future", "dcp.spot", "dcp.option", *_CATEGORISED}
).union(*_CATEGORISED.values())
_ACTIVE_TIME: Final = re.compile(r"(\d+)([sm]?)")
_MONITOR_S: Final = 0.05
#: Like any real network, the sandbox answers a few ms late by default: pybit sends a
#: subscribe before it records its req_id, so an ack within microseconds finds no
#: request to match and kills pybit's socket (about one connection in ten).
DEFAULT_LATENCY_MS: Final = 3.0


class _Connection(ServerConnection):
    """A server connection that notes when the client last sent anything (pings too)."""

    last_rx: float = 0.0
    idle_limit: float = 600.0

    def process_event(self, event: Event) -> None:
        self.last_rx = time.monotonic()
        super().process_event(event)


@dataclass(eq=False)
class _Client:
    ws: _Connection
    conn_id: str
    #: (text, is_data, loop time at which it may be sent), or None to stop the writer
    queue: asyncio.Queue[tuple[str, bool, float] | None] = field(default_factory=asyncio.Queue)
    authed: bool = False
    topics: set[str] = field(default_factory=set)
    data_sent: int = 0
    #: the drop_after_frames setting last seen, and data_sent when it was first seen
    drop_n: int = -1
    drop_base: int = 0
    paused: bool = False
    closing: bool = False


class Sandbox:
    """An embedded Bybit-v5-compatible exchange (see the module docstring)."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        seed: int = 1,
        symbols: Sequence[str | SymbolSpec] = DEFAULT_SYMBOLS,
        categories: Sequence[str] = DEFAULT_CATEGORIES,
        faults: Faults | None = None,
        idle_timeout: float = 600.0,
        latency_ms: float = DEFAULT_LATENCY_MS,
    ) -> None:
        if not (math.isfinite(latency_ms) and latency_ms >= 0):
            raise ValueError(f"latency_ms must be finite and 0 or more, not {latency_ms!r}")
        self.api_key = api_key
        self._secret = api_secret.encode()
        self.faults = faults if faults is not None else Faults()
        self.idle_timeout = idle_timeout
        #: seconds added before every WebSocket message and REST answer leaves the sandbox
        self.latency = latency_ms / 1000
        self.exchange = Exchange(
            seed=seed, symbols=symbols, categories=categories, sink=self._on_push
        )
        self._rest = RestApi(self.exchange, self.faults, api_key, api_secret)
        self._rest.latency = self.latency
        self._ids = random.Random(seed)  # noqa: S311 - ids, not secrets
        self._state = "new"
        self._guard = threading.Lock()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._clients: set[_Client] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._ws_port = 0
        self._trader: threading.Thread | None = None
        self._trader_stop = threading.Event()

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Bind both servers on 127.0.0.1 (free ports) and serve in background threads."""
        with self._guard:
            if self._state != "new":
                raise RuntimeError(f"sandbox already {self._state}")
            self._state = "running"
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self._rest))
        self._http.daemon_threads = True
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._http_thread.start()
        self._thread = threading.Thread(target=self._run_loop, name="sandbox-ws", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            self.stop()
            raise RuntimeError("sandbox WebSocket server did not start") from self._error

    def stop(self) -> None:
        """Stop trading, close every connection and both servers, join the threads.
        Idempotent."""
        with self._guard:
            if self._state != "running":
                self._state = "stopped"
                return
            self._state = "stopped"
        self.stop_trading()
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(10)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._http_thread is not None:
            self._http_thread.join(10)

    def __enter__(self) -> Self:
        if self._state == "new":
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT/v5/private`` (after ``start()``)."""
        if not self._ws_port:
            raise RuntimeError("sandbox not started")
        return f"ws://127.0.0.1:{self._ws_port}{_PATH}"

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:PORT`` (after ``start()``)."""
        if self._http is None:
            raise RuntimeError("sandbox not started")
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    # --- trading ------------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Run ``n`` random account actions now, on the calling thread."""
        self.exchange.step(n)

    def run_for(self, seconds: float, rate_per_s: float = 20.0) -> int:
        """Trade for ``seconds`` at about ``rate_per_s`` actions a second, on the calling
        thread; return the number of actions."""
        done = 0
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate_per_s) + 1
            if done < due:
                self.exchange.step(due - done)
                done = due
            time.sleep(min(1 / rate_per_s, max(0.0, seconds - elapsed)))
        return done

    def start_trading(self, rate_per_s: float = 10.0) -> None:
        """Trade in a background thread at about ``rate_per_s`` actions a second."""
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.stop_trading()
        self._trader_stop = threading.Event()
        stop = self._trader_stop

        def trade() -> None:
            start, done = time.monotonic(), 0
            while not stop.is_set():
                due = int((time.monotonic() - start) * rate_per_s) + 1
                if done < due:
                    self.exchange.step(min(due - done, max(1, int(rate_per_s))))
                    done = due
                stop.wait(1 / rate_per_s)

        self._trader = threading.Thread(target=trade, name="sandbox-trader", daemon=True)
        self._trader.start()

    def stop_trading(self) -> None:
        """Stop the background trading (if running) and wait for its last action."""
        self._trader_stop.set()
        if self._trader is not None:
            self._trader.join(10)
            self._trader = None

    # --- state --------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """The exchange's exact current state (see ``Exchange.truth``)."""
        return self.exchange.truth()

    def stats(self) -> dict[str, int]:
        """Frames pushed (``frames`` and ``frames_<topic>``), actions, and connections."""
        keys = ("frames", "steps", "frames_order", "frames_execution", "frames_position")
        with self.exchange.lock:
            counts = dict.fromkeys((*keys, "frames_wallet"), 0) | dict(self.exchange.stats)
        clients = list(self._clients)
        counts["connections"] = len(clients)
        counts["authenticated"] = sum(c.authed for c in clients)
        return counts

    def drop_connections(self) -> None:
        """Cut every WebSocket connection now (TCP abort, no close frame)."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._abort_all)

    # --- the event loop -----------------------------------------------------------------

    def _run_loop(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        async with serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            create_connection=_Connection,
            ping_interval=None,
            close_timeout=1,
            compression=None,
        ) as server:
            self._ws_port = next(iter(server.sockets)).getsockname()[1]
            monitor = asyncio.create_task(self._monitor())
            self._ready.set()
            await self._stopping.wait()
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            self._abort_all()
            server.close(close_connections=False)
            await server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _abort_all(self) -> None:
        for client in list(self._clients):
            client.ws.transport.abort()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path != _PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"no stream at {url.path}\n")
        limit = self.idle_timeout
        active = parse_qs(url.query).get("max_active_time")
        if active:
            match = _ACTIVE_TIME.fullmatch(active[0])
            if match is None:
                return connection.respond(
                    HTTPStatus.BAD_REQUEST, "max_active_time must look like 30s..600s or 1m\n"
                )
            seconds = int(match.group(1)) * (60 if match.group(2) == "m" else 1)
            limit = float(min(600, max(30, seconds)))
        if isinstance(connection, _Connection):
            connection.idle_limit = limit
        return None

    def _conn_id(self) -> str:
        chars = string.ascii_lowercase + string.digits
        head = "".join(self._ids.choices(chars, k=20))
        return f"{head}-{''.join(self._ids.choices(chars, k=self._ids.randint(1, 5)))}"

    async def _handle(self, ws: ServerConnection) -> None:
        if not isinstance(ws, _Connection):  # pragma: no cover - create_connection sets it
            return
        ws.last_rx = time.monotonic()
        client = _Client(ws, self._conn_id())
        self._clients.add(client)
        if self.faults.is_silent():
            ws.transport.pause_reading()
            client.paused = True
        writer = asyncio.create_task(self._writer(client))
        try:
            async for message in ws:
                self._on_message(client, message)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _writer(self, client: _Client) -> None:
        ws = client.ws
        loop = asyncio.get_running_loop()
        while (item := await client.queue.get()) is not None:
            text, is_data, due = item
            if (wait := due - loop.time()) > 0:  # FIFO with one delay keeps the order
                await asyncio.sleep(wait)
            if self.faults.is_silent():
                continue  # lost, as on a dead link
            try:
                await ws.send(text)
                if not is_data:
                    continue
                client.data_sent += 1
                if self.faults.corrupt_after(client.data_sent):
                    await ws.send(self.faults.corrupt(text))
                if self.faults.poison_after(client.data_sent):
                    await ws.send(self.faults.poison(text))
                if self.faults.drop_after_frames != client.drop_n:  # (re)armed: count anew
                    client.drop_n = self.faults.drop_after_frames
                    client.drop_base = client.data_sent - 1
                if self.faults.take_drop(client.data_sent - client.drop_base):
                    ws.transport.abort()
                    return
            except ConnectionClosed:
                return

    async def _monitor(self) -> None:
        """Apply silence (pause/resume reading) and close idle connections."""
        while True:
            silent = self.faults.is_silent()
            now = time.monotonic()
            for client in list(self._clients):
                ws = client.ws
                if silent and not client.paused:
                    ws.transport.pause_reading()
                    client.paused = True
                elif not silent and client.paused:
                    ws.transport.resume_reading()
                    client.paused = False
                    ws.last_rx = now  # its messages were held up by us, not missing
                if not silent and not client.closing and now - ws.last_rx > ws.idle_limit:
                    client.closing = True
                    task = asyncio.create_task(ws.close(1000, "idle timeout"))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            await asyncio.sleep(_MONITOR_S)

    # --- frames -------------------------------------------------------------------------

    def _on_push(self, push: Push) -> None:
        """Exchange sink (any thread, exchange lock held): deliver on the loop, in order."""
        loop = self._loop
        if loop is not None and self._state == "running":
            with contextlib.suppress(RuntimeError):  # loop closed while stopping
                loop.call_soon_threadsafe(self._broadcast, push)

    def _due(self) -> float:
        """The loop time at which a message queued now may be sent (on the loop)."""
        return asyncio.get_running_loop().time() + self.latency

    def _broadcast(self, push: Push) -> None:
        names = push.names()
        due = self._due()
        for client in self._clients:
            if not client.authed:
                continue
            for name in names:
                if name in client.topics and (text := push.render(name)) is not None:
                    client.queue.put_nowait((text, True, due))

    # --- control messages ---------------------------------------------------------------

    def _reply(self, client: _Client, request: dict[str, Any], body: dict[str, Any]) -> None:
        reply = {"req_id": request["req_id"]} if "req_id" in request else {}
        reply.update(body)
        reply["conn_id"] = client.conn_id
        text = json.dumps(reply, separators=(",", ":"))
        client.queue.put_nowait((text, False, self._due()))

    def _on_message(self, client: _Client, message: str | bytes) -> None:
        try:
            request = json.loads(message)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            self._reply(client, {}, {"success": False, "ret_msg": "Params Error", "op": ""})
            return
        op = request.get("op")
        if op == "ping":
            self._reply(client, request, {"op": "pong", "args": [str(wall_ms())]})
        elif op == "auth":
            self._auth(client, request)
        elif op in ("subscribe", "unsubscribe"):
            self._subscribe(client, request, str(op))
        else:
            body = {"success": False, "ret_msg": f"error:invalid op {op!r}", "op": op}
            self._reply(client, request, body)

    def _auth(self, client: _Client, request: dict[str, Any]) -> None:
        reason = self._auth_refusal(request.get("args"))
        if reason is None:
            client.authed = True
        body = {"success": reason is None, "ret_msg": reason or "", "op": "auth"}
        self._reply(client, request, body)

    def _auth_refusal(self, args: object) -> str | None:
        if not isinstance(args, list) or len(args) != 3:
            return "Params Error"
        key, expires, signature = args
        if isinstance(expires, int) and not isinstance(expires, bool):
            expires_text = str(expires)
        elif isinstance(expires, str) and expires.isdigit():
            expires_text = expires
        else:
            return "Params Error"
        if self.faults.take_auth_refusal():
            return "Request not authorized"
        if int(expires_text) <= wall_ms():
            return "Params Error"
        origin = f"GET/realtime{expires_text}".encode()
        expected = hmac.new(self._secret, origin, hashlib.sha256).hexdigest()
        if (
            not isinstance(key, str)
            or not isinstance(signature, str)
            or not hmac.compare_digest(key.encode(), self.api_key.encode())
            or not hmac.compare_digest(signature.encode(), expected.encode())
        ):
            return "Request not authorized"
        return None

    def _subscribe(self, client: _Client, request: dict[str, Any], op: str) -> None:
        topics = request.get("args")
        reason = ""
        if not client.authed:
            reason = "Request not authorized"
        elif (
            not isinstance(topics, list)
            or not topics
            or not all(isinstance(t, str) for t in topics)
        ):
            reason = "Params Error"
        elif any(t not in TOPICS for t in topics):
            reason = "error:handler not found"
        elif any(base in topics and cats & set(topics) for base, cats in _CATEGORISED.items()):
            reason = "error:all-in-one and categorised topics cannot be in one request"
        elif op == "subscribe":
            client.topics.update(topics)
        else:
            client.topics.difference_update(topics)
        self._reply(client, request, {"success": not reason, "ret_msg": reason, "op": op})
