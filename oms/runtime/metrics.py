"""Optional Prometheus metrics for a live account (``pip install 'oms[metrics]'``).

The live stack reports through the small ``Metrics`` protocol. Its default, ``NO_METRICS``,
does nothing, so a run without metrics pays one empty call per frame at most.
``PrometheusMetrics`` is the real implementation, and ``start_exporter`` serves
``/metrics`` over HTTP. ``prometheus_client`` is imported only when one of them is used.
Without it installed they raise ``MetricsUnavailableError``.

Every series has the label ``account``:

========================================  =========  =====================================
name                                      type       meaning
========================================  =========  =====================================
``oms_frames_total{topic,outcome}``       counter    stream frames handled, by topic and
                                                     outcome (applied, duplicate, stale,
                                                     illegal, malformed, control, ignored)
``oms_event_lag_ms``                      histogram  receipt time minus venue time of each
                                                     order, fill and position event
``oms_ingestion_lag_ms``                  histogram  time a frame waited in the queue
                                                     between the stream and the worker
``oms_reconnects_total``                  counter    connections after the first
``oms_resyncs_total{result}``             counter    REST resyncs, ``ok`` or ``failed``
``oms_anomalies_total{type}``             counter    anomaly events by type
``oms_queue_depth``                       gauge      items waiting for the worker
``oms_last_frame_timestamp_seconds``      gauge      receipt time of the newest frame
``oms_store_faults_total``                counter    store faults begun (writes failing for
                                                     a reason that may pass)
``oms_store_degraded``                    gauge      1 while writes fail and are retried
``oms_account_failed``                    gauge      1 once the account stopped on a fault
========================================  =========  =====================================
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from oms.bybit.frames import OTHER_PRIVATE_TOPICS, TOPICS
from oms.core import events as ev
from oms.errors import MetricsError, MetricsUnavailableError  # re-exported from here

if TYPE_CHECKING:
    from collections.abc import Callable
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    from oms.bybit.ledger import FrameResult

log = logging.getLogger("oms.runtime.metrics")

#: Histogram buckets in milliseconds.
LAG_BUCKETS_MS: Final = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000)
QUEUE_BUCKETS_MS: Final = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30_000)
#: Topic label values: the topics Bybit defines; any other text counts as ``other`` so a
#: corrupted frame cannot create a new series. ``none``: a frame with no topic (a control
#: frame, or one too broken to name it).
KNOWN_TOPICS: Final = frozenset(TOPICS) | OTHER_PRIVATE_TOPICS
#: The events whose venue time is when the venue made the change the frame reports.
#: Anomalies are left out: they are stamped when detected, maybe long after.
_LAG_EVENTS: Final = (
    ev.OrderStatusChanged,
    ev.OrderAmended,
    ev.CancelRejected,
    ev.FillBooked,
    ev.PositionChanged,
)


class Metrics(Protocol):
    """What the live stack reports. Every method must be cheap and must not raise."""

    def connected(self, number: int) -> None:
        """The stream opened its ``number``-th connection (2 and up: a reconnect)."""

    def frame_handled(self, result: FrameResult, *, received_at: int, dequeued_at: int) -> None:
        """The worker applied one frame (times in epoch ms)."""

    def resynced(self, *, ok: bool) -> None:
        """A REST resync completed (``ok``) or failed."""

    def event_published(self, event: ev.Event) -> None:
        """An event was committed (called as a service subscriber)."""

    def store_fault(self, *, active: bool) -> None:
        """Writes started failing (``active``) or succeed again."""

    def failed(self) -> None:
        """The account stopped on a fault."""

    def watch(
        self, *, queue_depth: Callable[[], int], last_frame_at: Callable[[], int | None]
    ) -> None:
        """Read these when scraped: queued items, newest receipt time (epoch ms)."""


class NullMetrics:
    """Metrics that record nothing (the default)."""

    def connected(self, number: int) -> None:
        """Nothing."""

    def frame_handled(self, result: FrameResult, *, received_at: int, dequeued_at: int) -> None:
        """Nothing."""

    def resynced(self, *, ok: bool) -> None:
        """Nothing."""

    def event_published(self, event: ev.Event) -> None:
        """Nothing."""

    def store_fault(self, *, active: bool) -> None:
        """Nothing."""

    def failed(self) -> None:
        """Nothing."""

    def watch(
        self, *, queue_depth: Callable[[], int], last_frame_at: Callable[[], int | None]
    ) -> None:
        """Nothing."""


NO_METRICS: Final[Metrics] = NullMetrics()


def require() -> None:
    """Raise ``MetricsUnavailableError`` unless ``prometheus-client`` can be imported."""
    try:
        import prometheus_client  # noqa: F401, PLC0415 - optional dependency
    except ImportError as exc:
        raise MetricsUnavailableError from exc


@dataclass(frozen=True, slots=True)
class _TrafficFamilies:
    """What flows from the stream through the worker."""

    frames: Counter
    event_lag: Histogram
    ingestion_lag: Histogram
    reconnects: Counter
    queue_depth: Gauge
    last_frame: Gauge


@dataclass(frozen=True, slots=True)
class _IncidentFamilies:
    """Repairs, anomalies and faults."""

    resyncs: Counter
    anomalies: Counter
    store_faults: Counter
    store_degraded: Gauge
    failed: Gauge


@dataclass(frozen=True, slots=True)
class _Families:
    traffic: _TrafficFamilies
    incidents: _IncidentFamilies


_families: weakref.WeakKeyDictionary[CollectorRegistry, _Families] = weakref.WeakKeyDictionary()
_families_lock = threading.Lock()
#: The label every series has.
_ACCOUNT: Final = ("account",)


def _families_of(registry: CollectorRegistry) -> _Families:
    """The metric families in ``registry``, created once (a registry refuses duplicates)."""
    with _families_lock:
        found = _families.get(registry)
        if found is None:
            found = _Families(_traffic_families(registry), _incident_families(registry))
            _families[registry] = found
        return found


def _traffic_families(registry: CollectorRegistry) -> _TrafficFamilies:
    from prometheus_client import Counter, Gauge, Histogram  # noqa: PLC0415

    return _TrafficFamilies(
        frames=Counter(
            "oms_frames",
            "Stream frames handled, by topic and outcome",
            (*_ACCOUNT, "topic", "outcome"),
            registry=registry,
        ),
        event_lag=Histogram(
            "oms_event_lag_ms",
            "Receipt time minus venue time of order, fill and position events (ms)",
            _ACCOUNT,
            registry=registry,
            buckets=LAG_BUCKETS_MS,
        ),
        ingestion_lag=Histogram(
            "oms_ingestion_lag_ms",
            "Time a frame waited in the queue before the worker took it (ms)",
            _ACCOUNT,
            registry=registry,
            buckets=QUEUE_BUCKETS_MS,
        ),
        reconnects=Counter(
            "oms_reconnects", "Stream connections after the first", _ACCOUNT, registry=registry
        ),
        queue_depth=Gauge(
            "oms_queue_depth", "Items waiting for the live worker", _ACCOUNT, registry=registry
        ),
        last_frame=Gauge(
            "oms_last_frame_timestamp_seconds",
            "Receipt time of the newest stream frame (epoch seconds; 0: none yet)",
            _ACCOUNT,
            registry=registry,
        ),
    )


def _incident_families(registry: CollectorRegistry) -> _IncidentFamilies:
    from prometheus_client import Counter, Gauge  # noqa: PLC0415

    return _IncidentFamilies(
        resyncs=Counter(
            "oms_resyncs", "REST resyncs by result", (*_ACCOUNT, "result"), registry=registry
        ),
        anomalies=Counter(
            "oms_anomalies", "Anomaly events by type", (*_ACCOUNT, "type"), registry=registry
        ),
        store_faults=Counter("oms_store_faults", "Store faults begun", _ACCOUNT, registry=registry),
        store_degraded=Gauge(
            "oms_store_degraded",
            "1 while database writes fail and are retried",
            _ACCOUNT,
            registry=registry,
        ),
        failed=Gauge(
            "oms_account_failed",
            "1 once the account stopped on a fault",
            _ACCOUNT,
            registry=registry,
        ),
    )


def _topic_label(topic: str | None) -> str:
    if topic is None:
        return "none"
    return topic if topic in KNOWN_TOPICS else "other"


class PrometheusMetrics:
    """``Metrics`` as Prometheus series labelled with ``account`` (default registry:
    ``prometheus_client.REGISTRY``, the one ``start_exporter`` serves by default)."""

    def __init__(self, account: str, registry: CollectorRegistry | None = None) -> None:
        try:
            from prometheus_client import REGISTRY  # noqa: PLC0415
        except ImportError as exc:
            raise MetricsUnavailableError from exc
        self.account = account
        self.registry = registry if registry is not None else REGISTRY
        self._f = _families_of(self.registry)
        self._frames: dict[tuple[str | None, str], Counter] = {}
        self._event_lag = self._f.traffic.event_lag.labels(account)
        self._ingestion_lag = self._f.traffic.ingestion_lag.labels(account)
        self._reconnects = self._f.traffic.reconnects.labels(account)
        self._resyncs = {
            True: self._f.incidents.resyncs.labels(account, "ok"),
            False: self._f.incidents.resyncs.labels(account, "failed"),
        }

    def connected(self, number: int) -> None:
        """Count a reconnect (every connection after the first)."""
        if number > 1:
            self._reconnects.inc()

    def frame_handled(self, result: FrameResult, *, received_at: int, dequeued_at: int) -> None:
        """Count the frame, observe its queue wait and its events' lag."""
        key = (result.topic, result.outcome.value)
        counter = self._frames.get(key)
        if counter is None:
            counter = self._f.traffic.frames.labels(self.account, _topic_label(key[0]), key[1])
            self._frames[key] = counter
        counter.inc()
        self._ingestion_lag.observe(max(0, dequeued_at - received_at))
        for event in result.events:
            if isinstance(event, _LAG_EVENTS) and event.venue_time > 0:
                # A venue clock ahead of ours is no lag: it counts as 0, not negative.
                self._event_lag.observe(max(0, event.received_at - event.venue_time))

    def resynced(self, *, ok: bool) -> None:
        """Count a resync by result."""
        self._resyncs[ok].inc()

    def event_published(self, event: ev.Event) -> None:
        """Count anomalies by type."""
        if isinstance(event, ev.Anomaly):
            self._f.incidents.anomalies.labels(self.account, type(event).__name__).inc()

    def store_fault(self, *, active: bool) -> None:
        """Count a store fault as it begins; the gauge says whether one lasts."""
        if active:
            self._f.incidents.store_faults.labels(self.account).inc()
        self._f.incidents.store_degraded.labels(self.account).set(1 if active else 0)

    def failed(self) -> None:
        """Set the failed gauge."""
        self._f.incidents.failed.labels(self.account).set(1)

    def watch(
        self, *, queue_depth: Callable[[], int], last_frame_at: Callable[[], int | None]
    ) -> None:
        """Gauges read at scrape time."""
        self._f.traffic.queue_depth.labels(self.account).set_function(lambda: float(queue_depth()))

        def last_frame() -> float:
            at = last_frame_at()
            return 0.0 if at is None else at / 1000.0

        self._f.traffic.last_frame.labels(self.account).set_function(last_frame)


class Exporter:
    """The ``/metrics`` HTTP endpoint on its own thread; ``close()`` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread, host: str) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port: int = server.server_port

    @property
    def url(self) -> str:
        """Where the metrics are served."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def start_exporter(
    host: str = "127.0.0.1", port: int = 0, registry: CollectorRegistry | None = None
) -> Exporter:
    """Serve ``registry`` (default: the global one) on http://host:port/metrics; port 0
    picks a free port (see ``Exporter.port``)."""
    try:
        from prometheus_client import REGISTRY, start_http_server  # noqa: PLC0415
    except ImportError as exc:
        raise MetricsUnavailableError from exc
    try:
        server, thread = start_http_server(
            port, addr=host, registry=registry if registry is not None else REGISTRY
        )
    except OSError as exc:
        raise MetricsError(f"cannot serve metrics on {host}:{port}: {exc}") from exc
    exporter = Exporter(server, thread, host)
    log.info("serving metrics on %s", exporter.url)
    return exporter
