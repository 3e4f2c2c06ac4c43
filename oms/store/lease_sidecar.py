"""The lease's lock file on SQLite (see ``oms.store.lease``): an OS lock (``flock``) on a
sidecar file beside the database, ``<db>.<sha1(account)[:12]>.lease`` (``0600``), holding
the owner record as one small JSON object. The OS drops the lock when its owner dies.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import threading
from typing import TYPE_CHECKING, Any, Final

from oms.errors import StorageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: The sidecar file holds one small JSON object.
_SIDECAR_MAX_BYTES: Final = 65536


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine (None on PostgreSQL and in memory)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    if database in ("", ":memory:") or "mode=memory" in (engine.url.database or ""):
        return None
    return database


def sidecar_path(database_path: str, account: str) -> str:
    """The lock file of ``account`` beside the SQLite file ``database_path``."""
    digest = hashlib.sha1(account.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{os.path.realpath(database_path)}.{digest}.lease"


class Sidecar:
    """The OS lock on a file beside a SQLite database that holds one account's lease,
    and the owner record written into it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        # The renewal thread writes the record while release() may close the file: a
        # write to a closed (and maybe reused) descriptor number must never happen.
        self._guard = threading.Lock()

    def try_lock(self) -> bool:
        """Lock the file (created ``0600`` if missing); False if another holds it."""
        for _ in range(8):
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
            try:
                fd = os.open(self.path, flags, 0o600)
            except OSError as exc:
                raise StorageError(f"cannot open the lease file {self.path}: {exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return False
                raise StorageError(f"cannot lock the lease file {self.path}: {exc}") from exc
            if self._still_at_path(fd):
                with self._guard:
                    self._fd = fd
                return True
            # Deleted or replaced between open and lock: the lock of a file nobody can
            # open any more excludes nobody. Lock the file that is there now.
            os.close(fd)
        raise StorageError(f"the lease file {self.path} keeps being replaced")

    def _still_at_path(self, fd: int) -> bool:
        try:
            there = os.stat(self.path, follow_symlinks=False)  # noqa: PTH116 - beside fstat
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino)

    def write(self, record: dict[str, Any]) -> None:
        """Replace the owner record in the locked file (nothing once unlocked)."""
        data = (json.dumps(record, sort_keys=True) + "\n").encode()
        with self._guard:
            if self._fd is None:
                return
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))

    def unlock(self) -> None:
        with self._guard:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor of the lock drops it


def read_sidecar(path: str) -> dict[str, Any] | None:
    """The owner record in a lease file (None if there is none or it cannot be read).
    Reading takes no lock: it never disturbs nor waits for the owner."""
    for _ in range(3):  # a read may meet a record half rewritten: read again
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            data = os.read(fd, _SIDECAR_MAX_BYTES)
        except OSError:
            return None
        finally:
            os.close(fd)
        try:
            record = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(record, dict) and _valid_sidecar(record):
            return record
    return None


def _valid_sidecar(record: dict[str, Any]) -> bool:
    ints = ("pid", "since", "heartbeat_at")
    return (
        isinstance(record.get("host"), str)
        and all(type(record.get(key)) is int for key in ints)
        and (record.get("epoch") is None or type(record.get("epoch")) is int)
    )


def lock_file_in_use(path: str) -> bool:
    """Whether a process holds the OS lock of an existing lease file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False  # no file: no one holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # drops the lock taken for the test, if any
    return False
