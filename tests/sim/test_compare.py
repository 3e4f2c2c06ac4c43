"""The one comparer of state against truth (``oms.sim.compare.differences``): silent on a
ledger that holds the truth, and it names every kind of difference."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from oms import Ledger
from oms.sandbox import Exchange
from oms.sim.compare import differences


@pytest.fixture(scope="module")
def replayed() -> tuple[Ledger, dict[str, Any]]:
    exchange = Exchange(seed=9, clock=lambda: 1_717_200_000_000)
    frames: list[str] = []
    exchange.sink = lambda push: frames.append(push.text)
    exchange.step(400)
    ledger = Ledger()
    for frame in frames:
        ledger.apply_frame(frame, received_at=0)
    return ledger, exchange.truth()


def test_a_ledger_that_holds_the_truth_has_no_differences(replayed):
    ledger, truth = replayed
    assert differences(ledger, truth) == []


def _some(truth: dict[str, Any], section: str, **where: object) -> str:
    return next(k for k, v in truth[section].items() if all(v[f] == w for f, w in where.items()))


@pytest.mark.parametrize(
    ("section", "where", "field", "value", "expected"),
    [
        ("orders", {"status": "Filled"}, "status", "Cancelled", "status"),
        ("orders", {"status": "Filled"}, "qty", "123", "qty"),
        ("orders", {"status": "New"}, "price", "1", "price"),
        ("orders", {"status": "Filled"}, "cumExecQty", "0.5", "cumExecQty"),
        ("orders", {"status": "Filled"}, "cumExecValue", "0.5", "cumExecValue"),
        ("orders", {"status": "Filled"}, "cumExecFee", "0.5", "cumExecFee"),
        ("orders", {"status": "New"}, "leavesQty", "0.5", "leavesQty"),
        ("orders", {"status": "Filled"}, "avgPrice", "1", "avgPrice"),
        ("orders", {"status": "Filled"}, "updatedTime", "1", "updatedTime"),
        ("executions", {"execType": "Trade"}, "execQty", "9", "execQty"),
        ("executions", {"execType": "Trade"}, "execFee", "9", "execFee"),
        ("executions", {"execType": "Trade"}, "seq", 1, "seq"),
        ("executions", {"execType": "Trade"}, "side", "Nope", "side"),
        ("positions", {}, "signedSize", "42", "net"),
        ("positions", {}, "size", "42", "size"),
        ("positions", {}, "side", "Nope", "side"),
    ],
)
def test_each_field_is_compared(replayed, section, where, field, value, expected):
    ledger, truth = replayed
    changed = copy.deepcopy(truth)
    key = _some(truth, section, **where)
    changed[section][key][field] = value
    diffs = differences(ledger, changed)
    assert any(key in d and expected in d for d in diffs), diffs


def test_missing_and_extra_records_are_named(replayed):
    ledger, truth = replayed
    changed = copy.deepcopy(truth)
    gone_order = next(iter(changed["orders"]))
    del changed["orders"][gone_order]
    gone_exec = next(iter(changed["executions"]))
    del changed["executions"][gone_exec]
    changed["executions"]["not-booked"] = {"orderId": "x"}
    diffs = differences(ledger, changed)
    assert f"order {gone_order}: not on the exchange" in diffs
    assert f"execution {gone_exec}: not on the exchange" in diffs
    assert "execution not-booked: missing" in diffs


def test_a_field_the_truth_leaves_out_is_not_compared(replayed):
    ledger, truth = replayed
    sparse = copy.deepcopy(truth)
    for section, kept in (("orders", "status"), ("executions", "orderId")):
        for key, entry in sparse[section].items():
            sparse[section][key] = {kept: entry[kept]}
    sparse["positions"] = {
        k: {"signedSize": p["signedSize"]} for k, p in truth["positions"].items()
    }
    assert differences(ledger, sparse) == []


def test_a_truth_of_reports_compares_the_held_report_itself(replayed):
    ledger, truth = replayed
    changed = copy.deepcopy(truth)
    key = next(iter(changed["positions"]))
    changed["positions"][key]["updatedTime"] = "1"  # this report was never sent
    assert any(key in d and "updatedTime" in d for d in differences(ledger, changed))
