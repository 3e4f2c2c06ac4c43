"""How an ``Account``'s parts are connected, from its settings: the REST client it resyncs
with, its private stream (into the worker, its connections into the log context and the
metrics), and what the metrics read from the worker and the published events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from oms.bybit.rest import REST_URLS, RestClient
from oms.bybit.signing import Credentials, Secret
from oms.bybit.stream import NETWORKS, PrivateStream
from oms.errors import LocalError
from oms.runtime.logs import set_connection
from oms.runtime.metrics import NO_METRICS

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.bybit.stream import StreamSettings, StreamStatus
    from oms.runtime.metrics import Metrics
    from oms.runtime.publish import Publisher
    from oms.runtime.worker import Worker

#: REST host of each named stream host, for ``stream=`` settings given without ``rest_url``.
REST_OF_STREAM: Final = {NETWORKS[name]: url for name, url in REST_URLS.items()}


class StreamHooks:
    """The stream's news of its connections, into the log context and the metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def named(self, label: str) -> None:
        set_connection(label)

    def connected(self, number: int) -> None:
        self._metrics.connected(number)


def private_stream(
    settings: StreamSettings | None,
    runner: Worker,
    on_status: Callable[[StreamStatus], None],
    metrics: Metrics,
) -> PrivateStream | None:
    """The private stream of ``settings`` feeding ``runner`` (None: frames are fed)."""
    if settings is None:
        return None
    return PrivateStream(settings, runner.feed, on_status, hooks=StreamHooks(metrics))


def watch_with(
    metrics: Metrics,
    publisher: Publisher,
    runner: Worker,
    last_frame_at: Callable[[], int | None],
) -> None:
    """Let ``metrics`` count the published events and read the queue when scraped."""
    if metrics is not NO_METRICS:
        publisher.listen(metrics.event_published)
        metrics.watch(queue_depth=lambda: runner.queued, last_frame_at=last_frame_at)


def rest_client(
    stream: StreamSettings | None, rest_url: str | None, credentials: Credentials | None
) -> RestClient | None:
    if rest_url is None and stream is not None:
        rest_url = REST_OF_STREAM.get(stream.url)
        if rest_url is None:
            raise LocalError(f"give rest_url: no known REST host for stream {stream.url}")
    if rest_url is None:
        return None
    if credentials is None:
        credentials = (
            Credentials(stream.api_key, Secret(stream.secret.reveal()))
            if stream is not None
            else Credentials.from_env()
        )
    return RestClient(rest_url, credentials)
