"""``Sandbox``: the exchange on the network, a Bybit v5 account on 127.0.0.1: its private
stream, its WebSocket trade endpoint, and REST.

Two servers on free ports: a ``websockets`` asyncio server (``ws_url``) on a background
thread with its own event loop, and a ``ThreadingHTTPServer`` (``rest_url``, see
``oms.sandbox.rest``). The WebSocket server picks what a connection is by its path
(``SOCKETS``, optional ``?max_active_time=30s..600s|1m..10m`` on every path):
``/v5/private`` the private stream (``oms.sandbox.private_socket``), ``/v5/trade`` order
entry (``oms.sandbox.trade_socket``), ``/v5/public/<category>`` the public channels of the
categories traded (``oms.sandbox.public_socket``); any other path is refused at the
handshake (404).
A connection that sends nothing for its idle limit (600 s, ``max_active_time``, or the
``idle_timeout`` argument) is closed. ``Faults`` are applied live. Every WebSocket
message and REST answer leaves ``latency_ms`` late (3 ms by default, in order), as over
any real network.

The market moves on its own clock: a thread runs ``Exchange.tick()`` every ``tick_ms``
(``DEFAULT_TICK_MS``; 0: no clock, the market moves on ``tick()`` only) from ``start()``
to ``stop()``, whether or not background trading runs (``start_trading``); order entry
is served whether or not either runs. Funding is paid every ``funding_interval_ms``
(Bybit's 8 h unless told) on each open position. Rate limits of order entry
(``oms.sandbox.limits``) are Bybit's unless ``rate_limits`` overrides them; REST and the
trade socket share them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import re
import string
import threading
import time
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from oms.sandbox import private_socket, public_socket, trade_socket
from oms.sandbox.connection import Client, Connection, SocketKind, login_refusal, write
from oms.sandbox.drivers import MarketClock, Trader
from oms.sandbox.exchange import Exchange
from oms.sandbox.faults import Faults
from oms.sandbox.model import DEFAULT_CATEGORIES, DEFAULT_SYMBOLS, Push, SymbolSpec
from oms.sandbox.private_socket import PrivateSocket
from oms.sandbox.public_socket import ExchangeMarket, PublicStreams
from oms.sandbox.rest import RestApi, make_handler
from oms.sandbox.trade_socket import TradeSocket
from oms.sim.market import FUNDING_INTERVAL_MS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

    from websockets.http11 import Request, Response

__all__ = ["DEFAULT_LATENCY_MS", "DEFAULT_TICK_MS", "Sandbox"]

_ACTIVE_TIME: Final = re.compile(r"(\d+)([sm]?)")
_MONITOR_S: Final = 0.05
#: Like any real network, the sandbox answers a few ms late by default: pybit sends a
#: subscribe before it records its req_id, so an ack within microseconds finds no
#: request to match and kills pybit's socket (about one connection in ten).
DEFAULT_LATENCY_MS: Final = 3.0


class _NoFrames(logging.Filter):
    """Drops websockets' DEBUG record of each frame: a client's login frame carries its
    signature, and the excerpt websockets logs shows the signature's tail."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in ("< %s", "> %s")


#: the WebSocket server's logger (websockets' own name, so its handlers apply), frames off
_WS_LOG: Final = logging.getLogger("websockets.server.sandbox")
_WS_LOG.addFilter(_NoFrames())

#: One market step every 250 ms: the tape, book and tickers move at a live pace and a
#: resting order fills within a fraction of a second of the price crossing it, while the
#: market costs about 1 % of one core (a step of the default symbols takes 2-4 ms on a
#: shared 2-core machine; every test starts a sandbox, so Bybit's 100 ms ticker cadence
#: would cost 2.5 times that in each).
DEFAULT_TICK_MS: Final = 250.0


