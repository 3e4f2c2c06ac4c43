"""Captures: text files of raw frames, one per line (``-`` for stdin, ``.gz`` accepted).

Lines end at ``\n`` and nowhere else: a frame may hold a bare ``\r`` (or U+2028, U+0085,
``\x0b``, ``\x0c``, which ``str.splitlines`` would also split on) inside a JSON string,
and ``oms run --record`` writes it as received, so reading must keep it in its frame.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterator


#: Text-mode reading that splits lines on "\n" only and returns them untranslated
#: (newline="" would also split on a bare "\r"; the default would turn it into "\n").
_LINES = "\n"


@contextmanager
def open_capture(name: str) -> Iterator[tuple[TextIO, int]]:
    """Open a capture and tell its size in bytes (0 for stdin). It is read as UTF-8, in
    lines that end at ``\n`` only (each line keeps its ending). Bytes that are not UTF-8
    become U+FFFD, so a corrupted line is one malformed frame, not a failed replay."""
    if name == "-":
        if isinstance(sys.stdin, io.TextIOWrapper):
            # Before anything is read (reconfigure refuses to change newline after).
            sys.stdin.reconfigure(encoding="utf-8", errors="replace", newline=_LINES)
        yield sys.stdin, 0
        return
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"capture not found: {name}")
    size = path.stat().st_size
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline=_LINES) as handle:
            yield handle, size
    else:
        with path.open("r", encoding="utf-8", errors="replace", newline=_LINES) as handle:
            yield handle, size


def capture_identity(name: str) -> str | None:
    """A key naming a capture's exact content (None for stdin): name and SHA-256 prefix.
    A killed replay of the same content resumes where its last commit ended."""
    if name == "-":
        return None
    digest = hashlib.sha256()
    with Path(name).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{Path(name).name[:80]}@{digest.hexdigest()[:32]}"


def bytes_read(handle: TextIO) -> int:
    """Bytes consumed so far of the underlying file (compressed bytes for .gz)."""
    raw: Any = getattr(handle, "buffer", None)
    fileobj = getattr(raw, "fileobj", None)
    target = fileobj if fileobj is not None else raw
    try:
        return int(target.tell()) if target is not None else 0
    except (OSError, ValueError):
        return 0
