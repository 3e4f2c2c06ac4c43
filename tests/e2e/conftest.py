"""End-to-end fixtures: the embedded sandbox on 127.0.0.1 and the live OMS against it.

``LiveStack`` wires the pieces exactly as ``oms.cli.run.Session`` does (``Pipeline`` ->
``RestClient`` -> ``Worker`` -> ``PrivateStream``), but builds the ``StreamSettings``
itself so a test can shorten the heartbeat, the dead-connection limit and the backoff.
Every wait polls with a deadline; nothing sleeps on a guess. Every test is checked for
threads it left behind.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import pytest

from oms.bybit.rest import RestClient
from oms.bybit.signing import Credentials, Secret
from oms.bybit.stream import PrivateStream, StreamSettings, Subscribed
from oms.cli.demo import compare_with_truth, load_ledger
from oms.runtime.outbox import read_events
from oms.runtime.pipeline import Pipeline
from oms.runtime.resync import RestRows, ResyncScope
from oms.runtime.worker import Worker
from oms.sandbox.exchange import wall_ms

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from oms.bybit.stream import StreamStatus
    from oms.sandbox import Sandbox

#: One key and secret per test session; the secret is long and random so that any
#: appearance of it in a log line or an output is certainly a leak.
KEY = "e2e-" + secrets.token_hex(6)
SECRET = "e2e-secret-" + secrets.token_hex(20)
SEED = 20240611
#: Upper bounds, never expected durations: a healthy run finishes far sooner.
CONVERGE_S = 45.0
WAIT_S = 30.0
POLL_S = 0.05
#: Threads that are not ours to join (pytest/coverage helpers may come and go).
_FOREIGN_THREADS = ("pydevd", "Dummy-")


def credentials() -> Credentials:
    return Credentials(KEY, Secret(SECRET))


def wait_for(predicate: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_S)


def history_in_the_past(sandbox: Sandbox) -> None:
    """Wait until the wall clock has passed the sandbox's newest timestamp.

    The sandbox stamps every event at least 1 ms after the previous one, so a burst such
    as ``step(80)`` is stamped up to tens of ms ahead of the wall clock. The OMS asks
    for executions up to its own clock (see ``test_first_resync_finds_executions_stamped_
    ahead_of_the_local_clock``), so a test that is not about clock skew lets the burst
    fall into the past before the OMS connects.
    """
    wait_for(
        lambda: sandbox.exchange.now_ms() <= wall_ms(), "the sandbox's history to be in the past"
    )


def database_differences(db: str, sandbox: Sandbox) -> list[str]:
    """How the database (as a restart would load it) differs from the sandbox's truth."""
    return compare_with_truth(load_ledger(db), sandbox.truth())


def wait_converged(db: str, sandbox: Sandbox, timeout: float = CONVERGE_S) -> None:
    """Poll until the database equals the sandbox's truth; fail with the differences."""
    deadline = time.monotonic() + timeout
    while diffs := database_differences(db, sandbox):
        if time.monotonic() >= deadline:
            shown = "\n  ".join(diffs[:25])
            pytest.fail(
                f"the database still differs from the sandbox's truth after {timeout:g} s "
                f"({len(diffs)} differences):\n  {shown}"
            )
        time.sleep(0.1)


def event_types(db: str) -> Counter[str]:
    """How many outbox events of each type the database holds."""
    counts: Counter[str] = Counter()
    after = 0
    while batch := read_events(db, after_id=after, limit=5000):
        counts.update(e.type for e in batch)
        after = batch[-1].id
    return counts


@dataclass
class LiveStack:
    """Stream -> runner -> service, wired as ``oms.cli.run.Session`` wires them."""

    service: Pipeline
    rest: RestClient
    runner: Worker
    stream: PrivateStream
    statuses: list[StreamStatus] = field(default_factory=list)
    stopped: bool = False

    @classmethod
    def start(
        cls,
        sandbox: Sandbox,
        db: str,
        *,
        key: str = KEY,
        rest_options: dict[str, Any] | None = None,
        **stream_options: Any,
    ) -> Self:
        creds = Credentials(key, Secret(SECRET))
        service = Pipeline(db)
        rest = RestClient(sandbox.rest_url, creds, **(rest_options or {}))
        runner = Worker(service, rest, RestRows(), scope=ResyncScope(("linear",), ("USDT",)))
        options: dict[str, Any] = {
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.5,
            "ack_timeout_s": 5.0,
        } | stream_options
        settings = StreamSettings(
            url=sandbox.ws_url,
            api_key=creds.api_key,
            api_secret=creds.api_secret,
            topics=("order", "execution", "position"),
            **options,
        )
        statuses: list[StreamStatus] = []

        def on_status(status: StreamStatus) -> None:  # as Session._on_status
            statuses.append(status)
            if isinstance(status, Subscribed):
                runner.on_subscribed(f"subscribed on connection {status.conn_id}")

        stream = PrivateStream(settings, runner.feed, on_status)
        stack = cls(service, rest, runner, stream, statuses)
        runner.start()
        stream.start()
        return stack

    def subscriptions(self) -> int:
        return sum(isinstance(s, Subscribed) for s in self.statuses)

    def disconnect_reasons(self) -> list[str]:
        return [s.reason for s in self.statuses if type(s).__name__ == "Disconnected"]  # type: ignore[union-attr]

    def wait_resynced(self, count: int = 1) -> None:
        """Wait until ``count`` resyncs completed (and their commits are in)."""
        wait_for(lambda: self.runner.stats.resyncs >= count, f"{count} completed resync(s)")
        assert self.runner.drain(WAIT_S), "the live worker did not drain"

    def stop(self) -> None:
        """As ``Session.stop``: stream, then worker (applies and commits), then database."""
        if self.stopped:
            return
        self.stopped = True
        self.stream.stop()
        self.runner.stop()
        self.service.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "oms.db")


def _ours(thread: threading.Thread) -> bool:
    return not thread.name.startswith(_FOREIGN_THREADS)


@pytest.fixture(autouse=True)
def _no_thread_left_behind() -> Iterator[None]:
    """Every thread a test started (stream, worker, sandbox) has ended after it."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + WAIT_S
    while left := [t for t in threading.enumerate() if t not in before and _ours(t)]:
        if time.monotonic() >= deadline:
            pytest.fail(f"threads left behind: {sorted(t.name for t in left)}")
        time.sleep(POLL_S)
