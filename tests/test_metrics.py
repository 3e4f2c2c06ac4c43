"""``oms.runtime.metrics``: Prometheus series fed by real ledger results, served over real HTTP.

Each test has its own ``CollectorRegistry``; the exporter listens on 127.0.0.1 only (port
0: a free port). The command-line checks run ``oms`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from oms.bybit.ledger import Ledger
from oms.core import events as ev
from oms.runtime.metrics import (
    MetricsError,
    PrometheusMetrics,
    start_exporter,
)
from tests.core.frames import T0, execution, execution_frame, order, order_frame

ACCOUNT = "acct-1"
TIMEOUT = 60


@pytest.fixture
def registry():
    return CollectorRegistry()


def value(registry, name, **labels):
    found = registry.get_sample_value(name, {"account": ACCOUNT, **labels})
    return 0.0 if found is None else found


def feed(metrics, ledger, text, received_at, dequeued_at=None):
    result = ledger.feed(text, received_at=received_at)
    metrics.frame_handled(
        result,
        received_at=received_at,
        dequeued_at=received_at if dequeued_at is None else dequeued_at,
    )
    return result


def test_frames_are_counted_by_topic_and_outcome(registry):
    metrics, ledger = PrometheusMetrics(ACCOUNT, registry), Ledger()
    new = order_frame(order(updatedTime=str(T0)))
    feed(metrics, ledger, new, T0 + 5)
    feed(metrics, ledger, new, T0 + 6)  # the same frame again
    feed(metrics, ledger, "<html>502 Bad Gateway</html>", T0 + 7)
    feed(metrics, ledger, '{"op":"pong","success":true,"ret_msg":"pong","conn_id":"x"}', T0 + 8)
    feed(metrics, ledger, '{"topic":"greeks","creationTime":1,"data":[]}', T0 + 9)
    feed(metrics, ledger, '{"topic":"not-a-bybit-topic","creationTime":1,"data":[]}', T0 + 9)

    frames = "oms_frames_total"
    assert value(registry, frames, topic="order", outcome="applied") == 1
    assert value(registry, frames, topic="order", outcome="duplicate") == 1
    assert value(registry, frames, topic="none", outcome="malformed") == 1
    assert value(registry, frames, topic="none", outcome="control") == 1
    assert value(registry, frames, topic="greeks", outcome="ignored") == 1
    # An unknown topic name never becomes a label value of its own.
    assert value(registry, frames, topic="other", outcome="ignored") == 1
    assert value(registry, frames, topic="not-a-bybit-topic", outcome="ignored") == 0
    counted = sum(
        s.value
        for family in registry.collect()
        if family.name == "oms_frames"
        for s in family.samples
        if s.name == frames
    )
    assert counted == ledger.stats["frames"] == 6


def test_event_lag_is_receipt_minus_venue_time_of_order_and_fill_events(registry):
    metrics, ledger = PrometheusMetrics(ACCOUNT, registry), Ledger()
    feed(metrics, ledger, order_frame(order(updatedTime=str(T0))), T0 + 250)
    fill = execution(execTime=str(T0 + 1000))
    feed(metrics, ledger, execution_frame(fill), T0 + 1030)
    feed(metrics, ledger, execution_frame(fill), T0 + 5000)  # duplicate: no event, no lag

    assert value(registry, "oms_event_lag_ms_count") == 2
    assert value(registry, "oms_event_lag_ms_sum") == 250 + 30
    assert value(registry, "oms_event_lag_ms_bucket", le="25.0") == 0
    assert value(registry, "oms_event_lag_ms_bucket", le="50.0") == 1
    assert value(registry, "oms_event_lag_ms_bucket", le="250.0") == 2


def test_a_venue_clock_ahead_of_ours_counts_as_no_lag(registry):
    metrics, ledger = PrometheusMetrics(ACCOUNT, registry), Ledger()
    feed(metrics, ledger, order_frame(order(updatedTime=str(T0 + 900))), T0)
    assert value(registry, "oms_event_lag_ms_count") == 1
    assert value(registry, "oms_event_lag_ms_sum") == 0


def test_ingestion_lag_is_the_queue_wait(registry):
    metrics, ledger = PrometheusMetrics(ACCOUNT, registry), Ledger()
    feed(metrics, ledger, order_frame(order()), T0, dequeued_at=T0 + 40)
    feed(metrics, ledger, "not json", T0 + 50, dequeued_at=T0 + 52)
    assert value(registry, "oms_ingestion_lag_ms_count") == 2
    assert value(registry, "oms_ingestion_lag_ms_sum") == 42
    assert value(registry, "oms_ingestion_lag_ms_bucket", le="2.0") == 1


def test_reconnects_resyncs_and_anomalies(registry):
    metrics = PrometheusMetrics(ACCOUNT, registry)
    # Present (at 0) from the start, so a dashboard can tell "none yet" from "no data".
    assert registry.get_sample_value("oms_reconnects_total", {"account": ACCOUNT}) == 0
    assert registry.get_sample_value("oms_resyncs_total", {"account": ACCOUNT, "result": "ok"}) == 0
    metrics.connected(1)
    assert value(registry, "oms_reconnects_total") == 0  # the first connection is no reconnect
    metrics.connected(2)
    metrics.connected(3)
    assert value(registry, "oms_reconnects_total") == 2

    metrics.resynced(ok=True)
    metrics.resynced(ok=True)
    metrics.resynced(ok=False)
    assert value(registry, "oms_resyncs_total", result="ok") == 2
    assert value(registry, "oms_resyncs_total", result="failed") == 1

    ledger = Ledger()
    for event in [
        *ledger.apply_frame("<html>502</html>", received_at=T0),
        *ledger.apply_frame(order_frame(order()), received_at=T0),
        ev.OrderVanished(venue_time=0, received_at=T0, reason="gone", order_id="o", symbol="X"),
    ]:
        metrics.event_published(event)
    assert value(registry, "oms_anomalies_total", type="MalformedFrame") == 1
    assert value(registry, "oms_anomalies_total", type="OrderVanished") == 1
    assert value(registry, "oms_anomalies_total", type="OrderStatusChanged") == 0


def test_gauges_are_read_when_scraped(registry):
    metrics = PrometheusMetrics(ACCOUNT, registry)
    queue: list[str] = []
    last: list[int | None] = [None]
    metrics.watch(queue_depth=lambda: len(queue), last_frame_at=lambda: last[0])
    assert value(registry, "oms_queue_depth") == 0
    assert value(registry, "oms_last_frame_timestamp_seconds") == 0
    queue.extend(["a", "b", "c"])
    last[0] = 1_717_200_000_500
    assert value(registry, "oms_queue_depth") == 3
    assert value(registry, "oms_last_frame_timestamp_seconds") == 1_717_200_000.5


def test_two_accounts_share_a_registry_with_separate_series(registry):
    first, second = PrometheusMetrics("a", registry), PrometheusMetrics("b", registry)
    first.resynced(ok=True)
    second.resynced(ok=True)
    second.resynced(ok=True)
    assert registry.get_sample_value("oms_resyncs_total", {"account": "a", "result": "ok"}) == 1
    assert registry.get_sample_value("oms_resyncs_total", {"account": "b", "result": "ok"}) == 2


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own loopback URL
        assert response.status == 200
        body = response.read().decode("utf-8")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_exporter_serves_the_registry_over_http_until_closed(registry):
    metrics = PrometheusMetrics(ACCOUNT, registry)
    metrics.connected(1)
    metrics.connected(2)
    exporter = start_exporter("127.0.0.1", 0, registry)
    try:
        assert exporter.port > 0
        assert exporter.url == f"http://127.0.0.1:{exporter.port}/metrics"
        samples = scrape(exporter.url)
        assert samples[("oms_reconnects_total", frozenset({("account", ACCOUNT)}))] == 1
    finally:
        exporter.close()
    with pytest.raises(urllib.error.URLError):
        scrape(exporter.url)


def test_exporter_on_a_port_in_use_says_so(registry):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            start_exporter("127.0.0.1", port, registry)


def run_oms(tmp_path, *args, hide_prometheus=False):
    """``oms run`` in a subprocess, pointed at ports where nothing listens."""
    hide = "sys.modules['prometheus_client'] = None; " if hide_prometheus else ""
    code = f"import sys; {hide}from oms.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=os.environ | {"BYBIT_API_KEY": "k", "BYBIT_API_SECRET": "s"},
        check=False,
    )


def run_args(db, *extra):
    nowhere = ["--ws-url", "ws://127.0.0.1:9/", "--rest-url", "http://127.0.0.1:9"]
    return ["run", *nowhere, "--db", db, "--no-view", "--duration", "5", *extra]


def test_metrics_without_prometheus_client_exit_2_with_a_clear_message(tmp_path):
    db = tmp_path / "oms.db"
    done = run_oms(tmp_path, *run_args(str(db), "--metrics-port", "0"), hide_prometheus=True)
    assert done.returncode == 2, done.stderr
    assert "prometheus-client" in done.stderr
    assert "pip install 'oms[metrics]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not db.exists()  # refused before anything was opened


def test_metrics_on_a_port_in_use_exit_2_in_json(tmp_path):
    db = tmp_path / "oms.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = run_oms(tmp_path, "--log-json", *run_args(str(db), "--metrics-port", port))
    assert done.returncode == 2, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["level"] for line in lines] == ["ERROR"]
    assert f"cannot serve metrics on 127.0.0.1:{port}" in lines[0]["message"]
    assert lines[0]["account"] == "default"
    assert not db.exists()


def test_metrics_port_must_be_a_tcp_port(tmp_path):
    done = run_oms(tmp_path, *run_args(str(tmp_path / "oms.db"), "--metrics-port", "70000"))
    assert done.returncode == 2
    assert "not a TCP port: 70000" in done.stderr
