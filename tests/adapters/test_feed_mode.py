"""A feed-mode Account (no ``stream=``) with REST settings resyncs by itself: when it
starts (an account that has traded for months) and on ``resync()``."""

from __future__ import annotations

from oms import Account
from tests.adapters.conftest import WAIT_S, credentials, differences, history_in_the_past
from tests.e2e.conftest import event_types


def test_a_feed_mode_account_with_rest_resyncs_when_it_starts_and_on_resync(db, sandbox):
    sandbox.step(60)  # history from before oms existed
    history_in_the_past(sandbox)
    with Account(db, rest_url=sandbox.rest_url, credentials=credentials()) as account:
        assert account.drain(WAIT_S)
        assert account.health().resyncs == 1
        assert differences(db, sandbox) == []
        kinds = event_types(db)
        assert kinds["ResyncCompleted"] == 1, kinds
        assert kinds["StreamGapDetected"] == 0, kinds  # a start, not a gap

        sandbox.step(30)  # happens while no frame reaches the account
        history_in_the_past(sandbox)
        assert account.drain(WAIT_S)
        assert differences(db, sandbox) != []
        account.resync("the caller's socket reconnected")
        assert account.drain(WAIT_S)
        assert account.health().resyncs == 2
        assert differences(db, sandbox) == []
    kinds = event_types(db)
    assert kinds["ResyncCompleted"] == 2, kinds
    assert kinds["StreamGapDetected"] == 1, kinds


def test_a_feed_mode_account_without_rest_does_not_resync(db, sandbox):
    sandbox.step(20)
    with Account(db) as account:
        assert account.drain(WAIT_S)
        assert account.health().resyncs == 0
        assert account.open_orders() == []
    assert event_types(db)["ResyncStarted"] == 0
