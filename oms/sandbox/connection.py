"""What every WebSocket connection of the sandbox shares, whatever its path: the server
connection that notes when the client last sent anything, the client's outgoing queue
(each message ``latency`` late, in order), the writer that applies the frame faults, and
the login signature check (the private stream and the trade socket sign alike).

A socket kind (``private_socket``, ``trade_socket``) implements ``SocketKind``; the
server (``oms.sandbox.server``) picks the kind by the request path.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from oms.clock import now_ms as wall_ms

if TYPE_CHECKING:
    from websockets.protocol import Event

    from oms.sandbox.faults import Faults

__all__ = ["Client", "Connection", "SocketKind", "login_refusal", "write"]


class Connection(ServerConnection):
    """A server connection that notes when the client last sent anything (pings too),
    and the socket kind its path chose."""

    last_rx: float = 0.0
    idle_limit: float = 600.0
    kind: SocketKind | None = None

    def process_event(self, event: Event) -> None:
        self.last_rx = time.monotonic()
        super().process_event(event)


@dataclass(eq=False)
class Client:
    """One connection's state as the sandbox sees it."""

    ws: Connection
    conn_id: str
    #: seconds each message waits before it leaves
    latency: float = 0.0
    #: (text, is_data, loop time at which it may be sent), or None to stop the writer
    queue: asyncio.Queue[tuple[str, bool, float] | None] = field(default_factory=asyncio.Queue)
    authed: bool = False
    #: private stream: the topics subscribed
    topics: set[str] = field(default_factory=set)
    data_sent: int = 0
    #: the drop_after_frames setting last seen, and data_sent when it was first seen
    drop_n: int = -1
    drop_base: int = 0
    paused: bool = False
    closing: bool = False

    def send(self, text: str, *, is_data: bool = False) -> None:
        """Queue ``text`` to leave ``latency`` from now, after what is queued (on the loop)."""
        due = asyncio.get_running_loop().time() + self.latency
        self.queue.put_nowait((text, is_data, due))

    def cut(self) -> None:
        """Cut the connection now (TCP abort, no close frame)."""
        self.ws.transport.abort()


class SocketKind(Protocol):
    """What a path's connections do with the messages they receive."""

    def on_message(self, client: Client, message: str | bytes) -> None: ...


def login_refusal(args: object, api_key: str, secret: bytes, faults: Faults) -> str | None:
    """Why a WebSocket login (``args`` = [key, expires, signature], the signature hex
    HMAC-SHA256 of ``"GET/realtime" + expires``) is refused: ``"params"`` (bad shape, or
    expired), ``"sign"`` (unknown key, bad signature, or the ``refuse_auth`` fault); None
    when it is good."""
    if not isinstance(args, list) or len(args) != 3:
        return "params"
    key, expires, signature = args
    if isinstance(expires, int) and not isinstance(expires, bool):
        expires_text = str(expires)
    elif isinstance(expires, str) and expires.isdigit():
        expires_text = expires
    else:
        return "params"
    if faults.take_auth_refusal():
        return "sign"
    if int(expires_text) <= wall_ms():
        return "params"
    origin = f"GET/realtime{expires_text}".encode()
    expected = hmac.new(secret, origin, hashlib.sha256).hexdigest()
    if (
        not isinstance(key, str)
        or not isinstance(signature, str)
        or not hmac.compare_digest(key.encode(), api_key.encode())
        or not hmac.compare_digest(signature.encode(), expected.encode())
    ):
        return "sign"
    return None


async def write(client: Client, faults: Faults) -> None:
    """Send the client's queue in order, each message at its due time; data frames get
    the frame faults (silence, corrupted and poisoned copies, the drop after N)."""
    ws = client.ws
    loop = asyncio.get_running_loop()
    while (item := await client.queue.get()) is not None:
        text, is_data, due = item
        if (wait := due - loop.time()) > 0:  # FIFO with one delay keeps the order
            await asyncio.sleep(wait)
        if faults.is_silent():
            continue  # lost, as on a dead link
        try:
            if is_data:
                _note_arming(client, faults)
            await ws.send(text)
            if is_data and await _after_data(client, faults, text):
                ws.transport.abort()
                return
        except ConnectionClosed:
            return


def _note_arming(client: Client, faults: Faults) -> None:
    """Before a data frame is sent: if ``drop_after_frames`` was (re)armed since the last
    one, count anew from this frame. Checked before the send, not after it: the client
    may read a frame (and the fault be armed) before the send returns, and that frame was
    sent before the fault, so it is not one of the N."""
    if faults.drop_after_frames != client.drop_n:
        client.drop_n = faults.drop_after_frames
        client.drop_base = client.data_sent


async def _after_data(client: Client, faults: Faults, text: str) -> bool:
    """Count a data frame just sent and send its corrupted and poisoned copies; True
    when the connection must now be cut (``drop_after_frames``)."""
    ws = client.ws
    client.data_sent += 1
    if faults.corrupt_after(client.data_sent):
        await ws.send(faults.corrupt(text))
    if faults.poison_after(client.data_sent):
        await ws.send(faults.poison(text))
    return faults.take_drop(client.data_sent - client.drop_base)
