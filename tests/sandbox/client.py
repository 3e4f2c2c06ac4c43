"""A small test client for the sandbox: signed WebSocket auth, signed REST calls, and
bounded waits (every wait has a deadline; nothing sleeps on a guess)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any, TypeVar

import websocket

from oms import Ledger
from oms.core.events import Anomaly
from oms.sim.compare import differences

if TYPE_CHECKING:
    from collections.abc import Callable

_T = TypeVar("_T")

KEY = "sandbox-test-key"
SECRET = "sandbox-test-secret"  # noqa: S105 - a test credential
DATA_TOPICS = ["order", "execution", "position", "wallet"]
TIMEOUT = 10.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ws_signature(expires: int | str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()


def refusing_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens: every request to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # a free port, released again on leaving
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


#: every connection a test opened (the autouse fixture closes them)
OPENED: list[websocket.WebSocket] = []


def connect(url: str) -> websocket.WebSocket:
    ws = websocket.create_connection(url, timeout=TIMEOUT)
    OPENED.append(ws)
    return ws


def read_until_closed(ws: websocket.WebSocket, timeout: float = TIMEOUT) -> tuple[list[str], str]:
    """Messages received until the server ended the connection, and how: ``"close"`` (a
    close frame) or ``"lost"`` (the TCP connection was cut). Fails at the deadline."""
    deadline = time.monotonic() + timeout
    got: list[str] = []
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "the server did not end the connection"
        ws.settimeout(left)
        try:
            message = ws.recv()
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return got, "lost"
        except websocket.WebSocketTimeoutException:
            continue
        if message == "":
            return got, "close"
        assert isinstance(message, str)
        got.append(message)


def recv_json(ws: websocket.WebSocket) -> dict[str, Any]:
    return json.loads(ws.recv())


def request(ws: websocket.WebSocket, message: dict[str, Any]) -> dict[str, Any]:
    """Send a control message; return the next message (no data may be in flight)."""
    ws.send(json.dumps(message))
    return recv_json(ws)


def auth(
    ws: websocket.WebSocket,
    *,
    key: str = KEY,
    secret: str = SECRET,
    expires: int | None = None,
    req_id: str | None = "auth-1",
) -> dict[str, Any]:
    expires = now_ms() + 10_000 if expires is None else expires
    message: dict[str, Any] = {"op": "auth", "args": [key, expires, ws_signature(expires, secret)]}
    if req_id is not None:
        message["req_id"] = req_id
    return request(ws, message)


def subscriber(url: str, topics: list[str] | None = None) -> websocket.WebSocket:
    """A connection that is authenticated and subscribed (acks checked)."""
    ws = connect(url)
    assert auth(ws)["success"] is True
    ack = request(ws, {"op": "subscribe", "args": topics or DATA_TOPICS, "req_id": "sub"})
    assert ack["success"] is True, ack
    return ws


def collect(ws: websocket.WebSocket, count: int, timeout: float = TIMEOUT) -> list[str]:
    """Exactly ``count`` messages, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    got: list[str] = []
    while len(got) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(got)} of {count} messages before the deadline"
        ws.settimeout(left)
        got.append(ws.recv())
    ws.settimeout(TIMEOUT)
    return got


def wait_for(predicate: Any, timeout: float = TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def between_ticks(exchange: Any, read: Callable[[], _T]) -> tuple[_T, dict[str, Any]]:
    """``read()`` (a client's request for the wallet) and the exchange's own wallet row,
    taken while the market clock did not move it: the clock ticks in the background
    (every ``tick_ms``), and a tick between the request and the row would change the
    unrealised P&L of one of them. Read again (a few times at most) until the row is the
    same before and after the request."""
    for _ in range(20):
        before = exchange.wallet_row()
        value = read()
        after = exchange.wallet_row()
        if before == after:
            return value, after
    raise AssertionError("the market clock moved the wallet during every read")


def rest_get(
    base: str,
    path: str,
    query: str = "",
    *,
    key: str = KEY,
    secret: str = SECRET,
    timestamp: int | None = None,
    recv_window: str = "5000",
    signed: bool = True,
    sign: str | None = None,
) -> dict[str, Any]:
    headers = {}
    if signed:
        stamp = str(now_ms() if timestamp is None else timestamp)
        origin = stamp + key + recv_window + query
        signature = hmac.new(secret.encode(), origin.encode(), hashlib.sha256).hexdigest()
        headers = {
            "X-BAPI-API-KEY": key,
            "X-BAPI-TIMESTAMP": stamp,
            "X-BAPI-SIGN": sign if sign is not None else signature,
            "X-BAPI-RECV-WINDOW": recv_window,
        }
    url = f"{base}{path}?{query}" if query else f"{base}{path}"
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 - 127.0.0.1 only
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return {"httpStatus": exc.code}


def rest_all(base: str, path: str, query: str) -> list[dict[str, Any]]:
    """Every row of a paginated list, following nextPageCursor."""
    rows: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(1000):
        q = f"{query}&cursor={cursor}" if cursor else query
        body = rest_get(base, path, q)
        assert body["retCode"] == 0, body
        rows.extend(body["result"]["list"])
        cursor = body["result"]["nextPageCursor"]
        if not cursor:
            return rows
    raise AssertionError("pagination did not end")


def replay(frames: list[str]) -> tuple[Ledger, list[Anomaly]]:
    """Frames through a fresh ``oms.Ledger``; the anomalies it raised, settled."""
    ledger = Ledger()
    anomalies = []
    for text in frames:
        anomalies += [e for e in ledger.apply_frame(text, received_at=0) if isinstance(e, Anomaly)]
    anomalies += [e for e in ledger.settle(received_at=0) if isinstance(e, Anomaly)]
    return ledger, anomalies


def assert_ledger_matches(ledger: Ledger, truth: dict[str, Any]) -> None:
    """The ledger equals the truth: the simulator's one comparer finds no difference."""
    diffs = differences(ledger, truth)
    assert diffs == [], "\n".join(diffs[:20])
