"""The sandbox's v5 REST API: Bybit's signing, envelope, errors and routes.

``RestApi.handle(method, target, header, body)`` answers one request as an ``Answer``;
``make_handler`` serves it with ``http.server``, ``latency`` seconds late. The routes are
in ``market_routes`` (public), ``trade_routes`` and ``account_routes`` (signed).
Every route answers per ``category``: the categories the sandbox trades (an empty list
for one it does not trade).

Signed calls: ``X-BAPI-SIGN`` = hex HMAC-SHA256(secret, timestamp + apiKey + recvWindow +
queryString), or + the raw body for a POST. Errors, each as Bybit shapes them: HTTP 200
and ``{"retCode", "retMsg", "result": {}, "retExtInfo": {}, "time"}`` for 10003 unknown
key, 10002 timestamp outside ``[server - recvWindow, server + 1000)``, 10004 bad
signature, 10001 bad parameters, 10005 for a POST to an order route (the sandbox's key is
read-only: it trades by itself), 10006 (fault) rate limit with ``X-Bapi-Limit-Status: 0``
and ``X-Bapi-Limit-Reset-Timestamp``, 10017 "Route not found." for an unknown path or a
method the path does not take (Bybit's error page lists 10017 for a path it cannot route;
it comes in the envelope so that pybit, which shows only the body of an HTTP 200, names
it), 10016 for a failure inside the sandbox (logged with its traceback). HTTP 403 (fault:
the IP rate limit) and HTTP 400 (a method other than GET or POST) have plain-text bodies,
as Bybit's error page describes them, and clients report them by status.
Pagination: ``nextPageCursor`` is opaque; pass it back as ``cursor``; ``""`` ends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs

from oms.sandbox.account_routes import AccountRoutes
from oms.sandbox.exchange import wall_ms
from oms.sandbox.market_routes import MarketRoutes
from oms.sandbox.params import ParamError, Params
from oms.sandbox.trade_routes import TradeRoutes

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.sandbox.exchange import Exchange
    from oms.sandbox.faults import Faults

__all__ = ["Answer", "ParamError", "RestApi", "make_handler"]

log = logging.getLogger(__name__)
#: the per-endpoint budget the limit headers report (Bybit's for the resync GETs)
RATE_LIMIT: Final = 50
#: POST routes of order entry: refused with 10005, for the sandbox's key is read-only
ORDER_ENTRY: Final = frozenset(
    f"/v5/{p}"
    for p in (
        "order/create", "order/amend", "order/cancel", "order/cancel-all",
        "order/create-batch", "order/amend-batch", "order/cancel-batch",
        "order/disconnected-cancel-all", "position/set-leverage", "position/switch-isolated",
        "position/switch-mode", "position/trading-stop", "position/set-auto-add-margin",
        "position/add-margin", "account/set-margin-mode",
    )
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Answer:
    """One REST answer: HTTP status, a JSON body (or plain text), and how many calls the
    rate-limit headers say are left."""

    status: int
    body: dict[str, object] | str
    remaining: int = RATE_LIMIT - 1


class RestApi:
    """Answers REST requests from an ``Exchange``'s state."""

    def __init__(self, exchange: Exchange, faults: Faults, api_key: str, api_secret: str) -> None:
        self.exchange = exchange
        self.faults = faults
        self.api_key = api_key
        self._secret = api_secret.encode()
        #: seconds each answer waits before it is sent (set by ``Sandbox``)
        self.latency = 0.0
        self._public = MarketRoutes(exchange).routes()
        self._private = TradeRoutes(exchange).routes() | AccountRoutes(exchange, api_key).routes()

    def server_ms(self) -> int:
        """The REST server's clock: wall time plus the injected skew."""
        return wall_ms() + self.faults.rest_clock_skew_ms

    def envelope(self, code: int, message: str, result: object) -> dict[str, object]:
        return {
            "retCode": code,
            "retMsg": message,
            "result": result,
            "retExtInfo": {},
            "time": self.server_ms(),
        }

    def error(self, code: int, message: str) -> Answer:
        """A refusal as Bybit sends it: HTTP 200, the code in the envelope."""
        return Answer(200, self.envelope(code, message, {}))

    def handle(
        self, method: str, target: str, header: Callable[[str], str | None], body: bytes = b""
    ) -> Answer:
        """Answer one request."""
        path, _, query = target.partition("?")
        early = self._early(method, path)
        if early is not None:
            return early
        route = self._route(method, path)
        if route is None and not (method == "POST" and path in ORDER_ENTRY):
            return self.error(10017, "Route not found.")
        if not (method == "GET" and path in self._public):
            signed = query if method == "GET" else body.decode("utf-8", "replace")
            refusal = self._verify(header, signed)
            if refusal is not None:
                return refusal
        if route is None:
            return self.error(10005, "Permission denied, please check your API key permissions.")
        return self._call(route, query)

    def _early(self, method: str, path: str) -> Answer | None:
        """What is answered before any route is looked at: a bad method, the injected
        faults, and the server time."""
        if method not in ("GET", "POST"):
            return Answer(400, "Bad request: send the request with GET or POST\n")
        if self.faults.take_rest_forbidden():
            return Answer(403, "403 Forbidden: access too frequent\n", 0)
        if self.faults.take_rest_limit():
            return Answer(200, self.envelope(10006, "Too many visits!", {}), 0)
        if path == "/v5/market/time" and method == "GET":
            now = self.server_ms()
            result = {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}
            return Answer(200, self.envelope(0, "OK", result))
        return None

    def _route(self, method: str, path: str) -> Callable[[Params], dict[str, object]] | None:
        if method != "GET":
            return None
        return self._public.get(path) or self._private.get(path)

    def _call(self, route: Callable[[Params], dict[str, object]], query: str) -> Answer:
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            return Answer(200, self.envelope(0, "OK", route(params)))
        except ParamError as exc:
            return self.error(10001, str(exc))
        except Exception:  # a sandbox bug: loud in the log, a server error to the client
            log.exception("sandbox REST route failed on %r", query)
            return self.error(10016, "Server error.")

    def _verify(self, header: Callable[[str], str | None], signed: str) -> Answer | None:
        key = header("X-BAPI-API-KEY") or ""
        stamp = header("X-BAPI-TIMESTAMP") or ""
        window_text = header("X-BAPI-RECV-WINDOW") or ""
        sign = header("X-BAPI-SIGN") or ""
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return self.error(10003, "API key is invalid.")
        server = self.server_ms()
        try:
            stamp_ms = int(stamp)
            window = int(window_text) if window_text else 5000
        except ValueError:
            stamp_ms, window = -1, 5000
        if not server - window <= stamp_ms < server + 1000:
            return self.error(
                10002,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{stamp}],server_timestamp[{server}],recv_window[{window}]",
            )
        origin = stamp + key + window_text + signed
        expected = hmac.new(self._secret, origin.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sign.encode(), expected.encode()):
            return self.error(10004, f"error sign! origin_string[{origin}]")
        return None


