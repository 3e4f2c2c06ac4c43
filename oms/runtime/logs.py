"""Structured logging: every line names the account and the stream connection it is about.

The context is a small mutable ``LogContext`` (account, connection) held in a
``contextvars.ContextVar``. ``oms.cli.run.Session`` binds one per account; the stream thread
and the live worker thread are started inside it (``start_thread``), so both share the
same object, and when the stream connects or logs in it updates ``connection`` there:
first a local counter (``c3``), then Bybit's ``conn_id`` from the login ack. Before any
connection the fields read ``-``.

``ContextFilter`` copies the context onto each record (as ``record.account`` and
``record.connection``) in the thread that logs it; ``configure()`` installs a handler with
that filter and one of two formats::

    2026-11-22T10:00:00.123Z INFO oms.runtime.worker [acct=main conn=c3] resync done ...
    {"ts": "2026-11-22T10:00:00.123Z", "level": "INFO", "logger": "oms.runtime.worker", ...}

Importing ``oms`` configures nothing: a library user calls ``configure()`` (or adds
``ContextFilter`` to a handler of their own). No secret is ever passed to a logger.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterator

#: What a field reads when nothing is known (no account bound, no connection yet).
UNKNOWN: Final = "-"
LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(slots=True)
class LogContext:
    """The account a thread serves and its current stream connection (shared, mutable)."""

    account: str = UNKNOWN
    connection: str = UNKNOWN


_current: contextvars.ContextVar[LogContext | None] = contextvars.ContextVar(
    "oms_log_context", default=None
)


def current() -> LogContext | None:
    """The context bound in this thread (or task), if any."""
    return _current.get()


@contextmanager
def bound(context: LogContext) -> Iterator[LogContext]:
    """Bind ``context`` for the duration of the block (threads started in it by
    ``start_thread`` keep it)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def account_context(account: str) -> LogContext:
    """A fresh context for ``account`` (no connection yet)."""
    return LogContext(account=account or UNKNOWN)


def set_connection(connection: str) -> None:
    """Name the current stream connection in the bound context (no-op if none is bound)."""
    context = _current.get()
    if context is not None:
        context.connection = connection or UNKNOWN


class ContextFilter(logging.Filter):
    """Sets ``record.account`` and ``record.connection`` from the bound context (keeps
    values passed in ``extra``). Attach it to a handler: it then covers every logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if not hasattr(record, "account"):
            record.account = context.account if context is not None else UNKNOWN
        if not hasattr(record, "connection"):
            record.connection = context.connection if context is not None else UNKNOWN
        return True


def iso_utc(created: float) -> str:
    """``created`` (epoch seconds) as ISO-8601 UTC with milliseconds and a ``Z``."""
    seconds, millis = divmod(int(created * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class TextFormatter(logging.Formatter):
    """``<ts> <LEVEL> <logger> [acct=<account> conn=<connection>] <message>``."""

    def format(self, record: logging.LogRecord) -> str:
        account = getattr(record, "account", UNKNOWN)
        connection = getattr(record, "connection", UNKNOWN)
        line = (
            f"{iso_utc(record.created)} {record.levelname} {record.name} "
            f"[acct={account} conn={connection}] {record.getMessage()}"
        )
        extra = _exception_text(self, record)
        return f"{line}\n{extra}" if extra else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, account, connection, and
    ``exc_info`` (the formatted traceback) when the record carries an exception."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "ts": iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "account": getattr(record, "account", UNKNOWN),
            "connection": getattr(record, "connection", UNKNOWN),
            "thread": record.threadName,
        }
        extra = _exception_text(self, record)
        if extra:
            document["exc_info"] = extra
        return json.dumps(document, ensure_ascii=False, default=str)


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    parts = []
    if record.exc_info:
        parts.append(formatter.formatException(record.exc_info))
    if record.stack_info:
        parts.append(formatter.formatStack(record.stack_info))
    return "\n".join(parts)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to ``sys.stderr`` as it is at each line when that is a terminal (so a rich
    live view that redirects it places log lines above itself); otherwise to the stream
    stderr was at ``configure()`` (a file or pipe gets exact lines, never re-wrapped)."""

    def __init__(self) -> None:
        self._fixed: TextIO = sys.stderr
        self._follow = _isatty(self._fixed)
        super().__init__(self._fixed)

    @property
    def stream(self) -> TextIO:
        return sys.stderr if self._follow else self._fixed

    @stream.setter
    def stream(self, value: TextIO) -> None:
        self._fixed = value


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def configure(
    *,
    json: bool = False,
    level: str | int = "INFO",
    stream: TextIO | None = None,
    logger: str | None = None,
) -> logging.Handler:
    """Log ``logger`` (None: the root logger, so every library's lines are formatted
    too) at ``level`` to ``stream`` (default stderr), as JSON lines or as text. Calling
    it again replaces the handler it installed before. Returns the handler."""
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if getattr(h, "_oms_handler", False)]:
        target.removeHandler(old)
        old.close()
    handler: logging.Handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler._oms_handler = True  # type: ignore[attr-defined] # noqa: SLF001 - our marker
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    target.addHandler(handler)
    target.setLevel(parse_level(level))
    return handler


def parse_level(level: str | int) -> int:
    """A level name (any case) or number as a number; ValueError for anything else."""
    if isinstance(level, int):
        return level
    name = level.upper()
    if name not in LEVELS:
        raise ValueError(f"unknown log level {level!r} (one of {', '.join(LEVELS)})")
    return int(getattr(logging, name))
