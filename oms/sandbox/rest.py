"""The sandbox's v5 REST API: Bybit's signing, envelope, parameters and pagination.

``RestApi.handle(method, target, header)`` answers one request as ``(http_status, body)``;
``make_handler`` wraps it for ``http.server``. Endpoints (all read the exchange's live
state, so they always agree with ``Exchange.truth()``):

- ``GET /v5/market/time`` (unsigned): the server time.
Every endpoint answers per ``category`` (the sandbox's categories; an empty list for one it
does not trade).

- ``GET /v5/order/realtime``: open orders (``openOnly=0``) or the 500 most recent closed
  ones (``openOnly=1``); ``orderId``/``orderLinkId`` look up any order. Linear needs
  ``symbol``, ``baseCoin`` or ``settleCoin``. ``limit`` 1-50 (20). Newest first.
- ``GET /v5/order/history``: every order, 7-day window on createdTime; Cancelled,
  Rejected and Deactivated orders without fills only for 24 h. ``limit`` 1-50 (20).
- ``GET /v5/execution/list``: 7-day window on execTime (at most 7 days); ``orderId`` or
  ``orderLinkId`` override every other filter. ``limit`` 1-100 (50). Newest first.
- ``GET /v5/position/list``: with ``symbol`` every leg (flat too), with ``settleCoin``
  (or, on inverse, nothing) only legs with size > 0; ``avgPrice`` in place of
  ``entryPrice``. ``limit`` 1-200 (20). Spot has no positions: retCode 10001.

Signed calls: ``X-BAPI-SIGN`` = hex HMAC-SHA256(secret, timestamp + apiKey + recvWindow +
queryString). Errors: 10003 unknown key, 10002 timestamp outside ``[server - recvWindow,
server + 1000)``, 10004 bad signature, 10001 bad parameters, 10006 (fault) rate limit.
Pagination: ``nextPageCursor`` is opaque; pass it back as ``cursor``; ``""`` ends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs

from oms.sandbox.exchange import wall_ms

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.sandbox.exchange import Exchange
    from oms.sandbox.faults import Faults
    from oms.sandbox.model import Element

Rows = list[tuple[int, "Element"]]
Params = dict[str, str]

_DAY_MS: Final = 86_400_000
_WEEK_MS: Final = 7 * _DAY_MS
_CATEGORIES: Final = frozenset({"linear", "spot", "inverse", "option"})
_TPSL: Final = frozenset({"TakeProfit", "StopLoss", "PartialTakeProfit", "PartialStopLoss"})
_SHORT_LIVED: Final = frozenset({"Cancelled", "Rejected", "Deactivated"})


class ParamError(Exception):
    """A request the exchange refuses with retCode 10001."""


class RestApi:
    """Answers REST requests from an ``Exchange``'s state."""

    def __init__(self, exchange: Exchange, faults: Faults, api_key: str, api_secret: str) -> None:
        self.exchange = exchange
        self.faults = faults
        self.api_key = api_key
        self._secret = api_secret.encode()
        self._routes: dict[str, Callable[[Params], dict[str, object]]] = {
            "/v5/order/realtime": self._order_realtime,
            "/v5/order/history": self._order_history,
            "/v5/execution/list": self._execution_list,
            "/v5/position/list": self._position_list,
        }

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

    def handle(
        self, method: str, target: str, header: Callable[[str], str | None]
    ) -> tuple[int, dict[str, object]]:
        """Answer one request: (HTTP status, JSON body)."""
        path, _, query = target.partition("?")
        if self.faults.take_rest_limit():
            return 200, self.envelope(10006, "Too many visits!", {})
        if path == "/v5/market/time" and method == "GET":
            now = self.server_ms()
            return 200, self.envelope(
                0, "OK", {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}
            )
        route = self._routes.get(path)
        if route is None or method != "GET":
            return 404, {"retCode": 404, "retMsg": f"{method} {path}: not found in the sandbox"}
        refusal = self._verify(header, query)
        if refusal is not None:
            return 200, refusal
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            result = route(params)
        except ParamError as exc:
            return 200, self.envelope(10001, str(exc), {})
        return 200, self.envelope(0, "OK", result)

    def _verify(self, header: Callable[[str], str | None], query: str) -> dict[str, object] | None:
        key = header("X-BAPI-API-KEY") or ""
        stamp = header("X-BAPI-TIMESTAMP") or ""
        window_text = header("X-BAPI-RECV-WINDOW") or ""
        sign = header("X-BAPI-SIGN") or ""
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return self.envelope(10003, "API key is invalid.", {})
        server = self.server_ms()
        try:
            stamp_ms = int(stamp)
            window = int(window_text) if window_text else 5000
        except ValueError:
            stamp_ms, window = -1, 5000
        if not server - window <= stamp_ms < server + 1000:
            return self.envelope(
                10002,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{stamp}],server_timestamp[{server}],recv_window[{window}]",
                {},
            )
        origin = stamp + key + window_text + query
        expected = hmac.new(self._secret, origin.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sign.encode(), expected.encode()):
            return self.envelope(10004, f"error sign! origin_string[{origin}]", {})
        return None

    # --- endpoints ----------------------------------------------------------------------

    def _order_realtime(self, p: Params) -> dict[str, object]:
        category = _category(p)
        limit = _limit(p, 20, 50)
        if category not in self.exchange.categories:
            return _result(category, [], "")
        if category == "linear" and not (
            p.get("symbol") or p.get("baseCoin") or p.get("settleCoin")
        ):
            raise ParamError(
                "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin"
            )
        order_id, link_id = p.get("orderId", ""), p.get("orderLinkId", "")
        if order_id or link_id:  # any status: openOnly is ignored
            rows = self.exchange.order_rows("all", category)
            rows = [r for r in rows if _is_order(r[1], order_id, link_id)]
        else:
            scopes = {"0": "open", "1": "closed"}
            open_only = p.get("openOnly") or "0"
            if open_only not in scopes:
                raise ParamError(f"openOnly: invalid value {open_only!r}")
            rows = self.exchange.order_rows(scopes[open_only], category)
        rows = [r for r in rows if self._coin_match(r[1], p) and _order_filter(r[1], p)]
        page, cursor = _page(rows, limit, p.get("cursor", ""), descending=True)
        return _result(category, page, cursor)

    def _order_history(self, p: Params) -> dict[str, object]:
        category = _category(p)
        limit = _limit(p, 20, 50)
        if category not in self.exchange.categories:
            return _result(category, [], "")
        now = self.exchange.now_ms()
        rows = [
            r
            for r in self.exchange.order_rows("all", category)
            if not (
                r[1]["orderStatus"] in _SHORT_LIVED
                and r[1]["cumExecQty"] == "0"
                and int(str(r[1]["updatedTime"])) < now - _DAY_MS
            )
        ]
        order_id, link_id = p.get("orderId", ""), p.get("orderLinkId", "")
        if order_id or link_id:
            rows = [r for r in rows if _is_order(r[1], order_id, link_id)]
        else:
            start, end = _window(p, now)
            status = p.get("orderStatus", "")
            rows = [
                r
                for r in rows
                if self._coin_match(r[1], p)
                and _order_filter(r[1], p)
                and (not status or r[1]["orderStatus"] == status)
                and start <= int(str(r[1]["createdTime"])) <= end
            ]
        page, cursor = _page(rows, limit, p.get("cursor", ""), descending=True)
        return _result(category, page, cursor)

    def _execution_list(self, p: Params) -> dict[str, object]:
        category = _category(p)
        limit = _limit(p, 50, 100)
        if category not in self.exchange.categories:
            return _result(category, [], "")
        rows = self.exchange.execution_rows(category)
        order_id, link_id = p.get("orderId", ""), p.get("orderLinkId", "")
        if order_id or link_id:  # the other filters are ignored
            rows = [r for r in rows if _is_order(r[1], order_id, link_id)]
        else:
            start, end = _window(p, self.exchange.now_ms())
            exec_type = p.get("execType", "")
            rows = [
                r
                for r in rows
                if self._coin_match(r[1], p)
                and (not exec_type or r[1]["execType"] == exec_type)
                and start <= int(str(r[1]["execTime"])) <= end
            ]
        page, cursor = _page(rows, limit, p.get("cursor", ""), descending=True)
        return _result(category, [{**e, "execFeeV2": ""} for e in page], cursor)

    def _position_list(self, p: Params) -> dict[str, object]:
        category = _category(p)
        if category == "spot":
            raise ParamError("Illegal category: spot has no positions")
        limit = _limit(p, 20, 200)
        if category not in self.exchange.categories:
            return _result(category, [], "")
        symbol, settle = p.get("symbol", ""), p.get("settleCoin", "")
        if category == "linear" and not symbol and not settle:
            raise ParamError("Missing some parameters that must be filled in, symbol or settleCoin")
        rows = self.exchange.position_rows(category)
        if symbol:  # every leg of the symbol, flat ones too
            rows = [r for r in rows if r[1]["symbol"] == symbol and self._coin_match(r[1], p)]
        else:
            rows = [r for r in rows if r[1]["size"] != "0" and self._coin_match(r[1], p)]
        page, cursor = _page(rows, limit, p.get("cursor", ""), descending=False)
        return _result(category, page, cursor)

    def _coin_match(self, row: Element, p: Params) -> bool:
        symbol = str(row["symbol"])
        spec = self.exchange.spec(symbol, str(row["category"]))
        if spec is None:
            return False
        return (
            p.get("symbol", symbol) in ("", symbol)
            and p.get("baseCoin", spec.base_coin) in ("", spec.base_coin)
            and p.get("settleCoin", spec.settle_coin) in ("", spec.settle_coin)
        )


