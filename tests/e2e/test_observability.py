"""Logs and metrics of a live account against the sandbox over loopback, with faults.

``oms run`` runs as a real process with ``--log-json`` (or text) at DEBUG and
``--metrics-port 0``. Its /metrics endpoint is scraped over HTTP on 127.0.0.1 until the
counters show what the faults caused. Every log line it wrote must name the account,
and every line of the stream and worker threads must name the connection. The API secret
and every signature the sandbox received must appear in no line. An in-process
``Session`` checks the series against the run's own counts. Waits poll with deadlines;
nothing asserts a duration.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from oms.cli.run import RunOptions, Session
from oms.runtime.metrics import PrometheusMetrics, start_exporter
from oms.runtime.resync import ResyncScope
from oms.sandbox import Faults, Sandbox
from tests.e2e.conftest import (
    KEY,
    SECRET,
    SEED,
    credentials,
    event_types,
    history_in_the_past,
    wait_for,
)
from tests.test_logs import JSON_KEYS, TEXT_LINE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

OMS = (sys.executable, "-m", "oms.cli")
ACCOUNT = "main"
RATE = 25.0
EXIT_S = 20.0
#: Any HMAC-SHA256 in hex: no log line has a reason to show one.
HEX_DIGEST = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
METRICS_URL = re.compile(r"serving metrics on (http://127\.0\.0\.1:\d+/metrics)")
#: Threads that serve the account: each of their lines names the connection.
SERVING_THREADS = ("oms-stream", "oms-live-worker")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def signatures_received(sandbox: Sandbox) -> list[str]:
    """Record every signature the sandbox is sent (WebSocket logins, REST headers)."""
    seen: list[str] = []
    check_login = sandbox._auth_refusal
    check_rest = sandbox._rest._verify

    def login(args: object) -> str | None:
        if isinstance(args, list) and len(args) == 3:
            seen.append(str(args[2]))
        return check_login(args)

    def rest(header: Callable[[str], str | None], query: str) -> dict[str, object] | None:
        seen.append(header("X-BAPI-SIGN") or "")
        return check_rest(header, query)

    sandbox._auth_refusal = login  # type: ignore[method-assign]
    sandbox._rest._verify = rest  # type: ignore[method-assign]
    return seen


def assert_no_secret(output: str, signatures: list[str]) -> None:
    assert len(signatures) >= 3  # logins and REST calls were signed
    assert SECRET not in output
    for signature in signatures:
        assert signature
        assert signature not in output
    assert HEX_DIGEST.findall(output) == []


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        body = response.read().decode("utf-8")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def sample(samples: Samples, name: str, account: str = ACCOUNT, **labels: str) -> float:
    return samples.get((name, frozenset({"account": account, **labels}.items())), 0.0)


def total(samples: Samples, name: str, account: str = ACCOUNT) -> float:
    return sum(
        v for (n, labels), v in samples.items() if n == name and ("account", account) in labels
    )


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    err: Path

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def complete_lines(self) -> list[str]:
        text = self.stderr()
        return text[: text.rfind("\n") + 1].splitlines()

    def alive(self) -> bool:
        if self.proc.poll() is None:
            return True
        pytest.fail(f"oms exited early ({self.proc.returncode}):\n{self.stderr()[-4000:]}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(EXIT_S)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[list[str]], Process]]:
    started: list[Process] = []

    def start(args: list[str]) -> Process:
        err = tmp_path / f"err{len(started)}.txt"
        with err.open("wb") as stderr:
            proc = subprocess.Popen(
                [*OMS, *args],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=os.environ | {"BYBIT_API_KEY": KEY, "BYBIT_API_SECRET": SECRET},
                cwd=tmp_path,
                start_new_session=True,
            )
        started.append(Process(proc, err))
        return started[-1]

    yield start
    for process in started:
        if process.proc.poll() is None:
            os.killpg(process.proc.pid, signal.SIGKILL)
        process.proc.wait(EXIT_S)


def run_args(sandbox: Sandbox, db: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--ws-url",
        sandbox.ws_url,
        "--rest-url",
        sandbox.rest_url,
        "--db",
        str(db),
        "--account",
        ACCOUNT,
        "--no-view",
        *extra,
    ]


def metrics_moved(url: str) -> bool:
    samples = scrape(url)
    return (
        total(samples, "oms_frames_total") > 0
        and sample(samples, "oms_frames_total", topic="order", outcome="applied") > 0
        and sample(samples, "oms_resyncs_total", result="ok") >= 2
        and sample(samples, "oms_reconnects_total") >= 2
        and sample(samples, "oms_anomalies_total", type="MalformedFrame") >= 1
        and sample(samples, "oms_event_lag_ms_count") > 0
        and sample(samples, "oms_ingestion_lag_ms_count") > 0
        and sample(samples, "oms_last_frame_timestamp_seconds") > 0
    )


def test_run_logs_json_naming_account_and_connection_and_serves_metrics(
    tmp_path: Path, spawn: Callable[[list[str]], Process]
) -> None:
    # One refused login and one dropped connection: two reconnects, two resyncs.
    faults = Faults(refuse_auth=1, drop_after_frames=40, malformed_every=9, seed=41)
    with Sandbox(KEY, SECRET, seed=SEED + 40, faults=faults) as sandbox:
        signatures = signatures_received(sandbox)
        sandbox.step(20)
        history_in_the_past(sandbox)
        args = ["--log-json", "--log-level", "DEBUG", *run_args(sandbox, tmp_path / "oms.db")]
        oms = spawn([*args, "--metrics-port", "0"])
        sandbox.start_trading(RATE)
        try:
            wait_for(
                lambda: oms.alive() and METRICS_URL.search(oms.stderr()), "the metrics endpoint"
            )
            found = METRICS_URL.search(oms.stderr())
            assert found is not None
            url = found.group(1)
            wait_for(
                lambda: oms.alive() and metrics_moved(url),
                "frames, 2 reconnects, 2 resyncs and a malformed frame in /metrics",
            )
        finally:
            sandbox.stop_trading()
        assert oms.stop() == 0, oms.stderr()[-4000:]
        assert sandbox.faults.drop_after_frames == 0  # the drop happened

    output = oms.stderr()
    assert "Traceback" not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert all(set(line) - {"exc_info"} == JSON_KEYS for line in lines)
    assert {line["account"] for line in lines} == {ACCOUNT}
    serving = [line for line in lines if line["thread"] in SERVING_THREADS]
    assert {line["thread"] for line in serving} == set(SERVING_THREADS)
    assert all(line["connection"] != "-" for line in serving)
    # The connection is named by Bybit's conn_id once the login ack gave it.
    logged_in = [line for line in lines if line["message"].startswith("authenticated (conn_id ")]
    conn_ids = [line["message"].removeprefix("authenticated (conn_id ")[:-1] for line in logged_in]
    assert len(set(conn_ids)) >= 2, conn_ids
    assert [line["connection"] for line in logged_in] == conn_ids
    refused = [line for line in lines if line["message"].startswith("login refused")]
    assert [line["connection"] for line in refused] == ["c1"]  # before any conn_id
    resyncs = [line for line in lines if line["message"].startswith("resync done")]
    assert len(resyncs) >= 2
    malformed = [line for line in lines if line["message"].startswith("MalformedFrame: ")]
    assert malformed
    # Logged by the run's anomaly subscription, on its own thread, in the account's context.
    assert {(line["level"], line["thread"]) for line in malformed} == {
        ("WARNING", "oms-subscriber-_log_anomaly")
    }
    assert any(line["level"] == "DEBUG" for line in lines)
    assert_no_secret(output, signatures)


def test_run_text_logs_at_debug_name_the_connection_and_show_no_secret(
    tmp_path: Path, spawn: Callable[[list[str]], Process]
) -> None:
    faults = Faults(refuse_auth=1, malformed_every=13, seed=42)
    with Sandbox(KEY, SECRET, seed=SEED + 41, faults=faults) as sandbox:
        signatures = signatures_received(sandbox)
        sandbox.step(20)
        history_in_the_past(sandbox)
        oms = spawn(["--log-level", "DEBUG", *run_args(sandbox, tmp_path / "oms.db")])
        sandbox.start_trading(RATE)
        try:
            wait_for(lambda: oms.alive() and "resync done" in oms.stderr(), "the first resync")
            wait_for(
                lambda: oms.alive() and "MalformedFrame: " in oms.stderr(), "a corrupted frame"
            )
        finally:
            sandbox.stop_trading()
        assert oms.stop() == 0, oms.stderr()[-4000:]
    output = oms.stderr()
    unmatched = [line for line in output.splitlines() if not TEXT_LINE.match(line)]
    assert unmatched == []
    matches = [TEXT_LINE.match(line) for line in output.splitlines()]
    assert {m.group("account") for m in matches if m} == {ACCOUNT}
    authenticated = [m for m in matches if m and m.group("message").startswith("authenticated")]
    assert authenticated
    for m in authenticated:
        assert f"(conn_id {m.group('connection')})" in m.group("message")
    assert_no_secret(output, signatures)


def test_session_metrics_agree_with_the_runs_own_counts(db: str) -> None:
    """After the session stopped, every series equals what the run counted itself."""
    registry = CollectorRegistry()
    metrics = PrometheusMetrics("acct-x", registry)
    faults = Faults(drop_after_frames=30, malformed_every=7, seed=43)
    with Sandbox(KEY, SECRET, seed=SEED + 42, faults=faults) as sandbox:
        sandbox.step(20)
        history_in_the_past(sandbox)
        options = RunOptions(
            ws_url=sandbox.ws_url,
            rest_url=sandbox.rest_url,
            db=db,
            account="acct-x",
            live_view=False,
            scope=ResyncScope(("linear",), ("USDT",)),
        )
        exporter = start_exporter("127.0.0.1", 0, registry)
        try:
            session = Session(options, credentials(), metrics=metrics)
            session.start()
            try:
                sandbox.start_trading(RATE)
                try:
                    wait_for(
                        lambda: (
                            session.account.health().resyncs >= 2
                            and session.account.health().outcomes.get("malformed", 0) >= 3
                        ),
                        "a drop, a second resync and corrupted frames",
                    )
                finally:
                    sandbox.stop_trading()
                live = scrape(exporter.url)  # while it runs
            finally:
                session.stop()
            assert session.error is None
            final = scrape(exporter.url)
        finally:
            exporter.close()

    assert total(live, "oms_frames_total", "acct-x") > 0
    health = session.account.health()
    stats = health.outcomes
    frames = total(final, "oms_frames_total", "acct-x")
    assert frames == health.frames == health.received
    for outcome in ("applied", "duplicate", "stale", "malformed", "control"):
        counted = sum(
            v
            for (n, labels), v in final.items()
            if n == "oms_frames_total" and ("outcome", outcome) in labels
        )
        assert counted == stats[outcome], outcome
    assert sample(final, "oms_ingestion_lag_ms_count", "acct-x") == frames
    assert sample(final, "oms_resyncs_total", "acct-x", result="ok") == health.resyncs >= 2
    assert sample(final, "oms_resyncs_total", "acct-x", result="failed") == 0
    assert sample(final, "oms_reconnects_total", "acct-x") == health.reconnects >= 1
    anomalies = {
        dict(labels)["type"]: v
        for (n, labels), v in final.items()
        if n == "oms_anomalies_total" and ("account", "acct-x") in labels
    }
    kinds = event_types(db)
    assert anomalies["MalformedFrame"] == kinds["MalformedFrame"] >= 3
    assert all(kinds[kind] == count for kind, count in anomalies.items())
    assert sample(final, "oms_queue_depth", "acct-x") == 0
    assert health.last_frame_at is not None
    assert (
        sample(final, "oms_last_frame_timestamp_seconds", "acct-x") == health.last_frame_at / 1000
    )
    assert sample(final, "oms_event_lag_ms_count", "acct-x") > 0
