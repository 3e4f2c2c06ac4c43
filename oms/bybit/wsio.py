"""websocket-client helpers for Bybit's sockets: waking a blocked thread, closing
politely, describing failures and close frames, and a logging filter, each without ever
letting a signature-shaped token through (a venue may echo a login's signature).

Shared by the private stream (``oms.bybit.stream``) and, next, the order-entry socket.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Final

from oms.bybit.decode import excerpt
from oms.redact import scrub_signatures

if TYPE_CHECKING:
    import websocket

__all__ = ["ScrubSignatures", "close", "close_reason", "describe", "interrupt", "scrubbed"]

_log = logging.getLogger("oms.stream")
_TRACEBACKS: Final = logging.Formatter()


class ScrubSignatures(logging.Filter):
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


def scrubbed(text: str) -> str:
    """Venue text without signature-shaped tokens (a venue may echo a login)."""
    return scrub_signatures(text)[0]


def interrupt(ws: websocket.WebSocket) -> None:
    """Wake the stream thread blocked on ``ws`` (reading, or mid-handshake)."""
    ws.abort()  # type: ignore[no-untyped-call]
    sock = ws.sock
    if sock is not None and not ws.connected:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            _log.debug("socket already closed")


def close(ws: websocket.WebSocket) -> None:
    """Say goodbye if the peer still listens (briefly), then release the socket."""
    ws.close(timeout=0.2)  # swallows every error itself
    ws.shutdown()  # type: ignore[no-untyped-call]


def close_reason(data: bytes) -> str:
    if len(data) < 2:
        return ""
    code, text = int.from_bytes(data[:2], "big"), data[2:].decode("utf-8", "replace")
    text = scrubbed(text)  # before cutting it short: a cut signature would slip through
    return f" (code {code}{': ' + excerpt(text) if text else ''})"


def describe(exc: BaseException) -> str:
    """The exception's type and text, scrubbed (a failed handshake quotes the response)."""
    return scrubbed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
