"""The REST client against a real HTTP server on 127.0.0.1 that checks every request the
way Bybit does (HMAC of the query string as received, timestamp inside the recv window)
and answers from a script: paging, repeated cursors, rate limits, clock skew, bad keys,
server errors, malformed rows. No real network; every test is bounded."""

from __future__ import annotations

import doctest
import hashlib
import hmac
import json
import logging
import random
import signal
import ssl
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

import oms.bybit.rest
import oms.bybit.rest_rows
from oms.bybit.rest import (
    EXECUTION_WINDOW_MS,
    AuthError,
    ClockSkewError,
    RateLimitedError,
    RestClient,
    RestError,
    default_opener,
    fill_from_rest,
    order_from_rest,
    position_from_rest,
    split_windows,
)
from oms.bybit.signing import Credentials, Secret
from oms.core.fills import FillSource
from oms.core.orders import Side
from oms.core.states import OrderStatus
from oms.errors import LocalError, MalformedFrameError, RemoteError
from tests.sandbox.client import refusing_url

if TYPE_CHECKING:
    from collections.abc import Callable

KEY = "AbCdKeyForTests123"
SECRET = "sEcReT-for-tests-0123456789abcdef"  # noqa: S105 - a made-up test secret
CREDS = Credentials(KEY, Secret(SECRET))
DAY_MS = 24 * 60 * 60 * 1000


