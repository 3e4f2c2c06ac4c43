"""The private stream's session without a socket (like wsproto): what one connection of
``PrivateStream`` sends and when, and how it judges what comes back, as data and pure
decisions over a small state object (``Session``). The stream owns the socket, the
threads, the backoff and the callbacks; it reads the clocks and hands the readings in.

On connect: the login (``login_request``), then an ack within ``ack_timeout_s``. On the
login ack: the subscribe requests (``logged_in``, one per kind of topic, see
``subscribe_batches``), each ack checked (``subscribe_acked``: a refused topic is a
``SubscribeError``). Liveness: a ping every ``ping_interval_s`` (``ping_request``); any
frame at all (``received``) proves the connection alive; ``dead_reason`` says why a
connection is presumed dead (nothing within ``pong_timeout_s`` of the first unanswered
ping, nothing for ``dead_after_s``, or an ack that never came); ``next_duty_in`` is how
long the stream may wait for a frame before one of these falls due.

The session's data lives here too: ``StreamSettings`` (where and how to connect) and the
statuses the stream reports (``StreamStatus``, ``StreamStats``); ``oms.bybit.stream``
re-exports every one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Final, NoReturn, Protocol
from urllib.parse import urlsplit

from oms.bybit.frames import ControlFrame, ControlKind
from oms.bybit.signing import Secret, ws_auth_args
from oms.errors import LocalError, SubscribeError
from oms.redact import scrub_signatures

if TYPE_CHECKING:
    import ssl
    from typing import Self

#: Named private-stream endpoints (spec §1.1); any ws:// or wss:// URL is accepted too.
NETWORKS: Final = {
    "mainnet": "wss://stream.bybit.com/v5/private",
    "testnet": "wss://stream-testnet.bybit.com/v5/private",
    "demo": "wss://stream-demo.bybit.com/v5/private",
    "bybit.tr": "wss://stream.bybit.tr/v5/private",
    "bybit.id": "wss://stream.bybit.id/v5/private",
    "bybit.kz": "wss://stream.bybit.kz/v5/private",
    "bybitgeorgia.ge": "wss://stream.bybitgeorgia.ge/v5/private",
    "manepa.jp": "wss://stream.manepa.jp/v5/private",
}
DEFAULT_TOPICS: Final = ("order", "execution", "position")
#: A budget above this takes too much of the exchange's 500 per 5 minutes (per IP).
MAX_BUDGET: Final = 250
_CATEGORY_SUFFIXES: Final = (".spot", ".linear", ".inverse", ".option")
_ACTIVE_TIME_RE: Final = re.compile(r"(\d+)([sm])")


class Revealable(Protocol):
    def reveal(self) -> str: ...


@dataclass(frozen=True)
class StreamSettings:
    """Where and how to connect. ``url`` is a name from ``NETWORKS`` or a ws(s):// URL.

    Liveness: a ping goes out every ``ping_interval_s``; when nothing at all (no pong, no
    data) arrives within ``pong_timeout_s`` of a ping, the connection is dead and replaced,
    so a silent socket is found within ``ping_interval_s + pong_timeout_s`` (30 s by
    default). ``dead_after_s``, if set, adds a limit on silence since the last receipt.

    ``api_secret`` always holds a ``Secret`` (a str or any other ``reveal()``-able is
    wrapped, read once). Immutable: ``copy`` returns the object itself; ``pickle`` refuses.
    """

    url: str
    api_key: str
    api_secret: Secret | Revealable | str = field(repr=False, compare=False)
    topics: tuple[str, ...] = DEFAULT_TOPICS
    max_active_time: str | None = None  # "30s".."600s" or "1m".."10m", sent in the URL
    auth_expiry_ms: int = 10_000
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 10.0  # nothing received this long after a ping: dead
    dead_after_s: float | None = None  # nothing received this long at all: dead (None: off)
    connect_timeout_s: float = 10.0
    ack_timeout_s: float = 10.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    stable_after_s: float = 30.0  # a connection subscribed this long resets the backoff
    max_connections_per_5min: int = 50
    max_auth_failures: int = 3  # in a row; then the stream stops (LoginRefusedError)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        url = NETWORKS.get(self.url, self.url)
        if not url.startswith(("ws://", "wss://")) or not urlsplit(url).hostname:
            names = ", ".join(NETWORKS)
            raise LocalError(f"url must be one of {names} or a ws:// or wss:// URL: {url!r}")
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "api_secret", _as_secret(self.api_secret))
        object.__setattr__(self, "topics", tuple(dict.fromkeys(self.topics)))
        if not self.api_key or not self.secret.reveal():
            raise LocalError("the private stream needs an API key and secret")
        if not self.topics or not all(isinstance(t, str) and t for t in self.topics):
            raise LocalError(f"topics must be non-empty names: {self.topics!r}")
        if self.max_active_time is not None:
            match = _ACTIVE_TIME_RE.fullmatch(self.max_active_time)
            unit = 60 if match and match.group(2) == "m" else 1
            if not match or not 30 <= int(match.group(1)) * unit <= 600:
                raise LocalError(f"max_active_time must be 30s..600s, not {self.max_active_time!r}")
        self._check_numbers()

    def _check_numbers(self) -> None:
        timeouts = (self.ping_interval_s, self.pong_timeout_s, self.connect_timeout_s,
                    self.ack_timeout_s)  # fmt: skip
        if min(timeouts) <= 0:
            raise LocalError(
                "ping_interval_s, pong_timeout_s, connect_timeout_s and ack_timeout_s must be > 0"
            )
        # A quiet but healthy connection receives only a pong per ping interval.
        if self.dead_after_s is not None and self.dead_after_s <= self.ping_interval_s:
            raise LocalError("dead_after_s must be longer than ping_interval_s (or None: off)")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise LocalError("backoff needs 0 < backoff_initial_s <= backoff_max_s")
        if not 1 <= self.max_connections_per_5min <= MAX_BUDGET:
            raise LocalError(f"max_connections_per_5min must be within 1..{MAX_BUDGET}")
        if self.auth_expiry_ms <= 0 or self.max_auth_failures < 1 or self.stable_after_s < 0:
            raise LocalError("auth_expiry_ms and max_auth_failures must be positive")

    @property
    def secret(self) -> Secret:
        """The API secret, still wrapped."""
        return _as_secret(self.api_secret)

    @property
    def detects_silence_within_s(self) -> float:
        """The longest a silent connection goes unnoticed (the pong rule, or ``dead_after_s``)."""
        by_pong = self.ping_interval_s + self.pong_timeout_s
        return by_pong if self.dead_after_s is None else min(by_pong, self.dead_after_s)

    @property
    def endpoint(self) -> str:
        """The URL to connect to, with ``max_active_time`` when set."""
        if self.max_active_time is None:
            return self.url
        joiner = "&" if "?" in self.url else "?"
        return f"{self.url}{joiner}max_active_time={self.max_active_time}"

    # Immutable, so a copy is the object itself (copying through pickle's protocol, the
    # default, would hit the refusal below).
    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        return self

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        _refuse_pickle()

    def __reduce__(self) -> NoReturn:
        _refuse_pickle()


def _as_secret(secret: Secret | Revealable | str) -> Secret:
    if isinstance(secret, Secret):
        return secret
    return Secret(secret if isinstance(secret, str) else secret.reveal())


def _refuse_pickle() -> NoReturn:
    raise TypeError(
        "StreamSettings cannot be pickled: it holds the API secret; build the settings "
        "in the process that uses them"
    )


def subscribe_batches(topics: tuple[str, ...]) -> list[tuple[str, ...]]:
    """One request per kind: all-in-one (``order``) and categorised (``order.linear``)
    topics may not share a request (spec §3.1)."""
    plain = tuple(t for t in topics if not t.endswith(_CATEGORY_SUFFIXES))
    categorised = tuple(t for t in topics if t.endswith(_CATEGORY_SUFFIXES))
    return [batch for batch in (plain, categorised) if batch]


@dataclass(frozen=True, slots=True)
class Connecting:
    """A connection attempt started (1 = the first since the last stable one)."""

    attempt: int


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Bybit accepted the login on connection ``conn_id``."""

    conn_id: str


