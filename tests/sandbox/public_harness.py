"""A real ``Sandbox`` whose market moves only when the test says (``tick_ms=0``), for the
public channels, and a small client for them: every wait has a deadline."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Self

import websocket

from oms.sandbox import Sandbox
from tests.sandbox.client import KEY, OPENED, SECRET, TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from oms.sandbox.exchange import Exchange
    from oms.sandbox.public_socket import PublicStreams
    from oms.sim.market import Book, Markets

CATEGORIES = ("linear", "inverse", "spot")


class PublicHarness:
    """A started sandbox trading ``categories``; ``tick`` steps its market on the calling
    thread (its events reach the public channels as the market clock's would)."""

    def __init__(
        self,
        *,
        seed: int = 5,
        categories: Sequence[str] = CATEGORIES,
        queue_limit: int | None = None,
        latency_ms: float = 3.0,
        quiet_s: float | None = None,
    ) -> None:
        self.sandbox = Sandbox(
            KEY, SECRET, seed=seed, categories=categories, latency_ms=latency_ms, tick_ms=0
        )
        if queue_limit is not None:
            self.streams.queue_limit = queue_limit
        if quiet_s is not None:
            self.streams.feed.quiet_s = quiet_s

    def __enter__(self) -> Self:
        self.sandbox.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.sandbox.stop()

    @property
    def exchange(self) -> Exchange:
        return self.sandbox.exchange

    @property
    def markets(self) -> Markets:
        return self.sandbox.exchange.markets

    @property
    def streams(self) -> PublicStreams:
        return self.sandbox.public

    @property
    def port(self) -> int:
        return int(self.sandbox.ws_base.rpartition(":")[2])

    def url(self, category: str = "linear") -> str:
        return self.sandbox.public_url(category)

    def tick(self, n: int = 1) -> None:
        self.sandbox.tick(n)

    def book(self, key: str) -> Book:
        with self.exchange.lock:
            return self.markets.book(key)


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
