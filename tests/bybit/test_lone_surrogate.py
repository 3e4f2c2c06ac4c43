"""A str frame holding a lone surrogate is not Unicode text: refused, stored, never raised."""

from __future__ import annotations

import sqlite3

from oms import Ledger, MalformedFrame
from oms.runtime.pipeline import Pipeline

BAD = '{"topic":"order","data":[{"orderLinkId":"\ud800"}]}'


def test_apply_frame_refuses_a_lone_surrogate_and_goes_on():
    ledger = Ledger()
    (event,) = ledger.apply_frame(BAD)
    assert isinstance(event, MalformedFrame)
    assert "lone surrogate" in event.reason
    assert "\ud800" not in event.reason
    assert "\ufffd" in event.excerpt
    assert ledger.apply_frame('{"op":"pong"}') == []
    assert ledger.stats["malformed"] == 1


def test_the_service_journals_it_as_valid_text(tmp_path):
    db = tmp_path / "x.db"
    with Pipeline(f"sqlite:///{db}") as service:
        assert service.feed(BAD).outcome.value == "malformed"
        assert service.feed('{"op":"pong"}').outcome.value == "control"
    with sqlite3.connect(db) as conn:
        raws = [r for (r,) in conn.execute("SELECT raw FROM frames ORDER BY id")]
    assert raws == [BAD.replace("\ud800", "\ufffd"), '{"op":"pong"}']
