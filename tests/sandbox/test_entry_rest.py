"""Order entry over REST as Bybit serves it: the signature over the raw body (either JSON
spacing), header names in any case, the envelope, the single and batch routes with their
parallel lists, duplicate orderLinkIds, rate limits with their headers, the IP ban and
clock skew. The order's frames reach the private stream."""

from __future__ import annotations

import json
import time

import pytest

from oms.sandbox import Sandbox
from tests.sandbox.client import KEY, SECRET, collect, rest_get, subscriber, wait_for
from tests.sandbox.entry_client import (
    limit_order,
    order_by_link,
    post,
    post_raw,
    resting_price,
)

CREATE = "/v5/order/create"


def test_a_limit_order_is_placed_with_either_json_spacing(sandbox):
    url = sandbox.rest_url
    ccxt_like = post(url, CREATE, limit_order(sandbox, "spacing-compact"))
    pybit_like = post(url, CREATE, limit_order(sandbox, "spacing-pybit"), pybit_spacing=True)
    for answer, link in ((ccxt_like, "spacing-compact"), (pybit_like, "spacing-pybit")):
        assert (answer["retCode"], answer["retMsg"], answer["retExtInfo"]) == (0, "OK", {})
        assert answer["result"]["orderLinkId"] == link
        assert set(answer) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
        order = order_by_link(sandbox, link)
        assert order is not None
        assert order["status"] == "New"
        assert sandbox.truth()["orders"][answer["result"]["orderId"]] == order


def test_the_signature_covers_the_raw_bytes_sent(sandbox):
    body = limit_order(sandbox, "raw-bytes")
    compact = json.dumps(body, separators=(",", ":"))
    status, _, answer = post_raw(sandbox.rest_url, CREATE, compact, signed_body=json.dumps(body))
    assert status == 200
    assert answer["retCode"] == 10004  # signed over another spelling of the same object
    assert order_by_link(sandbox, "raw-bytes") is None


def test_header_names_in_any_case_and_ignored_extras(sandbox):
    body = json.dumps(limit_order(sandbox, "header-case"))
    stamp = str(int(time.time() * 1000))
    from tests.sandbox.entry_client import sign  # noqa: PLC0415 - next to its use

    headers = {
        "content-type": "application/json",
        "x-bapi-api-key": KEY,
        "x-bapi-timestamp": stamp,
        "x-bapi-recv-window": "5000",
        "x-bapi-sign": sign(body, stamp),
        "X-BAPI-SIGN-TYPE": "2",
        "Referer": "CCXT",
    }
    status, response_headers, answer = post_raw(sandbox.rest_url, CREATE, body, headers=headers)
    assert (status, answer["retCode"]) == (200, 0), answer
    assert response_headers["X-Bapi-Limit"] == "10"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("not json", "not JSON"),
        ('["a", "list"]', "JSON object"),
        ('{"category":"linear","qty":NaN}', "not JSON"),
        ('{"symbol":"BTCUSDT"}', "category is required"),
        ('{"category":7}', "Illegal category"),
    ],
)
def test_a_body_that_is_not_a_json_object_with_a_category_is_10001(sandbox, body, needle):
    status, _, answer = post_raw(sandbox.rest_url, CREATE, body)
    assert status == 200
    assert answer["retCode"] == 10001
    assert needle in answer["retMsg"]
    assert answer["result"] == {}


def test_a_json_number_where_bybit_wants_a_string_is_refused_never_read_as_a_float(sandbox):
    body = json.dumps(limit_order(sandbox, "float-qty")).replace('"0.001"', "0.001")
    status, _, answer = post_raw(sandbox.rest_url, CREATE, body)
    assert (status, answer["retCode"]) == (200, 10001)
    assert "qty" in answer["retMsg"]
    assert order_by_link(sandbox, "float-qty") is None


