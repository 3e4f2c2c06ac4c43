"""``python -m oms.sandbox`` as a real subprocess: it serves, and SIGTERM or SIGINT stop it
cleanly (exit status 0, servers closed, a last line printed)."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.sandbox.client import rest_get

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0


def _lines(stream: object) -> queue.Queue[str | None]:
    """Every line the stream gives, then None at its end (read on a daemon thread)."""
    out: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            out.put(line.rstrip("\n"))
        out.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return out


Started = tuple[subprocess.Popen[str], queue.Queue[str | None], dict[str, str]]


@pytest.fixture
def launch() -> Iterator[Callable[..., Started]]:
    """Starts ``python -m oms.sandbox`` with arguments; kills what is still running at the
    end and closes the pipes."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> Started:
        started.append(proc := _popen(*args))
        return proc, *_header(proc)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def _popen(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "oms.sandbox", "--key", "k", "--secret", "s", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _header(proc: subprocess.Popen[str]) -> tuple[queue.Queue[str | None], dict[str, str]]:
    """The line queue and the four first lines (stream, rest, key, secret) by name."""
    lines = _lines(proc.stdout)
    header = {}
    for _ in range(4):
        line = lines.get(timeout=TIMEOUT)
        assert line is not None, proc.stderr.read() if proc.stderr else ""
        name, _, value = line.partition(" ")
        header[name] = value.strip()
    return lines, header


def _refused(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_sandbox_cleanly_with_status_0(launch, signum):
    proc, lines, header = launch("--rate", "50", "--latency-ms", "1")
    assert header["key"] == "k"
    body = rest_get(header["rest"], "/v5/market/time", signed=False)
    assert body["retCode"] == 0  # it serves before the signal
    proc.send_signal(signum)
    assert proc.wait(timeout=TIMEOUT) == 0
    rest: list[str] = []
    while (line := lines.get(timeout=TIMEOUT)) is not None:
        rest.append(line)
    assert rest, "no last line"
    assert rest[-1].startswith(f"stopped ({signum.name}): ")
    assert rest[-1].endswith("servers closed")
    assert proc.stderr is not None
    assert proc.stderr.read() == ""  # no traceback, no warning
    assert _refused(header["rest"])
    assert _refused(header["stream"].replace("ws://", "http://"))


def test_seconds_ends_the_run_with_status_0(launch):
    proc, lines, _header = launch("--seconds", "0.5")
    assert proc.wait(timeout=TIMEOUT) == 0
    rest = []
    while (line := lines.get(timeout=TIMEOUT)) is not None:
        rest.append(line)
    assert rest[-1].startswith("stopped (time is up): ")


def test_a_negative_latency_is_refused():
    done = subprocess.run(
        [sys.executable, "-m", "oms.sandbox", "--latency-ms", "-1"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 2
    assert "--latency-ms" in done.stderr
