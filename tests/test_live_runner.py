"""The live runner settles pending cross-topic checks once the stream has gone quiet."""

from __future__ import annotations

import logging
import time

from oms.bybit.rest import RestClient
from oms.bybit.signing import Credentials, Secret
from oms.runtime.outbox import read_events
from oms.runtime.pipeline import Pipeline
from oms.runtime.resync import RestRows
from oms.runtime.worker import Worker
from tests.core.frames import (
    execution,
    execution_frame,
    order,
    order_frame,
    position,
    position_frame,
)
from tests.sandbox.client import refusing_url


class _NoRest:
    """No resync is triggered in these tests: any REST call is a test failure."""

    def cancel_retries(self):
        """Called by every stop: there is nothing to cancel."""

    def __getattr__(self, name):
        raise AssertionError(f"unexpected REST call {name}")


def _types(url):
    return [e.type for e in read_events(url, 0, 10_000)]


def _wait(condition, deadline_s=10.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_report_whose_fills_never_come_is_reported_once_the_stream_is_quiet(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    service = Pipeline(url, settle_frames=1_000_000)  # only quiet time can settle
    runner = Worker(service, _NoRest(), _NoRest(), quiet_settle_s=0.2)
    runner.start()
    try:
        # A leg with a fill (so its report is no opening balance), then a report that
        # the fills do not explain: 3 reported, 1 filled.
        runner.feed(order_frame(order(orderStatus="Filled", cumExecQty="1")), 1)
        runner.feed(execution_frame(execution(seq=5)), 1)
        runner.feed(position_frame(position(side="Buy", size="3", seq=7)), 1)
        assert runner.drain()
        assert _wait(lambda: "PositionMismatch" in _types(url)), _types(url)
        assert not service.ledger.has_pending
    finally:
        runner.stop()
        service.close()
    assert _types(url).count("PositionMismatch") == 1


def test_a_report_and_its_fill_leave_nothing_to_settle(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    service = Pipeline(url, settle_frames=1_000_000)
    runner = Worker(service, _NoRest(), _NoRest(), quiet_settle_s=0.2)
    runner.start()
    try:
        runner.feed(
            order_frame(
                order(orderId="o-1", orderStatus="Filled", qty="1", cumExecQty="1", avgPrice="100")
            ),
            1,
        )
        runner.feed(position_frame(position(side="Buy", size="1", seq=7)), 2)
        runner.feed(execution_frame(execution(execId="e-1", orderId="o-1", execQty="1", seq=7)), 3)
        assert runner.drain()
        assert not service.ledger.has_pending
        assert service.ledger.position("BTCUSDT") == service.ledger.derived_position("BTCUSDT")
    finally:
        runner.stop()
        service.close()
    assert "PositionMismatch" not in _types(url)


def test_stop_ends_a_resync_that_retries_against_a_venue_that_is_down(tmp_path, caplog):
    # Every request refused; its first retry waits 30 s (no jitter), its fifth minutes:
    # stop must not wait them out.
    rest = RestClient(
        refusing_url(), Credentials("k", Secret("s")), backoff_s=30, jitter=lambda: 1.0, timeout_s=2
    )
    url = f"sqlite:///{tmp_path / 'live.db'}"
    service = Pipeline(url)
    runner = Worker(service, rest, RestRows())
    caplog.set_level(logging.INFO)
    runner.start()
    try:
        runner.on_subscribed("the first subscribe")
        assert _wait(lambda: "retry 1/5 in 30.00s" in caplog.text), caplog.text
    finally:
        stopped = runner.stop(timeout=10)  # far less than the wait it is in
        service.close()
    assert stopped
    assert "resync abandoned, the account is stopping" in caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "retry 2/5" not in caplog.text
    types = _types(url)
    assert "ResyncStarted" in types  # the gap it could not repair is on record
    assert "ResyncCompleted" not in types