def _result(category: str, rows: list[Element], cursor: str) -> dict[str, object]:
    return {"category": category, "list": rows, "nextPageCursor": cursor}


def _category(p: Params) -> str:
    category = p.get("category", "")
    if category not in _CATEGORIES:
        raise ParamError(f"Illegal category {category!r}" if category else "category is required")
    return category


def _limit(p: Params, default: int, top: int) -> int:
    text = p.get("limit", "")
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= top:
        raise ParamError(f"limit must be an integer from 1 to {top}, not {text!r}")
    return int(text)


def _ms_param(p: Params, name: str) -> int | None:
    text = p.get(name, "")
    if not text:
        return None
    if not text.isdigit():
        raise ParamError(f"{name} must be a millisecond timestamp, not {text!r}")
    return int(text)


def _window(p: Params, now: int) -> tuple[int, int]:
    """(start, end) in ms: the last 7 days by default; at most 7 days."""
    start, end = _ms_param(p, "startTime"), _ms_param(p, "endTime")
    if start is None and end is None:
        return now - _WEEK_MS, now
    if start is None:
        assert end is not None  # noqa: S101 - narrowed by the test above
        return end - _WEEK_MS, end
    if end is None:
        return start, start + _WEEK_MS
    if start > end:
        raise ParamError("startTime must not be after endTime")
    if end - start > _WEEK_MS:
        raise ParamError("The time range between startTime and endTime cannot exceed 7 days")
    return start, end


