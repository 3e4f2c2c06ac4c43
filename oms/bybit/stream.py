"""The authenticated Bybit v5 private stream: one thread, one socket at a time, never silent.

``PrivateStream`` connects, logs in (and waits for the ack), subscribes (and checks every
ack), pings every ``ping_interval_s``, declares a connection dead when nothing at all (no
pong, no data) comes back within ``pong_timeout_s`` of a ping (by default a silent socket is
found within 20 + 10 = 30 s, even if TCP never closes), reconnects with jittered backoff
inside a hard connection budget, and resubscribes every time. Every text frame goes
to ``on_frame(text, received_at_ms)`` in arrival order; what happens to the connection goes
to ``on_status`` as past-tense events. ``Subscribed`` is the cue for a REST resync: Bybit
never replays what a dropped socket missed. An exception raised by a callback is logged and
never ends the stream. A login refused ``max_auth_failures`` times in a row, or a refused
topic, stops the stream for good with ``error`` set. The thread runs in the context of the
caller of ``start()`` and tells ``hooks`` (``ConnectionHooks``) of every connection and its
name: ``c<n>`` until Bybit's ``conn_id`` arrives with the login ack; the runtime's hooks
put that name in the log context and count reconnects.

A venue may echo the login arguments (the signature) in its replies: every control frame
is scrubbed of signature-shaped tokens (``scrub_signatures``) before the stream looks at
it, so no ``ret_msg``, reason, status, exception or log line of the stream carries one; a
filter on the ``oms.stream`` logger catches any that still arrive (in a callback's
traceback, say). ``on_frame`` gets the raw text: whoever stores it scrubs it.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, NoReturn, Protocol
from urllib.parse import urlsplit

import websocket

from oms.bybit.backoff import BUDGET_WINDOW_S, Backoff, ConnectionBudget
from oms.bybit.decode import ControlFrame, ControlKind, decode, excerpt
from oms.bybit.signing import Secret, ws_auth_args
from oms.errors import (  # LoginRefusedError and SubscribeError are re-exported from here
    LocalError,
    LoginRefusedError,
    MalformedFrameError,
    OmsError,
    SubscribeError,
)
from oms.redact import scrub_signatures
from oms.threads import start_thread

if TYPE_CHECKING:
    import random
    from collections.abc import Callable
    from typing import Self


log = logging.getLogger("oms.stream")
_TRACEBACKS: Final = logging.Formatter()


class _ScrubSignatures(logging.Filter):
    """The last line of defence: no record of this logger carries a signature-shaped
    token, not even in the traceback of an exception that quotes venue text. A traceback
    that needs masking moves, masked, into the message (the record keeps no exc_info)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message, found = scrub_signatures(record.getMessage())
        except (TypeError, ValueError):  # a malformed call: the handler reports it, unchanged
            return True
        if record.exc_info:
            trace, in_trace = scrub_signatures(_TRACEBACKS.formatException(record.exc_info))
            if in_trace:
                message, found = f"{message}\n{trace}", found + in_trace
                record.exc_info, record.exc_text = None, None
        if found:
            record.msg, record.args = message, None
        return True


log.addFilter(_ScrubSignatures())

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
_POLL_S: Final = 1.0  # longest blocking read; stop() also wakes a read at once
_FRAME_LOG_EVERY: Final = 1000


def _scrubbed(text: str) -> str:
    """Venue text without signature-shaped tokens (a venue may echo a login)."""
    return scrub_signatures(text)[0]


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


