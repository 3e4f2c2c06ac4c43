"""Signed REST snapshot client for resyncing after a gap (standard library only).

``RestClient.get`` signs one GET and returns the envelope's ``result``; ``pages`` follows
``nextPageCursor``; the typed helpers return raw rows of open/closed orders, executions
(windows of at most 7 days, deduped by execId), positions and wallets, each row carrying
its ``category`` (Bybit puts it only at the page level). ``order_from_rest``,
``fill_from_rest``, ``position_from_rest`` and ``wallet_from_rest`` turn rows into the
ledger's values, through the stream's own decoder (a ``null`` where a field may be empty
is ``""``, as on the stream).

Failures (what pybit gets wrong, done deliberately here):

* rate limits (retCode 10006, HTTP 429, HTTP 403 "access too frequent") and transient
  failures (network errors, timeouts, HTTP 5xx, retCode 10000/10016) are retried with
  exponential backoff and jitter, honouring ``X-Bapi-Limit-Reset-Timestamp``; every retry
  is signed afresh;
* clock skew (10002) is *not* retried blindly: ``ClockSkewError`` says by how much the
  local clock is off; key problems (10003/10004/10005/10010/33004) raise ``AuthError``
  naming the likely cause;
* a cursor that repeats raises instead of looping forever; redirects are refused (they
  would carry the signed headers to another host); TLS is verified;
* no secret, signature or full API key ever reaches an exception, a log line or a repr.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import random
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast
from urllib.parse import urlsplit

from oms.bybit.codec import decode_element
from oms.bybit.frames import Kind
from oms.bybit.signing import (
    Credentials,
    mask_key,
    query_string,
    rest_headers,
)
from oms.core.fills import Fill, FillSource
from oms.errors import (  # RestError and its kin are re-exported from here
    CLOCK_SKEW,
    AuthError,
    ClockSkewError,
    LocalError,
    MalformedFrameError,
    RateLimitedError,
    RestError,
)
from oms.redact import scrub_signatures

if TYPE_CHECKING:
    from oms.bybit.models import WireModel
    from oms.core.orders import Order
    from oms.core.positions import PositionReport

_log = logging.getLogger(__name__)

#: REST hosts of the named environments (the stream URLs are in oms.bybit.stream).
REST_URLS: Final = {
    "mainnet": "https://api.bybit.com",
    "testnet": "https://api-testnet.bybit.com",
    "demo": "https://api-demo.bybit.com",
}
ORDERS_PATH: Final = "/v5/order/realtime"
EXECUTIONS_PATH: Final = "/v5/execution/list"
POSITIONS_PATH: Final = "/v5/position/list"
WALLET_PATH: Final = "/v5/account/wallet-balance"
#: The longest time range /v5/execution/list accepts in one query.
EXECUTION_WINDOW_MS: Final = 7 * 24 * 60 * 60 * 1000
ORDERS_PAGE: Final = 50
EXECUTIONS_PAGE: Final = 100
POSITIONS_PAGE: Final = 200
MAX_PAGES: Final = 10_000
_MAX_BODY: Final = 32 * 1024 * 1024
_EXCERPT: Final = 160

RATE_LIMITED: Final = 10006
#: Bybit's "server timeout" and "server error": worth another try.
TRANSIENT_CODES: Final = frozenset({10000, 10016})
_AUTH_TEXT: Final = {
    10003: "invalid API key (retCode 10003): check the key matches the environment "
    "(mainnet, testnet, mainnet-demo or testnet-demo) of {host}",
    10004: "bad signature (retCode 10004): check that the API secret belongs to this key "
    "and has no stray whitespace",
    10005: "permission denied (retCode 10005): the API key lacks the permission for {path} "
    "(enable read access to orders and positions)",
    10010: "IP not whitelisted (retCode 10010): add this machine's public IP to the API "
    "key's IP whitelist",
    33004: "API key expired (retCode 33004): create a new key",
    -2015: "API key expired or invalid (retCode -2015): create a new key",
}


@dataclass(frozen=True, slots=True)
class _Retry:
    """An attempt that may succeed if tried again; ``error`` is raised when out of tries."""

    error: RestError
    reset_ms: int | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: following one would send the signed headers elsewhere."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


def default_opener() -> urllib.request.OpenerDirector:
    """An opener that verifies TLS (system CAs) and never follows redirects."""
    https = urllib.request.HTTPSHandler(context=ssl.create_default_context())
    return urllib.request.build_opener(https, _NoRedirect())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


class RestClient:
    """Signed GETs against Bybit v5 (``base_url`` such as ``https://api.bybit.com``)."""

    __slots__ = (
        "_backoff_max_s",
        "_backoff_s",
        "_base",
        "_clock",
        "_creds",
        "_host",
        "_jitter",
        "_max_retries",
        "_opener",
        "_recv_window_ms",
        "_sleep",
        "_timeout_s",
    )

    def __init__(  # noqa: PLR0913 - keyword-only knobs, each with a safe default
        self,
        base_url: str,
        credentials: Credentials,
        *,
        recv_window_ms: int = 5000,
        timeout_s: float = 10,
        max_retries: int = 5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        opener: urllib.request.OpenerDirector | None = None,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        jitter: Callable[[], float] = random.random,
        allow_insecure_http: bool = False,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise LocalError(f"base_url must be an http(s) URL, got {base_url!r}")
        if parts.scheme == "http" and not (allow_insecure_http or _is_loopback(parts.hostname)):
            raise LocalError(f"refusing plain http to {parts.hostname}: use https")
        if recv_window_ms <= 0 or timeout_s <= 0 or max_retries < 0:
            raise LocalError("recv_window_ms and timeout_s must be positive, max_retries >= 0")
        self._base = base_url.rstrip("/")
        self._host = parts.hostname
        self._creds = credentials
        self._recv_window_ms = recv_window_ms
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._clock = clock
        self._sleep = sleep
        self._opener = opener if opener is not None else default_opener()
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._jitter = jitter

    def __repr__(self) -> str:
        return f"RestClient({self._base!r}, {self._creds!r})"

    # -- one signed GET ---------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, object] | None = None) -> dict[str, Any]:
        """Sign and send ``GET path?params``; the envelope's ``result`` on retCode 0."""
        if not path.startswith("/"):
            raise LocalError(f"path must start with '/', got {path!r}")
        query = query_string(params or {})
        attempt = 0
        while True:
            outcome = self._attempt(path, query)
            if not isinstance(outcome, _Retry):
                return outcome
            if attempt >= self._max_retries:
                raise outcome.error
            delay = self._delay(attempt, outcome.reset_ms)
            attempt += 1
            _log.warning(
                "GET %s: %s; retry %d/%d in %.2fs",
                path,
                outcome.error.message,
                attempt,
                self._max_retries,
                delay,
            )
            self._sleep(delay)

    def _delay(self, attempt: int, reset_ms: int | None) -> float:
        """Seconds to wait: until the rate-limit reset if Bybit said, else backoff."""
        cap = self._backoff_max_s
        if reset_ms is not None:
            wait = reset_ms / 1000 - self._clock()
            if wait > 0:
                return min(wait, cap)
        step = min(cap, self._backoff_s * 2.0 ** min(attempt, 62))
        return step / 2 + step / 2 * self._jitter()

    def _attempt(self, path: str, query: str) -> dict[str, Any] | _Retry:
        key, secret = self._creds.api_key, self._creds.api_secret
        headers = rest_headers(
            key,
            secret,
            timestamp_ms=self._now_ms(),
            recv_window_ms=self._recv_window_ms,
            payload=query,
        )
        headers |= {"Accept": "application/json", "User-Agent": "oms-bybit-rest/1"}
        url = f"{self._base}{path}?{query}" if query else f"{self._base}{path}"
        request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310
        scrub = _Scrubber(key, secret.reveal(), headers["X-BAPI-SIGN"])
        del headers  # as for the request below
        try:
            with self._opener.open(request, timeout=self._timeout_s) as response:
                status, body = response.status, response.read(_MAX_BODY + 1)
                reset = response.headers.get("X-Bapi-Limit-Reset-Timestamp")
        except urllib.error.HTTPError as exc:
            status, body = exc.code, _read_error_body(exc)
            reset = exc.headers.get("X-Bapi-Limit-Reset-Timestamp") if exc.headers else None
        except (OSError, http.client.HTTPException) as exc:
            return self._network_failure(path, exc)
        finally:
            del request  # it holds the signed headers; keep them out of traceback locals
        return self._interpret(path, status, body, _int_or_none(reset), scrub)

    def _network_failure(self, path: str, exc: BaseException) -> _Retry:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        _log.debug("GET %s -> %s", path, type(reason).__name__)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise RestError(None, f"TLS certificate verification failed: {reason}", path) from exc
        # http.client quotes what the server sent (a bad status line, say): scrub it
        detail = scrub_signatures(str(reason) or type(reason).__name__)[0]
        error = RestError(None, f"network error: {detail}", path)
        error.__cause__ = exc
        return _Retry(error)

    def _interpret(
        self, path: str, status: int, body: bytes, reset_ms: int | None, scrub: _Scrubber
    ) -> dict[str, Any] | _Retry:
        envelope = _parse(body)
        if envelope is None or "retCode" not in envelope:
            return self._http_failure(path, status, body, reset_ms, scrub)
        code = _int_or_none(envelope["retCode"])
        _log.debug("GET %s -> retCode %s", path, code)
        if code is None:
            raise RestError(None, "malformed envelope: retCode is not an integer", path)
        message = scrub(str(envelope.get("retMsg", "")))
        if code == 0:
            result = envelope.get("result")
            if not isinstance(result, dict):
                raise RestError(None, "malformed envelope: result is not an object", path)
            return result
        if code == RATE_LIMITED:
            return _Retry(RateLimitedError(code, f"rate limited: {message}", path), reset_ms)
        if code == CLOCK_SKEW:
            raise self._clock_skew(path, envelope.get("time"), message)
        if code in _AUTH_TEXT:
            text = _AUTH_TEXT[code].format(host=self._host, path=path)
            raise AuthError(f"GET {path}: {text}; Bybit said: {message}", code=code, path=path)
        if code in TRANSIENT_CODES:
            return _Retry(RestError(code, f"server busy: {message}", path))
        raise RestError(code, message or "request refused", path)

    def _http_failure(
        self, path: str, status: int, body: bytes, reset_ms: int | None, scrub: _Scrubber
    ) -> _Retry:
        _log.debug("GET %s -> HTTP %s", path, status)
        # All of it (bounded by _MAX_BODY), then cut: a cut signature would not be masked
        excerpt = scrub(body.decode("utf-8", "replace").strip())
        if status == 429 or (status == 403 and "too frequent" in excerpt.lower()):
            error = RateLimitedError(None, f"rate limited (HTTP {status}): {excerpt}", path)
            return _Retry(error, reset_ms)
        if status >= 500:
            return _Retry(RestError(None, f"server error HTTP {status}: {excerpt}", path))
        if status == 401:
            raise AuthError(f"GET {path}: unauthorized (HTTP 401): {excerpt}", path=path)
        if 200 <= status < 300:
            raise RestError(None, f"malformed response, not a Bybit envelope: {excerpt}", path)
        raise RestError(None, f"HTTP {status}: {excerpt}", path)

    def _clock_skew(self, path: str, server_time: object, message: str) -> ClockSkewError:
        local_ms = self._now_ms()
        server_ms = server_time if isinstance(server_time, int) else None
        if server_ms is None:
            where = f"the local clock is probably off (local time {local_ms} ms)"
        else:
            skew = local_ms - server_ms
            side = "ahead of" if skew > 0 else "behind"
            where = (
                f"the local clock is {abs(skew)} ms {side} Bybit's "
                f"(local time {local_ms} ms, server time {server_ms} ms)"
            )
        text = (
            f"request timestamp outside the recv window of {self._recv_window_ms} ms: {where}; "
            f"sync the clock (NTP); Bybit said: {message}"
        )
        return ClockSkewError(text, path, server_time_ms=server_ms, local_time_ms=local_ms)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- paging -----------------------------------------------------------------------

    def pages(
        self,
        path: str,
        params: Mapping[str, object],
        *,
        list_key: str = "list",
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row of every page, following ``nextPageCursor`` until it is empty.

        Raises ``RestError`` if a cursor comes back a second time (Bybit has served pages
        whose cursor points at themselves): the snapshot would otherwise never end.
        """
        base = {**params, "limit": limit} if limit is not None else dict(params)
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            result = self.get(path, {**base, "cursor": cursor})
            rows = result.get(list_key) or []
            if not isinstance(rows, list):
                raise RestError(None, f"malformed page: {list_key!r} is not a list", path)
            for row in rows:
                if not isinstance(row, dict):
                    raise RestError(
                        None, f"malformed page: a {list_key!r} row is not an object", path
                    )
                yield row
            following = result.get("nextPageCursor") or ""
            if not isinstance(following, str) or not following or not rows:
                return
            if following in seen:
                raise RestError(None, "nextPageCursor repeated: paging stopped", path)
            seen.add(following)
            cursor = following
        raise RestError(None, f"more than {MAX_PAGES} pages: paging stopped", path)

    # -- typed snapshots (raw rows, each with its category) -----------------------------

    def open_orders(
        self, category: str, *, settle_coin: str | None = None, symbol: str | None = None
    ) -> list[dict[str, Any]]:
        """Open orders (New, PartiallyFilled, Untriggered), all pages, one row per orderId."""
        return self._orders(category, 0, settle_coin, symbol)

    def recent_closed_orders(
        self, category: str, *, settle_coin: str | None = None, symbol: str | None = None
    ) -> list[dict[str, Any]]:
        """Up to the 500 most recent closed orders (a buffer Bybit wipes on restarts).

        ``openOnly=1``; inverse uses ``openOnly=2`` as the docs require for it.
        """
        return self._orders(category, 2 if category == "inverse" else 1, settle_coin, symbol)

    def _orders(
        self, category: str, open_only: int, settle_coin: str | None, symbol: str | None
    ) -> list[dict[str, Any]]:
        _require_scope(category, symbol, settle_coin, "orders")
        params = {
            "category": category,
            "symbol": symbol,
            "settleCoin": settle_coin,
            "openOnly": open_only,
        }
        latest: dict[object, dict[str, Any]] = {}
        for row in self.pages(ORDERS_PATH, params, limit=ORDERS_PAGE):
            # pages shift while orders come and go: keep one row per order, the later copy
            latest[row.get("orderId") or object()] = _with_category(row, category)
        return list(latest.values())

    def order_by_id(self, category: str, order_id: str) -> dict[str, Any] | None:
        """The order with this id (open or recently closed), or ``None``."""
        if not order_id:
            raise LocalError("order_id must not be empty")
        result = self.get(ORDERS_PATH, {"category": category, "orderId": order_id})
        rows = result.get("list") or []
        if not isinstance(rows, list):
            raise RestError(None, "malformed page: 'list' is not a list", ORDERS_PATH)
        for row in rows:
            if isinstance(row, dict) and row.get("orderId") == order_id:
                return _with_category(row, category)
        return None

    def executions(
        self,
        category: str,
        *,
        start_ms: int,
        end_ms: int | None = None,
        symbol: str | None = None,
    ) -> list[dict[str, Any]]:
        """Executions in ``[start_ms, end_ms]`` (``end_ms`` defaults to now), all pages.

        The range is split into windows of at most 7 days; rows are deduped by execId and
        returned oldest first (by execTime, then seq, then execId).
        """
        end = self._now_ms() if end_ms is None else end_ms
        by_id: dict[object, dict[str, Any]] = {}
        for lo, hi in split_windows(start_ms, end):
            params = {"category": category, "symbol": symbol, "startTime": lo, "endTime": hi}
            for row in self.pages(EXECUTIONS_PATH, params, limit=EXECUTIONS_PAGE):
                by_id.setdefault(row.get("execId") or object(), _with_category(row, category))
        return sorted(by_id.values(), key=_execution_order)

    def positions(
        self, category: str, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[dict[str, Any]]:
        """Position legs, all pages (with only ``settle_coin``, Bybit lists open ones only)."""
        if category not in {"linear", "inverse", "option"}:
            raise LocalError(f"positions exist for linear, inverse and option, not {category!r}")
        _require_scope(category, symbol, settle_coin, "positions")
        params = {"category": category, "symbol": symbol, "settleCoin": settle_coin}
        rows = self.pages(POSITIONS_PATH, params, limit=POSITIONS_PAGE)
        return [_with_category(row, category) for row in rows]

    def wallet_balance(self, account_type: str) -> list[dict[str, Any]]:
        """The wallet of ``account_type`` (``UNIFIED``, ``CONTRACT``, ``SPOT``...): one row
        per account, each with every coin (one page: Bybit does not page it)."""
        if not account_type:
            raise LocalError("account_type is required")
        result = self.get(WALLET_PATH, {"accountType": account_type})
        rows = result.get("list") or []
        if not isinstance(rows, list):
            raise RestError(None, "malformed page: 'list' is not a list", WALLET_PATH)
        for row in rows:
            if not isinstance(row, dict):
                raise RestError(None, "malformed page: a 'list' row is not an object", WALLET_PATH)
        return [
            row if row.get("accountType") else {**row, "accountType": account_type} for row in rows
        ]


class _Scrubber:
    """Replaces the key, the secret and the signature in text that came off the wire, and
    masks any other signature-shaped token (an echo of an earlier attempt's signature);
    then cuts the text to an excerpt."""

    __slots__ = ("_pairs",)

    def __init__(self, api_key: str, secret: str, signature: str) -> None:
        pairs = [(secret, "***"), (signature, "***"), (api_key, mask_key(api_key))]
        self._pairs = [(needle, repl) for needle, repl in pairs if needle]

    def __call__(self, text: str) -> str:
        for needle, replacement in self._pairs:
            text = text.replace(needle, replacement)
        return scrub_signatures(text)[0][:_EXCERPT]

    def __repr__(self) -> str:
        return "_Scrubber(***)"


def split_windows(
    start_ms: int, end_ms: int, span_ms: int = EXECUTION_WINDOW_MS
) -> list[tuple[int, int]]:
    """``[start, end]`` cut into consecutive windows no longer than ``span_ms``.

    Windows share their boundary millisecond (rows there are fetched twice and deduped),
    so nothing is lost whether Bybit treats ``endTime`` as inclusive or exclusive.

    >>> split_windows(0, 10, span_ms=4)
    [(0, 4), (4, 8), (8, 10)]
    """
    if start_ms > end_ms:
        raise LocalError(f"start_ms {start_ms} is after end_ms {end_ms}")
    if span_ms <= 0:
        raise LocalError("span_ms must be positive")
    windows = [(start_ms, min(start_ms + span_ms, end_ms))]
    while windows[-1][1] < end_ms:
        lo = windows[-1][1]
        windows.append((lo, min(lo + span_ms, end_ms)))
    return windows


def _require_scope(category: str, symbol: str | None, settle_coin: str | None, what: str) -> None:
    if not category:
        raise LocalError("category is required")
    if category == "linear" and not (symbol or settle_coin):
        raise LocalError(f"linear {what} need symbol or settle_coin (Bybit requires one)")


def _with_category(row: dict[str, Any], category: str) -> dict[str, Any]:
    """Bybit puts ``category`` on the page, not the row: copy it onto the row."""
    return row if row.get("category") else {**row, "category": category}


def _execution_order(row: Mapping[str, Any]) -> tuple[int, int, str]:
    seq = row.get("seq")
    return (
        _int_or_none(row.get("execTime")) or 0,
        seq if isinstance(seq, int) else 0,
        str(row.get("execId", "")),
    )


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _read_error_body(exc: urllib.error.HTTPError) -> bytes:
    try:
        body = exc.read(_MAX_BODY + 1)
    except (OSError, http.client.HTTPException):
        body = b""
    finally:
        exc.close()
    return body if isinstance(body, bytes) else b""


def _parse(body: bytes) -> dict[str, Any] | None:
    """The JSON object in ``body``; ``None`` if it is not one (HTML error pages...)."""
    if len(body) > _MAX_BODY:
        return None
    try:
        value = json.loads(body, parse_float=Decimal, parse_constant=_no_constants)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# -- REST rows -> core values -------------------------------------------------------------


def _row(row: object, category: str | None, path: str) -> dict[str, Any]:
    """A copy of ``row`` with the page's ``category`` where the row has none (missing,
    ``""`` or ``null``; any other non-text stays, and is refused by the decoder)."""
    if not isinstance(row, Mapping):
        raise MalformedFrameError(f"row is not an object: {type(row).__name__}", topic=path)
    out = dict(row)
    if category and out.get("category") in (None, ""):
        out["category"] = category
    return out


def _convert(kind: Kind, what: str, path: str, data: dict[str, Any], source: FillSource) -> Any:  # noqa: ANN401 - the kind's core value
    """The core value of a row, through the stream's own decoder (its category, if any, is
    already on the row); ``MalformedFrameError`` with the reason if it is refused."""
    try:
        return decode_element(kind, data, source=source)
    except ValueError as exc:
        raise MalformedFrameError(f"{what} row: {exc}", topic=path) from exc


def order_from_rest(row: Mapping[str, Any], *, category: str | None = None) -> Order:
    """The core ``Order`` of one ``/v5/order/realtime`` row (``category`` if it lacks one)."""
    data = _row(row, category, ORDERS_PATH)
    return cast("Order", _convert(Kind.ORDER, "order", ORDERS_PATH, data, FillSource.REST))


def fill_from_rest(row: Mapping[str, Any], *, category: str | None = None) -> Fill:
    """The core ``Fill`` (source REST) of one ``/v5/execution/list`` row."""
    data = _row(row, category, EXECUTIONS_PATH)
    return cast(
        "Fill", _convert(Kind.EXECUTION, "execution", EXECUTIONS_PATH, data, FillSource.REST)
    )


def position_from_rest(row: Mapping[str, Any], *, category: str | None = None) -> PositionReport:
    """The core ``PositionReport`` of one ``/v5/position/list`` row (REST ``avgPrice`` is
    the stream's ``entryPrice``, taken when the row has no entryPrice, ``""`` or ``null``)."""
    data = _row(row, category, POSITIONS_PATH)
    if data.get("entryPrice") in (None, "") and "avgPrice" in data:
        data["entryPrice"] = data["avgPrice"]
    position = _convert(Kind.POSITION, "position", POSITIONS_PATH, data, FillSource.REST)
    return cast("PositionReport", position)


def wallet_from_rest(row: Mapping[str, Any]) -> WireModel:
    """The wallet report (``WalletMsg``) of one ``/v5/account/wallet-balance`` row."""
    data = _row(row, None, WALLET_PATH)
    return cast("WireModel", _convert(Kind.WALLET, "wallet", WALLET_PATH, data, FillSource.REST))
