"""A real market (``oms.sim.market.Markets`` over a sandbox ``Exchange``'s venue) served
by a real ``PublicStreams`` on 127.0.0.1, stepped by the test (``tick``), and a small
client for the public channels: every wait has a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Self

import websocket
from websockets.asyncio.server import serve

from oms.sandbox.exchange import Exchange
from oms.sandbox.public_socket import PublicStreams
from oms.sim.market import Markets
from tests.sandbox.client import OPENED, TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request, Response

    from oms.sim.market import Book, Ticker

CATEGORIES = ("linear", "inverse", "spot")


class _Source:
    """The market now, read under the exchange's lock."""

    def __init__(self, harness: PublicHarness) -> None:
        self.harness = harness

    def book(self, key: str) -> Book:
        with self.harness.exchange.lock:
            return self.harness.markets.book(key)

    def ticker(self, key: str) -> Ticker:
        with self.harness.exchange.lock:
            return self.harness.markets.ticker(key)


class PublicHarness:
    """Markets + PublicStreams on a background event loop; ``tick`` steps the market on
    the calling thread and publishes its events, as the sandbox's market clock does."""

    def __init__(
        self,
        *,
        seed: int = 5,
        categories: Sequence[str] = CATEGORIES,
        queue_limit: int = 10_000,
        latency: float = 0.003,
        quiet_s: float = 3.0,
    ) -> None:
        self.exchange = Exchange(seed=seed, categories=categories)
        self.markets = Markets(self.exchange.venue, self.exchange.rng)
        self.streams = PublicStreams(
            self.exchange.specs, _Source(self), latency=latency, queue_limit=queue_limit,
            quiet_s=quiet_s,
        )  # fmt: skip
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self.port = 0

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._ready.wait(TIMEOUT), "the public server did not start"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT)

    def url(self, category: str = "linear") -> str:
        return f"ws://127.0.0.1:{self.port}/v5/public/{category}"

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            with self.exchange.lock:
                self.markets.tick()
                self.streams.publish(self.markets.take_public())

    def book(self, key: str) -> Book:
        with self.exchange.lock:
            return self.markets.book(key)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(
            self._handle, "127.0.0.1", 0, process_request=self._process_request, compression=None
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            runner = asyncio.create_task(self.streams.run())
            await asyncio.sleep(0)  # let run() bind the loop before anyone publishes
            self._ready.set()
            await self._stop.wait()
            for connection in server.connections:  # cut, as the sandbox does on stop
                connection.transport.abort()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        category = request.path.removeprefix("/v5/public/")
        if request.path.startswith("/v5/public/") and self.streams.serves(category):
            return None
        return connection.respond(HTTPStatus.NOT_FOUND, "no stream\n")

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        await self.streams.serve(ws, ws.request.path.removeprefix("/v5/public/"))


# --- a client ---------------------------------------------------------------------------------


def public(url: str) -> websocket.WebSocket:
    ws = websocket.create_connection(url, timeout=TIMEOUT)
    OPENED.append(ws)
    return ws


def send(ws: websocket.WebSocket, body: dict[str, Any]) -> None:
    ws.send(json.dumps(body))


def recv(ws: websocket.WebSocket) -> dict[str, Any]:
    message = json.loads(ws.recv())
    assert isinstance(message, dict)
    return message


def subscribe(
    ws: websocket.WebSocket, topics: list[str], req_id: str = "s"
) -> list[dict[str, Any]]:
    """Subscribe; the ack (checked) then the snapshot of each book and ticker topic."""
    send(ws, {"op": "subscribe", "req_id": req_id, "args": topics})
    answer = recv(ws)
    assert answer["success"] is True, answer
    wanted = sum(t.startswith(("orderbook.", "tickers.")) for t in topics)
    return [recv(ws) for _ in range(wanted)]


def until(ws: websocket.WebSocket, marker: str) -> list[dict[str, Any]]:
    """Every message before the pong answering a ping with req_id ``marker`` (the ping
    is sent now; what the server queued before it arrives first)."""
    send(ws, {"op": "ping", "req_id": marker})
    deadline = time.monotonic() + TIMEOUT
    got: list[dict[str, Any]] = []
    while True:
        assert time.monotonic() < deadline, "no pong before the deadline"
        message = recv(ws)
        if message.get("op") == "ping" and message.get("req_id") == marker:
            return got
        got.append(message)
