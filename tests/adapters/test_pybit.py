"""Real pybit (5.x) feeding an Account, against the sandbox over 127.0.0.1.

Every test ends with the Account's database (loaded as a restart loads it) equal to the
sandbox's truth (``oms.sim.compare.differences``): every order, every execId, every leg.
Waits poll with deadlines; nothing asserts a duration.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from oms import Account
from oms.adapters.pybit import PybitLink, attach
from oms.errors import LocalError
from tests.adapters.conftest import (
    WAIT_S,
    close_socket,
    credentials,
    differences,
    history_in_the_past,
    pybit_socket,
    wait_equal,
    wait_for,
)
from tests.e2e.conftest import event_types

if TYPE_CHECKING:
    from oms.sandbox import Sandbox

RATE = 25.0


def _account(db: str, sandbox: Sandbox) -> Account:
    return Account(db, rest_url=sandbox.rest_url, credentials=credentials())


def _journal(db: str) -> list[tuple[str | None, int]]:
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        return conn.execute("SELECT topic, parsed FROM frames ORDER BY id").fetchall()


def test_attach_rides_out_a_cut_connection_and_ends_equal_to_the_truth(db, sandbox, monkeypatch):
    sandbox.step(40)  # an account that traded before oms started
    history_in_the_past(sandbox)
    with _account(db, sandbox) as account:
        ws = pybit_socket(sandbox, monkeypatch)
        link = attach(ws, account)
        try:
            assert link.wait_subscribed(WAIT_S), link.status
            sandbox.faults.drop_after_frames = 30  # a TCP abort in the middle of trading
            sandbox.start_trading(RATE)
            try:
                wait_for(
                    lambda: link.connections >= 2 and link.status == "subscribed",
                    "pybit to reconnect and the adapter to resync",
                )
                wait_for(lambda: account.health().resyncs >= 3, "the resync after the cut")
                frames = account.health().frames
                wait_for(lambda: account.health().frames > frames + 20, "live frames again")
            finally:
                sandbox.stop_trading()
            history_in_the_past(sandbox)
            wait_equal(account, db, sandbox)
            assert ws.is_connected()  # pybit's own reconnect and pings still work
            assert link.error is None
            assert account.health().state == "running"
        finally:
            link.detach()
            close_socket(ws)
    assert differences(db, sandbox) == []
    kinds = event_types(db)
    # at start (no gap), after attach's subscriptions, after the reconnection
    assert kinds["ResyncCompleted"] >= 3, kinds
    assert kinds["StreamGapDetected"] == kinds["ResyncStarted"] - 1, kinds
    journal = _journal(db)
    assert any(topic == "order" for topic, _ in journal)
    assert not any(parsed for _, parsed in journal)  # the adapter feeds the text received


def test_plain_callbacks_feed_the_account_parsed_dicts(db, sandbox, monkeypatch):
    sandbox.step(30)
    history_in_the_past(sandbox)
    with _account(db, sandbox) as account:
        assert account.drain(WAIT_S)  # the start resync: what the account did before
        ws = pybit_socket(sandbox, monkeypatch)
        try:
            ws.order_stream(callback=account.feed)
            ws.execution_stream(callback=account.feed)
            ws.position_stream(callback=account.feed)
            ws.wallet_stream(callback=account.feed)
            wait_for(lambda: _subscribed_topics(sandbox) >= 4, "the four subscriptions")
            sandbox.start_trading(RATE)
            try:
                wait_for(lambda: account.health().frames > 80, "frames through pybit's callbacks")
            finally:
                sandbox.stop_trading()
            wait_equal(account, db, sandbox)
            assert account.health().resyncs == 1  # the stream alone kept it equal
        finally:
            close_socket(ws)
    assert differences(db, sandbox) == []
    data = [parsed for topic, parsed in _journal(db) if topic not in (None, "rest.snapshot")]
    assert data
    assert all(data)  # each journaled as compact JSON, flagged parsed


def _subscribed_topics(sandbox: Sandbox) -> int:
    return max((len(c.topics) for c in list(sandbox._clients)), default=0)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_when_pybit_gives_up_the_link_is_dead_and_the_account_failed(db, sandbox, monkeypatch):
    # pybit's own threads raise as it gives up (its design, not ours): hence the filter.
    dead: list[BaseException] = []
    with _account(db, sandbox) as account:
        ws = pybit_socket(sandbox, monkeypatch, retries=2)
        link = attach(ws, account, on_dead=dead.append)
        try:
            assert link.wait_subscribed(WAIT_S)
            sandbox.stop()  # the exchange is gone: every reconnect attempt is refused
            wait_for(lambda: link.status == "dead", "the link to be declared dead")
            assert dead == [link.error]
            assert link.error is not None
            health = account.health()
            assert health.state == "failed"
            assert health.error is not None
            assert "feed:" in health.error
            assert account.failure is link.error
            assert account.ended
            assert account.order("nosuch") is None  # what was fed stays queryable
        finally:
            link.detach()
            close_socket(ws)


def test_attach_refuses_what_is_not_a_private_pybit_socket(db, sandbox, monkeypatch):
    with Account(db) as account:
        with pytest.raises(LocalError, match="not a pybit WebSocket"):
            attach(object(), account)
        ws = pybit_socket(sandbox, monkeypatch)
        link: PybitLink | None = None
        try:
            link = attach(ws, account)
            with pytest.raises(LocalError, match="already attached"):
                attach(ws, account)
            link.detach()
            assert link.status == "detached"
            assert "_on_message" not in vars(ws)  # pybit has its own methods back
            link = None
        finally:
            if link is not None:
                link.detach()
            close_socket(ws)
