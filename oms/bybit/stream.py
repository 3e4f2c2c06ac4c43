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
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NoReturn

import websocket

from oms.bybit.backoff import BUDGET_WINDOW_S, Backoff, ConnectionBudget
from oms.bybit.decode import ControlFrame, decode
from oms.bybit.session import (
    DEFAULT_TOPICS,
    MAX_BUDGET,
    NETWORKS,
    Ack,
    Authenticated,
    BackingOff,
    Connecting,
    Disconnected,
    Revealable,
    Session,
    Stopped,
    StreamSettings,
    StreamStats,
    StreamStatus,
    Subscribed,
    subscribe_batches,
)
from oms.bybit.stream_hooks import ConnectionHooks, NoHooks  # ConnectionHooks re-exported
from oms.bybit.wsio import ScrubSignatures, close, close_reason, describe, interrupt, scrubbed
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

    from oms.bybit.models import ControlMsg

__all__ = [  # the session's names stay importable from here
    "DEFAULT_TOPICS", "MAX_BUDGET", "NETWORKS", "Authenticated", "BackingOff", "Connecting",
    "ConnectionHooks", "Disconnected", "LoginRefusedError", "PrivateStream", "Revealable",
    "Stopped", "StreamSettings", "StreamStats", "StreamStatus", "SubscribeError", "Subscribed",
    "subscribe_batches",
]  # fmt: skip


log = logging.getLogger("oms.stream")
log.addFilter(ScrubSignatures())

_POLL_S: Final = 1.0  # longest blocking read; stop() also wakes a read at once
_FRAME_LOG_EVERY: Final = 1000


class _Ended(Exception):  # noqa: N818 - control flow: this connection is over
    def __init__(self, reason: str, refused: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused  # the ret_msg of a refused login


@dataclass(slots=True)
class _Outcome:
    reason: str
    stable: bool = False
    refused: str | None = None
    fatal: OmsError | None = None


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
        self._hooks = hooks if hooks is not None else NoHooks()
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
                interrupt(self._ws)
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
            # A connection lost while running is a gap (a resync follows): a warning.
            level = logging.INFO if self._stopping.is_set() else logging.WARNING
            log.log(level, "disconnected: %s", outcome.reason)
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
            return _Outcome(f"unexpected error: {describe(exc)}")
        finally:
            self._connected = self._subscribed = False
            with self._lock:
                self._ws = None
            close(ws)

    def _attempt(self, ws: websocket.WebSocket, attempt: int) -> _Outcome:
        settings = self._settings
        log.info("connecting to %s (attempt %d)", settings.endpoint, attempt)
        try:
            ws.connect(settings.endpoint, timeout=settings.connect_timeout_s)  # type: ignore[no-untyped-call]
        except (OSError, websocket.WebSocketException) as exc:
            stopped = self._stopping.is_set()
            return _Outcome("stopped" if stopped else f"connect failed: {describe(exc)}")
        if self._stopping.is_set():
            return _Outcome("stopped")
        self._connected = True
        self._connections += 1
        self._hooks.connected(self._connections)
        conn = Session.opened(settings, self._connections, self._mono())
        try:
            self._converse(ws, conn)
        except _Ended as ended:
            reason = "stopped" if self._stopping.is_set() else ended.reason
            if conn.subscribed_at is None:
                return _Outcome(reason, refused=ended.refused)
            return _Outcome(reason, stable=conn.stable(self._mono()))
        except OmsError as exc:
            return _Outcome(f"giving up: {exc}", fatal=exc)

    def _sslopt(self) -> dict[str, object]:
        if self._settings.ssl_context is not None:
            return {"context": self._settings.ssl_context}
        return {"cert_reqs": ssl.CERT_REQUIRED, "check_hostname": True}

    def _converse(self, ws: websocket.WebSocket, conn: Session) -> NoReturn:
        """Log in, then read (subscribing on the login ack) until the connection ends."""
        log.info("connected (connection %d); logging in", conn.number)
        _send(ws, conn.login_request(int(self._clock() * 1000)))
        conn.await_ack(self._mono())
        while not self._stopping.is_set():
            ws.settimeout(self._keep_alive(ws, conn))
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                self._check_deadlines(conn)  # only after waiting: a slow callback is not silence
                continue
            except (OSError, websocket.WebSocketException) as exc:
                raise _Ended(f"connection lost: {describe(exc)}") from exc
            conn.received(self._mono())
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                ws.shutdown()  # type: ignore[no-untyped-call] # our close reply went out
                raise _Ended(f"closed by the server{close_reason(data)}")
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                self._receive(ws, conn, data.decode("utf-8", "replace"))
        raise _Ended("stopped")

    def _keep_alive(self, ws: websocket.WebSocket, conn: Session) -> float:
        """Ping when due; the seconds a read may block before the next duty."""
        now = self._mono()
        ping = conn.ping_request(now)
        if ping is not None:
            _send(ws, ping)
        return min(_POLL_S, max(0.001, conn.next_duty_in(now)))

    def _check_deadlines(self, conn: Session) -> None:
        """End a connection that stayed silent too long or left a request unanswered."""
        reason = conn.dead_reason(self._mono())
        if reason is not None:
            raise _Ended(reason)

    def _receive(self, ws: websocket.WebSocket, conn: Session, text: str) -> None:
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
            self._control(ws, conn, frame)

    def _control(self, ws: websocket.WebSocket, conn: Session, frame: ControlFrame) -> None:
        message = frame.message
        ack = conn.ack_of(frame)
        if ack is Ack.LOGIN:
            if not frame.success:
                log.warning("login refused: %r", message.ret_msg)
                raise _Ended(f"login refused: {message.ret_msg!r}", refused=message.ret_msg)
            self._logged_in(ws, conn, message)
        elif ack is Ack.SUBSCRIBE:
            if conn.subscribe_acked(frame):
                conn.all_subscribed(self._mono())
                self._subscribed = True
                log.info("subscribed to %s", ", ".join(self._settings.topics))
                self._emit(Subscribed(conn.conn_id, self._settings.topics))
        elif not frame.success:
            log.warning("request refused (%s): %s", message.op or "?", message.ret_msg)

    def _logged_in(self, ws: websocket.WebSocket, conn: Session, message: ControlMsg) -> None:
        requests = conn.logged_in(message.conn_id)
        self._refused_in_row = 0
        self._hooks.named(message.conn_id or f"c{conn.number}")
        log.info("authenticated (conn_id %s)", message.conn_id or "?")
        self._emit(Authenticated(message.conn_id))
        for request in requests:
            _send(ws, request)
        conn.await_ack(self._mono())

    def _emit(self, status: StreamStatus) -> None:
        if self._on_status is None:
            return
        try:
            self._on_status(status)
        except Exception:
            log.exception("on_status raised on %r; the stream goes on", status)


def _send(ws: websocket.WebSocket, message: dict[str, object]) -> None:
    try:
        ws.send(json.dumps(message, separators=(",", ":")))
    except (OSError, websocket.WebSocketException) as exc:
        raise _Ended(f"send failed: {describe(exc)}") from exc


def _auth_error(ret_msg: str, failures: int) -> LoginRefusedError:
    ret_msg = scrubbed(ret_msg)
    return LoginRefusedError(
        f"authentication refused {failures} time(s) in a row: {ret_msg or '(no reason)'!r}"
        " (check the API key and secret, the network they belong to and the clock)",
        ret_msg=ret_msg,
        failures=failures,
    )
