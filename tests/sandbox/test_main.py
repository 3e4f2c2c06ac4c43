"""``python -m oms.sandbox`` as a real subprocess: it serves, and SIGTERM or SIGINT stop it
cleanly (exit status 0, servers closed, a last line printed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.sandbox.client import now_ms, rest_get

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
    """The line queue and the five first lines (stream, trade, rest, key, secret) by name."""
    lines = _lines(proc.stdout)
    header = {}
    for _ in range(5):
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


def test_rate_0_trades_nothing_in_the_background_and_takes_orders(launch):
    proc, lines, header = launch("--rate", "0", "--seed", "3", "--tick-ms", "20")
    assert header["trade"].endswith("/v5/trade")
    url = header["rest"]
    body = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market"}
    stamp = str(now_ms())
    text = json.dumps(body | {"qty": "0.001", "orderLinkId": "cli-1"})
    origin = f"{stamp}k5000{text}"
    headers = {
        "Content-Type": "application/json", "X-BAPI-API-KEY": "k", "X-BAPI-TIMESTAMP": stamp,
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": hmac.new(b"s", origin.encode(), hashlib.sha256).hexdigest(),
    }  # fmt: skip
    request = urllib.request.Request(url + "/v5/order/create", text.encode(), headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
        assert json.loads(response.read())["retCode"] == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=TIMEOUT) == 0
    rest: list[str] = []
    while (line := lines.get(timeout=TIMEOUT)) is not None:
        rest.append(line)
    # no background action, the one order placed, and the market moved by itself
    assert re.search(r": 0 actions, 1 order-entry ops, [1-9]\d* market steps", rest[-1]), rest[-1]


@pytest.mark.parametrize(
    ("option", "value"), [("--latency-ms", "-1"), ("--rate", "-1"), ("--tick-ms", "0")]
)
def test_a_bad_number_is_refused(option, value):
    done = subprocess.run(
        [sys.executable, "-m", "oms.sandbox", option, value],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 2
    assert option in done.stderr