class _Handler(BaseHTTPRequestHandler):
    """Serves ``api`` (set by ``make_handler``'s subclass) over ``http.server``."""

    server_version = "bybit-sandbox"
    api: RestApi

    def do_GET(self) -> None:
        self._answer("GET", b"")

    def do_POST(self) -> None:
        text = self.headers.get("Content-Length") or "0"
        if not text.isdigit():
            self._send(Answer(400, "Bad request: Content-Length must be a number\n"))
            return
        self._answer("POST", self.rfile.read(int(text)))

    def do_PUT(self) -> None:
        self._answer("PUT", b"")

    def do_DELETE(self) -> None:
        self._answer("DELETE", b"")

    def _answer(self, method: str, body: bytes) -> None:
        self._send(self.api.handle(method, self.path, self.headers.get, body))

    def _send(self, answer: Answer) -> None:
        if isinstance(answer.body, str):
            data, kind = answer.body.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(answer.body, separators=(",", ":")).encode(), "application/json"
        if self.api.latency:
            time.sleep(self.api.latency)  # the network's share of the answer
        self.send_response(answer.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Bapi-Limit", str(RATE_LIMIT))
        self.send_header("X-Bapi-Limit-Status", str(answer.remaining))
        self.send_header("X-Bapi-Limit-Reset-Timestamp", str(self.api.server_ms() + 1000))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        """Quiet: the sandbox does not log each request."""


def make_handler(api: RestApi) -> type[BaseHTTPRequestHandler]:
    """An ``http.server`` request handler class serving ``api``."""
    return type("Handler", (_Handler,), {"api": api})
