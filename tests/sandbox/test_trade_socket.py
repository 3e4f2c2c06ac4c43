"""The WebSocket trade endpoint (``/v5/trade``) as Bybit serves it: auth in the retCode
form, ping/pong, the six order ops with ``reqId`` echo and 20006 on a repeat, the
``header`` of each answer, the timestamp and recv-window rule, refusals before auth, of
unknown ops and categories, and one rate budget shared with REST."""

from __future__ import annotations

import json
import re

import pytest

from oms.sandbox import Sandbox
from tests.sandbox.client import KEY, SECRET, connect, now_ms, recv_json, ws_signature
from tests.sandbox.entry_client import (
    limit_order,
    order_by_link,
    post,
    trade,
    trade_socket,
)

CONN_ID = re.compile(r"[a-z0-9]{20}-[a-z0-9]{1,5}")


def _auth(ws, args, req_id=None):
    message = {"op": "auth", "args": args} | ({"reqId": req_id} if req_id else {})
    ws.send(json.dumps(message))
    return recv_json(ws)


def test_auth_answers_in_the_retcode_form(sandbox):
    ws = connect(sandbox.trade_url)
    expires = now_ms() + 10_000
    ack = _auth(ws, [KEY, expires, ws_signature(expires)], req_id="a-1")
    assert ack == {
        "reqId": "a-1", "retCode": 0, "retMsg": "OK", "op": "auth", "connId": ack["connId"]
    }  # fmt: skip
    assert CONN_ID.fullmatch(ack["connId"])
    again = _auth(ws, [KEY, expires, ws_signature(expires)])
    assert (again["retCode"], "reqId" in again) == (20001, False)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (lambda e: [KEY, e, ws_signature(e, "wrong-secret")], 10004),
        (lambda e: ["not-the-key", e, ws_signature(e)], 10004),
        (lambda e: [KEY, e], 10001),
        (lambda e: [KEY, "soon", ws_signature(e)], 10001),
        (lambda e: [KEY, e - 20_000, ws_signature(e - 20_000)], 10001),  # expired
    ],
)
def test_a_bad_auth_is_refused_with_its_code(sandbox, args, code):
    ws = connect(sandbox.trade_url)
    ack = _auth(ws, args(now_ms() + 10_000))
    assert (ack["retCode"], ack["op"]) == (code, "auth")
    reply = trade(ws, "order.create", [limit_order(sandbox, "after-bad-auth")])
    assert reply["retCode"] == 10004  # still not logged in
    assert order_by_link(sandbox, "after-bad-auth") is None


def test_auth_accepts_a_string_expires(sandbox):
    ws = connect(sandbox.trade_url)
    expires = str(now_ms() + 10_000)
    assert _auth(ws, [KEY, expires, ws_signature(expires)])["retCode"] == 0


def test_ping_is_answered_with_a_pong_in_the_retcode_form(sandbox):
    ws = trade_socket(sandbox)
    before = now_ms()
    ws.send('{"op":"ping"}')
    pong = recv_json(ws)
    assert set(pong) == {"retCode", "retMsg", "op", "data", "connId"}
    assert (pong["retCode"], pong["retMsg"], pong["op"]) == (0, "OK", "pong")
    assert before <= int(pong["data"][0]) <= now_ms()


def test_an_order_op_before_auth_is_refused_and_the_connection_stays(sandbox):
    ws = trade_socket(sandbox, login=False)
    reply = trade(ws, "order.create", [limit_order(sandbox, "early")], req_id="early-1")
    assert (reply["retCode"], reply["retMsg"], reply["reqId"]) == (
        10004, "Request not authorized", "early-1"
    )  # fmt: skip
    assert order_by_link(sandbox, "early") is None
    expires = now_ms() + 10_000
    assert _auth(ws, [KEY, expires, ws_signature(expires)])["retCode"] == 0
    assert trade(ws, "order.create", [limit_order(sandbox, "early")])["retCode"] == 0


