"""Bybit v5 request signing: WebSocket auth args and REST headers. Pure functions.

* WebSocket: ``signature = hex(HMAC_SHA256(secret, "GET/realtime" + str(expires)))`` with
  ``expires`` a millisecond timestamp in the future. The default window is 10 s, not
  pybit's 1 s, which fails on the slightest clock skew (pybit #152, #300).
* REST (GET): ``hex(HMAC_SHA256(secret, timestamp + api_key + recv_window + query))``.
  The query string that is signed must be byte-identical to the one sent, so the client
  builds it once with :func:`query_string` and uses that same text for both.

Secrets live in :class:`Secret`, whose ``repr``/``str`` never show the value: a secret
cannot leak through a log line, a traceback's exception text or a dataclass repr. Nor
through ``dataclasses.asdict``/``astuple`` (a ``Secret`` is no dataclass, so they copy it
whole, still masked), ``copy``/``deepcopy`` (immutable: a copy is the object itself) or
``pickle`` (refused with a ``TypeError``). :class:`Credentials` behaves the same.

A venue may echo a login request back, signature included. :func:`oms.redact.scrub_signatures`
masks every signature-shaped token (exactly 64 hex characters) in such text before it is
logged, raised or stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final, NoReturn
from urllib.parse import quote

from oms.errors import LocalError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Self

API_KEY_ENV: Final = "BYBIT_API_KEY"
API_SECRET_ENV: Final = "BYBIT_API_SECRET"  # noqa: S105 - a variable name, not a secret
#: Default lifetime of a WebSocket auth request. Generous on purpose: the server refuses
#: an ``expires`` already in the past by its clock, so a short window fails on small skew.
WS_AUTH_EXPIRY_MS: Final = 10_000
#: ``X-BAPI-SIGN-TYPE`` for HMAC-SHA256 (as pybit sends it).
SIGN_TYPE_HMAC: Final = "2"
_MASK: Final = "***"


def _refuse_pickle(kind: str) -> NoReturn:
    raise TypeError(
        f"{kind} cannot be pickled: it holds an API secret; pass the secret to the other "
        "process some other way (for example the environment)"
    )


class Secret:
    """A secret string that never shows itself: ``repr``/``str`` are ``Secret('***')``.

    Not a dataclass on purpose: ``dataclasses.asdict`` would turn one into a dict holding
    the plain value. Immutable; ``copy`` returns the object itself; ``pickle`` refuses.

    >>> s = Secret("hunter2")
    >>> s, str(s), f"{s}"
    (Secret('***'), "Secret('***')", "Secret('***')")
    >>> s.reveal()
    'hunter2'
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):  # the message must not show the value
            raise TypeError(f"a Secret wraps a str, not a {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The secret itself; call only where it is used (signing)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    __str__ = __repr__

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"a Secret is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"a Secret is immutable (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, hashlib.sha256(self._value.encode()).digest()))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        return self

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        _refuse_pickle("a Secret")

    def __reduce__(self) -> NoReturn:
        _refuse_pickle("a Secret")

    def __getstate__(self) -> NoReturn:  # object's default would hand out the value
        _refuse_pickle("a Secret")


