"""Which database errors pass, and how long to wait before trying again.

A write can fail for two kinds of reasons. Some pass on their own: another process holds
SQLite's write lock, the disk is full, the connection to PostgreSQL was cut or the
server restarted. Writing the same rows again later succeeds, so the service keeps what
it staged and retries (``is_transient``). Others never pass: a constraint or a value the
database refuses will be refused again, so retrying would only hide the fault.

The repository writes through the driver's own cursor (``executemany`` on the DBAPI
cursor, for speed), so the driver's exceptions arrive unwrapped: both SQLAlchemy's
wrappers and the drivers' own classes are recognised here.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Final

from sqlalchemy import exc as sa_exc

try:  # psycopg is a dependency; a stripped install without it only loses its classes
    import psycopg
except ImportError:  # pragma: no cover - psycopg is installed with oms
    _PG_TRANSIENT: tuple[type[BaseException], ...] = ()
else:
    _PG_TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError)

#: Driver and SQLAlchemy errors that describe the connection or the server, not the data.
_TRANSIENT: Final = (
    sa_exc.OperationalError,  # locked, busy, disk full, server gone (wrapped)
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sqlite3.OperationalError,  # "database is locked", "database or disk is full", I/O
    *_PG_TRANSIENT,  # AdminShutdown, DiskFull, "connection is closed", ...
    OSError,  # the file system itself
)

#: Retry delays in seconds: doubling from the first, capped at the second.
RETRY_DELAY_S: Final = (0.05, 2.0)
#: How long a store fault may last before the account stops (``--store-fault-deadline``).
DEFAULT_STORE_FAULT_DEADLINE_S: Final = 60.0


def is_transient(error: BaseException) -> bool:
    """Whether writing the same rows again may succeed later."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa_exc.StatementError) and isinstance(error.orig, _TRANSIENT):
        return True
    return isinstance(error, _TRANSIENT)


def describe(error: BaseException) -> str:
    """One line: the error's class and first line, without SQLAlchemy's long tail (the
    statement and its parameters, which may be megabytes of frames)."""
    orig = getattr(error, "orig", None)
    shown = orig if isinstance(orig, BaseException) else error
    text = str(shown).strip().splitlines()
    return f"{type(shown).__name__}: {text[0] if text else 'no message'}"


@dataclass(slots=True)
class StoreFault:
    """A write fault in progress: since when (epoch ms and monotonic), the last error."""

    since_ms: int
    since: float
    error: str
    attempts: int = 1
