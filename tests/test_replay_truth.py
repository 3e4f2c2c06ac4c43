"""`oms replay --json` on the recorded session reproduces the exchange's final state."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import DATA


def _replay(capture: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "oms.cli", "replay", str(DATA / capture), "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


def _dec(text: str | None) -> Decimal | None:
    return None if text in (None, "") else Decimal(text)


@pytest.fixture(scope="module", params=["sample-clean.jsonl.gz", "sample-dirty.jsonl.gz"])
def replayed(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _replay(request.param)


def test_every_order_matches_truth(replayed, truth):
    got = {o["order_id"]: o for o in replayed["orders"]}
    assert set(got) == set(truth["orders"])
    for order_id, want in truth["orders"].items():
        o = got[order_id]
        assert o["status"] == want["status"], order_id
        for mine, theirs in (
            ("cum_exec_qty", "cumExecQty"),
            ("leaves_qty", "leavesQty"),
            ("avg_price", "avgPrice"),
            ("cum_exec_fee", "cumExecFee"),
            ("qty", "qty"),
            ("price", "price"),
        ):
            assert _dec(o[mine]) == _dec(want[theirs]), (order_id, mine)
        assert (o["avg_price"] is None) == (want["avgPrice"] == "")
        assert o["symbol"] == want["symbol"]
        assert o["side"] == want["side"]
        assert o["position_idx"] == want["positionIdx"]
        assert o["order_type"] == want["orderType"]
        assert o["stop_order_type"] == want["stopOrderType"]
        assert o["order_link_id"] == want["orderLinkId"]
        assert o["updated_time"] == int(want["updatedTime"])


def test_every_execution_matches_truth(replayed, truth):
    got = {e["exec_id"]: e for e in replayed["executions"]}
    assert sorted(got) == truth["exec_ids"]
    assert len(replayed["executions"]) == len(got)  # no execId twice
    for exec_id, want in truth["executions"].items():
        e = got[exec_id]
        assert e["order_id"] == want["orderId"]
        assert e["exec_type"] == want["execType"]
        assert e["side"] == want["side"]
        assert e["symbol"] == want["symbol"]
        assert Decimal(e["exec_qty"]) == Decimal(want["execQty"])
        assert Decimal(e["exec_price"]) == Decimal(want["execPrice"])
        assert Decimal(e["exec_fee"]) == Decimal(want["execFee"])
        assert e["exec_time"] == int(want["execTime"])
        assert e["seq"] == want["seq"]


def test_every_position_matches_truth(replayed, truth):
    got = {f"{p['symbol']}:{p['position_idx']}": p for p in replayed["positions"]}
    assert set(got) == set(truth["positions"])
    for key, want in truth["positions"].items():
        assert Decimal(got[key]["net_qty"]) == Decimal(want["signedSize"]), key
        assert Decimal(got[key]["size"]) == Decimal(want["size"]), key
        assert got[key]["side"] == want["side"], key


def test_stats_account_for_every_frame(replayed):
    stats = replayed["stats"]
    assert stats["frames"] == sum(v for k, v in stats.items() if k != "frames")
    assert stats["illegal"] == 0


def test_dirty_capture_counts_its_defects():
    stats = _replay("sample-dirty.jsonl.gz")["stats"]
    # the dirty capture mixes in control frames, unknown topics, duplicates, late frames
    # and malformed frames: each must be recognised as such
    assert stats["control"] > 0
    assert stats["ignored"] > 0
    assert stats["duplicate"] > 0
    assert stats["stale"] > 0
    assert stats["malformed"] > 0
