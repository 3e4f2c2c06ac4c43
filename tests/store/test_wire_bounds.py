"""The wire's bounds are what the store keeps exactly, on SQLite and on PostgreSQL: a frame
at every bound commits and reads back equal (positionIdx 2, seq at both ends of 64 bits,
14-digit times, decimals of 24 digits before the point and 18 after, two-digit
exponents); a poisoned copy beyond them (positionIdx 2**31, seq 2**63, a 30-digit time)
is journaled as malformed and never reaches a state table, and the commit goes on."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING

from oms.bybit.messages import MAX_MILLIS, SEQ_MAX, SEQ_MIN
from oms.runtime.pipeline import Pipeline
from oms.store.db import open_engine
from tests.conftest import read_lines
from tests.store.conftest import rows, state_tables

if TYPE_CHECKING:
    from oms import Ledger

FRAMES = read_lines("real/frames.jsonl")
ORDER = FRAMES[7 - 1]  # a spot order, Cancelled
EXECUTION = FRAMES[9 - 1]
POSITION = FRAMES[17 - 1]

#: The largest decimal text the wire takes, and its smallest step, and with exponents.
BIG = "9" * 24 + "." + "9" * 18
TINY = "0." + "0" * 17 + "1"
BIG_EXPONENT = "9" * 24 + "." + "9" * 18 + "e99"
SMALL_EXPONENT = "-" + "9" * 24 + "." + "9" * 18 + "E-99"


def _copy(line: str, **element: object) -> str:
    tree = json.loads(line)
    tree["data"][0] = {**tree["data"][0], **element}
    return json.dumps(tree, separators=(",", ":"))


AT_THE_BOUNDS = [
    _copy(
        ORDER,
        orderId="o-bounds",
        positionIdx=2,
        price=BIG,
        triggerPrice=TINY,
        leavesQty=BIG_EXPONENT,
        cumExecFee=SMALL_EXPONENT,
        createdTime="0",
        updatedTime=str(MAX_MILLIS),
    ),
    _copy(EXECUTION, execId="e-max", seq=SEQ_MAX, execTime=str(MAX_MILLIS), execFee=BIG),
    _copy(EXECUTION, execId="e-min", seq=SEQ_MIN, execTime="0", execValue=SMALL_EXPONENT),
    _copy(POSITION, positionIdx=1, side="Buy", seq=SEQ_MAX, updatedTime=str(MAX_MILLIS)),
    _copy(POSITION, positionIdx=2, side="Sell", seq=SEQ_MIN, unrealisedPnl=BIG_EXPONENT),
]
BEYOND_THE_BOUNDS = [
    _copy(POSITION, positionIdx=2**31),
    _copy(POSITION, seq=2**63),
    _copy(EXECUTION, execId="e-beyond", seq=-(2**63) - 1),
    _copy(ORDER, orderId="o-beyond", updatedTime="1" * 30),
    _copy(ORDER, orderId="o-beyond-2", price="9" * 25),
]


def _bounded(ledger: Ledger) -> tuple[object, ...]:
    """The values at the bounds, compared by value (SQLite keeps a decimal's value, not
    its trailing zeros: "10.0" comes back as 10)."""
    orders = [
        (o.order_id, o.position_idx, o.price, o.trigger_price, o.leaves_qty, o.cum_exec_fee,
         o.created_time, o.updated_time)
        for o in ledger.orders()
    ]  # fmt: skip
    fills = sorted(
        (f.exec_id, f.seq, f.exec_time, f.exec_fee, f.exec_value) for f in ledger.fills()
    )
    return orders, fills, ledger.position_reports()


def test_frames_at_every_bound_commit_and_read_back_equal(db_url):
    with Pipeline(db_url, group_ms=0) as service:
        for line in AT_THE_BOUNDS:
            assert service.feed(line).outcome.value == "applied", line[:120]
        want = _bounded(service.ledger)
    with Pipeline(db_url) as restored:  # restore reads every row back
        assert _bounded(restored.ledger) == want
    engine = open_engine(db_url)
    try:
        (order,) = rows(engine, "SELECT * FROM orders")
        assert order["position_idx"] == 2
        assert order["updated_time"] == MAX_MILLIS
        state = state_tables(engine)
    finally:
        engine.dispose()
    (stored,) = state["orders"]
    assert stored["price"] == Decimal(BIG)
    assert stored["trigger_price"] == Decimal(TINY)
    assert stored["leaves_qty"] == Decimal(BIG_EXPONENT)
    assert stored["cum_exec_fee"] == Decimal(SMALL_EXPONENT)
    assert sorted(f["seq"] for f in state["executions"]) == [SEQ_MIN, SEQ_MAX]
    assert sorted(p["seq"] for p in state["positions"]) == [SEQ_MIN, SEQ_MAX]


def test_frames_beyond_the_bounds_are_journaled_as_malformed_and_stored_nowhere(db_url):
    with Pipeline(db_url, group_ms=0) as service:
        for line in BEYOND_THE_BOUNDS:
            assert service.feed(line).outcome.value == "malformed", line[:120]
        assert service.feed(POSITION).outcome.value == "applied"  # and the stream goes on
    engine = open_engine(db_url)
    try:
        journal = rows(engine, "SELECT outcome FROM frames ORDER BY id")
        state = state_tables(engine)
    finally:
        engine.dispose()
    assert [r["outcome"] for r in journal] == ["malformed"] * len(BEYOND_THE_BOUNDS) + ["applied"]
    assert state["orders"] == []
    assert state["executions"] == []
    (position,) = state["positions"]
    assert position["position_idx"] == 0
    assert position["seq"] == json.loads(POSITION)["data"][0]["seq"]