class Sandbox:
    """An embedded Bybit-v5-compatible exchange (see the module docstring)."""

    def __init__(  # noqa: PLR0913 - keyword-only settings, each with a safe default
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
        tick_ms: float = DEFAULT_TICK_MS,
        rate_limits: Mapping[str | tuple[str, str], int] | None = None,
        funding_interval_ms: int = FUNDING_INTERVAL_MS,
    ) -> None:
        if not (math.isfinite(latency_ms) and latency_ms >= 0):
            raise ValueError(f"latency_ms must be finite and 0 or more, not {latency_ms!r}")
        if not (math.isfinite(tick_ms) and tick_ms >= 0):
            raise ValueError(f"tick_ms must be finite and 0 or more, not {tick_ms!r}")
        self.api_key = api_key
        self._secret = api_secret.encode()
        self.faults = faults if faults is not None else Faults()
        self.idle_timeout = idle_timeout
        #: seconds added before every WebSocket message and REST answer leaves the sandbox
        self.latency = latency_ms / 1000
        self.tick_s = tick_ms / 1000
        self.exchange = Exchange(
            seed=seed, symbols=symbols, categories=categories, sink=self._on_push,
            funding_interval_ms=funding_interval_ms,
        )  # fmt: skip
        self._ids = random.Random(seed)  # noqa: S311 - ids, not secrets
        self._rest = RestApi(
            self.exchange, self.faults, api_key, api_secret, rate_limits=rate_limits
        )
        self.limits = self._rest.limits
        self._rest.latency = self.latency
        # looked up at each login, so that a test may wrap the instance's check
        self._private = PrivateSocket(lambda args: self._auth_refusal(args))  # noqa: PLW0108
        self._trade = TradeSocket(
            self._rest.entry, self.faults, api_key=api_key, secret=self._secret,
            categories=self.exchange.categories, now=self._rest.server_ms, rng=self._ids,
        )  # fmt: skip
        #: path -> the kind of socket served there
        self.sockets: dict[str, SocketKind] = {
            private_socket.PATH: self._private,
            trade_socket.PATH: self._trade,
        }
        #: the public channels /v5/public/<category> of the categories traded
        self.public = PublicStreams(self.exchange.specs, ExchangeMarket(self.exchange))
        self.exchange.public_sink = self.public.sink
        self.sockets.update(self.public.channels())
        self._init_runtime()

    def _init_runtime(self) -> None:
        """The state of the running servers and threads (none yet)."""
        self._state = "new"
        self._guard = threading.Lock()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._clients: set[Client] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._ws_port = 0
        self._trader = Trader(self.exchange)
        self._clock = MarketClock(self.exchange, self.tick_s)

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Bind both servers on 127.0.0.1 (free ports), serve in background threads, and
        start the market clock."""
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
        if self.tick_s > 0:
            self._clock.start()

    def stop(self) -> None:
        """Stop trading and the market clock, close every connection and both servers,
        join the threads. Idempotent."""
        with self._guard:
            if self._state != "running":
                self._state = "stopped"
                return
            self._state = "stopped"
        self.stop_trading()
        self._clock.stop()
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
        return self.ws_base + private_socket.PATH

    @property
    def trade_url(self) -> str:
        """``ws://127.0.0.1:PORT/v5/trade``, the WebSocket trade endpoint."""
        return self.ws_base + trade_socket.PATH

    def public_url(self, category: str = "linear") -> str:
        """``ws://127.0.0.1:PORT/v5/public/<category>``, a public channel."""
        return self.ws_base + public_socket.path(category)

    @property
    def ws_base(self) -> str:
        """``ws://127.0.0.1:PORT``: every WebSocket path is served there."""
        if not self._ws_port:
            raise RuntimeError("sandbox not started")
        return f"ws://127.0.0.1:{self._ws_port}"

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

    def tick(self, n: int = 1) -> None:
        """Run ``n`` market steps now, on the calling thread (with ``tick_ms=0`` the
        only ones: the market then moves when told)."""
        for _ in range(n):
            self.exchange.tick()

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
        self._trader.start(rate_per_s)

    def stop_trading(self) -> None:
        """Stop the background trading (if running) and wait for its last action."""
        self._trader.stop()

    # --- state --------------------------------------------------------------------------

    @property
    def failure(self) -> BaseException | None:
        """What stopped the market clock or the background trading by itself (a
        simulator bug, logged with its traceback), if anything did."""
        return self._clock.error or self._trader.error

    def truth(self) -> dict[str, Any]:
        """The exchange's exact current state (see ``Exchange.truth``)."""
        return self.exchange.truth()

    def stats(self) -> dict[str, int]:
        """Frames pushed (``frames`` and ``frames_<topic>``), background actions
        (``steps``), market steps (``ticks``), accepted order-entry ops (``entry_ops``),
        and connections (every path; ``authenticated``: those logged in)."""
        keys = (
            "frames", "steps", "ticks", "entry_ops", "frames_order", "frames_execution",
            "frames_position",
        )  # fmt: skip
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
            create_connection=Connection,
            ping_interval=None,
            close_timeout=1,
            compression=None,
            logger=_WS_LOG,
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
            client.cut()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """The handshake: the path picks the socket kind (``sockets``); any other is 404."""
        url = urlsplit(request.path)
        kind = self.sockets.get(url.path)
        if kind is None:
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
        if isinstance(connection, Connection):
            connection.idle_limit = limit
            connection.kind = kind
        return None

    def _conn_id(self) -> str:
        chars = string.ascii_lowercase + string.digits
        head = "".join(self._ids.choices(chars, k=20))
        return f"{head}-{''.join(self._ids.choices(chars, k=self._ids.randint(1, 5)))}"

    async def _handle(self, ws: ServerConnection) -> None:
        if not isinstance(ws, Connection) or ws.kind is None:  # pragma: no cover
            return
        kind = ws.kind
        ws.last_rx = time.monotonic()
        client = Client(ws, self._conn_id(), self.latency)
        self._clients.add(client)
        if self.faults.is_silent():
            ws.transport.pause_reading()
            client.paused = True
        writer = asyncio.create_task(write(client, self.faults))
        try:
            async for message in ws:
                kind.on_message(client, message)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

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
        self.call_on_loop(self._private.broadcast, push, self._clients)

    def call_on_loop(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback(*args)`` on the WebSocket loop, after what was scheduled before
        (from any thread; nothing when the sandbox is not running). A socket kind that
        pushes (the private stream, the public streams) delivers this way."""
        loop = self._loop
        if loop is not None and self._state == "running":
            with contextlib.suppress(RuntimeError):  # loop closed while stopping
                loop.call_soon_threadsafe(callback, *args)

    def clients_of(self, kind: SocketKind) -> list[Client]:
        """The connections served by ``kind`` now (on the loop)."""
        return [c for c in self._clients if c.ws.kind is kind]

    def _auth_refusal(self, args: object) -> str | None:
        """Why a private-stream login is refused, in its words, or None."""
        reason = login_refusal(args, self.api_key, self._secret, self.faults)
        if reason is None:
            return None
        return "Params Error" if reason == "params" else "Request not authorized"
