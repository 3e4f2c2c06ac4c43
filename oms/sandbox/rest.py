"""The sandbox's v5 REST API: Bybit's signing, envelope, errors and routes.

``RestApi.handle(method, target, header, body)`` answers one request as an ``Answer``;
``make_handler`` serves it with ``http.server``, ``latency`` seconds late. The GET routes
are in ``market_routes`` (public), ``trade_routes`` and ``account_routes`` (signed); the
signed POST routes of order entry (``/v5/order/create``, ``amend``, ``cancel``,
``cancel-all``, the three batch forms, ``/v5/position/trading-stop``) in
``entry_routes``, with their rate limits (``oms.sandbox.limits``) in the
``X-Bapi-Limit*`` headers. Every route answers per ``category``: the categories the
sandbox trades (an empty list for one it does not trade).

Signed calls: ``X-BAPI-SIGN`` = hex HMAC-SHA256(secret, timestamp + apiKey + recvWindow +
queryString), or + the raw body bytes for a POST (so pybit's and ccxt's JSON spacing both
verify); header names in any case; ``X-BAPI-SIGN-TYPE`` and ``Referer`` are ignored.
Errors, each as Bybit shapes them: HTTP 200 and ``{"retCode", "retMsg", "result": {},
"retExtInfo": {}, "time"}`` for 10003 unknown key, 10002 timestamp outside
``[server - recvWindow, server + 1000)``, 10004 bad signature, 10001 bad parameters (a
POST body that is not a JSON object, or over ``MAX_BODY`` bytes, too), 10005 for a POST
to a route the sandbox does not emulate (``NOT_EMULATED``: the key lacks that
permission), 10006 "Too many visits!" (a spent order-entry budget, or the
``rest_rate_limit`` fault) with ``X-Bapi-Limit-Status: 0`` and
``X-Bapi-Limit-Reset-Timestamp``, 10017 "Route not found." for an unknown path or
a method the path does not take (Bybit's error page lists 10017 for a path it cannot
route; it comes in the envelope so that pybit, which shows only the body of an HTTP 200,
names it), 10016 for a failure inside the sandbox (logged with its traceback) or the
``entry_restarting`` faults. HTTP 403 (fault: the IP rate limit) and HTTP 400 (a method
other than GET or POST) have plain-text bodies, as Bybit's error page describes them, and
clients report them by status. The ``entry_ack_lost`` fault closes the connection without
an answer after the request ran.
Pagination: ``nextPageCursor`` is opaque; pass it back as ``cursor``; ``""`` ends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs

from oms.sandbox.account_routes import AccountRoutes
from oms.sandbox.entry_routes import EntryRoutes, Outcome
from oms.sandbox.exchange import wall_ms
from oms.sandbox.limits import RateLimits
from oms.sandbox.market_routes import MarketRoutes
from oms.sandbox.params import ParamError, Params
from oms.sandbox.trade_routes import TradeRoutes

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from oms.sandbox.exchange import Exchange
    from oms.sandbox.faults import Faults

__all__ = ["NOT_EMULATED", "Answer", "ParamError", "RestApi", "decode_body", "make_handler"]

log = logging.getLogger(__name__)
#: the per-endpoint budget the limit headers report on the GET routes (Bybit's for the
#: resync GETs; the sandbox does not count them)
RATE_LIMIT: Final = 50
#: POST routes Bybit has that the sandbox does not emulate: refused with 10005
NOT_EMULATED: Final = frozenset(
    f"/v5/{p}"
    for p in (
        "order/disconnected-cancel-all", "order/pre-check", "position/set-leverage",
        "position/switch-isolated", "position/switch-mode", "position/set-tpsl-mode",
        "position/set-auto-add-margin", "position/add-margin", "position/set-risk-limit",
        "account/set-margin-mode",
    )
)  # fmt: skip
#: the largest POST body read (bytes): a batch of 20 orders is a few kB; a larger body is
#: 10001 and never held in memory (one of 10**11 bytes was a MemoryError, no answer)
MAX_BODY: Final = 1 << 20
#: how much of a refused body is read past before the answer (beyond it: closed unread)
_DISCARD_MAX: Final = 256 << 20
#: Bybit's answer while its order service restarts (10016, retryable)
RESTARTING: Final = (10016, "Server error: service is restarting, please retry")


@dataclass(frozen=True, slots=True)
class Answer:
    """One REST answer: HTTP status, a JSON body (or plain text), and the rate-limit
    headers (None: the GET routes' fixed budget, ``remaining`` of it left); ``drop``:
    close the connection without any answer."""

    status: int
    body: dict[str, object] | str
    remaining: int = RATE_LIMIT - 1
    limit_headers: Mapping[str, str] | None = None
    drop: bool = False


def decode_body(body: bytes | str) -> object:
    """A request body as JSON; ``ValueError`` when it is not JSON (``NaN`` and
    ``Infinity`` are not) or nests too deeply for the parser. A number with a fraction
    reads as a ``Decimal``, never a float; ``OrderEntry`` refuses numbers where Bybit
    wants strings."""

    def no_constant(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(body, parse_float=Decimal, parse_constant=no_constant)
    except RecursionError as exc:  # a hostile body: a refusal, not a dead connection
        raise ValueError("the JSON nests too deeply") from exc


class RestApi:
    """Answers REST requests from an ``Exchange``'s state."""

    def __init__(
        self,
        exchange: Exchange,
        faults: Faults,
        api_key: str,
        api_secret: str,
        *,
        rate_limits: Mapping[str | tuple[str, str], int] | None = None,
    ) -> None:
        self.exchange = exchange
        self.faults = faults
        self.api_key = api_key
        self._secret = api_secret.encode()
        #: seconds each answer waits before it is sent (set by ``Sandbox``)
        self.latency = 0.0
        #: order entry's budgets (REST and the trade socket share them)
        self.limits = RateLimits(rate_limits, now=self.server_ms)
        self.entry = EntryRoutes(exchange, self.limits)
        self._public = MarketRoutes(exchange).routes()
        self._private = TradeRoutes(exchange).routes() | AccountRoutes(exchange, api_key).routes()

    def server_ms(self) -> int:
        """The REST server's clock: wall time plus the injected skew."""
        return wall_ms() + self.faults.rest_clock_skew_ms

    def envelope(
        self, code: int, message: str, result: object, ext: object = None
    ) -> dict[str, object]:
        return {
            "retCode": code,
            "retMsg": message,
            "result": result,
            "retExtInfo": {} if ext is None else ext,
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
        if method == "POST":
            return self._post(path, header, body)
        route = self._public.get(path) or self._private.get(path)
        if route is None:
            return self.error(10017, "Route not found.")
        if path not in self._public:
            refusal = self._verify(header, query)
            if refusal is not None:
                return refusal
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

    def _post(self, path: str, header: Callable[[str], str | None], body: bytes) -> Answer:
        route = path.removeprefix("/v5/")
        entry = path.startswith("/v5/") and self.entry.handles(route)
        if not entry and path not in NOT_EMULATED:
            return self.error(10017, "Route not found.")
        refusal = self._verify(header, body.decode("utf-8", "replace"))
        if refusal is not None:
            return refusal
        if not entry:
            return self.error(10005, "Permission denied, please check your API key permissions.")
        try:
            decoded = decode_body(body)
        except ValueError:
            return self.error(10001, "params error: the request body is not JSON")
        return self._entry(route, decoded)

    def _entry(self, route: str, decoded: object) -> Answer:
        """One order-entry request, with the order-entry faults."""
        fault = self.faults.take_entry_fault(transport="rest")
        if fault == "rate_limit":
            category = decoded.get("category") if isinstance(decoded, dict) else None
            limit = self.limits.limit(route, category if isinstance(category, str) else "")
            spent = _spent(limit, self.server_ms())
            return Answer(200, self.envelope(10006, "Too many visits!", {}), 0, spent)
        if fault == "restart_before":
            return self.error(*RESTARTING)
        outcome = self._run(route, decoded)
        if fault == "restart_after":
            return self.error(*RESTARTING)
        if fault == "ack_lost":
            return Answer(0, "", drop=True)
        headers = outcome.grant.headers() if outcome.grant is not None else None
        envelope = self.envelope(outcome.code, outcome.message, outcome.result, outcome.ext)
        return Answer(200, envelope, limit_headers=headers)

    def _run(self, route: str, decoded: object) -> Outcome:
        try:
            return self.entry.call(route, decoded)
        except Exception:  # a sandbox bug: loud in the log, a server error to the client
            log.exception("sandbox order entry failed on %s", route)
            return Outcome(10016, "Server error.")

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
            return self.error(10002, recv_window_message(stamp, server, window))
        origin = stamp + key + window_text + signed
        expected = hmac.new(self._secret, origin.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sign.encode(), expected.encode()):
            return self.error(10004, f"error sign! origin_string[{origin}]")
        return None


def recv_window_message(stamp: object, server: int, window: int) -> str:
    """Bybit's 10002 text (as observed), naming the three numbers it compared."""
    return (
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{stamp}],server_timestamp[{server}],recv_window[{window}]"
    )


def _spent(limit: int, now: int) -> dict[str, str]:
    """The limit headers of a spent budget that resets in a second (the 10006 fault)."""
    return {
        "X-Bapi-Limit": str(limit),
        "X-Bapi-Limit-Status": "0",
        "X-Bapi-Limit-Reset-Timestamp": str(now + 1000),
    }


class _Handler(BaseHTTPRequestHandler):
    """Serves ``api`` (set by ``make_handler``'s subclass) over ``http.server``."""

    server_version = "bybit-sandbox"
    #: seconds a connection may stall (headers, or a body shorter than it said) before
    #: it is closed: a stalled client must not hold a server thread for ever
    timeout = 30.0
    api: RestApi

    def do_GET(self) -> None:
        self._answer("GET", b"")

    def do_POST(self) -> None:
        text = self.headers.get("Content-Length") or "0"
        if not text.isdigit():
            self._send(Answer(400, "Bad request: Content-Length must be a number\n"))
            return
        length = int(text)
        if length > MAX_BODY:  # never held in memory: read past, refused, connection closed
            self.close_connection = True
            if not self._discard(length):
                return  # the client hung up: nobody to answer
            message = f"params error: the request body is {length} bytes, at most {MAX_BODY}"
            self._send(self.api.error(10001, message))
            return
        self._answer("POST", self.rfile.read(length))

    def _discard(self, length: int) -> bool:
        """Read ``length`` bytes of a refused body in chunks (so that the client, which
        sends it all before it reads, gets the answer), up to a bound; False when the
        client hung up first."""
        left = min(length, _DISCARD_MAX)
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                return False
            left -= len(chunk)
        return True

    def do_PUT(self) -> None:
        self._answer("PUT", b"")

    def do_DELETE(self) -> None:
        self._answer("DELETE", b"")

    def _answer(self, method: str, body: bytes) -> None:
        self._send(self.api.handle(method, self.path, self.headers.get, body))

    def _send(self, answer: Answer) -> None:
        if answer.drop:  # the request ran; its answer is lost with the connection
            self.close_connection = True
            return
        if isinstance(answer.body, str):
            data, kind = answer.body.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(answer.body, separators=(",", ":")).encode(), "application/json"
        if self.api.latency:
            time.sleep(self.api.latency)  # the network's share of the answer
        self.send_response(answer.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        headers = answer.limit_headers or {
            "X-Bapi-Limit": str(RATE_LIMIT),
            "X-Bapi-Limit-Status": str(answer.remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(self.api.server_ms() + 1000),
        }
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        """Quiet: the sandbox does not log each request."""


def make_handler(api: RestApi) -> type[BaseHTTPRequestHandler]:
    """An ``http.server`` request handler class serving ``api``."""
    return type("Handler", (_Handler,), {"api": api})