def test_amend_cancel_and_cancel_all(sandbox):
    url = sandbox.rest_url
    placed = post(url, CREATE, limit_order(sandbox, "life-1"))["result"]
    post(url, CREATE, limit_order(sandbox, "life-2", side="Sell"))
    price = resting_price(sandbox, "BTCUSDT", "Buy")
    amended = post(
        url,
        "/v5/order/amend",
        {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "life-1", "qty": "0.002"},
    )
    assert amended["result"] == placed
    truth = order_by_link(sandbox, "life-1")
    assert truth is not None
    assert (truth["qty"], truth["price"]) == ("0.002", price)
    cancelled = post(url, "/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", **placed})
    assert cancelled["result"] == placed
    assert order_by_link(sandbox, "life-1")["status"] == "Cancelled"  # type: ignore[index]
    again = post(url, "/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", **placed})
    assert again["retCode"] == 110001
    everything = post(url, "/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"})
    assert everything["retCode"] == 0
    assert [o["orderLinkId"] for o in everything["result"]["list"]] == ["life-2"]
    assert everything["result"]["success"] == "1"


def test_the_orders_frames_reach_the_private_stream(sandbox):
    ws = subscriber(sandbox.ws_url, ["order"])
    placed = post(sandbox.rest_url, CREATE, limit_order(sandbox, "to-the-stream"))["result"]
    frame = json.loads(collect(ws, 1)[0])
    assert frame["topic"] == "order"
    assert [(o["orderId"], o["orderLinkId"], o["orderStatus"]) for o in frame["data"]] == [
        (placed["orderId"], "to-the-stream", "New")
    ]


@pytest.mark.parametrize(
    ("category", "symbol", "qty", "code"),
    [("linear", "BTCUSDT", "0.001", 110072), ("spot", "BTCUSDT", "0.0001", 170141)],
)
def test_a_duplicate_order_link_id_is_refused(category, symbol, qty, code):
    with Sandbox(KEY, SECRET, seed=5, categories=("linear", "spot")) as sandbox:
        body = limit_order(sandbox, f"dup-{category}", symbol=symbol, qty=qty, category=category)
        first = post(sandbox.rest_url, CREATE, body)
        assert first["retCode"] == 0, first
        frames = sandbox.stats()["frames"]
        second = post(sandbox.rest_url, CREATE, body)
        assert (second["retCode"], second["result"]) == (code, {})
        assert sandbox.stats()["frames"] == frames  # nothing happened


def test_create_batch_answers_in_two_parallel_lists_with_mixed_results(sandbox):
    request = [
        limit_order(sandbox, "batch-ok"),
        limit_order(sandbox, "batch-bad-symbol") | {"symbol": "NOPEUSDT"},
        limit_order(sandbox, "batch-ok"),  # the same orderLinkId again
        limit_order(sandbox, "batch-ok-2", side="Sell"),
    ]
    for item in request:
        del item["category"]
    answer = post(
        sandbox.rest_url, "/v5/order/create-batch", {"category": "linear", "request": request}
    )
    assert (answer["retCode"], answer["retMsg"]) == (0, "OK")
    rows, codes = answer["result"]["list"], answer["retExtInfo"]["list"]
    assert [c["code"] for c in codes] == [0, 10001, 110072, 0]
    assert [c["msg"] == "OK" for c in codes] == [True, False, False, True]
    assert [r["orderLinkId"] for r in rows] == [
        "batch-ok", "batch-bad-symbol", "batch-ok", "batch-ok-2"
    ]  # fmt: skip
    assert [bool(r["orderId"]) for r in rows] == [True, False, False, True]
    assert [r["symbol"] for r in rows] == ["BTCUSDT", "NOPEUSDT", "BTCUSDT", "BTCUSDT"]
    assert {r["category"] for r in rows} == {"linear"}
    truth = sandbox.truth()["orders"]
    for row in (rows[0], rows[3]):
        assert row["createAt"] == truth[row["orderId"]]["createdTime"]
    assert rows[1]["createAt"] == rows[2]["createAt"] == ""


