"""Edge cases of the wire layer found in review: negative quantities, empty data, lenient
creationTime on the element-by-element path."""

from __future__ import annotations

import json

from oms import Ledger, MalformedFrame, Outcome
from tests.core.frames import order, order_frame


def _order(**changes):
    frame = json.loads(order_frame(order(orderId="o-1")))
    frame["data"][0].update(changes)
    return json.dumps(frame)


def test_negative_quantities_are_refused_and_name_the_field():
    for field in ("qty", "cumExecQty"):
        ledger = Ledger()
        result = ledger.feed(_order(**{field: "-1"}), received_at=1)
        assert result.outcome is Outcome.MALFORMED
        (event,) = [e for e in result.events if isinstance(e, MalformedFrame)]
        assert event.reason.startswith(f"{field}: negative")
        assert ledger.order("o-1") is None


def test_empty_data_is_ignored_not_duplicate():
    ledger = Ledger()
    frame = '{"id":"x","topic":"order","creationTime":1,"data":[]}'
    assert ledger.feed(frame, received_at=1).outcome is Outcome.IGNORED
    assert ledger.stats["ignored"] == 1
    assert ledger.stats["duplicate"] == 0


def test_string_creation_time_is_accepted_when_an_element_is_bad():
    frame = json.loads(_order())
    good = frame["data"][0]
    bad = dict(good, orderId="o-2", cumExecQty="abc")
    frame["data"] = [good, bad]
    frame["creationTime"] = "1717200000000"
    ledger = Ledger()
    result = ledger.feed(json.dumps(frame), received_at=1)
    assert result.outcome is Outcome.MALFORMED
    assert ledger.order("o-1") is not None  # the valid sibling was applied
    assert [e.index for e in result.events if isinstance(e, MalformedFrame)] == [1]
