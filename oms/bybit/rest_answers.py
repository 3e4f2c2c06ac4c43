"""What a Bybit REST answer means: the envelope or HTTP status read into a result, a
retry (rate limits, transient failures) or an error naming the likely cause; and the
scrubbing that keeps the key, the secret and signatures out of every message.

Kept apart from the client (``oms.bybit.rest``) so that every signed call, the resync's
GETs today and order entry's POSTs next, reads answers by the same rules.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import urllib.error
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, NoReturn

from oms.bybit.signing import mask_key
from oms.errors import CLOCK_SKEW, AuthError, ClockSkewError, RateLimitedError, RestError
from oms.redact import scrub_signatures

if TYPE_CHECKING:
    from collections.abc import Callable

# one logger for the whole REST client, whichever module writes the line
_log = logging.getLogger("oms.bybit.rest")

#: the largest answer read (a longer one is not a Bybit envelope)
MAX_BODY: Final = 32 * 1024 * 1024
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
class Retry:
    """An attempt that may succeed if tried again; ``error`` is raised when out of tries."""

    error: RestError
    reset_ms: int | None = None


class Scrubber:
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
        return "Scrubber(***)"


def interpret(
    path: str,
    status: int,
    body: bytes,
    reset_ms: int | None,
    scrub: Scrubber,
    *,
    host: str,
    clock_skew: Callable[[object, str], ClockSkewError],
    method: str = "GET",
) -> dict[str, Any] | Retry:
    """The ``result`` of a retCode 0 envelope, a ``Retry``, or raises the error it means
    (``clock_skew(server_time, message)`` builds the 10002 one)."""
    envelope = parse(body)
    if envelope is None or "retCode" not in envelope:
        return http_failure(path, status, body, reset_ms, scrub, method=method)
    code = int_or_none(envelope["retCode"])
    _log.debug("%s %s -> retCode %s", method, path, code)
    if code is None:
        raise RestError(None, "malformed envelope: retCode is not an integer", path)
    message = scrub(str(envelope.get("retMsg", "")))
    if code == 0:
        result = envelope.get("result")
        if not isinstance(result, dict):
            raise RestError(None, "malformed envelope: result is not an object", path)
        return result
    if code == RATE_LIMITED:
        return Retry(RateLimitedError(code, f"rate limited: {message}", path), reset_ms)
    if code == CLOCK_SKEW:
        raise clock_skew(envelope.get("time"), message)
    if code in _AUTH_TEXT:
        text = _AUTH_TEXT[code].format(host=host, path=path)
        raise AuthError(f"{method} {path}: {text}; Bybit said: {message}", code=code, path=path)
    if code in TRANSIENT_CODES:
        return Retry(RestError(code, f"server busy: {message}", path))
    raise RestError(code, message or "request refused", path)


def http_failure(
    path: str,
    status: int,
    body: bytes,
    reset_ms: int | None,
    scrub: Scrubber,
    *,
    method: str = "GET",
) -> Retry:
    """An answer that is not an envelope: retried (429, 403 "too frequent", 5xx) or raised."""
    _log.debug("%s %s -> HTTP %s", method, path, status)
    # All of it (bounded by MAX_BODY), then cut: a cut signature would not be masked
    excerpt = scrub(body.decode("utf-8", "replace").strip())
    if status == 429 or (status == 403 and "too frequent" in excerpt.lower()):
        error = RateLimitedError(None, f"rate limited (HTTP {status}): {excerpt}", path)
        return Retry(error, reset_ms)
    if status >= 500:
        return Retry(RestError(None, f"server error HTTP {status}: {excerpt}", path))
    if status == 401:
        raise AuthError(f"{method} {path}: unauthorized (HTTP 401): {excerpt}", path=path)
    if 200 <= status < 300:
        raise RestError(None, f"malformed response, not a Bybit envelope: {excerpt}", path)
    raise RestError(None, f"HTTP {status}: {excerpt}", path)


def int_or_none(value: object) -> int | None:
    """An integer sent as a JSON number or as digits; ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def read_error_body(exc: urllib.error.HTTPError) -> bytes:
    """The body of an HTTP error answer (bounded), or ``b""``; the answer is closed."""
    try:
        body = exc.read(MAX_BODY + 1)
    except (OSError, http.client.HTTPException):
        body = b""
    finally:
        exc.close()
    return body if isinstance(body, bytes) else b""


def parse(body: bytes) -> dict[str, Any] | None:
    """The JSON object in ``body``; ``None`` if it is not one (HTML error pages...)."""
    if len(body) > MAX_BODY:
        return None
    try:
        value = json.loads(body, parse_float=Decimal, parse_constant=_no_constants)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def network_failure(path: str, exc: BaseException) -> Retry:
    """A request that got no answer: retried, unless TLS verification failed (raised)."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    _log.debug("%s -> %s", path, type(reason).__name__)
    if isinstance(reason, ssl.SSLCertVerificationError):
        raise RestError(None, f"TLS certificate verification failed: {reason}", path) from exc
    # http.client quotes what the server sent (a bad status line, say): scrub it
    detail = scrub_signatures(str(reason) or type(reason).__name__)[0]
    error = RestError(None, f"network error: {detail}", path)
    error.__cause__ = exc
    return Retry(error)


def clock_skew_error(
    path: str, server_time: object, message: str, *, local_ms: int, recv_window_ms: int
) -> ClockSkewError:
    """Bybit's 10002 as an error saying by how much the local clock is off."""
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
        f"request timestamp outside the recv window of {recv_window_ms} ms: {where}; "
        f"sync the clock (NTP); Bybit said: {message}"
    )
    return ClockSkewError(text, path, server_time_ms=server_ms, local_time_ms=local_ms)
