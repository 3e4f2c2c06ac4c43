"""Order-entry faults, each on REST and on the trade socket where it applies: the ack lost
after the order was placed, 10006 answers, "service restarting" with and without the
order placed (10016 REST, 10019 WS), and the trade socket cut after a request was sent,
before or after it ran. Each shows what a client must do: look the order up."""

from __future__ import annotations

import json

import pytest
import websocket

from tests.sandbox.client import now_ms, read_until_closed, recv_json, rest_get, subscriber
from tests.sandbox.entry_client import (
    NoAnswerError,
    limit_order,
    order_by_link,
    post,
    post_raw,
    trade,
    trade_socket,
)

CREATE = "/v5/order/create"


def _realtime(sandbox, link: str) -> list[dict[str, object]]:
    query = f"category=linear&symbol=BTCUSDT&orderLinkId={link}"
    body = rest_get(sandbox.rest_url, "/v5/order/realtime", query)
    assert body["retCode"] == 0
    return body["result"]["list"]


def test_rest_ack_lost_after_the_order_was_placed(sandbox):
    stream = subscriber(sandbox.ws_url, ["order"])
    sandbox.faults.entry_ack_lost = 1
    with pytest.raises(NoAnswerError):
        post_raw(sandbox.rest_url, CREATE, json.dumps(limit_order(sandbox, "lost-ack")))
    assert sandbox.faults.entry_ack_lost == 0
    frame = json.loads(stream.recv())  # the stream tells what the answer did not
    assert frame["data"][0]["orderLinkId"] == "lost-ack"
    [row] = _realtime(sandbox, "lost-ack")
    assert row["orderStatus"] == "New"
    again = post(sandbox.rest_url, CREATE, limit_order(sandbox, "lost-ack"))
    assert again["retCode"] == 110072  # a resend with the same orderLinkId: already placed


def test_rest_rate_limit_fault_is_10006_with_headers_not_executed(sandbox):
    sandbox.faults.entry_rate_limit = 1
    status, headers, answer = post_raw(
        sandbox.rest_url, CREATE, json.dumps(limit_order(sandbox, "limited"))
    )
    assert (status, answer["retCode"], answer["retMsg"]) == (200, 10006, "Too many visits!")
    assert (headers["X-Bapi-Limit"], headers["X-Bapi-Limit-Status"]) == ("10", "0")
    assert int(headers["X-Bapi-Limit-Reset-Timestamp"]) > answer["time"]
    assert order_by_link(sandbox, "limited") is None
    assert post(sandbox.rest_url, CREATE, limit_order(sandbox, "limited"))["retCode"] == 0


@pytest.mark.parametrize(
    ("fault", "placed"), [("entry_restarting", False), ("entry_restarting_after", True)]
)
def test_rest_service_restarting_with_and_without_the_order_placed(sandbox, fault, placed):
    setattr(sandbox.faults, fault, 1)
    answer = post(sandbox.rest_url, CREATE, limit_order(sandbox, "restart"))
    assert (answer["retCode"], answer["result"]) == (10016, {})
    assert (order_by_link(sandbox, "restart") is not None) == placed
    assert (len(_realtime(sandbox, "restart")) == 1) == placed
    retry = post(sandbox.rest_url, CREATE, limit_order(sandbox, "restart"))
    assert retry["retCode"] == (110072 if placed else 0)


def test_ws_ack_lost_the_socket_stays_and_answers_the_next_request(sandbox):
    ws = trade_socket(sandbox)
    sandbox.faults.entry_ack_lost = 1
    ws.send(
        json.dumps(
            {
                "reqId": "silent",
                "header": {"X-BAPI-TIMESTAMP": str(now_ms())},
                "op": "order.create",
                "args": [limit_order(sandbox, "ws-lost-ack")],
            }
        )
    )
    ws.send('{"op":"ping"}')
    assert recv_json(ws)["op"] == "pong"  # the ping's answer comes first: none for the order
    assert order_by_link(sandbox, "ws-lost-ack") is not None
    assert len(_realtime(sandbox, "ws-lost-ack")) == 1


def test_ws_rate_limit_fault_is_10006(sandbox):
    ws = trade_socket(sandbox)
    sandbox.faults.entry_rate_limit = 1
    reply = trade(ws, "order.create", [limit_order(sandbox, "ws-limited")])
    assert reply["retCode"] == 10006
    assert reply["header"]["X-Bapi-Limit-Status"] == "0"
    assert int(reply["header"]["X-Bapi-Limit-Reset-Timestamp"]) > int(reply["header"]["Timenow"])
    assert order_by_link(sandbox, "ws-limited") is None


@pytest.mark.parametrize(
    ("fault", "placed"), [("entry_restarting", False), ("entry_restarting_after", True)]
)
def test_ws_service_restarting_is_10019_with_and_without_the_order_placed(sandbox, fault, placed):
    ws = trade_socket(sandbox)
    setattr(sandbox.faults, fault, 1)
    reply = trade(ws, "order.create", [limit_order(sandbox, "ws-restart")], req_id="r1")
    assert (reply["retCode"], reply["reqId"]) == (10019, "r1")
    assert "ws trade service is restarting" in reply["retMsg"]
    assert (order_by_link(sandbox, "ws-restart") is not None) == placed
    fresh = trade_socket(sandbox)  # Bybit: open a new connection
    retry = trade(fresh, "order.create", [limit_order(sandbox, "ws-restart")], req_id="r2")
    assert retry["retCode"] == (110072 if placed else 0)


@pytest.mark.parametrize(
    ("fault", "placed"), [("trade_cut_before", False), ("trade_cut_after", True)]
)
def test_the_trade_socket_cut_after_a_request_was_sent(sandbox, fault, placed):
    ws = trade_socket(sandbox)
    setattr(sandbox.faults, fault, 1)
    ws.send(
        json.dumps(
            {
                "reqId": "cut",
                "header": {"X-BAPI-TIMESTAMP": now_ms()},
                "op": "order.create",
                "args": [limit_order(sandbox, "cut-order")],
            }
        )
    )
    assert read_until_closed(ws) == ([], "lost")  # no answer, no close frame
    assert (order_by_link(sandbox, "cut-order") is not None) == placed
    assert (len(_realtime(sandbox, "cut-order")) == 1) == placed
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.send('{"op":"ping"}')


def test_rest_faults_leave_the_trade_socket_alone_and_count_down(sandbox):
    sandbox.faults.trade_cut_after = 1  # a trade-socket fault: REST does not use it
    assert post(sandbox.rest_url, CREATE, limit_order(sandbox, "rest-ok"))["retCode"] == 0
    assert sandbox.faults.trade_cut_after == 1
    ws = trade_socket(sandbox)
    ws.send(
        json.dumps(
            {
                "reqId": "c2",
                "header": {"X-BAPI-TIMESTAMP": now_ms()},
                "op": "order.create",
                "args": [limit_order(sandbox, "ws-cut")],
            }
        )
    )
    assert read_until_closed(ws)[1] == "lost"
    assert sandbox.faults.trade_cut_after == 0
