"""``attach(ws, account)``: a pybit private ``WebSocket`` feeding an ``Account``.

pybit (5.x) runs one websocket-client ``WebSocketApp`` per connection and hands its
callbacks the frame already parsed. ``attach`` instead takes each frame's text as
received: every app pybit makes calls ``ws._on_message(text)`` (pybit's lambdas look the
method up on the manager at call time), so the adapter replaces those methods on this one
manager object (nothing global is patched) and then calls pybit's own, which goes on
parsing, answering pongs and dispatching to the callbacks as before.

- Topics: ``order``, ``execution``, ``position`` and ``wallet`` are subscribed through
  pybit (unless the caller already did), with a callback that ignores pybit's dict: the
  account has the text already.
- Resync: pybit reconnects by itself and has no hook for it. A new connection shows as
  pybit's ``_on_open``; once every one of these subscriptions is confirmed on it (pybit
  resubscribes by itself), the adapter calls ``account.resync`` (so the REST snapshot is
  taken after the stream is live again, and frames queue behind it). Also once after
  ``attach``, for what happened before the subscriptions.
- pybit's own race (it sends a subscribe before recording its ``req_id``, so a fast reply
  makes it raise and give up the socket): a subscribe reply waits, up to
  ``SUBSCRIBE_WAIT_S``, until pybit has recorded its ``req_id``.
- Death: pybit gives up after its ``retries`` (its ``_connect`` raises), on an error it
  does not reconnect after (it raises from ``_on_error``), or never reconnects
  (``restart_on_error=False``, or a clean close, which it does not treat as an error). A
  watchdog thread declares the socket dead once it has been neither connected nor
  connecting for ``DEAD_AFTER_S``. Then ``PybitLink.status`` is ``"dead"``,
  ``PybitLink.error`` says why, ``on_dead`` is called, and the account is told
  (``Account.feed_ended``): its ``health()`` says ``failed``, ``failure`` holds the error.
  A subscription pybit reports refused is fatal the same way (the account would be blind).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from oms.errors import AccountFailedError, LocalError
from oms.threads import start_thread

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.runtime.account import Account

__all__ = ["DEAD_AFTER_S", "PRIVATE_TOPICS", "SUBSCRIBE_WAIT_S", "PybitLink", "attach"]

log = logging.getLogger(__name__)

#: The private topics the account needs, and pybit's method subscribing each.
PRIVATE_TOPICS: Final = {
    "order": "order_stream",
    "execution": "execution_stream",
    "position": "position_stream",
    "wallet": "wallet_stream",
}
#: How long a subscribe reply waits for pybit to record the request it answers.
SUBSCRIBE_WAIT_S: Final = 2.0
#: Neither connected nor connecting this long: pybit has given the socket up.
DEAD_AFTER_S: Final = 3.0
_WATCH_S: Final = 0.05
#: pybit's manager methods the adapter wraps (on the one object, never on the class).
_WRAPPED: Final = ("_on_message", "_on_open", "_on_error", "_connect")


def _ignore(_message: object) -> None:
    """pybit's callback for the adapter's topics: the account already has the text."""


class PybitLink:
    """The handle ``attach`` returns: the link's ``status``, and ``detach()``."""

    def __init__(
        self,
        ws: Any,  # noqa: ANN401 - pybit ships no types
        account: Account,
        on_dead: Callable[[BaseException], object] | None,
    ) -> None:
        self._ws = ws
        self._account = account
        self._on_dead = on_dead
        self._originals: dict[str, Any] = {name: getattr(ws, name) for name in _WRAPPED}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ours: set[str] = set()  # req_ids of the private topics' subscriptions
        self._confirmed: set[str] = set(ws.subscriptions)  # on the open connection
        self._resynced = False
        self._last_error: BaseException | None = None
        self._watchdog: threading.Thread | None = None
        #: connections pybit has made since ``attach`` (the one open then is the first)
        self.connections = 1
        #: resyncs the adapter requested
        self.resyncs = 0
        #: why the link is dead (pybit gave up, or a subscription was refused)
        self.error: BaseException | None = None
        self._status = "subscribing"

    @property
    def status(self) -> str:
        """``subscribing`` (connected, waiting for the subscriptions' replies),
        ``subscribed`` (and the resync requested), ``dead`` (see ``error``) or
        ``detached``."""
        return self._status

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the current connection is subscribed (and its resync requested);
        False after ``timeout`` seconds, or once the link is dead or detached."""
        deadline = time.monotonic() + timeout
        while self._status == "subscribing" and time.monotonic() < deadline:
            time.sleep(_WATCH_S)
        return self._status == "subscribed"

    def detach(self) -> None:
        """Give pybit its own methods back and stop watching; the subscriptions stay
        (pybit cannot unsubscribe a callback cleanly), their frames no longer fed."""
        if self._status == "detached":
            return
        self._stop.set()
        for name in _WRAPPED:
            vars(self._ws).pop(name, None)  # back to the class's method
        self._status = "detached"
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join(5)

    # --- wiring ---------------------------------------------------------------------------

    def _install(self) -> None:
        ws = self._ws
        ws._on_message = self._message  # noqa: SLF001 - pybit has no hook for the raw text
        ws._on_open = self._opened  # noqa: SLF001
        ws._on_error = self._errored  # noqa: SLF001
        ws._connect = self._connect  # noqa: SLF001
        for topic, method in PRIVATE_TOPICS.items():
            if topic not in ws.callback_directory:
                getattr(ws, method)(_ignore)
        with self._lock:
            self._ours = {
                req_id
                for req_id, request in dict(ws.subscriptions).items()
                if set(json.loads(request).get("args", ())) & PRIVATE_TOPICS.keys()
            }
        self._watchdog = start_thread(self._watch, name="oms-pybit-watchdog")
        self._check_subscribed()

    # --- pybit's callbacks, wrapped ---------------------------------------------------------

    def _message(self, message: str) -> None:
        if self._status != "detached":
            self._feed(message)
        reply = _subscribe_reply(message)
        if reply is not None:
            self._wait_recorded(reply.get("req_id"))
        self._originals["_on_message"](message)
        if reply is not None and self._status != "detached":
            self._subscription_answered(reply)

    def _feed(self, message: str) -> None:
        try:
            self._account.feed(message)
        except AccountFailedError as exc:  # the account said so loudly; pybit goes on
            if self._last_error is not exc:
                self._last_error = exc
                log.error("pybit: the account failed; frames are no longer applied: %s", exc)  # noqa: TRY400

    def _wait_recorded(self, req_id: object) -> None:
        """pybit records a subscription after sending it: let it catch up."""
        deadline = time.monotonic() + SUBSCRIBE_WAIT_S
        while req_id and req_id not in self._ws.subscriptions and time.monotonic() < deadline:
            time.sleep(0.001)

    def _opened(self) -> None:
        with self._lock:
            if self._status != "detached":
                self.connections += 1
                self._confirmed = set()
                self._resynced = False
                self._status = "subscribing"
        self._originals["_on_open"]()

    def _errored(self, error: BaseException) -> None:
        self._last_error = error
        self._originals["_on_error"](error)

    def _connect(self, url: str) -> None:
        try:
            self._originals["_connect"](url)
        except Exception as exc:
            self._died(exc)
            raise

    # --- subscriptions and resyncs ----------------------------------------------------------

    def _subscription_answered(self, reply: dict[str, Any]) -> None:
        req_id = reply.get("req_id")
        if reply.get("success") is False and req_id in self._ours:
            self._died(LocalError(f"pybit's subscription was refused: {reply.get('ret_msg')}"))
            return
        with self._lock:
            if isinstance(req_id, str):
                self._confirmed.add(req_id)
        self._check_subscribed()

    def _check_subscribed(self) -> None:
        with self._lock:
            if self._resynced or self._status != "subscribing" or not self._ours <= self._confirmed:
                return
            self._resynced = True
            number = self.connections
        self.resyncs += 1
        try:
            self._account.resync(f"pybit subscribed on connection {number}")
        except AccountFailedError as exc:
            log.error("pybit: cannot resync, the account failed: %s", exc)  # noqa: TRY400
        with self._lock:
            if self._status == "subscribing":
                self._status = "subscribed"

    # --- death ---------------------------------------------------------------------------

    def _watch(self) -> None:
        down_since: float | None = None
        while not self._stop.wait(_WATCH_S):
            ws = self._ws
            if ws.is_connected() or ws.attempting_connection:
                down_since = None
                continue
            now = time.monotonic()
            down_since = now if down_since is None else down_since
            if now - down_since >= DEAD_AFTER_S:
                reason = self._last_error
                self._died(
                    LocalError(
                        "pybit's socket is closed and pybit is not reconnecting"
                        + (f" (last error: {type(reason).__name__}: {reason})" if reason else "")
                    )
                )
                return

    def _died(self, error: BaseException) -> None:
        with self._lock:
            if self._status in ("dead", "detached"):
                return
            self._status = "dead"
            self.error = error
        self._stop.set()
        log.error("pybit: the socket is dead for good: %s", error)
        self._account.feed_ended(error)
        if self._on_dead is not None:
            try:
                self._on_dead(error)
            except Exception:
                log.exception("pybit: the on_dead callback failed")


def _subscribe_reply(message: str) -> dict[str, Any] | None:
    """The reply to a subscribe, parsed (cheaply ruled out for every other frame)."""
    if '"subscribe"' not in message and "COMMAND_RESP" not in message:
        return None
    try:
        parsed = json.loads(message)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or "topic" in parsed:
        return None
    if parsed.get("op") == "subscribe" or parsed.get("type") == "COMMAND_RESP":
        return parsed
    return None


def attach(
    ws: Any,  # noqa: ANN401 - pybit.unified_trading.WebSocket (pybit ships no types)
    account: Account,
    *,
    on_dead: Callable[[BaseException], object] | None = None,
) -> PybitLink:
    """Feed ``account`` from pybit's private ``ws`` (see the module docstring): starts the
    account, subscribes the private topics, and returns the link's handle. ``on_dead``
    is called (on pybit's or the watchdog's thread) once pybit has given the socket up."""
    if not hasattr(ws, "subscriptions") or not hasattr(ws, "callback_directory"):
        raise LocalError(f"not a pybit WebSocket: {type(ws).__name__}")
    if not str(getattr(ws, "WS_URL", "")).endswith("/private"):
        raise LocalError("attach needs pybit's private WebSocket (channel_type='private')")
    if any(name in vars(ws) for name in _WRAPPED):
        raise LocalError("this pybit WebSocket is already attached")
    account.start()
    link = PybitLink(ws, account, on_dead)
    link._install()  # noqa: SLF001 - the link's own setup
    return link
