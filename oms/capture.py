"""Captures: text files of raw frames, one per line (``-`` for stdin, ``.gz`` accepted)."""

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


@contextmanager
def open_capture(name: str) -> Iterator[tuple[TextIO, int]]:
    """Open a capture and tell its size in bytes (0 for stdin). Bytes that are not UTF-8
    become U+FFFD, so a corrupted line is one malformed frame, not a failed replay."""
    if name == "-":
        if isinstance(sys.stdin, io.TextIOWrapper):
            sys.stdin.reconfigure(errors="replace")
        yield sys.stdin, 0
        return
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"capture not found: {name}")
    size = path.stat().st_size
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
            yield handle, size
    else:
        with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
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