def test_create_amend_cancel_with_the_answer_bybit_sends(sandbox):
    ws = trade_socket(sandbox)
    created = trade(ws, "order.create", [limit_order(sandbox, "ws-1")], req_id="r-create")
    assert set(created) == {
        "reqId", "retCode", "retMsg", "op", "data", "retExtInfo", "header", "connId"
    }  # fmt: skip
    assert (created["reqId"], created["retCode"], created["op"]) == (
        "r-create", 0, "order.create"
    )  # fmt: skip
    assert created["retExtInfo"] == {}
    order_id = created["data"]["orderId"]
    assert created["data"] == {"orderId": order_id, "orderLinkId": "ws-1"}
    header = created["header"]
    assert set(header) == {
        "X-Bapi-Limit", "X-Bapi-Limit-Status", "X-Bapi-Limit-Reset-Timestamp", "Traceid",
        "Timenow",
    }  # fmt: skip
    assert (header["X-Bapi-Limit"], header["X-Bapi-Limit-Status"]) == ("10", "9")
    assert re.fullmatch(r"[0-9a-f]{32}", header["Traceid"])
    assert abs(int(header["Timenow"]) - now_ms()) < 60_000
    assert order_by_link(sandbox, "ws-1")["status"] == "New"  # type: ignore[index]
    amend = {"category": "linear", "symbol": "BTCUSDT", "orderId": order_id, "qty": "0.002"}
    amended = trade(ws, "order.amend", [amend])
    assert (amended["retCode"], amended["data"]["orderId"]) == (0, order_id)
    assert order_by_link(sandbox, "ws-1")["qty"] == "0.002"  # type: ignore[index]
    cancel = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "ws-1"}
    cancelled = trade(ws, "order.cancel", [cancel])
    assert (cancelled["retCode"], cancelled["op"]) == (0, "order.cancel")
    assert order_by_link(sandbox, "ws-1")["status"] == "Cancelled"  # type: ignore[index]
    again = trade(ws, "order.cancel", [cancel])
    assert (again["retCode"], again["data"]) == (110001, {})


def test_batch_ops_answer_parallel_lists(sandbox):
    ws = trade_socket(sandbox)
    items = [limit_order(sandbox, "wsb-1"), limit_order(sandbox, "wsb-1")]
    for item in items:
        del item["category"]
    reply = trade(ws, "order.create-batch", [{"category": "linear", "request": items}])
    assert reply["retCode"] == 0
    assert [c["code"] for c in reply["retExtInfo"]["list"]] == [0, 110072]
    rows = reply["data"]["list"]
    assert [bool(r["orderId"]) for r in rows] == [True, False]
    assert rows[0]["createAt"]
    cancel = [{"symbol": "BTCUSDT", "orderLinkId": "wsb-1"}]
    amend = [{"symbol": "BTCUSDT", "orderLinkId": "wsb-1", "qty": "0.004"}]
    amended = trade(ws, "order.amend-batch", [{"category": "linear", "request": amend}])
    assert [c["code"] for c in amended["retExtInfo"]["list"]] == [0]
    done = trade(ws, "order.cancel-batch", [{"category": "linear", "request": cancel}])
    assert [c["code"] for c in done["retExtInfo"]["list"]] == [0]
    assert order_by_link(sandbox, "wsb-1")["status"] == "Cancelled"  # type: ignore[index]


def test_a_reused_req_id_is_20006_on_any_connection_and_not_executed(sandbox):
    ws = trade_socket(sandbox)
    assert trade(ws, "order.create", [limit_order(sandbox, "req-a")], req_id="same")["retCode"] == 0
    again = trade(ws, "order.create", [limit_order(sandbox, "req-b")], req_id="same")
    assert (again["retCode"], again["retMsg"], again["reqId"]) == (
        20006, "reqId is duplicated", "same"
    )  # fmt: skip
    other = trade_socket(sandbox)
    assert (
        trade(other, "order.create", [limit_order(sandbox, "req-b")], req_id="same")["retCode"]
        == 20006
    )
    assert order_by_link(sandbox, "req-b") is None
    too_long = trade(ws, "order.create", [limit_order(sandbox, "req-b")], req_id="x" * 37)
    assert too_long["retCode"] == 10001