@dataclass(frozen=True, slots=True)
class Subscribed:
    """Every topic acknowledged: resync over REST now, on every (re)connection."""

    conn_id: str
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A connection, or an attempt at one, ended."""

    reason: str


@dataclass(frozen=True, slots=True)
class BackingOff:
    """Waiting ``seconds`` before the next attempt (backoff or connection budget)."""

    seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class Stopped:
    """The stream ended: ``error`` is None after ``stop()``, else why it gave up."""

    error: Exception | None


StreamStatus = Connecting | Authenticated | Subscribed | Disconnected | BackingOff | Stopped


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Counters since ``start()``; ``last_frame_at`` is a receipt time in epoch ms."""

    connections: int
    reconnects: int
    frames: int
    last_frame_at: int | None
    auth_failures: int  # all refused logins (the stop rule counts those in a row)


class Ack(Enum):
    """What a control frame answers, for the session that reads it."""

    LOGIN = "login"  # the reply to this connection's login
    SUBSCRIBE = "subscribe"  # a reply to a pending subscribe
    OTHER = "other"  # anything else: a pong, a late or stray reply


@dataclass(slots=True)
class Session:
    """What one connection knows and decides; touched by the stream thread only. Times
    are readings of the stream's monotonic clock."""

    settings: StreamSettings = field(repr=False)
    number: int
    last_rx: float
    next_ping: float
    ack_deadline: float | None = None
    authenticated: bool = False
    conn_id: str = ""
    pending: dict[str, tuple[str, ...]] = field(default_factory=dict)
    subscribed_at: float | None = None
    pings: int = 0
    unanswered_ping: str | None = None  # the first ping sent since the last receipt
    unanswered_since: float | None = None  # when it went out

    @classmethod
    def opened(cls, settings: StreamSettings, number: int, now: float) -> Self:
        """Connection ``number`` opened at ``now``: its first ping is one interval away."""
        return cls(settings, number, last_rx=now, next_ping=now + settings.ping_interval_s)

    # -- login and subscribe -----------------------------------------------------------

    def login_request(self, now_ms: int) -> dict[str, object]:
        """The login, signed to expire ``auth_expiry_ms`` after ``now_ms`` (wall clock)."""
        settings = self.settings
        args = ws_auth_args(
            settings.api_key,
            settings.secret.reveal(),
            now_ms=now_ms,
            expiry_ms=settings.auth_expiry_ms,
        )
        return {"req_id": f"auth-{self.number}", "op": "auth", "args": args}

    def await_ack(self, now: float) -> None:
        """A request went out at ``now``: its ack is due within ``ack_timeout_s``."""
        self.ack_deadline = now + self.settings.ack_timeout_s

    def ack_of(self, frame: ControlFrame) -> Ack:
        if frame.kind is ControlKind.AUTH and not self.authenticated:
            return Ack.LOGIN
        if frame.kind is ControlKind.SUBSCRIBE and self.pending:
            return Ack.SUBSCRIBE
        return Ack.OTHER

    def logged_in(self, conn_id: str) -> list[dict[str, object]]:
        """The login was accepted on ``conn_id``: the subscribe requests to send now."""
        self.authenticated, self.conn_id = True, conn_id
        requests: list[dict[str, object]] = []
        for index, batch in enumerate(subscribe_batches(self.settings.topics)):
            self.pending[f"sub-{self.number}-{index}"] = batch
            requests.append({"req_id": f"sub-{self.number}-{index}", "op": "subscribe",
                             "args": list(batch)})  # fmt: skip
        return requests

    def subscribe_acked(self, frame: ControlFrame) -> bool:
        """A subscribe ack: True once every request was acknowledged. A refusal, or an
        ack naming failed topics, is a ``SubscribeError``."""
        message = frame.message
        key = message.req_id if message.req_id in self.pending else next(iter(self.pending))
        topics = self.pending.pop(key)
        failed = tuple((message.data or {}).get("failTopics") or ())
        if not frame.success or failed:
            raise SubscribeError(failed or topics, scrub_signatures(message.ret_msg)[0])
        return not self.pending

    def all_subscribed(self, now: float) -> None:
        """Every topic acknowledged at ``now``: no ack is awaited any more."""
        self.ack_deadline, self.subscribed_at = None, now

    def stable(self, now: float) -> bool:
        """Whether the connection, ending at ``now``, stayed subscribed long enough to
        reset the backoff (False if it never subscribed)."""
        if self.subscribed_at is None:
            return False
        return now - self.subscribed_at >= self.settings.stable_after_s

    # -- liveness ----------------------------------------------------------------------

    def ping_request(self, now: float) -> dict[str, object] | None:
        """The ping to send at ``now`` if one is due (then the next is scheduled)."""
        if now < self.next_ping:
            return None
        self.pings += 1
        req_id = f"ping-{self.number}-{self.pings}"
        self.next_ping = now + self.settings.ping_interval_s
        if self.unanswered_since is None:  # the clock runs from the first unanswered one
            self.unanswered_ping, self.unanswered_since = req_id, now
        return {"req_id": req_id, "op": "ping"}

    def received(self, now: float) -> None:
        """A frame arrived at ``now``: any frame at all proves the connection alive."""
        self.last_rx = now
        self.unanswered_ping = self.unanswered_since = None

    def next_duty_in(self, now: float) -> float:
        """Seconds from ``now`` to the next ping or deadline (negative: overdue)."""
        due = self.next_ping
        for deadline in (self._pong_deadline(), self._silence_deadline(), self.ack_deadline):
            if deadline is not None:
                due = min(due, deadline)
        return due - now

    def dead_reason(self, now: float) -> str | None:
        """Why the connection is presumed dead at ``now`` (silent too long, or a request
        left unanswered), or None while it is alive."""
        settings = self.settings
        pong_deadline = self._pong_deadline()
        if pong_deadline is not None and now >= pong_deadline:
            return (
                f"nothing received within {settings.pong_timeout_s:g} s of {self.unanswered_ping}"
                f" (silent for {now - self.last_rx:.1f} s): presumed dead"
            )
        silence_deadline = self._silence_deadline()
        if silence_deadline is not None and now >= silence_deadline:
            return f"nothing received for {now - self.last_rx:.1f} s: presumed dead"
        if self.ack_deadline is not None and now >= self.ack_deadline:
            waited = "subscribe" if self.authenticated else "login"
            return f"no {waited} ack within {settings.ack_timeout_s:g} s"
        return None

    def _pong_deadline(self) -> float | None:
        if self.unanswered_since is None:
            return None
        return self.unanswered_since + self.settings.pong_timeout_s

    def _silence_deadline(self) -> float | None:
        limit = self.settings.dead_after_s
        return None if limit is None else self.last_rx + limit
