"""The README's sandbox example, run as written against ``python -m oms.sandbox`` (a real
process, as a user starts it): unchanged pybit places an order over the sandbox's REST
API while an ``oms.Account`` follows the private stream, and the example prints what oms
saw beside what the venue reports."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

DOC = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## The sandbox"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
#: how long the sandbox process may take to print its URLs, and to stop
START_S = 30.0


def blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return BLOCK.findall(text[start:end])


def _read_urls(out: IO[str]) -> dict[str, str]:
    """The ``name  value`` lines the sandbox prints before it reports counts."""
    urls: dict[str, str] = {}
    while "secret" not in urls:
        line = out.readline()
        assert line, f"the sandbox ended before printing its URLs (got {urls})"
        name, _, value = line.strip().partition(" ")
        urls[name] = value.strip()
    return urls


@pytest.fixture
def sandbox_process() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    command = [sys.executable, "-m", "oms.sandbox", "--rate", "0", "--seed", "5"]
    command += ["--categories", "linear", "--seconds", "120"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        yield process, _read_urls(process.stdout)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=START_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_the_section_has_the_pybit_example():
    found = blocks()
    assert "session.place_order(" in found[0]
    assert "Account(DB, stream=stream" in found[0]


def test_the_pybit_example_runs_against_python_m_oms_sandbox(sandbox_process, tmp_path, capsys):
    process, urls = sandbox_process
    assert set(urls) >= {"stream", "trade", "public", "rest", "key", "secret"}
    assert urls["public"].endswith("/v5/public/linear")
    space: dict[str, Any] = {
        "__name__": "readme_sandbox",
        "KEY": urls["key"],
        "SECRET": urls["secret"],
        "DB": f"sqlite:///{tmp_path / 'oms.db'}",
        "WS_URL": urls["stream"],
        "REST_URL": urls["rest"],
    }
    exec(compile(blocks()[0], f"{DOC}:sandbox block 1", "exec"), space)  # noqa: S102
    printed = capsys.readouterr().out.split()
    assert printed == ["Filled", "0.01", "0.01", "0.01"]  # as the README says it prints
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=START_S)
    assert process.returncode == 0
    assert "stopped (SIGTERM)" in out