def test_a_duplicate_order_link_id_over_the_socket_is_110072(sandbox):
    ws = trade_socket(sandbox)
    assert trade(ws, "order.create", [limit_order(sandbox, "dup-ws")])["retCode"] == 0
    again = trade(ws, "order.create", [limit_order(sandbox, "dup-ws")])
    assert (again["retCode"], again["data"]) == (110072, {})
    by_rest = post(sandbox.rest_url, "/v5/order/create", limit_order(sandbox, "dup-ws"))
    assert by_rest["retCode"] == 110072  # one account, whatever the transport


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ({}, 10001),
        (None, 10001),
        ({"X-BAPI-TIMESTAMP": "soon"}, 10001),
        ({"X-BAPI-TIMESTAMP": 1}, 10002),
        ({"X-BAPI-TIMESTAMP": "1"}, 10002),
        ({"X-BAPI-TIMESTAMP": "now+5s"}, 10002),  # ahead of the server by more than 1 s
        ({"X-BAPI-TIMESTAMP": "now-7s"}, 10002),  # older than the default 5 s window
        ({"X-BAPI-TIMESTAMP": "now-7s", "X-BAPI-RECV-WINDOW": 10_000}, 0),
        ({"X-BAPI-TIMESTAMP": "now", "X-BAPI-RECV-WINDOW": "8000"}, 0),
        ({"X-BAPI-TIMESTAMP": "now-int"}, 0),  # an int, as pybit sends it
    ],
)
def test_the_header_timestamp_is_required_within_the_recv_window(sandbox, header, code):
    now = now_ms()
    stamps = {"now": str(now), "now-int": now, "now+5s": str(now + 5000), "now-7s": str(now - 7000)}
    message = {"reqId": "t", "op": "order.create", "args": [limit_order(sandbox, "stamped")]}
    if header is not None:
        header = dict(header)
        stamp = header.get("X-BAPI-TIMESTAMP")
        if isinstance(stamp, str) and stamp in stamps:
            header["X-BAPI-TIMESTAMP"] = stamps[stamp]
        message["header"] = header
    ws = trade_socket(sandbox)
    ws.send(json.dumps(message))
    reply = recv_json(ws)
    assert reply["retCode"] == code, reply
    assert (order_by_link(sandbox, "stamped") is not None) == (code == 0)
    if code == 10002:
        assert "recv_window" in reply["retMsg"]


@pytest.mark.parametrize(
    ("op", "args", "code"),
    [
        ("order.create-all", [{"category": "linear"}], 10404),
        ("order.cancel-all", [{"category": "linear"}], 10404),  # REST only
        ("order.create", [{"category": "option", "symbol": "BTC-1JAN30-1-C"}], 10404),
        ("order.create", [{"category": "futures"}], 10404),
        ("order.create", [], 10001),
        ("order.create", [{"category": "linear"}, {"category": "linear"}], 10001),
        ("order.create", {"category": "linear"}, 10001),
    ],
)
def test_unknown_ops_categories_and_bad_args_are_refused(sandbox, op, args, code):
    ws = trade_socket(sandbox)
    reply = trade(ws, op, args, req_id="bad")
    assert (reply["retCode"], reply["reqId"], reply["op"]) == (code, "bad", op)


def test_not_json_is_10001(sandbox):
    ws = trade_socket(sandbox)
    ws.send("{not json")
    assert recv_json(ws)["retCode"] == 10001


def test_rest_and_the_socket_share_one_budget():
    with Sandbox(KEY, SECRET, seed=12, rate_limits={"order/create": 2}) as sandbox:
        ws = trade_socket(sandbox)
        assert (
            post(sandbox.rest_url, "/v5/order/create", limit_order(sandbox, "s-1"))["retCode"] == 0
        )
        second = trade(ws, "order.create", [limit_order(sandbox, "s-2")])
        assert (second["retCode"], second["header"]["X-Bapi-Limit-Status"]) == (0, "0")
        third = trade(ws, "order.create", [limit_order(sandbox, "s-3")])
        assert (third["retCode"], third["retMsg"]) == (10006, "Too many visits!")
        header = third["header"]
        assert header["X-Bapi-Limit-Status"] == "0"
        assert int(header["X-Bapi-Limit-Reset-Timestamp"]) > int(header["Timenow"]) - 1000
        assert order_by_link(sandbox, "s-3") is None
        by_rest = post(sandbox.rest_url, "/v5/order/create", limit_order(sandbox, "s-3"))
        assert by_rest["retCode"] == 10006


def test_the_trade_path_only(sandbox):
    ws = connect(sandbox.trade_url + "?max_active_time=1m")
    expires = now_ms() + 10_000
    assert _auth(ws, [KEY, expires, ws_signature(expires)])["retCode"] == 0
    ws.send(json.dumps({"op": "subscribe", "args": ["order"]}))
    assert recv_json(ws)["retCode"] == 10404  # no subscriptions on the trade socket


def test_the_socket_checks_the_timestamp_against_the_servers_clock(sandbox):
    sandbox.faults.rest_clock_skew_ms = 60_000  # the server's clock runs a minute ahead
    ws = trade_socket(sandbox)
    reply = trade(ws, "order.create", [limit_order(sandbox, "ws-skew")])
    assert reply["retCode"] == 10002
    assert f"recv_window[{5000}]" in reply["retMsg"]
    assert order_by_link(sandbox, "ws-skew") is None