class _Ended(Exception):  # noqa: N818 - control flow: this connection is over
    def __init__(self, reason: str, refused: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused  # the ret_msg of a refused login


@dataclass(slots=True)
class _Conn:  # what one connection knows; touched by the stream thread only
    ws: websocket.WebSocket
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


@dataclass(slots=True)
class _Outcome:
    reason: str
    stable: bool = False
    refused: str | None = None
    fatal: OmsError | None = None


class ConnectionHooks(Protocol):
    """What the stream tells its owner about connections, on the stream thread. The codec
    knows no logging context or metrics registry: the runtime passes hooks that feed them.
    Both must be cheap and must not raise."""

    def named(self, label: str) -> None:
        """The current connection is now called ``label``: ``c<n>``, then Bybit's conn_id."""

    def connected(self, number: int) -> None:
        """The stream opened its ``number``-th connection (2 and up: a reconnect)."""


class _NoHooks:
    def named(self, label: str) -> None:
        """Nothing."""

    def connected(self, number: int) -> None:
        """Nothing."""


class PrivateStream:
    """Bybit's private stream on one background thread; see the module docstring."""

    def __init__(
        self,
        settings: StreamSettings,
        on_frame: Callable[[str, int], None],
        on_status: Callable[[StreamStatus], None] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        hooks: ConnectionHooks | None = None,
    ) -> None:
        self._settings = settings
        self._hooks = hooks if hooks is not None else _NoHooks()
        self._on_frame = on_frame
        self._on_status = on_status
        self._clock = clock  # receipt times and the login expiry
        self._mono = monotonic  # liveness, deadlines, backoff and budget
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s, rng)
        self._budget = ConnectionBudget(settings.max_connections_per_5min, BUDGET_WINDOW_S)
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # guards _ws between the stream thread and stop()
        self._ws: websocket.WebSocket | None = None
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None
        self._connected = self._subscribed = False
        self._connections = self._frames = self._auth_failures = self._refused_in_row = 0
        self._last_frame_at: int | None = None

    def start(self) -> None:
        """Start the connection loop on its own thread (once)."""
        if self._thread is not None or self._stopping.is_set():
            raise LocalError("a PrivateStream can be started once")
        # Its log lines carry the caller's log context (account), and the connection.
        self._thread = start_thread(self._run, name="oms-stream")

    def stop(self, timeout: float | None = 5.0) -> bool:
        """Close the socket, cut any wait short, join the thread; True once it has ended.
        From a callback (the stream's own thread) it only asks the loop to end."""
        self._stopping.set()
        with self._lock:
            if self._ws is not None:
                _interrupt(self._ws)
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return thread is None
        thread.join(timeout)
        return not thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stream stopped (``stop()`` or ``error``); True if it has."""
        if self._thread is None:
            raise LocalError("the stream was never started")
        self._thread.join(timeout)
        return not self._thread.is_alive()

    join = wait

    @property
    def connected(self) -> bool:
        """A WebSocket connection is open right now."""
        return self._connected

    @property
    def subscribed(self) -> bool:
        """The open connection is logged in and every topic was acknowledged."""
        return self._subscribed

    @property
    def error(self) -> Exception | None:
        """Why the stream stopped on its own (``LoginRefusedError``, ``SubscribeError``)."""
        return self._error

    @property
    def stats(self) -> StreamStats:
        """A snapshot of the counters."""
        return StreamStats(
            connections=self._connections,
            reconnects=max(0, self._connections - 1),
            frames=self._frames,
            last_frame_at=self._last_frame_at,
            auth_failures=self._auth_failures,
        )

    # -- everything below runs on the stream thread --------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except OmsError as exc:
            self._error = exc
            log.error("private stream stopped: %s", exc)  # noqa: TRY400 - the reason is enough
        except Exception as exc:  # a bug: stop loudly rather than die silently
            self._error = exc
            log.exception("private stream stopped on an unexpected error")
        else:
            log.info("private stream stopped")
        self._emit(Stopped(self._error))

    def _loop(self) -> None:
        attempt = 0
        while self._acquire_connection():
            attempt += 1
            self._hooks.named(f"c{self._connections + 1}")  # Bybit's conn_id once logged in
            self._emit(Connecting(attempt))
            outcome = self._session(attempt)
            log.info("disconnected: %s", outcome.reason)
            self._emit(Disconnected(outcome.reason))
            if outcome.fatal is not None:
                raise outcome.fatal
            if self._stopping.is_set():
                return
            if outcome.refused is not None:
                self._auth_failures += 1
                self._refused_in_row += 1
                if self._refused_in_row >= self._settings.max_auth_failures:
                    raise _auth_error(outcome.refused, self._refused_in_row)
            if outcome.stable:
                self._backoff.reset()
                attempt = 0
            self._pause(self._backoff.next(), outcome.reason)

    def _acquire_connection(self) -> bool:
        """Wait until the budget allows one more connection; False once stopping."""
        while not self._stopping.is_set():
            wait = self._budget.try_acquire(self._mono())
            if wait <= 0:
                return True
            limit = self._budget.limit
            self._pause(wait, f"connection budget of {limit} per 5 minutes used up")
        return False

    def _pause(self, seconds: float, reason: str) -> None:
        log.info("reconnecting in %.2f s (%s)", seconds, reason)
        self._emit(BackingOff(seconds, reason))
        self._stopping.wait(seconds)

    def _session(self, attempt: int) -> _Outcome:
        ws = websocket.WebSocket(sslopt=self._sslopt(), skip_utf8_validation=True)
        with self._lock:
            self._ws = ws
        try:
            return self._attempt(ws, attempt)
        except Exception as exc:  # a surprise (a bug here or in the library): reconnect, loudly
            log.exception("unexpected error on the private stream; reconnecting")
            return _Outcome(f"unexpected error: {_describe(exc)}")
        finally:
            self._connected = self._subscribed = False
            with self._lock:
                self._ws = None
            _close(ws)

    def _attempt(self, ws: websocket.WebSocket, attempt: int) -> _Outcome:
        settings = self._settings
        log.info("connecting to %s (attempt %d)", settings.endpoint, attempt)
        try:
            ws.connect(settings.endpoint, timeout=settings.connect_timeout_s)  # type: ignore[no-untyped-call]
        except (OSError, websocket.WebSocketException) as exc:
            stopped = self._stopping.is_set()
            return _Outcome("stopped" if stopped else f"connect failed: {_describe(exc)}")
        if self._stopping.is_set():
            return _Outcome("stopped")
        self._connected = True
        self._connections += 1
        self._hooks.connected(self._connections)
        now = self._mono()
        conn = _Conn(ws, self._connections, last_rx=now, next_ping=now + settings.ping_interval_s)
        try:
            self._converse(conn)
        except _Ended as ended:
            reason = "stopped" if self._stopping.is_set() else ended.reason
            if conn.subscribed_at is None:
                return _Outcome(reason, refused=ended.refused)
            lived = self._mono() - conn.subscribed_at
            return _Outcome(reason, stable=lived >= settings.stable_after_s)
        except OmsError as exc:
            return _Outcome(f"giving up: {exc}", fatal=exc)

    def _sslopt(self) -> dict[str, object]:
        if self._settings.ssl_context is not None:
            return {"context": self._settings.ssl_context}
        return {"cert_reqs": ssl.CERT_REQUIRED, "check_hostname": True}

    def _converse(self, conn: _Conn) -> NoReturn:
        """Log in, then read (subscribing on the login ack) until the connection ends."""
        settings = self._settings
        log.info("connected (connection %d); logging in", conn.number)
        now_ms = int(self._clock() * 1000)
        args = ws_auth_args(
            settings.api_key,
            settings.secret.reveal(),
            now_ms=now_ms,
            expiry_ms=settings.auth_expiry_ms,
        )
        self._send(conn, {"req_id": f"auth-{conn.number}", "op": "auth", "args": args})
        conn.ack_deadline = self._mono() + settings.ack_timeout_s
        while not self._stopping.is_set():
            conn.ws.settimeout(self._keep_alive(conn))
            try:
                opcode, data = conn.ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                self._check_deadlines(conn)  # only after waiting: a slow callback is not silence
                continue
            except (OSError, websocket.WebSocketException) as exc:
                raise _Ended(f"connection lost: {_describe(exc)}") from exc
            conn.last_rx = self._mono()  # any frame at all proves the connection alive
            conn.unanswered_ping = conn.unanswered_since = None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                conn.ws.shutdown()  # type: ignore[no-untyped-call] # our close reply went out
                raise _Ended(f"closed by the server{_close_reason(data)}")
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                self._receive(conn, data.decode("utf-8", "replace"))
        raise _Ended("stopped")

    def _keep_alive(self, conn: _Conn) -> float:
        """Ping when due; the seconds a read may block before the next duty."""
        settings = self._settings
        now = self._mono()
        if now >= conn.next_ping:
            conn.pings += 1
            req_id = f"ping-{conn.number}-{conn.pings}"
            self._send(conn, {"req_id": req_id, "op": "ping"})
            conn.next_ping = now + settings.ping_interval_s
            if conn.unanswered_since is None:  # the clock runs from the first unanswered one
                conn.unanswered_ping, conn.unanswered_since = req_id, now
        due = conn.next_ping
        for deadline in (self._pong_deadline(conn), self._silence_deadline(conn),
                         conn.ack_deadline):  # fmt: skip
            if deadline is not None:
                due = min(due, deadline)
        return min(_POLL_S, max(0.001, due - now))

    def _pong_deadline(self, conn: _Conn) -> float | None:
        if conn.unanswered_since is None:
            return None
        return conn.unanswered_since + self._settings.pong_timeout_s

    def _silence_deadline(self, conn: _Conn) -> float | None:
        limit = self._settings.dead_after_s
        return None if limit is None else conn.last_rx + limit

    def _check_deadlines(self, conn: _Conn) -> None:
        """End a connection that stayed silent too long or left a request unanswered."""
        settings = self._settings
        now = self._mono()
        pong_deadline = self._pong_deadline(conn)
        if pong_deadline is not None and now >= pong_deadline:
            raise _Ended(
                f"nothing received within {settings.pong_timeout_s:g} s of {conn.unanswered_ping}"
                f" (silent for {now - conn.last_rx:.1f} s): presumed dead"
            )
        silence_deadline = self._silence_deadline(conn)
        if silence_deadline is not None and now >= silence_deadline:
            raise _Ended(f"nothing received for {now - conn.last_rx:.1f} s: presumed dead")
        if conn.ack_deadline is not None and now >= conn.ack_deadline:
            waited = "subscribe" if conn.authenticated else "login"
            raise _Ended(f"no {waited} ack within {settings.ack_timeout_s:g} s")

    def _send(self, conn: _Conn, message: dict[str, object]) -> None:
        try:
            conn.ws.send(json.dumps(message, separators=(",", ":")))
        except (OSError, websocket.WebSocketException) as exc:
            raise _Ended(f"send failed: {_describe(exc)}") from exc

    def _receive(self, conn: _Conn, text: str) -> None:
        received_at = int(self._clock() * 1000)
        self._frames += 1
        self._last_frame_at = received_at
        if self._frames % _FRAME_LOG_EVERY == 0:
            log.debug("%d frames received", self._frames)
        try:
            self._on_frame(text, received_at)
        except Exception:
            log.exception("on_frame raised; the stream goes on")
        if '"topic"' in text:
            return  # data: the caller's business
        # A control frame may echo the login (its signature): mask that before anything
        # of the frame reaches a log line, a reason or an exception.
        text, echoed = scrub_signatures(text)
        if echoed:
            log.warning("%d signature-shaped token(s) masked in a frame from the venue", echoed)
        try:
            frame = decode(text)
        except MalformedFrameError as exc:
            log.warning("malformed frame on connection %d: %s", conn.number, exc.reason)
            return
        if isinstance(frame, ControlFrame):
            self._control(conn, frame)

    def _control(self, conn: _Conn, frame: ControlFrame) -> None:
        message = frame.message
        if frame.kind is ControlKind.AUTH and not conn.authenticated:
            if not frame.success:
                log.warning("login refused: %r", message.ret_msg)
                raise _Ended(f"login refused: {message.ret_msg!r}", refused=message.ret_msg)
            conn.authenticated, conn.conn_id = True, message.conn_id
            self._refused_in_row = 0
            self._hooks.named(message.conn_id or f"c{conn.number}")
            log.info("authenticated (conn_id %s)", message.conn_id or "?")
            self._emit(Authenticated(message.conn_id))
            for index, batch in enumerate(subscribe_batches(self._settings.topics)):
                conn.pending[f"sub-{conn.number}-{index}"] = batch
                self._send(conn, {"req_id": f"sub-{conn.number}-{index}", "op": "subscribe",
                                  "args": list(batch)})  # fmt: skip
            conn.ack_deadline = self._mono() + self._settings.ack_timeout_s
        elif frame.kind is ControlKind.SUBSCRIBE and conn.pending:
            key = message.req_id if message.req_id in conn.pending else next(iter(conn.pending))
            topics = conn.pending.pop(key)
            failed = tuple((message.data or {}).get("failTopics") or ())
            if not frame.success or failed:
                raise SubscribeError(failed or topics, _scrubbed(message.ret_msg))
            if not conn.pending:
                conn.ack_deadline, conn.subscribed_at = None, self._mono()
                self._subscribed = True
                log.info("subscribed to %s", ", ".join(self._settings.topics))
                self._emit(Subscribed(conn.conn_id, self._settings.topics))
        elif not frame.success:
            log.warning("request refused (%s): %s", message.op or "?", message.ret_msg)

    def _emit(self, status: StreamStatus) -> None:
        if self._on_status is None:
            return
        try:
            self._on_status(status)
        except Exception:
            log.exception("on_status raised on %r; the stream goes on", status)


def _auth_error(ret_msg: str, failures: int) -> LoginRefusedError:
    ret_msg = _scrubbed(ret_msg)
    return LoginRefusedError(
        f"authentication refused {failures} time(s) in a row: {ret_msg or '(no reason)'!r}"
        " (check the API key and secret, the network they belong to and the clock)",
        ret_msg=ret_msg,
        failures=failures,
    )


def _interrupt(ws: websocket.WebSocket) -> None:
    """Wake the stream thread blocked on ``ws`` (reading, or mid-handshake)."""
    ws.abort()  # type: ignore[no-untyped-call]
    sock = ws.sock
    if sock is not None and not ws.connected:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            log.debug("socket already closed")


def _close(ws: websocket.WebSocket) -> None:
    """Say goodbye if the peer still listens (briefly), then release the socket."""
    ws.close(timeout=0.2)  # swallows every error itself
    ws.shutdown()  # type: ignore[no-untyped-call]


def _close_reason(data: bytes) -> str:
    if len(data) < 2:
        return ""
    code, text = int.from_bytes(data[:2], "big"), data[2:].decode("utf-8", "replace")
    text = _scrubbed(text)  # before cutting it short: a cut signature would slip through
    return f" (code {code}{': ' + excerpt(text) if text else ''})"


def _describe(exc: BaseException) -> str:
    """The exception's type and text, scrubbed (a failed handshake quotes the response)."""
    return _scrubbed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
