"""``oms.runtime.logs``: the log context, the two formats, ``configure()`` and the CLI options.

The live side (a stream and a worker thread naming the connection; no secret in any
line) is in ``tests/e2e/test_observability.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import sqlite3
import subprocess
import sys
import threading

import pytest

from oms.runtime import logs
from oms.threads import start_thread
from tests.conftest import DATA
from tests.journal import journaled
from tests.sandbox.client import wait_for

DIRTY = DATA / "sample-dirty.jsonl.gz"
OMS = (sys.executable, "-m", "oms.cli")
TIMEOUT = 120
#: The human format: ts, level, logger, [acct=... conn=...], message.
TEXT_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<level>[A-Z]+) (?P<logger>\S+) "
    r"\[acct=(?P<account>\S+) conn=(?P<connection>\S+)\] (?P<message>.*)$"
)
JSON_KEYS = {"ts", "level", "logger", "message", "account", "connection", "thread"}


@pytest.fixture
def capture():
    """``configure()`` on a private logger into a buffer; removed afterwards."""
    buffers: list[tuple[logging.Logger, logging.Handler]] = []

    def make(
        *, json_lines: bool, name: str = "oms.test_logs"
    ) -> tuple[logging.Logger, io.StringIO]:
        buffer = io.StringIO()
        handler = logs.configure(json=json_lines, level="DEBUG", stream=buffer, logger=name)
        logger = logging.getLogger(name)
        buffers.append((logger, handler))
        return logger, buffer

    yield make
    for logger, handler in buffers:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def test_text_line_names_account_and_connection(capture):
    logger, buffer = capture(json_lines=False)
    with logs.bound(logs.LogContext(account="main", connection="c3")):
        logger.info("resync done (%s)", "first")
    match = TEXT_LINE.match(buffer.getvalue().rstrip("\n"))
    assert match is not None, buffer.getvalue()
    assert match.group("level", "logger", "account", "connection", "message") == (
        "INFO",
        "oms.test_logs",
        "main",
        "c3",
        "resync done (first)",
    )


def test_json_line_has_every_field_and_the_traceback(capture):
    logger, buffer = capture(json_lines=True)
    with logs.bound(logs.account_context("main")):
        logs.set_connection("abc-123")
        try:
            raise ValueError("boom")  # noqa: TRY301 - a real traceback to format
        except ValueError:
            logger.exception("it failed on %s", "purpose")
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1  # the traceback is inside the one object
    document = json.loads(lines[0])
    assert set(document) == JSON_KEYS | {"exc_info"}
    assert document["level"] == "ERROR"
    assert document["logger"] == "oms.test_logs"
    assert document["message"] == "it failed on purpose"
    assert (document["account"], document["connection"]) == ("main", "abc-123")
    assert document["thread"] == threading.current_thread().name
    assert "ValueError: boom" in document["exc_info"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", document["ts"])


def test_without_a_context_both_fields_read_dash(capture):
    logger, buffer = capture(json_lines=True)
    logs.set_connection("c9")  # nothing bound: nothing to name
    logger.warning("no account here")
    document = json.loads(buffer.getvalue())
    assert (document["account"], document["connection"]) == ("-", "-")


def test_extra_values_win_over_the_context(capture):
    logger, buffer = capture(json_lines=True)
    with logs.bound(logs.account_context("main")):
        logger.info("other account", extra={"account": "second"})
    assert json.loads(buffer.getvalue())["account"] == "second"


def test_threads_started_in_a_context_share_its_connection(capture):
    """What the stream and the worker rely on: the worker names the connection the
    stream thread set, because both hold the same context."""
    logger, buffer = capture(json_lines=True)
    ready, logged = threading.Event(), threading.Event()

    def worker() -> None:
        ready.wait(30)
        logger.info("from the worker")
        logged.set()

    def stream() -> None:
        logs.set_connection("conn-7")
        ready.set()

    context = logs.account_context("main")
    with logs.bound(context):
        threads = [start_thread(worker, name="w"), start_thread(stream, name="s")]
    for thread in threads:
        thread.join(30)
    assert logged.is_set()
    assert logs.current() is None  # the binding ended with the block
    document = json.loads(buffer.getvalue())
    assert (document["account"], document["connection"], document["thread"]) == (
        "main",
        "conn-7",
        "w",
    )
    assert context.connection == "conn-7"


def test_configure_again_replaces_its_handler(capture):
    logger, first = capture(json_lines=True)
    logger2, second = capture(json_lines=False)
    assert logger is logger2
    ours = [h for h in logger.handlers if getattr(h, "_oms_handler", False)]
    assert len(ours) == 1
    logger.error("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


def test_iso_timestamps_are_utc_with_milliseconds():
    assert logs.iso_utc(0.123) == "1970-01-01T00:00:00.123Z"
    assert logs.iso_utc(1_717_200_000.5) == "2024-06-01T00:00:00.500Z"
    assert logs.iso_utc(1_717_200_059.999) == "2024-06-01T00:00:59.999Z"


def test_levels_are_parsed_by_name_or_number():
    assert logs.parse_level("debug") == logging.DEBUG
    assert logs.parse_level(logging.WARNING) == logging.WARNING
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        logs.parse_level("LOUD")


def test_importing_oms_configures_no_logging():
    code = (
        "import logging, oms, oms.runtime.logs, oms.runtime.metrics, oms.cli.run, oms.cli\n"
        "import oms.runtime.worker\n"
        "root = logging.getLogger()\n"
        "print(len(root.handlers), root.level, len(logging.getLogger('oms').handlers))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    assert done.stdout.split() == ["0", str(logging.WARNING), "0"]


def oms_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OMS, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def test_cli_log_json_before_the_command(tmp_path):
    db = str(tmp_path / "oms.db")
    done = oms_cli("--log-json", "-v", "replay", str(DIRTY), "--db", db, "--account", "main")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert lines
    assert all(set(line) == JSON_KEYS for line in lines)
    assert {(line["account"], line["connection"]) for line in lines} == {("main", "-")}
    assert any(line["message"].startswith("MalformedFrame: ") for line in lines)
    assert any(line["message"].startswith("replay done") for line in lines)
    assert "executions booked" in done.stdout  # the tables still print on stdout


def test_cli_log_options_after_the_command_and_json_output_intact():
    done = oms_cli("replay", str(DIRTY), "--json", "--log-json", "--log-level", "info")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stats"]["malformed"] > 0  # stdout is the document alone
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(line["message"].startswith("MalformedFrame: ") for line in lines)
    assert {line["level"] for line in lines} == {"INFO"}  # a replay's anomalies: INFO
    assert {line["account"] for line in lines} == {"default"}


def test_cli_text_lines_by_default_format():
    done = oms_cli("-v", "replay", str(DIRTY), "--summary")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines
    for line in lines:
        match = TEXT_LINE.match(line)
        assert match is not None, line
        assert match.group("account", "connection") == ("default", "-")


def test_cli_quiet_by_default_and_errors_still_shown(tmp_path):
    # The anomalies are in the document; each is logged only with -v.
    assert oms_cli("replay", str(DIRTY), "--json").stderr == ""
    missing = tmp_path / "missing.jsonl"
    done = oms_cli("--log-json", "replay", str(missing))
    assert done.returncode == 2
    (line,) = [json.loads(text) for text in done.stderr.splitlines()]
    assert line["level"] == "ERROR"
    assert str(missing) in line["message"]


def test_cli_refuses_an_unknown_level():
    done = oms_cli("--log-level", "loud", "replay", str(DIRTY))
    assert done.returncode == 2
    assert "--log-level" in done.stderr


def test_cli_shows_a_store_fault_by_default_while_it_retries(tmp_path):
    """Warnings are shown without -v: a replay whose database another connection locks
    says at once that it cannot write and for how long it retries, then that it writes
    again, and loses nothing."""
    db = tmp_path / "oms.db"
    lines = gzip.decompress((DATA / "sample-clean.jsonl.gz").read_bytes()).splitlines()
    proc = subprocess.Popen(
        [*OMS, "replay", "-", "--db", f"sqlite:///{db}", "--store-fault-deadline", "60"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=False,
    )
    assert proc.stdin is not None
    assert proc.stderr is not None
    stderr: list[str] = []
    reader = start_thread(
        lambda: stderr.extend(line.decode() for line in proc.stderr),  # type: ignore[union-attr]
        name="stderr",
    )
    try:
        proc.stdin.write(b"\n".join(lines[:500]) + b"\n")
        proc.stdin.flush()
        wait_for(lambda: journaled(db) >= 400, TIMEOUT, "the first groups committed")
        holder = sqlite3.connect(db, isolation_level=None, timeout=30)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            # From a thread: the replay stops reading while it cannot write.
            writer = start_thread(lambda: _write_rest(proc, lines[500:]), name="stdin")
            # The first failing write waits out SQLite's busy timeout (10 s) first.
            said = "store: cannot write"
            wait_for(lambda: any(said in line for line in stderr), TIMEOUT, "the fault")
        finally:
            holder.execute("COMMIT")
            holder.close()
        writer.join(TIMEOUT)
        assert proc.wait(timeout=TIMEOUT) == 0, "".join(stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(TIMEOUT)
        proc.stderr.close()
    (fault,) = [line for line in stderr if "store: cannot write" in line]
    assert " WARNING " in fault
    assert "database is locked" in fault
    assert "retrying for up to 60 s" in fault
    assert any(" WARNING " in line and "store: writing again" in line for line in stderr)
    assert not any(" ERROR " in line for line in stderr), "".join(stderr)
    assert journaled(db) == len(lines)  # nothing lost


def _write_rest(proc: subprocess.Popen[bytes], lines: list[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(b"\n".join(lines) + b"\n")
    proc.stdin.close()
