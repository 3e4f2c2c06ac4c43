"""A small order-entry client for the sandbox's tests: signed REST POSTs over raw
``http.client`` (so a test controls the exact body bytes and header spelling, and sees a
connection closed without an answer), the trade socket, and order bodies that rest."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oms.sim.wire import fmt
from tests.sandbox.client import KEY, SECRET, TIMEOUT, connect, now_ms, recv_json, ws_signature

if TYPE_CHECKING:
    import websocket

    from oms.sandbox import Sandbox


class NoAnswerError(Exception):
    """The server closed the connection without answering."""


def sign(
    body: str, stamp: str, *, key: str = KEY, secret: str = SECRET, window: str = "5000"
) -> str:
    origin = f"{stamp}{key}{window}{body}"
    return hmac.new(secret.encode(), origin.encode(), hashlib.sha256).hexdigest()


def post_raw(
    base: str,
    path: str,
    body: str,
    *,
    key: str = KEY,
    secret: str = SECRET,
    timestamp: int | None = None,
    window: str = "5000",
    headers: dict[str, str] | None = None,
    signed_body: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    """POST ``body`` exactly as given; (HTTP status, headers, JSON or text body). The
    signature is over ``signed_body`` (default ``body``). ``headers`` replace or add
    header lines in the spelling given."""
    stamp = str(now_ms() if timestamp is None else timestamp)
    sent = {
        "Content-Type": "application/json",
        "X-BAPI-API-KEY": key,
        "X-BAPI-TIMESTAMP": stamp,
        "X-BAPI-RECV-WINDOW": window,
        "X-BAPI-SIGN": sign(
            body if signed_body is None else signed_body,
            stamp,
            key=key,
            secret=secret,
            window=window,
        ),
    }
    if headers:
        sent = {k: v for k, v in sent.items() if k.lower() not in {h.lower() for h in headers}}
        sent |= headers
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=TIMEOUT)
    try:
        conn.request("POST", path, body=body.encode(), headers=sent)
        try:
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError) as exc:
            raise NoAnswerError(path) from exc
        text = response.read().decode()
        kind = response.getheader("Content-Type") or ""
        parsed = json.loads(text) if kind.startswith("application/json") else text
        return response.status, dict(response.getheaders()), parsed
    finally:
        conn.close()


def post(
    base: str, path: str, body: dict[str, Any], *, pybit_spacing: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """POST a JSON object (ccxt's compact spacing, or pybit's ``json.dumps``); the
    envelope (HTTP 200 asserted)."""
    text = json.dumps(body) if pybit_spacing else json.dumps(body, separators=(",", ":"))
    status, _, answer = post_raw(base, path, text, **kwargs)
    assert status == 200, (status, answer)
    assert isinstance(answer, dict)
    return answer


def resting_price(sandbox: Sandbox, symbol: str, side: str, category: str = "linear") -> str:
    """A limit price 5 % away from the last price, on the tick grid: it rests."""
    spec = sandbox.exchange.spec(symbol, category)
    assert spec is not None
    last, _, _ = sandbox.exchange.prices(symbol, category)
    away = last * (Decimal("0.95") if side == "Buy" else Decimal("1.05"))
    return fmt((away / spec.tick).to_integral_value() * spec.tick)


def limit_order(
    sandbox: Sandbox,
    link: str,
    *,
    symbol: str = "BTCUSDT",
    side: str = "Buy",
    qty: str = "0.001",
    category: str = "linear",
    **extra: Any,
) -> dict[str, Any]:
    """A resting limit order's body (positionIdx as the symbol's mode wants it)."""
    spec = sandbox.exchange.spec(symbol, category)
    assert spec is not None
    body: dict[str, Any] = {
        "category": category, "symbol": symbol, "side": side, "orderType": "Limit",
        "qty": qty, "price": resting_price(sandbox, symbol, side, category),
        "orderLinkId": link,
    }  # fmt: skip
    if spec.hedge:
        body["positionIdx"] = 1 if side == "Buy" else 2
    return body | extra


def order_by_link(sandbox: Sandbox, link: str) -> dict[str, Any] | None:
    """The sandbox's truth of the order with this orderLinkId, or None."""
    found = [o for o in sandbox.truth()["orders"].values() if o.get("orderLinkId") == link]
    assert len(found) <= 1
    return found[0] if found else None


# --- the trade socket ----------------------------------------------------------------------


def trade_socket(sandbox: Sandbox, *, login: bool = True) -> websocket.WebSocket:
    """A connection to ``/v5/trade``, logged in (the ack checked) unless told."""
    ws = connect(sandbox.trade_url)
    if login:
        expires = now_ms() + 10_000
        ws.send(json.dumps({"op": "auth", "args": [KEY, expires, ws_signature(expires)]}))
        ack = recv_json(ws)
        assert ack["retCode"] == 0, ack
    return ws


def trade(
    ws: websocket.WebSocket,
    op: str,
    args: list[Any],
    *,
    req_id: str | None = None,
    header: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Send one trade op; its reply (the next message: nothing else flows here)."""
    message: dict[str, Any] = {
        "reqId": req_id or str(uuid.uuid4()),
        "header": {"X-BAPI-TIMESTAMP": str(now_ms())} if header is None else header,
        "op": op,
        "args": args,
    }
    ws.send(json.dumps(message))
    return recv_json(ws)