def test_amend_and_cancel_batch(sandbox):
    url = sandbox.rest_url
    ids = [post(url, CREATE, limit_order(sandbox, f"ab-{n}"))["result"] for n in range(2)]
    amends = [{"symbol": "BTCUSDT", "orderId": i["orderId"], "qty": "0.003"} for i in ids]
    amends.append({"symbol": "BTCUSDT", "orderLinkId": "ab-unknown", "qty": "0.003"})
    answer = post(url, "/v5/order/amend-batch", {"category": "linear", "request": amends})
    assert [c["code"] for c in answer["retExtInfo"]["list"]] == [0, 0, 110001]
    assert [r["orderId"] for r in answer["result"]["list"]] == [i["orderId"] for i in ids] + [""]
    assert "createAt" not in answer["result"]["list"][0]
    cancels = [{"symbol": "BTCUSDT", "orderLinkId": i["orderLinkId"]} for i in ids]
    answer = post(url, "/v5/order/cancel-batch", {"category": "linear", "request": cancels})
    assert [c["code"] for c in answer["retExtInfo"]["list"]] == [0, 0]
    assert {order_by_link(sandbox, f"ab-{n}")["status"] for n in range(2)} == {"Cancelled"}  # type: ignore[index]


@pytest.mark.parametrize(("category", "top"), [("linear", 20), ("spot", 10)])
def test_a_batch_holds_at_most_20_orders_10_on_spot(category, top):
    with Sandbox(KEY, SECRET, seed=6, categories=("linear", "spot")) as sandbox:
        item = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "1"}
        body = {"category": category, "request": [item] * (top + 1)}
        answer = post(sandbox.rest_url, "/v5/order/create-batch", body)
        assert answer["retCode"] == 10001
        assert f"at most {top}" in answer["retMsg"]
        for empty in ({"category": category, "request": []}, {"category": category}):
            assert post(sandbox.rest_url, "/v5/order/create-batch", empty)["retCode"] == 10001


def test_a_batch_over_the_remaining_budget_runs_its_first_items_only():
    with Sandbox(KEY, SECRET, seed=7, rate_limits={"order/create-batch": 3}) as sandbox:
        request = [limit_order(sandbox, f"budget-{n}") for n in range(5)]
        answer = post(
            sandbox.rest_url,
            "/v5/order/create-batch",
            {"category": "linear", "request": request},
        )
        assert answer["retCode"] == 0
        codes = [c["code"] for c in answer["retExtInfo"]["list"]]
        assert codes == [0, 0, 0, 10006, 10006]
        assert [order_by_link(sandbox, f"budget-{n}") is not None for n in range(5)] == [
            True, True, True, False, False
        ]  # fmt: skip
        again = post(
            sandbox.rest_url,
            "/v5/order/create-batch",
            {"category": "linear", "request": request[3:]},
        )
        assert again["retCode"] == 10006  # nothing left: the whole request is refused


def test_10006_with_a_reset_timestamp_after_which_the_next_request_passes():
    with Sandbox(KEY, SECRET, seed=8, rate_limits={"order/create": 2}) as sandbox:
        url = sandbox.rest_url
        answers = []
        for n in range(3):
            _, headers, body = post_raw(url, CREATE, json.dumps(limit_order(sandbox, f"limit-{n}")))
            answers.append((headers, body))
        (h0, b0), (h1, b1), (h2, b2) = answers
        assert [b0["retCode"], b1["retCode"], b2["retCode"]] == [0, 0, 10006]
        assert b2["retMsg"] == "Too many visits!"
        assert [h["X-Bapi-Limit"] for h in (h0, h1, h2)] == ["2", "2", "2"]
        assert [h["X-Bapi-Limit-Status"] for h in (h0, h1, h2)] == ["1", "0", "0"]
        reset = int(h2["X-Bapi-Limit-Reset-Timestamp"])
        assert b0["time"] < reset <= b0["time"] + 1000  # when the first leaves the window
        assert int(h0["X-Bapi-Limit-Reset-Timestamp"]) <= b0["time"]  # not exceeded: now
        assert order_by_link(sandbox, "limit-2") is None  # refused, not executed
        wait_for(lambda: int(time.time() * 1000) > reset + 5, what="the reset time")
        _, _, body = post_raw(url, CREATE, json.dumps(limit_order(sandbox, "limit-2")))
        assert body["retCode"] == 0, body


