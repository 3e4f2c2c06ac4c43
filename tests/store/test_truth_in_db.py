"""The shared sample replayed into a database reproduces the exchange's truth in the
``orders``, ``executions`` and ``positions`` tables and the ``net_positions`` view, on
SQLite and on PostgreSQL, for the clean and the dirty capture."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from oms.store.db import open_engine
from tests.store.conftest import BACKENDS, CLEAN, DIRTY, dec, make_databases, replay, rows

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

CAPTURES = {"clean": CLEAN, "dirty": DIRTY}


@pytest.fixture(
    scope="module",
    params=[(b, c) for b in BACKENDS for c in CAPTURES],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def replayed(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Engine]:
    backend, capture = request.param
    databases = make_databases(request, backend, tmp_path_factory.mktemp("truth"))
    url = databases.new()
    replay(CAPTURES[capture], url)
    engine = open_engine(url)
    yield engine
    engine.dispose()
    databases.drop_all()


def _truth_dec(text: str) -> Decimal | None:
    return None if text == "" else Decimal(text)


def _by(engine: Engine, sql: str, key: str) -> dict[str, dict[str, Any]]:
    found = rows(engine, sql)
    keyed = {r[key]: r for r in found}
    assert len(keyed) == len(found), f"duplicate {key}"
    return keyed


def test_orders_table_matches_truth(replayed, truth):
    got = _by(replayed, "SELECT * FROM orders", "order_id")
    assert set(got) == set(truth["orders"])
    for order_id, want in truth["orders"].items():
        row = got[order_id]
        assert row["account"] == "default"
        assert row["status"] == want["status"], order_id
        assert dec(row["cum_exec_qty"]) == Decimal(want["cumExecQty"]), order_id
        assert dec(row["leaves_qty"]) == _truth_dec(want["leavesQty"]), order_id
        assert dec(row["cum_exec_fee"]) == _truth_dec(want["cumExecFee"]), order_id
        assert dec(row["qty"]) == Decimal(want["qty"]), order_id
        assert dec(row["price"]) == _truth_dec(want["price"]), order_id
        if want["avgPrice"] == "":
            assert row["avg_price"] is None, order_id  # NULL when nothing filled
        else:
            assert dec(row["avg_price"]) == Decimal(want["avgPrice"]), order_id
        assert row["symbol"] == want["symbol"]
        assert row["side"] == want["side"]
        assert row["position_idx"] == want["positionIdx"]
        assert row["order_type"] == want["orderType"]
        assert row["stop_order_type"] == want["stopOrderType"]
        assert row["order_link_id"] == want["orderLinkId"]
        assert row["updated_time"] == int(want["updatedTime"])
        assert bool(row["reduce_only"]) is want["reduceOnly"]


def test_executions_table_matches_truth(replayed, truth):
    got = _by(replayed, "SELECT * FROM executions", "exec_id")
    assert sorted(got) == truth["exec_ids"]
    for exec_id, want in truth["executions"].items():
        row = got[exec_id]
        assert row["account"] == "default"
        assert row["order_id"] == want["orderId"], exec_id
        assert row["exec_type"] == want["execType"], exec_id
        assert row["side"] == want["side"], exec_id
        assert row["symbol"] == want["symbol"], exec_id
        assert dec(row["exec_qty"]) == Decimal(want["execQty"]), exec_id
        assert dec(row["exec_price"]) == Decimal(want["execPrice"]), exec_id
        assert dec(row["exec_fee"]) == Decimal(want["execFee"]), exec_id
        assert row["exec_time"] == int(want["execTime"]), exec_id
        assert row["seq"] == want["seq"], exec_id


def test_positions_table_matches_truth(replayed, truth):
    found = rows(replayed, "SELECT * FROM positions")
    got = {f"{r['symbol']}:{r['position_idx']}": r for r in found}
    assert len(got) == len(found)
    assert set(got) == set(truth["positions"])
    for key, want in truth["positions"].items():
        row = got[key]
        assert row["account"] == "default"
        assert row["category"] == "linear"
        assert dec(row["net_qty"]) == Decimal(want["signedSize"]), key
        assert dec(row["size"]) == Decimal(want["size"]), key
        assert row["side"] == want["side"], key
        assert row["seq"] == want["seq"], key
        assert dec(row["entry_price"]) == Decimal(want["entryPrice"]), key


def test_net_positions_view_sums_the_legs(replayed, truth):
    want: dict[str, Decimal] = defaultdict(Decimal)
    for leg in truth["positions"].values():
        want[leg["symbol"]] += Decimal(leg["signedSize"])
    found = rows(replayed, "SELECT * FROM net_positions")
    got = {r["symbol"]: dec(r["net_qty"]) for r in found}
    assert len(got) == len(found)
    assert got == dict(want)
    assert {(r["account"], r["category"]) for r in found} == {("default", "linear")}


def test_every_state_row_belongs_to_a_journaled_frame(replayed):
    orphans = rows(
        replayed,
        "SELECT exec_id FROM executions e WHERE e.frame_id IS NULL "
        "OR NOT EXISTS (SELECT 1 FROM frames f WHERE f.id = e.frame_id)",
    )
    assert orphans == []
    (progress,) = rows(replayed, "SELECT lines_done, finished FROM replays")
    assert bool(progress["finished"])
