"""``Sandbox``: the exchange on the network, a Bybit v5 account on 127.0.0.1: its private
stream, its WebSocket trade endpoint, and REST.

Two servers on free ports: a ``websockets`` asyncio server (``ws_url``) on a background
thread with its own event loop (``oms.sandbox.websocket_server``), and a
``ThreadingHTTPServer`` (``rest_url``, see ``oms.sandbox.rest``). The WebSocket server
picks what a connection is by its path (``SOCKETS``, optional
``?max_active_time=30s..600s|1m..10m`` on every path): ``/v5/private`` the private stream
(``oms.sandbox.private_socket``), ``/v5/trade`` order entry (``oms.sandbox.trade_socket``),
``/v5/public/<category>`` the public channels of the categories traded
(``oms.sandbox.public_socket``); any other path is refused at the handshake (404).
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

import math
import random
import threading
import time
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, Self

from oms.sandbox import private_socket, public_socket, trade_socket
from oms.sandbox.connection import Client, SocketKind, login_refusal
from oms.sandbox.drivers import MarketClock, Trader
from oms.sandbox.exchange import Exchange
from oms.sandbox.faults import Faults
from oms.sandbox.model import DEFAULT_CATEGORIES, DEFAULT_SYMBOLS, Push, SymbolSpec
from oms.sandbox.private_socket import PrivateSocket
from oms.sandbox.public_socket import ExchangeMarket, PublicStreams
from oms.sandbox.rest import RestApi, make_handler
from oms.sandbox.trade_socket import TradeSocket
from oms.sandbox.websocket_server import WebSocketServer
from oms.sim.market import FUNDING_INTERVAL_MS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

__all__ = ["DEFAULT_LATENCY_MS", "DEFAULT_TICK_MS", "Sandbox"]

#: Like any real network, the sandbox answers a few ms late by default: pybit sends a
#: subscribe before it records its req_id, so an ack within microseconds finds no
#: request to match and kills pybit's socket (about one connection in ten).
DEFAULT_LATENCY_MS: Final = 3.0


#: One market step every 250 ms: the tape, book and tickers move at a live pace and a
#: resting order fills within a fraction of a second of the price crossing it, while the
#: market costs about 1 % of one core (a step of the default symbols takes 2-4 ms on a
#: shared 2-core machine; every test starts a sandbox, so Bybit's 100 ms ticker cadence
#: would cost 2.5 times that in each).
DEFAULT_TICK_MS: Final = 250.0


def _seconds(name: str, ms: float) -> float:
    """``ms`` milliseconds in seconds, refused unless finite and 0 or more."""
    if not (math.isfinite(ms) and ms >= 0):
        raise ValueError(f"{name} must be finite and 0 or more, not {ms!r}")
    return ms / 1000


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
        #: seconds added before every WebSocket message and REST answer leaves the sandbox
        self.latency = _seconds("latency_ms", latency_ms)
        self.tick_s = _seconds("tick_ms", tick_ms)
        self.api_key = api_key
        self._secret = api_secret.encode()
        self.faults = faults if faults is not None else Faults()
        self._ids = random.Random(seed)  # noqa: S311 - ids, not secrets
        self._ws = WebSocketServer(
            self.faults, idle_timeout=idle_timeout, latency=self.latency, ids=self._ids
        )
        self.exchange = Exchange(
            seed=seed, symbols=symbols, categories=categories, sink=self._on_push,
            funding_interval_ms=funding_interval_ms,
        )  # fmt: skip
        self._rest = RestApi(
            self.exchange, self.faults, api_key, api_secret, rate_limits=rate_limits
        )
        self.limits = self._rest.limits
        self._rest.latency = self.latency
        self._init_sockets()
        self._init_runtime()

    def _init_sockets(self) -> None:
        """The socket kinds served, by path: the private stream, order entry, and the
        public channels of the categories traded."""
        # looked up at each login, so that a test may wrap the instance's check
        self._private = PrivateSocket(lambda args: self._auth_refusal(args))  # noqa: PLW0108
        self._trade = TradeSocket(
            self._rest.entry, self.faults, api_key=self.api_key, secret=self._secret,
            categories=self.exchange.categories, now=self._rest.server_ms, rng=self._ids,
        )  # fmt: skip
        #: path -> the kind of socket served there (the WebSocket server's own table)
        self.sockets: dict[str, SocketKind] = self._ws.sockets
        self.sockets[private_socket.PATH] = self._private
        self.sockets[trade_socket.PATH] = self._trade
        #: the public channels /v5/public/<category> of the categories traded
        self.public = PublicStreams(self.exchange.specs, ExchangeMarket(self.exchange))
        self.exchange.public_sink = self.public.sink
        self.sockets.update(self.public.channels())

    def _init_runtime(self) -> None:
        """The state of the running servers and threads (none yet)."""
        self._state = "new"
        self._guard = threading.Lock()
        #: the WebSocket connections open now (the server's own set)
        self._clients: set[Client] = self._ws.clients
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._trader = Trader(self.exchange)
        self._clock = MarketClock(self.exchange, self.tick_s)

    @property
    def idle_timeout(self) -> float:
        """Seconds a connection may send nothing before it is closed (unless its
        ``max_active_time`` says otherwise); read at each handshake."""
        return self._ws.idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, seconds: float) -> None:
        self._ws.idle_timeout = seconds

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
        if not self._ws.start():
            self.stop()
            raise RuntimeError("sandbox WebSocket server did not start") from self._ws.error
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
        self._ws.stop()
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
        if not self._ws.port:
            raise RuntimeError("sandbox not started")
        return f"ws://127.0.0.1:{self._ws.port}"

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
        self._ws.call_soon(self._ws.abort_all)

    # --- frames -------------------------------------------------------------------------

    def _on_push(self, push: Push) -> None:
        """Exchange sink (any thread, exchange lock held): deliver on the loop, in order."""
        self.call_on_loop(self._private.broadcast, push, self._clients)

    def call_on_loop(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback(*args)`` on the WebSocket loop, after what was scheduled before
        (from any thread; nothing when the sandbox is not running). A socket kind that
        pushes (the private stream, the public streams) delivers this way."""
        if self._state == "running":
            self._ws.call_soon(callback, *args)

    def clients_of(self, kind: SocketKind) -> list[Client]:
        """The connections served by ``kind`` now (on the loop)."""
        return [c for c in self._clients if c.ws.kind is kind]

    def _auth_refusal(self, args: object) -> str | None:
        """Why a private-stream login is refused, in its words, or None."""
        reason = login_refusal(args, self.api_key, self._secret, self.faults)
        if reason is None:
            return None
        return "Params Error" if reason == "params" else "Request not authorized"