def test_rest_shares_no_budget_between_routes_but_one_per_route():
    with Sandbox(KEY, SECRET, seed=9, rate_limits={"order/create": 1}) as sandbox:
        url = sandbox.rest_url
        assert post(url, CREATE, limit_order(sandbox, "one"))["retCode"] == 0
        assert post(url, CREATE, limit_order(sandbox, "two"))["retCode"] == 10006
        cancel = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "one"}
        assert post(url, "/v5/order/cancel", cancel)["retCode"] == 0


def test_the_ip_ban_is_http_403_and_executes_nothing(sandbox):
    sandbox.faults.rest_forbidden = 1
    status, _, text = post_raw(sandbox.rest_url, CREATE, json.dumps(limit_order(sandbox, "ban")))
    assert status == 403
    assert isinstance(text, str)
    assert "access too frequent" in text
    assert order_by_link(sandbox, "ban") is None
    assert post(sandbox.rest_url, CREATE, limit_order(sandbox, "ban"))["retCode"] == 0


def test_clock_skew_is_10002_with_bybits_text_and_executes_nothing(sandbox):
    sandbox.faults.rest_clock_skew_ms = 60_000
    answer = post(sandbox.rest_url, CREATE, limit_order(sandbox, "skewed"))
    assert answer["retCode"] == 10002
    assert answer["retMsg"].startswith("invalid request, please check your server timestamp")
    assert "recv_window[5000]" in answer["retMsg"]
    assert order_by_link(sandbox, "skewed") is None
    sandbox.faults.rest_clock_skew_ms = 0
    late = post(sandbox.rest_url, CREATE, limit_order(sandbox, "skewed"), timestamp=1)
    assert late["retCode"] == 10002


def test_routes_not_emulated_are_10005_and_the_key_may_trade(sandbox):
    body = {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "5", "sellLeverage": "5"}
    assert post(sandbox.rest_url, "/v5/position/set-leverage", body)["retCode"] == 10005
    assert post(sandbox.rest_url, "/v5/order/nothing", body)["retCode"] == 10017
    api = rest_get(sandbox.rest_url, "/v5/user/query-api")["result"]
    assert api["readOnly"] == 0
    assert SECRET not in json.dumps(api)


def test_batch_amend_takes_no_conditional_order(sandbox):
    url = sandbox.rest_url
    trigger = resting_price(sandbox, "BTCUSDT", "Sell")  # above the market: a rise trigger
    conditional = {
        "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market",
        "qty": "0.001", "triggerPrice": trigger, "triggerDirection": 1,
        "orderLinkId": "cond-1",
    }  # fmt: skip
    assert post(url, CREATE, conditional)["retCode"] == 0
    assert order_by_link(sandbox, "cond-1")["status"] == "Untriggered"  # type: ignore[index]
    item = {"symbol": "BTCUSDT", "orderLinkId": "cond-1", "qty": "0.002"}
    answer = post(url, "/v5/order/amend-batch", {"category": "linear", "request": [item]})
    assert [c["code"] for c in answer["retExtInfo"]["list"]] == [10001]
    assert "conditional" in answer["retExtInfo"]["list"][0]["msg"]
    assert order_by_link(sandbox, "cond-1")["qty"] == "0.001"  # type: ignore[index]
    single = post(url, "/v5/order/amend", {"category": "linear", **item})
    assert single["retCode"] == 0  # the single amend takes it


def test_trading_stop_sets_the_positions_take_profit(sandbox):
    url = sandbox.rest_url
    market = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market"}
    assert post(url, CREATE, market | {"qty": "0.01", "orderLinkId": "ts-open"})["retCode"] == 0
    assert sandbox.truth()["positions"]["BTCUSDT:0"]["size"] == "0.01"
    tp = resting_price(sandbox, "BTCUSDT", "Sell")
    body = {"category": "linear", "symbol": "BTCUSDT", "positionIdx": 0, "takeProfit": tp}
    answer = post(url, "/v5/position/trading-stop", body)
    assert (answer["retCode"], answer["result"]) == (0, {}), answer
    orders = sandbox.truth()["orders"].values()
    assert any(o["stopOrderType"] == "TakeProfit" and o["triggerPrice"] == tp for o in orders)
    assert post(url, "/v5/position/trading-stop", body)["retCode"] == 34040  # not modified