def _is_order(row: Element, order_id: str, link_id: str) -> bool:
    if order_id:
        return row["orderId"] == order_id
    return row["orderLinkId"] == link_id


def _order_filter(row: Element, p: Params) -> bool:
    wanted = p.get("orderFilter", "")
    stop = row["stopOrderType"]
    if not wanted:
        return True
    if wanted == "Order":
        return stop == ""
    if wanted == "StopOrder":
        return stop == "Stop"
    if wanted == "tpslOrder":
        return stop in _TPSL
    if wanted in ("OcoOrder", "BidirectionalTpslOrder"):
        return False
    raise ParamError(f"orderFilter: invalid value {wanted!r}")


def _page(rows: Rows, limit: int, cursor: str, *, descending: bool) -> tuple[list[Element], str]:
    """One page after ``cursor`` (the ordinal of the last row already returned)."""
    if cursor:
        if not cursor.isdigit():
            raise ParamError(f"cursor: invalid value {cursor!r}")
        after = int(cursor)
        rows = [r for r in rows if (r[0] < after if descending else r[0] > after)]
    page = rows[:limit]
    return [r[1] for r in page], (str(page[-1][0]) if len(rows) > limit else "")


def make_handler(api: RestApi) -> type[BaseHTTPRequestHandler]:
    """An ``http.server`` request handler class serving ``api``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "bybit-sandbox"

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self._answer("POST")

        def _answer(self, method: str) -> None:
            status, body = api.handle(method, self.path, self.headers.get)
            data = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Bapi-Limit", "50")
            self.send_header("X-Bapi-Limit-Status", "49")
            self.send_header("X-Bapi-Limit-Reset-Timestamp", str(api.server_ms() + 1000))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
            """Quiet: the sandbox does not log each request."""

    return Handler
