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
* ``cancel_retries`` (an account shutting down) ends a retry's wait at once: the failure
  it was waiting to retry is raised, and so is every later one, untried;
* a cursor that repeats raises instead of looping forever; redirects are refused (they
  would carry the signed headers to another host); TLS is verified;
* no secret, signature or full API key ever reaches an exception, a log line or a repr.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any, Final

from oms.bybit.rest_answers import (
    MAX_BODY,
    RATE_LIMITED,
    TRANSIENT_CODES,
    Retry,
    Scrubber,
    clock_skew_error,
    int_or_none,
    interpret,
    network_failure,
    read_error_body,
)
from oms.bybit.rest_rows import (  # the row converters and paths are re-exported from here
    EXECUTION_WINDOW_MS,
    EXECUTIONS_PATH,
    ORDERS_PATH,
    POSITIONS_PATH,
    WALLET_PATH,
    execution_order,
    fill_from_rest,
    order_from_rest,
    position_from_rest,
    require_scope,
    split_windows,
    wallet_from_rest,
    with_category,
)
from oms.bybit.rest_transport import default_opener, host_of  # default_opener re-exported
from oms.bybit.signing import Credentials, query_string, rest_headers
from oms.errors import (  # RestError and its kin are re-exported from here
    AuthError,
    ClockSkewError,
    LocalError,
    RateLimitedError,
    RestError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "EXECUTIONS_PATH",
    "EXECUTION_WINDOW_MS",
    "ORDERS_PATH",
    "POSITIONS_PATH",
    "RATE_LIMITED",
    "REST_URLS",
    "TRANSIENT_CODES",
    "WALLET_PATH",
    "AuthError",
    "ClockSkewError",
    "RateLimitedError",
    "RestClient",
    "RestError",
    "default_opener",
    "fill_from_rest",
    "order_from_rest",
    "position_from_rest",
    "split_windows",
    "wallet_from_rest",
]

_log = logging.getLogger(__name__)

#: REST hosts of the named environments (the stream URLs are in oms.bybit.stream).
REST_URLS: Final = {
    "mainnet": "https://api.bybit.com",
    "testnet": "https://api-testnet.bybit.com",
    "demo": "https://api-demo.bybit.com",
}
ORDERS_PAGE: Final = 50
EXECUTIONS_PAGE: Final = 100
POSITIONS_PAGE: Final = 200
MAX_PAGES: Final = 10_000


class RestClient:
    """Signed GETs against Bybit v5 (``base_url`` such as ``https://api.bybit.com``)."""

    __slots__ = (
        "_backoff_max_s",
        "_backoff_s",
        "_base",
        "_cancelled",
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
        sleep: Callable[[float], None] | None = None,
        opener: urllib.request.OpenerDirector | None = None,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        jitter: Callable[[], float] = random.random,
        allow_insecure_http: bool = False,
    ) -> None:
        host = host_of(base_url, allow_insecure_http=allow_insecure_http)
        if recv_window_ms <= 0 or timeout_s <= 0 or max_retries < 0:
            raise LocalError("recv_window_ms and timeout_s must be positive, max_retries >= 0")
        self._base = base_url.rstrip("/")
        self._host = host
        self._creds = credentials
        self._recv_window_ms = recv_window_ms
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._clock = clock
        self._cancelled = threading.Event()
        #: how a retry waits (None: on ``_cancelled``, so that ``cancel_retries`` ends it)
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
            if not isinstance(outcome, Retry):
                return outcome
            if attempt >= self._max_retries or self._cancelled.is_set():
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
            self._wait(delay)
            if self._cancelled.is_set():
                raise outcome.error

    def cancel_retries(self) -> None:
        """Retry no more: a retry's wait in progress ends now, raising the failure it was
        waiting to retry, and every later failure is raised at once (for a caller that is
        shutting down: its stop need not wait out a backoff against a venue that is down).
        A request in flight still runs to its answer or its timeout."""
        self._cancelled.set()

    def _wait(self, seconds: float) -> None:
        if self._sleep is None:
            self._cancelled.wait(seconds)
        else:
            self._sleep(seconds)

    def _delay(self, attempt: int, reset_ms: int | None) -> float:
        """Seconds to wait: until the rate-limit reset if Bybit said, else backoff."""
        cap = self._backoff_max_s
        if reset_ms is not None:
            wait = reset_ms / 1000 - self._clock()
            if wait > 0:
                return min(wait, cap)
        step = min(cap, self._backoff_s * 2.0 ** min(attempt, 62))
        return step / 2 + step / 2 * self._jitter()

    def _attempt(self, path: str, query: str) -> dict[str, Any] | Retry:
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
        scrub = Scrubber(key, secret.reveal(), headers["X-BAPI-SIGN"])
        del headers  # as for the request below
        try:
            with self._opener.open(request, timeout=self._timeout_s) as response:
                status, body = response.status, response.read(MAX_BODY + 1)
                reset = response.headers.get("X-Bapi-Limit-Reset-Timestamp")
        except urllib.error.HTTPError as exc:
            status, body = exc.code, read_error_body(exc)
            reset = exc.headers.get("X-Bapi-Limit-Reset-Timestamp") if exc.headers else None
        except (OSError, http.client.HTTPException) as exc:
            return self._network_failure(path, exc)
        finally:
            del request  # it holds the signed headers; keep them out of traceback locals
        return interpret(
            path,
            status,
            body,
            int_or_none(reset),
            scrub,
            host=self._host,
            clock_skew=lambda server_time, message: self._clock_skew(path, server_time, message),
        )

    def _network_failure(self, path: str, exc: BaseException) -> Retry:
        return network_failure(path, exc)

    def _clock_skew(self, path: str, server_time: object, message: str) -> ClockSkewError:
        return clock_skew_error(
            path, server_time, message, local_ms=self._now_ms(), recv_window_ms=self._recv_window_ms
        )

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
        require_scope(category, symbol, settle_coin, "orders")
        params = {
            "category": category,
            "symbol": symbol,
            "settleCoin": settle_coin,
            "openOnly": open_only,
        }
        latest: dict[object, dict[str, Any]] = {}
        for row in self.pages(ORDERS_PATH, params, limit=ORDERS_PAGE):
            # pages shift while orders come and go: keep one row per order, the later copy
            latest[row.get("orderId") or object()] = with_category(row, category)
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
                return with_category(row, category)
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
                by_id.setdefault(row.get("execId") or object(), with_category(row, category))
        return sorted(by_id.values(), key=execution_order)

    def positions(
        self, category: str, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[dict[str, Any]]:
        """Position legs, all pages (with only ``settle_coin``, Bybit lists open ones only)."""
        if category not in {"linear", "inverse", "option"}:
            raise LocalError(f"positions exist for linear, inverse and option, not {category!r}")
        require_scope(category, symbol, settle_coin, "positions")
        params = {"category": category, "symbol": symbol, "settleCoin": settle_coin}
        rows = self.pages(POSITIONS_PATH, params, limit=POSITIONS_PAGE)
        return [with_category(row, category) for row in rows]

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