# -- a Bybit-like server ---------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def ok(result: dict[str, Any]) -> Reply:
    return Reply(body={"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}})


def ret(code: int, msg: str, **extra: Any) -> Reply:
    return Reply(body={"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, **extra})


def page(rows: list[dict[str, Any]], cursor: str = "", category: str = "linear") -> Reply:
    return ok({"category": category, "list": rows, "nextPageCursor": cursor})


@dataclass
class Seen:
    path: str
    raw_query: str
    params: dict[str, str]
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that timed out hangs up before the reply: expected, not worth a trace.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FakeBybit:
    """Verifies signatures like Bybit and answers scripted replies in order, per path."""

    def __init__(self) -> None:
        self.keys = {KEY: SECRET}
        self.scripts: dict[str, deque[Reply | Callable[[dict[str, str]], Reply]]] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def script(self, path: str, *replies: Reply | Callable[[dict[str, str]], Reply]) -> None:
        self.scripts.setdefault(path, deque()).extend(replies)

    def signatures(self) -> list[str]:
        return [s.headers.get("X-BAPI-SIGN", "") for s in self.seen]

    def answer(self, path: str, raw_query: str, headers: dict[str, str]) -> Reply:
        params = {k: v[0] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        with self.lock:
            self.seen.append(Seen(path, raw_query, params, headers))
        refusal = self.verify(raw_query, headers)
        if refusal is not None:
            return refusal
        with self.lock:
            queue = self.scripts.get(path)
            if not queue:
                return Reply(500, b"no scripted reply")
            reply = queue.popleft()
        return reply(params) if callable(reply) else reply

    def verify(self, raw_query: str, headers: dict[str, str]) -> Reply | None:
        """Bybit's checks: known key, timestamp within the window, HMAC of what arrived."""
        key = headers.get("X-BAPI-API-KEY", "")
        if key not in self.keys:
            # Bybit's wording; it echoes nothing secret.
            return ret(10003, "API key is invalid.")
        timestamp = headers.get("X-BAPI-TIMESTAMP", "")
        window = headers.get("X-BAPI-RECV-WINDOW", "5000")
        server_ms = int(time.time() * 1000)
        if not (server_ms - int(window) <= int(timestamp) < server_ms + 1000):
            return ret(
                10002,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{server_ms}],recv_window[{window}]",
                time=server_ms,
            )
        origin = f"{timestamp}{key}{window}{raw_query}"
        expected = hmac.new(self.keys[key].encode(), origin.encode(), hashlib.sha256).hexdigest()
        if headers.get("X-BAPI-SIGN") != expected or headers.get("X-BAPI-SIGN-TYPE") != "2":
            # Bybit echoes the origin string, which holds the full API key.
            return ret(10004, f"error sign! origin_string[{origin}]")
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                headers = {k.upper(): v for k, v in self.headers.items()}  # names are case-blind
                reply = fake.answer(parts.path, parts.query, headers)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = reply.body
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler


@pytest.fixture(autouse=True)
def bounded():
    """Every test in this module fails instead of hanging past 20 s."""

    def expire(*_args: object) -> None:
        raise TimeoutError("test took longer than 20 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 20)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def bybit():
    fake = FakeBybit()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(timeout=5)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(bybit, sleeps):
    return make_client(bybit, sleeps)


def make_client(bybit: FakeBybit, sleeps: list[float], **kwargs: Any) -> RestClient:
    options: dict[str, Any] = {
        "timeout_s": 2,
        "max_retries": 3,
        "sleep": sleeps.append,
        "jitter": lambda: 0.5,
    }
    options.update(kwargs)
    credentials = options.pop("credentials", CREDS)
    return RestClient(bybit.url, credentials, **options)


def order_row(order_id: str, **changes: Any) -> dict[str, Any]:
    """A /v5/order/realtime row as Bybit sends it: no category (that is on the page)."""
    row = {
        "orderId": order_id,
        "orderLinkId": "",
        "symbol": "BTCUSDT",
        "price": "30000",
        "qty": "0.010",
        "side": "Buy",
        "positionIdx": 0,
        "orderStatus": "New",
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": "",
        "leavesQty": "0.010",
        "cumExecQty": "0",
        "cumExecValue": "0",
        "cumExecFee": "0",
        "timeInForce": "GTC",
        "orderType": "Limit",
        "stopOrderType": "",
        "triggerPrice": "0.00",
        "reduceOnly": False,
        "createdTime": "1684738540559",
        "updatedTime": "1684738540561",
    }
    row.update(changes)
    return row


def exec_row(exec_id: str, exec_time: int, **changes: Any) -> dict[str, Any]:
    row = {
        "symbol": "BTCUSDT",
        "orderId": "o-1",
        "orderLinkId": "",
        "side": "Buy",
        "execId": exec_id,
        "execPrice": "30000.5",
        "execQty": "0.001",
        "execType": "Trade",
        "execValue": "30.0005",
        "execFee": "0.018",
        "feeRate": "0.0006",
        "isMaker": False,
        "closedSize": "",
        "leavesQty": "0",
        "execTime": str(exec_time),
        "seq": 4688002127,
    }
    row.update(changes)
    return row


def position_row(**changes: Any) -> dict[str, Any]:
    row = {
        "positionIdx": 0,
        "symbol": "BTCUSDT",
        "side": "Sell",
        "size": "0.3",
        "avgPrice": "27464.50441675",
        "markPrice": "28224.50",
        "unrealisedPnl": "-0.00029413",
        "cumRealisedPnl": "-0.00096902",
        "seq": 5723621632,
        "updatedTime": "1697673600012",
    }
    row.update(changes)
    return row


# -- signing and the envelope ----------------------------------------------------------


def test_get_signs_what_it_sends_and_returns_result(bybit, client):
    bybit.script("/v5/order/realtime", page([order_row("o-1")]))
    result = client.get("/v5/order/realtime", {"symbol": "BTCUSDT", "category": "linear"})
    assert result["list"][0]["orderId"] == "o-1"
    (seen,) = bybit.seen
    assert seen.raw_query == "category=linear&symbol=BTCUSDT"
    assert seen.headers["X-BAPI-RECV-WINDOW"] == "5000"
    assert seen.headers["X-BAPI-SIGN-TYPE"] == "2"


def test_awkward_values_are_signed_byte_for_byte(bybit, client):
    bybit.script("/v5/x", ok({}))
    client.get("/v5/x", {"a": "x y&z=1", "b": "é/%", "c": True, "d": None, "e": Decimal("0.1")})
    (seen,) = bybit.seen  # the server accepted the signature of the encoded text
    assert seen.params == {"a": "x y&z=1", "b": "é/%", "c": "true", "e": "0.1"}


def test_path_must_be_absolute(client):
    with pytest.raises(LocalError, match="path"):
        client.get("v5/order/realtime", {})


def test_plain_http_only_to_loopback():
    with pytest.raises(LocalError, match="https"):
        RestClient("http://api.bybit.com", CREDS)
    with pytest.raises(LocalError, match="http"):
        RestClient("ftp://127.0.0.1", CREDS)
    RestClient("http://[::1]:1", CREDS)
    RestClient("http://sandbox:8080", CREDS, allow_insecure_http=True)


def test_default_opener_verifies_tls():
    opener = default_opener()
    handlers = opener.handlers  # type: ignore[attr-defined]
    (https,) = [h for h in handlers if h.__class__.__name__ == "HTTPSHandler"]
    context = https._context
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


def test_repr_masks_credentials(bybit, client):
    text = repr(client)
    assert bybit.url in text
    assert KEY not in text
    assert SECRET not in text


# -- paging ------------------------------------------------------------------------------


def test_open_orders_follow_cursors_across_pages(bybit, client):
    cursor = "page_args%3Do-2%26symbol%3D6%26"  # already percent-encoded, as Bybit sends it
    bybit.script(
        "/v5/order/realtime",
        page([order_row("o-1"), order_row("o-2")], cursor=cursor),
        page([order_row("o-3")], cursor="next%3D2"),
        page([order_row("o-4")], cursor=""),
    )
    rows = client.open_orders("linear", settle_coin="USDT")
    assert [r["orderId"] for r in rows] == ["o-1", "o-2", "o-3", "o-4"]
    assert all(r["category"] == "linear" for r in rows)
    first, second, third = bybit.seen
    assert first.params == {
        "category": "linear",
        "limit": "50",
        "openOnly": "0",
        "settleCoin": "USDT",
    }
    assert "cursor" not in first.params
    assert second.params["cursor"] == cursor  # the server decodes back to Bybit's own text
    assert third.params["cursor"] == "next%3D2"


def test_orders_are_deduped_keeping_the_later_copy(bybit, client):
    bybit.script(
        "/v5/order/realtime",
        page([order_row("o-1"), order_row("o-2")], cursor="c1"),
        page([order_row("o-2", orderStatus="PartiallyFilled"), order_row("o-3")]),
    )
    rows = client.open_orders("linear", symbol="BTCUSDT")
    assert [(r["orderId"], r["orderStatus"]) for r in rows] == [
        ("o-1", "New"),
        ("o-2", "PartiallyFilled"),
        ("o-3", "New"),
    ]


def test_repeating_cursor_stops_with_an_error(bybit, client):
    for _ in range(5):
        bybit.script("/v5/order/realtime", page([order_row("o-1")], cursor="same"))
    with pytest.raises(RestError, match="nextPageCursor repeated"):
        client.open_orders("linear", settle_coin="USDT")
    assert len(bybit.seen) == 2


def test_cursor_cycle_is_caught_too(bybit, client):
    bybit.script(
        "/v5/order/realtime",
        page([order_row("o-1")], cursor="a"),
        page([order_row("o-2")], cursor="b"),
        page([order_row("o-1")], cursor="a"),
    )
    with pytest.raises(RestError, match="repeated"):
        client.open_orders("linear", settle_coin="USDT")
    assert len(bybit.seen) == 3


def test_empty_page_with_a_cursor_ends_paging(bybit, client):
    bybit.script("/v5/order/realtime", page([order_row("o-1")], cursor="a"), page([], cursor="b"))
    assert len(client.open_orders("linear", settle_coin="USDT")) == 1
    assert len(bybit.seen) == 2


def test_pages_with_a_custom_list_key(bybit, client):
    bybit.script("/v5/asset/x", ok({"rows": [{"a": 1}], "nextPageCursor": ""}))
    assert list(client.pages("/v5/asset/x", {"k": "v"}, list_key="rows", limit=7)) == [{"a": 1}]
    assert bybit.seen[0].params == {"k": "v", "limit": "7"}


def test_malformed_pages_are_refused(bybit, client):
    bybit.script("/v5/x", ok({"list": {"not": "a list"}}), ok({"list": ["row"]}))
    with pytest.raises(RestError, match="not a list"):
        list(client.pages("/v5/x", {}))
    with pytest.raises(RestError, match="not an object"):
        list(client.pages("/v5/x", {}))


def test_recent_closed_orders_use_open_only_1_and_2_for_inverse(bybit, client):
    bybit.script("/v5/order/realtime", page([order_row("o-1", orderStatus="Filled")]), page([]))
    rows = client.recent_closed_orders("linear", settle_coin="USDT")
    assert rows[0]["orderStatus"] == "Filled"
    client.recent_closed_orders("inverse")
    assert [s.params["openOnly"] for s in bybit.seen] == ["1", "2"]


def test_linear_needs_a_scope(client):
    with pytest.raises(LocalError, match="symbol or settle_coin"):
        client.open_orders("linear")
    with pytest.raises(LocalError, match="symbol or settle_coin"):
        client.positions("linear")
    with pytest.raises(LocalError, match="not 'spot'"):
        client.positions("spot")


def test_order_by_id(bybit, client):
    bybit.script("/v5/order/realtime", page([order_row("o-9")]), page([]))
    row = client.order_by_id("linear", "o-9")
    assert row is not None
    assert row["category"] == "linear"
    assert bybit.seen[0].params == {"category": "linear", "orderId": "o-9"}
    assert client.order_by_id("linear", "o-9") is None
    with pytest.raises(LocalError):
        client.order_by_id("linear", "")


def test_executions_split_into_7_day_windows_deduped_and_sorted(bybit, client):
    end = 1_700_000_000_000
    start = end - 16 * DAY_MS

    def window(params: dict[str, str]) -> Reply:
        lo, hi = int(params["startTime"]), int(params["endTime"])
        if hi - lo > EXECUTION_WINDOW_MS:
            return ret(10001, "time range exceeds 7 days")
        # newest first, as Bybit sorts; the boundary fill is in two windows
        rows = [exec_row(f"e-{lo}", lo + 5), exec_row("e-boundary", start + 7 * DAY_MS)]
        return page(rows if lo <= start + 7 * DAY_MS <= hi else rows[:1])

    bybit.script("/v5/execution/list", window, window, window)
    rows = client.executions("linear", start_ms=start, end_ms=end, symbol="BTCUSDT")
    windows = [(int(s.params["startTime"]), int(s.params["endTime"])) for s in bybit.seen]
    assert windows == [
        (start, start + 7 * DAY_MS),
        (start + 7 * DAY_MS, start + 14 * DAY_MS),
        (start + 14 * DAY_MS, end),
    ]
    assert all(s.params["limit"] == "100" and s.params["symbol"] == "BTCUSDT" for s in bybit.seen)
    ids = [r["execId"] for r in rows]
    assert ids.count("e-boundary") == 1
    assert len(ids) == 4
    times = [int(r["execTime"]) for r in rows]
    assert times == sorted(times)
    assert all(r["category"] == "linear" for r in rows)


def test_executions_end_defaults_to_now_and_refuses_a_reversed_range(bybit, sleeps):
    now_s = time.time()
    client = make_client(bybit, sleeps, clock=lambda: now_s)
    bybit.script("/v5/execution/list", page([]))
    assert client.executions("linear", start_ms=int(now_s * 1000) - 1000) == []
    assert bybit.seen[0].params["endTime"] == str(int(now_s * 1000))
    with pytest.raises(LocalError, match="after"):
        client.executions("linear", start_ms=2, end_ms=1)


def test_split_windows():
    assert split_windows(5, 5) == [(5, 5)]
    assert split_windows(0, EXECUTION_WINDOW_MS) == [(0, EXECUTION_WINDOW_MS)]
    assert split_windows(0, EXECUTION_WINDOW_MS + 1) == [
        (0, EXECUTION_WINDOW_MS),
        (EXECUTION_WINDOW_MS, EXECUTION_WINDOW_MS + 1),
    ]
    with pytest.raises(LocalError):
        split_windows(0, 1, span_ms=0)


def test_positions_all_pages_with_category(bybit, client):
    bybit.script(
        "/v5/position/list",
        page([position_row()], cursor="p2", category="inverse"),
        page([position_row(symbol="ETHUSD", positionIdx=0)], category="inverse"),
    )
    rows = client.positions("inverse")
    assert [r["symbol"] for r in rows] == ["BTCUSDT", "ETHUSD"]
    assert bybit.seen[0].params == {"category": "inverse", "limit": "200"}
    report = position_from_rest(rows[0])
    assert report.category == "inverse"
    assert report.side is Side.SELL
    assert report.size == Decimal("0.3")
    assert report.entry_price == Decimal("27464.50441675")
    assert report.seq == 5723621632


# -- rate limits, retries and failures ---------------------------------------------------


def test_rate_limit_twice_then_success_backs_off_exponentially(bybit, sleeps):
    # The fake sleep returns at once, so two signings could fall in one millisecond and
    # carry one timestamp. The clock moves on by a millisecond per sleep instead (not by
    # the whole delay: the server refuses timestamps more than 1 s ahead of its own).
    now = [time.time()]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += 0.001

    client = make_client(bybit, sleeps, sleep=sleep, clock=lambda: now[0])
    bybit.script(
        "/v5/position/list",
        ret(10006, "Too many visits!"),
        ret(10006, "Too many visits!"),
        page([position_row()]),
    )
    assert len(client.positions("linear", symbol="BTCUSDT")) == 1
    # backoff 0.5 s * 2**attempt, half fixed and half jitter (the jitter here is 0.5)
    assert sleeps == [0.375, 0.75]
    signatures = bybit.signatures()
    assert len(signatures) == 3
    assert len(set(signatures)) == 3  # every retry is signed afresh


def test_default_jitter_stays_within_its_band(bybit, sleeps):
    client = make_client(bybit, sleeps, jitter=random.random, backoff_s=1.0)
    bybit.script("/v5/x", *[ret(10006, "Too many visits!")] * 3, ok({}))
    client.get("/v5/x", {})
    for attempt, delay in enumerate(sleeps):
        step = 2.0**attempt
        assert step / 2 <= delay <= step


def test_rate_limit_reset_header_is_honoured(bybit, sleeps):
    now_s = time.time()
    client = make_client(bybit, sleeps, clock=lambda: now_s)
    reset = {"X-Bapi-Limit-Reset-Timestamp": str(int(now_s * 1000) + 1234)}
    bybit.script("/v5/x", Reply(body=ret(10006, "Too many visits!").body, headers=reset), ok({}))
    client.get("/v5/x", {})
    assert sleeps == [pytest.approx(1.234, abs=0.002)]


def test_rate_limited_for_good_raises_after_max_retries(bybit, client, sleeps):
    bybit.script("/v5/x", *[ret(10006, "Too many visits!")] * 10)
    with pytest.raises(RateLimitedError) as info:
        client.get("/v5/x", {})
    assert info.value.code == 10006
    assert len(bybit.seen) == 4
    assert sleeps == [0.375, 0.75, 1.5]


@pytest.mark.parametrize(
    "reply",
    [Reply(429, b"Too Many Requests"), Reply(403, b"access too frequent")],
    ids=["429", "403"],
)
def test_http_rate_limits_are_retried(bybit, client, sleeps, reply):
    bybit.script("/v5/x", reply, ok({"ok": True}))
    assert client.get("/v5/x", {}) == {"ok": True}
    assert sleeps == [0.375]


def test_other_403_is_not_retried(bybit, client, sleeps):
    bybit.script("/v5/x", Reply(403, b"<html>blocked in your region</html>"), ok({}))
    with pytest.raises(RestError, match="HTTP 403") as info:
        client.get("/v5/x", {})
    assert not isinstance(info.value, RateLimitedError)
    assert sleeps == []


def test_http_500_then_success(bybit, client, sleeps):
    bybit.script("/v5/x", Reply(500, b"oops"), Reply(502, b""), ok({"fine": 1}))
    assert client.get("/v5/x", {}) == {"fine": 1}
    assert sleeps == [0.375, 0.75]


def test_server_busy_codes_are_retried(bybit, client, sleeps):
    bybit.script("/v5/x", ret(10016, "Server error"), ok({}))
    assert client.get("/v5/x", {}) == {}
    assert len(sleeps) == 1


def test_persistent_5xx_raises_rest_error(bybit, sleeps):
    client = make_client(bybit, sleeps, max_retries=1)
    bybit.script("/v5/x", Reply(503, b"down"), Reply(503, b"down"))
    with pytest.raises(RestError, match="HTTP 503"):
        client.get("/v5/x", {})
    assert len(sleeps) == 1


def test_connection_refused_is_retried_then_rest_error(sleeps):
    client = RestClient(refusing_url(), CREDS, max_retries=2, sleep=sleeps.append, timeout_s=2)
    with pytest.raises(RestError, match="network error") as info:
        client.get("/v5/x", {})
    assert info.value.code is None
    assert info.value.__cause__ is not None
    assert len(sleeps) == 2


def test_cancel_retries_ends_a_retry_wait_at_once_with_its_failure(caplog):
    # A backoff of 30 s (no jitter): the first retry waits 30 s unless cancelled.
    client = RestClient(
        refusing_url(), CREDS, max_retries=5, backoff_s=30, jitter=lambda: 1.0, timeout_s=2
    )
    raised: list[BaseException] = []

    def get() -> None:
        try:
            client.get("/v5/x", {})
        except RestError as exc:
            raised.append(exc)

    caplog.set_level(logging.WARNING, logger="oms.bybit.rest")
    getter = threading.Thread(target=get, name="get", daemon=True)
    getter.start()
    deadline = time.monotonic() + 10
    while "retry 1/5 in 30.00s" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "retry 1/5 in 30.00s" in caplog.text
    client.cancel_retries()
    getter.join(10)  # far less than the 30 s wait it was in
    assert not getter.is_alive()
    (error,) = raised
    assert "network error" in str(error)
    assert "retry 2/5" not in caplog.text  # nothing tried after the cancel


def test_after_cancel_retries_a_failure_is_raised_untried_and_a_success_returns(bybit, sleeps):
    client = make_client(bybit, sleeps)
    client.cancel_retries()
    bybit.script("/v5/x", Reply(503, b"down"), ok({"up": True}))
    with pytest.raises(RestError, match="HTTP 503"):
        client.get("/v5/x", {})
    assert sleeps == []  # no wait, no retry
    assert client.get("/v5/x", {}) == {"up": True}  # a request still runs


def test_timeout_is_retried(bybit, sleeps):
    client = make_client(bybit, sleeps, timeout_s=0.2)
    bybit.script("/v5/x", Reply(body=ok({}).body, delay_s=0.6), ok({"late": False}))
    assert client.get("/v5/x", {}) == {"late": False}
    assert len(sleeps) == 1


def test_clock_skew_names_the_skew(bybit, sleeps):
    client = make_client(bybit, sleeps, clock=lambda: time.time() - 60)
    bybit.script("/v5/x", ok({}))
    with pytest.raises(ClockSkewError) as info:
        client.get("/v5/x", {})
    error = info.value
    assert error.code == 10002
    assert error.server_time_ms is not None
    assert error.skew_ms is not None
    assert -61_000 < error.skew_ms < -59_000
    text = str(error)
    assert "local clock is" in text
    assert "behind Bybit's" in text
    assert f"server time {error.server_time_ms} ms" in text
    assert f"local time {error.local_time_ms} ms" in text
    assert sleeps == []  # not retried blindly
    assert isinstance(error, RemoteError)


def test_clock_skew_without_server_time(bybit, client):
    bybit.script("/v5/x", ret(10002, "req_timestamp out of window"))
    with pytest.raises(ClockSkewError, match="probably off") as info:
        client.get("/v5/x", {})
    assert info.value.skew_ms is None


def test_invalid_key_is_an_auth_error(bybit, sleeps):
    client = make_client(bybit, sleeps, credentials=Credentials("WrongKey12345", Secret(SECRET)))
    with pytest.raises(AuthError, match="invalid API key") as info:
        client.get("/v5/x", {})
    assert "check the key matches the environment" in str(info.value)
    assert info.value.code == 10003
    assert sleeps == []


def test_bad_signature_is_an_auth_error_and_hides_the_key(bybit, sleeps):
    client = make_client(bybit, sleeps, credentials=Credentials(KEY, Secret("wrong-secret")))
    with pytest.raises(AuthError, match="bad signature") as info:
        client.get("/v5/x", {"category": "linear"})
    text = str(info.value)
    assert info.value.code == 10004
    assert "origin_string" in text  # Bybit's reason is kept...
    assert KEY not in text  # ...with the key masked
    assert "AbCd…" in text


@pytest.mark.parametrize(
    ("code", "words"),
    [(10005, "permission denied"), (10010, "IP not whitelisted"), (33004, "expired")],
)
def test_other_key_problems_are_auth_errors(bybit, client, code, words):
    bybit.script("/v5/x", ret(code, "refused"))
    with pytest.raises(AuthError, match=words) as info:
        client.get("/v5/x", {})
    assert info.value.code == code
    assert info.value.path == "/v5/x"


def test_other_ret_codes_are_rest_errors(bybit, client):
    bybit.script("/v5/x", ret(10001, "params error: symbol invalid"))
    with pytest.raises(RestError) as info:
        client.get("/v5/x", {})
    assert (info.value.code, info.value.message, info.value.path) == (
        10001,
        "params error: symbol invalid",
        "/v5/x",
    )


def test_malformed_envelopes(bybit, client):
    bybit.script(
        "/v5/x",
        Reply(200, b"<html>not json</html>"),
        Reply(200, b'{"retCode": 0, "result": []}'),
        Reply(200, b'{"retCode": "zero", "result": {}}'),
    )
    with pytest.raises(RestError, match="not a Bybit envelope"):
        client.get("/v5/x", {})
    with pytest.raises(RestError, match="result is not an object"):
        client.get("/v5/x", {})
    with pytest.raises(RestError, match="retCode is not an integer"):
        client.get("/v5/x", {})


def test_redirects_are_refused(bybit, client):
    bybit.script("/v5/x", Reply(302, b"", headers={"Location": "http://127.0.0.1:1/steal"}))
    with pytest.raises(RestError, match="HTTP 302"):
        client.get("/v5/x", {})
    assert len(bybit.seen) == 1


def test_unauthorized_http_401_without_envelope(bybit, client):
    bybit.script("/v5/x", Reply(401, b"Unauthorized"))
    with pytest.raises(AuthError, match="401"):
        client.get("/v5/x", {})


# -- no secret anywhere ------------------------------------------------------------------


def test_no_secret_signature_or_key_in_logs_or_errors(bybit, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    good = make_client(bybit, sleeps, max_retries=1)
    bad_sig = make_client(bybit, sleeps, credentials=Credentials(KEY, Secret("nope")))
    skewed = make_client(bybit, sleeps, clock=lambda: time.time() + 30)
    bybit.script("/v5/x", ret(10006, "Too many visits!"), Reply(500, b"x"), Reply(500, b"x"))
    bybit.script("/v5/x", ret(10001, f"echo {KEY} {SECRET}"))
    for client in (good, bad_sig, skewed, good):
        try:
            client.get("/v5/x", {"category": "linear"})
        except RemoteError as exc:
            errors.append(exc)
    assert [type(e) for e in errors] == [RestError, AuthError, ClockSkewError, RestError]
    assert "GET /v5/x -> retCode 10006" in caplog.text
    texts = [caplog.text, *map(str, errors), *map(repr, errors)]
    texts += [repr(good), repr(bad_sig)]
    secrets = [SECRET, KEY, *[s for s in bybit.signatures() if s]]
    assert len(secrets) >= 6
    for text in texts:
        for secret in secrets:
            assert secret not in text
    for record in caplog.records:
        assert record.levelno <= logging.WARNING


# -- REST rows -> core values -----------------------------------------------------------


def test_order_from_rest():
    order = order_from_rest({**order_row("o-1", avgPrice="0"), "category": "linear"})
    assert order.order_id == "o-1"
    assert order.category == "linear"
    assert order.status is OrderStatus.NEW
    assert order.qty == Decimal("0.010")
    assert order.avg_price is None
    assert order_from_rest(order_row("o-2"), category="option").category == "option"


def test_fill_from_rest():
    fill = fill_from_rest(exec_row("e-1", 1672282722429), category="linear")
    assert fill.source is FillSource.REST
    assert fill.exec_id == "e-1"
    assert fill.exec_price == Decimal("30000.5")
    assert fill.exec_fee == Decimal("0.018")
    assert fill.exec_time == 1672282722429
    assert fill.seq == 4688002127


def test_position_from_rest_keeps_an_entry_price_if_present():
    row = position_row(entryPrice="1", category="linear")
    assert position_from_rest(row).entry_price == Decimal(1)
    flat = position_from_rest(position_row(side="", size="0", avgPrice=""), category="linear")
    assert flat.side is None
    assert flat.entry_price is None


@pytest.mark.parametrize(
    ("convert", "row", "reason"),
    [
        (order_from_rest, order_row("o-1", qty="abc"), "qty: not a decimal number"),
        (order_from_rest, order_row("o-1", orderStatus="Weird"), "orderStatus: unknown value"),
        (order_from_rest, {"orderId": "o-1"}, "order row:"),
        (fill_from_rest, exec_row("e-1", 1, execPrice=1.5), "execPrice"),
        (fill_from_rest, exec_row("e-1", 1, side="Up"), "side: unknown value"),
        (position_from_rest, position_row(size="-1"), "size: negative"),
        (position_from_rest, position_row(side="", size="1"), "empty side"),
        (order_from_rest, ["not", "a", "row"], "not an object"),
    ],
)
def test_rows_failing_validation_are_malformed(convert, row, reason):
    with pytest.raises(MalformedFrameError) as info:
        convert(row, category="linear")
    assert reason in info.value.reason
    assert info.value.topic is not None
    assert info.value.topic.startswith("/v5/")


def test_snapshot_rows_feed_the_converters_end_to_end(bybit, client):
    bybit.script(
        "/v5/order/realtime",
        page([order_row("o-1"), order_row("o-2", qty="")]),
    )
    orders, bad = [], []
    for row in client.open_orders("linear", symbol="BTCUSDT"):
        try:
            orders.append(order_from_rest(row))
        except MalformedFrameError as exc:
            bad.append(exc)
    assert [o.order_id for o in orders] == ["o-1"]
    assert [o.category for o in orders] == ["linear"]
    assert len(bad) == 1
    assert "qty" in bad[0].reason


def test_module_doctests():
    assert doctest.testmod(oms.bybit.rest).failed == 0
    assert doctest.testmod(oms.bybit.rest_rows).attempted > 0
    assert doctest.testmod(oms.bybit.rest_rows).failed == 0
