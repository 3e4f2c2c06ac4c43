"""The sandbox's REST API: Bybit's signing and envelope, parameter checks, pagination, and
that every endpoint shows exactly ``truth()``."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal

import pytest

from oms.sandbox import Sandbox
from tests.sandbox.client import KEY, SECRET, now_ms, rest_all, rest_get

ORDERS = "/v5/order/realtime"
EXECUTIONS = "/v5/execution/list"
POSITIONS = "/v5/position/list"
TERMINAL = {"Filled", "Cancelled", "Rejected", "Deactivated"}


def test_market_time_is_unsigned(sandbox):
    before = now_ms()
    body = rest_get(sandbox.rest_url, "/v5/market/time", signed=False)
    assert body["retCode"] == 0
    assert body["retMsg"] == "OK"
    assert before // 1000 <= int(body["result"]["timeSecond"]) <= now_ms() // 1000
    assert int(body["result"]["timeNano"]) // 1_000_000 >= before
    assert before <= body["time"] <= now_ms()


def test_signed_call_returns_the_v5_envelope(sandbox):
    body = rest_get(sandbox.rest_url, POSITIONS, "category=linear&symbol=BTCUSDT")
    assert set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert (body["retCode"], body["retMsg"], body["retExtInfo"]) == (0, "OK", {})
    assert isinstance(body["time"], int)
    assert body["result"]["category"] == "linear"
    assert body["result"]["nextPageCursor"] == ""


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"key": "someone-else"}, 10003),
        ({"secret": "wrong-secret"}, 10004),
        ({"sign": "0" * 64}, 10004),
        ({"timestamp": -60_000}, 10002),  # older than the recv window
        ({"timestamp": 60_000}, 10002),  # from the future
        ({"timestamp": 1_500}, 10002),  # server time + 1000 is already too late
        ({"timestamp": -15_000, "recv_window": "20000"}, 0),  # a wider window
    ],
)
def test_signature_and_timestamp_are_verified(sandbox, options, code):
    if "timestamp" in options:  # an offset from now
        options = {**options, "timestamp": now_ms() + options["timestamp"]}
    body = rest_get(sandbox.rest_url, POSITIONS, "category=linear&symbol=BTCUSDT", **options)
    assert body["retCode"] == code, body


def test_signature_covers_the_query_string(sandbox):
    url = sandbox.rest_url
    ok = rest_get(url, ORDERS, "category=linear&symbol=BTCUSDT")
    assert ok["retCode"] == 0
    stamp = now_ms()
    origin = f"{stamp}{KEY}5000category=linear&symbol=ETHUSDT"
    other = hmac.new(SECRET.encode(), origin.encode(), hashlib.sha256).hexdigest()
    body = rest_get(url, ORDERS, "category=linear&symbol=BTCUSDT", timestamp=stamp, sign=other)
    assert body["retCode"] == 10004


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (ORDERS, "symbol=BTCUSDT"),  # no category
        (ORDERS, "category=futures&symbol=BTCUSDT"),
        (ORDERS, "category=linear"),  # linear needs symbol, baseCoin or settleCoin
        (ORDERS, "category=linear&settleCoin=USDT&limit=51"),
        (ORDERS, "category=linear&settleCoin=USDT&limit=0"),
        (ORDERS, "category=linear&settleCoin=USDT&openOnly=7"),
        (ORDERS, "category=linear&settleCoin=USDT&cursor=garbage"),
        (POSITIONS, "category=linear"),  # linear needs symbol or settleCoin
        (POSITIONS, "category=linear&settleCoin=USDT&limit=201"),
        (POSITIONS, "category=spot&settleCoin=USDT"),
        (EXECUTIONS, "category=linear&limit=101"),
        (EXECUTIONS, "category=linear&startTime=1&endTime=604800002"),  # over 7 days
        (EXECUTIONS, "category=linear&startTime=20&endTime=10"),
    ],
)
def test_bad_parameters_get_10001(sandbox, path, query):
    body = rest_get(sandbox.rest_url, path, query)
    assert body["retCode"] == 10001, body
    assert body["retMsg"]


def test_other_categories_are_empty(sandbox):
    sandbox.step(50)
    body = rest_get(sandbox.rest_url, ORDERS, "category=spot&symbol=BTCUSDT")
    assert (body["retCode"], body["result"]["list"]) == (0, [])


def _same_order(row, want):
    assert row["orderStatus"] == want["status"]
    for name in ("cumExecQty", "leavesQty", "qty", "price", "cumExecFee"):
        assert Decimal(row[name]) == Decimal(want[name]), name
    for name in ("avgPrice", "updatedTime", "createdTime", "orderLinkId", "symbol", "side"):
        assert row[name] == want[name], name
    assert row["positionIdx"] == want["positionIdx"]


def test_orders_equal_truth_with_pagination(sandbox):
    sandbox.step(1400)
    truth = sandbox.truth()
    url = sandbox.rest_url
    open_rows = rest_all(url, ORDERS, "category=linear&settleCoin=USDT&limit=7")
    want_open = {i for i, o in truth["orders"].items() if o["status"] not in TERMINAL}
    assert [r["orderId"] for r in open_rows if r["orderId"] in want_open] == [
        r["orderId"] for r in open_rows
    ]
    assert {r["orderId"] for r in open_rows} == want_open
    assert len(open_rows) == len(want_open)  # no row twice across pages
    created = [int(r["createdTime"]) for r in open_rows]
    assert created == sorted(created, reverse=True)  # newest first
    for row in open_rows:
        _same_order(row, truth["orders"][row["orderId"]])

    closed = rest_all(url, ORDERS, "category=linear&baseCoin=BTC&openOnly=1&limit=50")
    every_closed = rest_all(url, ORDERS, "category=linear&settleCoin=USDT&openOnly=1&limit=50")
    terminal = {i: o for i, o in truth["orders"].items() if o["status"] in TERMINAL}
    assert len(terminal) > 500
    assert len(every_closed) == 500  # the buffer of the 500 most recently closed
    oldest = min(int(r["updatedTime"]) for r in every_closed)
    newer = {i for i, o in terminal.items() if int(o["updatedTime"]) > oldest}
    assert newer <= {r["orderId"] for r in every_closed}
    assert {r["symbol"] for r in closed} == {"BTCUSDT"}
    for row in every_closed:
        _same_order(row, truth["orders"][row["orderId"]])

    # lookups by orderId / orderLinkId ignore openOnly
    done = next(i for i, o in terminal.items() if o["orderLinkId"])
    body = rest_get(url, ORDERS, f"category=linear&settleCoin=USDT&orderId={done}")
    assert [r["orderId"] for r in body["result"]["list"]] == [done]
    link = terminal[done]["orderLinkId"]
    body = rest_get(url, ORDERS, f"category=linear&settleCoin=USDT&orderLinkId={link}")
    assert [r["orderId"] for r in body["result"]["list"]] == [done]


def test_order_history(sandbox):
    sandbox.step(300)
    truth = sandbox.truth()
    rows = rest_all(sandbox.rest_url, "/v5/order/history", "category=linear&limit=50")
    assert {r["orderId"] for r in rows} == set(truth["orders"])
    filled = rest_all(
        sandbox.rest_url, "/v5/order/history", "category=linear&orderStatus=Filled&limit=50"
    )
    assert {r["orderId"] for r in filled} == {
        i for i, o in truth["orders"].items() if o["status"] == "Filled"
    }


def test_executions_equal_truth_with_pagination():
    # the market moves when told: one step after the trading, when funding is due
    with Sandbox(KEY, SECRET, seed=11, tick_ms=0, funding_interval_ms=1) as sandbox:
        sandbox.step(600)
        sandbox.tick()
        _executions_equal_truth(sandbox)


def _executions_equal_truth(sandbox: Sandbox) -> None:
    truth = sandbox.truth()
    url = sandbox.rest_url
    rows = rest_all(url, EXECUTIONS, "category=linear&limit=37")
    assert sorted(r["execId"] for r in rows) == truth["exec_ids"]
    assert len(rows) == len(truth["exec_ids"])
    times = [int(r["execTime"]) for r in rows]
    assert times == sorted(times, reverse=True)
    assert {r["execType"] for r in rows} == {"Trade", "Funding"}
    for row in rows:
        want = truth["executions"][row["execId"]]
        assert isinstance(row["seq"], int)
        assert row["seq"] == want["seq"]
        for name in ("orderId", "execType", "side", "symbol", "execTime"):
            assert row[name] == want[name], name
        for name in ("execQty", "execPrice", "execFee"):
            assert Decimal(row[name]) == Decimal(want[name]), name

    btc = rest_all(url, EXECUTIONS, "category=linear&symbol=BTCUSDT")
    assert {r["execId"] for r in btc} == {
        i for i, e in truth["executions"].items() if e["symbol"] == "BTCUSDT"
    }
    order_id = rows[-1]["orderId"]
    body = rest_get(url, EXECUTIONS, f"category=linear&orderId={order_id}&symbol=ETHUSDT")
    assert {r["orderId"] for r in body["result"]["list"]} == {order_id}  # other filters ignored
    start = int(rows[0]["execTime"]) + 1
    body = rest_get(url, EXECUTIONS, f"category=linear&startTime={start}")
    assert body["result"]["list"] == []


def test_positions_equal_truth(sandbox):
    sandbox.step(400)
    truth = sandbox.truth()
    url = sandbox.rest_url
    for symbol in ("BTCUSDT", "ETHUSDT", "DOGEUSDT", "SOLUSDT"):
        rows = rest_get(url, POSITIONS, f"category=linear&symbol={symbol}")["result"]["list"]
        want = {k: p for k, p in truth["positions"].items() if p["symbol"] == symbol}
        assert {f"{r['symbol']}:{r['positionIdx']}" for r in rows} == set(want)  # flat too
        for row in rows:
            p = want[f"{row['symbol']}:{row['positionIdx']}"]
            assert "entryPrice" not in row
            assert Decimal(row["avgPrice"]) == Decimal(p["entryPrice"])
            assert (row["side"], Decimal(row["size"])) == (p["side"], Decimal(p["size"]))
            assert row["seq"] == p["seq"]
    held = rest_all(url, POSITIONS, "category=linear&settleCoin=USDT&limit=1")
    assert {f"{r['symbol']}:{r['positionIdx']}" for r in held} == {
        k for k, p in truth["positions"].items() if p["size"] != "0"
    }
