"""``python -m oms.sandbox`` as a user runs it: a real process, its printed URLs read, and
always stopped (SIGTERM, then kill) when the test ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

#: how long the process may take to print its URLs, and to stop
WAIT_S = 30.0


def _read_urls(out: IO[str]) -> dict[str, str]:
    """The ``name  value`` lines the sandbox prints before it reports counts."""
    urls: dict[str, str] = {}
    while "secret" not in urls:
        line = out.readline()
        assert line, f"the sandbox ended before printing its URLs (got {urls})"
        name, _, value = line.strip().partition(" ")
        urls[name] = value.strip()
    return urls


@contextmanager
def sandbox_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """The running process and its URLs (``stream``, ``trade``, ``public``, ``rest``,
    ``key``, ``secret``); ``args`` are its options. It stops after 120 s at the latest."""
    command = [sys.executable, "-m", "oms.sandbox", "--seconds", "120", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        yield process, _read_urls(process.stdout)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM the process and return what it printed after its URLs; it must exit 0."""
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=WAIT_S)
    assert process.returncode == 0, out
    return out
