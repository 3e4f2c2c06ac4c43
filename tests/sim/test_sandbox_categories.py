"""The sandbox trading every category (``Sandbox(categories=...)``, ``python -m
oms.sandbox --categories``): the categorised topics carry their category's frames, REST
answers per category, and a ledger fed the stream holds the truth."""

from __future__ import annotations

import argparse
import json

import pytest

from oms.sandbox import Sandbox
from oms.sandbox.__main__ import _categories
from tests.sandbox.client import (
    KEY,
    OPENED,
    SECRET,
    assert_ledger_matches,
    collect,
    replay,
    rest_all,
    rest_get,
    subscriber,
    wait_for,
)

CATEGORIES = ("linear", "inverse", "spot")


@pytest.fixture
def sandbox():
    with Sandbox(KEY, SECRET, seed=5, categories=CATEGORIES) as running:
        try:
            yield running
        finally:
            while OPENED:
                OPENED.pop().close(timeout=1)


def test_a_categorised_subscription_gets_only_its_category(sandbox):
    spot = subscriber(sandbox.ws_url, ["order.spot", "execution.spot"])
    inverse = subscriber(sandbox.ws_url, ["position.inverse"])
    for _ in range(40):
        sandbox.exchange.run("place_market", "spot:BTCUSDT")
        sandbox.exchange.run("place_market", "inverse:BTCUSD")
    for ws, want in ((spot, {"order.spot", "execution.spot"}), (inverse, {"position.inverse"})):
        frames = [json.loads(t) for t in collect(ws, 20)]
        assert {f["topic"] for f in frames} <= want
        category = "inverse" if ws is inverse else "spot"
        assert {e["category"] for f in frames for e in f["data"]} == {category}


def test_rest_answers_per_category_and_the_stream_replays_to_the_truth(sandbox):
    ws = subscriber(sandbox.ws_url, ["order", "execution", "position"])
    sandbox.step(600)
    frames = sandbox.stats()
    wanted = frames["frames_order"] + frames["frames_execution"] + frames["frames_position"]
    got = collect(ws, wanted)
    ledger, anomalies = replay(got)
    assert anomalies == []
    truth = sandbox.truth()
    assert_ledger_matches(ledger, truth)
    for category in CATEGORIES:
        query = f"category={category}" + ("&settleCoin=USDT" if category == "linear" else "")
        fills = rest_all(sandbox.rest_url, "/v5/execution/list", query)
        want = {k for k, e in truth["executions"].items() if e["category"] == category}
        assert {f["execId"] for f in fills} == want
        assert want
        history = rest_all(sandbox.rest_url, "/v5/order/history", query)
        assert {o["category"] for o in history} == {category}
        assert {o["orderId"] for o in history} <= set(truth["orders"])
    positions = rest_all(sandbox.rest_url, "/v5/position/list", "category=inverse")
    assert {(p["category"], p["symbol"]) for p in positions} <= {("inverse", "BTCUSD")}
    one = rest_all(sandbox.rest_url, "/v5/position/list", "category=inverse&symbol=BTCUSD")
    assert [p["positionIdx"] for p in one] == [0]
    assert rest_get(sandbox.rest_url, "/v5/position/list", "category=spot")["retCode"] == 10001
    spot_open = rest_all(sandbox.rest_url, "/v5/order/realtime", "category=spot")
    assert {o["symbol"] for o in spot_open} <= {"BTCUSDT"}
    assert all(o["category"] == "spot" for o in spot_open)


def test_a_linear_only_sandbox_answers_other_categories_empty():
    with Sandbox(KEY, SECRET, seed=5) as running:
        running.step(50)
        wait_for(lambda: running.stats()["steps"] == 50)
        body = rest_get(running.rest_url, "/v5/execution/list", "category=spot")
        assert body["retCode"] == 0
        assert body["result"]["list"] == []
        assert "spot:BTCUSDT" not in running.truth()["meta"]["symbols"]


def test_the_cli_reads_a_list_of_categories():
    assert _categories("linear, spot,inverse,spot") == ("linear", "spot", "inverse")
    for bad in ("", "linear,options", ","):
        with pytest.raises(argparse.ArgumentTypeError):
            _categories(bad)
