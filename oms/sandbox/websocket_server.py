"""``WebSocketServer``: the sandbox's ``websockets`` asyncio server on 127.0.0.1, on a
background thread with its own event loop (``oms.sandbox.server.Sandbox`` runs it).

The handshake picks what a connection is by its path (``sockets``, optional
``?max_active_time=30s..600s|1m..10m`` on every path); any other path is refused (404).
Each connection gets a connection id drawn from the sandbox's id generator and a writer
that sends its messages ``latency`` late, in order. A monitor applies the silence fault
(pausing and resuming reading) and closes a connection that sent nothing for its idle
limit (``idle_timeout``, or its ``max_active_time``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import string
import threading
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from oms.sandbox.connection import Client, Connection, SocketKind, write

if TYPE_CHECKING:
    import random
    from collections.abc import Callable

    from websockets.http11 import Request, Response

    from oms.sandbox.faults import Faults

__all__ = ["WebSocketServer"]

_ACTIVE_TIME: Final = re.compile(r"(\d+)([sm]?)")
_MONITOR_S: Final = 0.05


class _NoFrames(logging.Filter):
    """Drops websockets' DEBUG record of each frame: a client's login frame carries its
    signature, and the excerpt websockets logs shows the signature's tail."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in ("< %s", "> %s")


#: the WebSocket server's logger (websockets' own name, so its handlers apply), frames off
_WS_LOG: Final = logging.getLogger("websockets.server.sandbox")
_WS_LOG.addFilter(_NoFrames())


class WebSocketServer:
    """Serves ``sockets`` (path -> socket kind, filled by the owner before ``start()``)."""

    def __init__(
        self, faults: Faults, *, idle_timeout: float, latency: float, ids: random.Random
    ) -> None:
        #: path -> the kind of socket served there
        self.sockets: dict[str, SocketKind] = {}
        self.faults = faults
        self.idle_timeout = idle_timeout
        self.latency = latency
        self._ids = ids
        #: the connections open now (read and changed on the loop)
        self.clients: set[Client] = set()
        #: the event loop while it runs; the bound port once started
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> bool:
        """Start the loop's thread and wait until it serves: False if it failed or did not
        start within ``timeout`` seconds (``error`` says why, if it knows)."""
        self._thread = threading.Thread(target=self._run_loop, name="sandbox-ws", daemon=True)
        self._thread.start()
        return self._ready.wait(timeout) and self.error is None

    def stop(self) -> None:
        """Cut every connection, close the server, end the loop and join its thread."""
        loop, stopping = self.loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def call_soon(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback(*args)`` on the loop after what was scheduled before (from any
        thread; nothing when the loop is not running)."""
        loop = self.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed while stopping
                loop.call_soon_threadsafe(callback, *args)

    def abort_all(self) -> None:
        """Cut every connection now (TCP abort, no close frame); on the loop."""
        for client in list(self.clients):
            client.cut()

    # --- the event loop -----------------------------------------------------------------

    def _run_loop(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self.error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
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
            self.port = next(iter(server.sockets)).getsockname()[1]
            monitor = asyncio.create_task(self._monitor())
            self._ready.set()
            await self._stopping.wait()
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            self.abort_all()
            server.close(close_connections=False)
            await server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

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
        self.clients.add(client)
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
            self.clients.discard(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _monitor(self) -> None:
        """Apply silence (pause/resume reading) and close idle connections."""
        while True:
            silent = self.faults.is_silent()
            now = time.monotonic()
            for client in list(self.clients):
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