def mask_key(api_key: str) -> str:
    """The first 4 characters of an API key and an ellipsis (nothing for a short key)."""
    return f"{api_key[:4]}…" if len(api_key) > 8 else "…"


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """An API key and its secret. The ``repr`` shows only the key's first 4 characters."""

    api_key: str
    api_secret: Secret

    def __post_init__(self) -> None:
        if isinstance(self.api_secret, str):  # a plain str slipped in: wrap it, never show it
            object.__setattr__(self, "api_secret", Secret(self.api_secret))

    def __repr__(self) -> str:
        return f"Credentials(api_key={mask_key(self.api_key)!r}, api_secret={self.api_secret!r})"

    __str__ = __repr__

    # Immutable, so a copy is the object itself; copying through pickle's protocol
    # (the default) would hit the refusal below.
    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        return self

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        _refuse_pickle("Credentials")

    def __reduce__(self) -> NoReturn:
        _refuse_pickle("Credentials")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read ``BYBIT_API_KEY`` and ``BYBIT_API_SECRET`` (from ``os.environ`` by default).

        Raises ``LocalError`` naming the missing or empty variables (never their values).
        """
        env = os.environ if environ is None else environ
        key = env.get(API_KEY_ENV, "").strip()
        secret = env.get(API_SECRET_ENV, "").strip()
        missing = [
            name for name, value in ((API_KEY_ENV, key), (API_SECRET_ENV, secret)) if not value
        ]
        if missing:
            raise LocalError(
                f"Bybit API credentials missing: set the environment variable(s) "
                f"{' and '.join(missing)} (both {API_KEY_ENV} and {API_SECRET_ENV} are required)"
            )
        return cls(api_key=key, api_secret=Secret(secret))


def hmac_sha256_hex(secret: Secret | str, message: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``message`` (UTF-8) keyed by ``secret``."""
    raw = secret.reveal() if isinstance(secret, Secret) else secret
    return hmac.new(raw.encode(), message.encode(), hashlib.sha256).hexdigest()


def ws_presign(expires: int) -> str:
    """The text signed for WebSocket auth: ``"GET/realtime" + str(expires)``."""
    return f"GET/realtime{expires}"


def ws_auth_args(
    api_key: str, api_secret: Secret | str, *, now_ms: int, expiry_ms: int = WS_AUTH_EXPIRY_MS
) -> list[str | int]:
    """``[api_key, expires, signature]`` for ``{"op": "auth", "args": ...}``.

    ``expires`` is the int ``now_ms + expiry_ms``; the caller supplies the clock.
    """
    if expiry_ms <= 0:
        raise LocalError(f"expiry_ms must be positive, got {expiry_ms}")
    expires = int(now_ms) + int(expiry_ms)
    return [api_key, expires, hmac_sha256_hex(api_secret, ws_presign(expires))]


def rest_presign(api_key: str, *, timestamp_ms: int, recv_window_ms: int, payload: str) -> str:
    """The text signed for a REST call: ``timestamp + api_key + recv_window + payload``.

    ``payload`` is the exact query string of a GET (or the exact JSON body of a POST).
    """
    return f"{int(timestamp_ms)}{api_key}{int(recv_window_ms)}{payload}"


def rest_headers(
    api_key: str,
    api_secret: Secret | str,
    *,
    timestamp_ms: int,
    recv_window_ms: int,
    payload: str,
) -> dict[str, str]:
    """The ``X-BAPI-*`` headers of a signed REST request."""
    presign = rest_presign(
        api_key, timestamp_ms=timestamp_ms, recv_window_ms=recv_window_ms, payload=payload
    )
    return {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-TIMESTAMP": str(int(timestamp_ms)),
        "X-BAPI-SIGN": hmac_sha256_hex(api_secret, presign),
        "X-BAPI-RECV-WINDOW": str(int(recv_window_ms)),
        "X-BAPI-SIGN-TYPE": SIGN_TYPE_HMAC,
    }


def _text(value: object) -> str:
    if isinstance(value, bool):  # JSON spelling, not Python's "True"
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        raise LocalError(f"float query value {value!r}: pass a str, int or Decimal")
    return str(value)


def query_string(params: Mapping[str, object]) -> str:
    """``k=v&...`` sorted by key, ``None`` values skipped, keys and values percent-encoded.

    Every byte outside ``A-Z a-z 0-9 - _ . ~`` is encoded, so opaque values such as
    Bybit's cursors (which already contain ``%``) survive the round trip and the text
    signed is exactly the text sent.

    >>> query_string({"symbol": "BTC-29JUL22-25000-C", "category": "option", "cursor": None})
    'category=option&symbol=BTC-29JUL22-25000-C'
    >>> query_string({"cursor": "a%3D1", "openOnly": 0, "flag": True})
    'cursor=a%253D1&flag=true&openOnly=0'
    """
    return "&".join(
        f"{quote(str(key), safe='')}={quote(_text(value), safe='')}"
        for key, value in sorted(params.items())
        if value is not None
    )
