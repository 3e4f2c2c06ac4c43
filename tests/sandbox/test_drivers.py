"""The sandbox's background threads never die silently: a step that raises (a simulator
bug) is logged with its traceback and reported as ``Sandbox.failure``, and
``python -m oms.sandbox`` stops and exits 1 with it."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

from oms.sandbox import Sandbox
from tests.sandbox.client import KEY, SECRET

WAIT_S = 10.0


def _wait_failure(sandbox: Sandbox) -> BaseException:
    deadline = time.monotonic() + WAIT_S
    while sandbox.failure is None:
        assert time.monotonic() < deadline, "the failure was not reported"
        time.sleep(0.01)
    return sandbox.failure


def _boom(*_args: object) -> None:
    raise RuntimeError("simulator bug: a test's")


def test_a_market_step_that_raises_is_logged_and_reported(monkeypatch, caplog):
    with Sandbox(KEY, SECRET, seed=3, tick_ms=5) as sandbox:
        assert sandbox.failure is None
        with caplog.at_level(logging.ERROR, logger="oms.sandbox.drivers"):
            monkeypatch.setattr(sandbox.exchange, "tick", _boom)
            failure = _wait_failure(sandbox)
    assert str(failure) == "simulator bug: a test's"
    assert "the market clock stopped on an error" in caplog.text
    assert "RuntimeError: simulator bug" in caplog.text  # the traceback is in the log


def test_background_trading_that_raises_is_logged_and_reported(monkeypatch, caplog):
    with Sandbox(KEY, SECRET, seed=3, tick_ms=0) as sandbox:
        monkeypatch.setattr(sandbox.exchange, "step", _boom)
        with caplog.at_level(logging.ERROR, logger="oms.sandbox.drivers"):
            sandbox.start_trading(50)
            failure = _wait_failure(sandbox)
        sandbox.stop_trading()
    assert isinstance(failure, RuntimeError)
    assert "the background trading stopped on an error" in caplog.text


def test_python_m_oms_sandbox_exits_1_when_its_market_fails():
    # a real process running the command's main(), its market made to fail at the 3rd step
    code = (
        "import itertools, sys\n"
        "from oms.sandbox.exchange import Exchange\n"
        "from oms.sandbox.__main__ import main\n"
        "real, count = Exchange.tick, itertools.count()\n"
        "def tick(self):\n"
        "    if next(count) == 2:\n"
        "        raise RuntimeError('simulator bug: injected')\n"
        "    real(self)\n"
        "Exchange.tick = tick\n"
        "sys.exit(main(['--rate', '0', '--tick-ms', '10', '--seconds', '60']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("stopped (failed: RuntimeError: simulator bug: injected)")
    assert "Traceback" in done.stderr
