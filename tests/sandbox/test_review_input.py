"""An attacker's inputs (issue 13 review): a JSON body or message nested deeper than the
parser's recursion limit is a refusal on every surface (REST 10001, the trade socket's
10001, the private and public sockets' decode errors), never a dropped connection with a
traceback in the server log; the socket keeps serving and nothing was executed."""

from __future__ import annotations

import json
import logging
import socket
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from oms.sandbox import rest
from oms.sim.rules import off_grid
from tests.sandbox.client import connect, recv_json
from tests.sandbox.entry_client import limit_order, order_by_link, post, post_raw, trade_socket

if TYPE_CHECKING:
    from oms.sandbox import Sandbox

#: deeper than CPython's recursion limit: ``json.loads`` raises RecursionError on it
DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"category":' * 5_000 + '"linear"' + "}" * 5_000


def state(sandbox: Sandbox) -> dict[str, object]:
    """The venue's truth without its clock."""
    return {k: v for k, v in sandbox.truth().items() if k != "meta"}


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_a_deeply_nested_rest_body_is_10001_and_changes_nothing(sandbox, caplog, body):
    before = state(sandbox)
    with caplog.at_level(logging.ERROR):
        status, _, answer = post_raw(sandbox.rest_url, "/v5/order/create", body)
    assert status == 200
    assert (answer["retCode"], answer["retMsg"]) == (
        10001,
        "params error: the request body is not JSON",
    )
    assert state(sandbox) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_deeply_nested_trade_message_is_10001_and_the_socket_serves_on(sandbox, caplog):
    ws = trade_socket(sandbox)
    with caplog.at_level(logging.ERROR):
        ws.send(DEEP)
        assert recv_json(ws)["retCode"] == 10001
        ws.send(json.dumps({"op": "ping"}))
        assert recv_json(ws)["op"] == "pong"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_deeply_nested_private_message_is_refused_and_the_socket_serves_on(sandbox, caplog):
    ws = connect(sandbox.ws_url)
    with caplog.at_level(logging.ERROR):
        ws.send(DEEP)
        refusal = recv_json(ws)
        assert (refusal["success"], refusal["ret_msg"]) == (False, "Params Error")
        ws.send(json.dumps({"op": "ping"}))
        assert recv_json(ws)["op"] == "pong"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_deeply_nested_public_message_is_refused_and_the_socket_serves_on(sandbox, caplog):
    ws = connect(sandbox.public_url("linear"))
    with caplog.at_level(logging.ERROR):
        ws.send(DEEP)
        refusal = recv_json(ws)
        assert refusal["success"] is False
        assert refusal["ret_msg"].startswith("Failed to decode incoming data")
        ws.send(json.dumps({"op": "ping"}))
        assert recv_json(ws)["ret_msg"] == "pong"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_10_mb_body_is_10001_executes_nothing_and_the_server_serves_on(sandbox, caplog):
    body = limit_order(sandbox, "huge-body") | {"pad": "x" * 10_000_000}
    with caplog.at_level(logging.ERROR):
        status, _, answer = post_raw(sandbox.rest_url, "/v5/order/create", json.dumps(body))
    assert status == 200
    assert answer["retCode"] == 10001
    assert answer["retMsg"].startswith("params error: the request body is 100")
    assert "at most 1048576" in answer["retMsg"]
    assert order_by_link(sandbox, "huge-body") is None
    assert post(sandbox.rest_url, "/v5/order/create", limit_order(sandbox, "after"))["retCode"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("qty", "1" + "0" * 27),  # was DivisionImpossible on the step: 10016, a traceback
        ("price", "1" + "0" * 30),
        ("triggerPrice", "1" + "0" * 30),
        ("qty", "\u0660.\u0660\u0660\u0661"),  # Arabic-Indic digits: Decimal reads them
    ],
)
def test_an_absurd_number_is_10001_naming_it_and_changes_nothing(sandbox, caplog, field, value):
    body = limit_order(sandbox, "absurd") | {field: value}
    if field == "triggerPrice":
        body["triggerDirection"] = 1
    with caplog.at_level(logging.ERROR):
        answer = post(sandbox.rest_url, "/v5/order/create", body)
    assert (answer["retCode"], answer["retMsg"]) == (
        10001,
        f"params error: {field} invalid: {value!r}",
    )
    assert order_by_link(sandbox, "absurd") is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_grid_check_is_exact_past_the_default_28_digits():
    assert not off_grid(Decimal("1" + "0" * 20), Decimal("0.000000001"))
    assert off_grid(Decimal("1" + "0" * 20 + ".0000000001"), Decimal("0.000000001"))


def test_a_stalled_rest_client_is_closed_after_the_handler_timeout(sandbox, monkeypatch):
    # a client that sends half a request and then nothing: the handler gives up on it
    assert 0 < rest._Handler.timeout <= 60
    monkeypatch.setattr(rest._Handler, "timeout", 0.5)
    port = urlsplit(sandbox.rest_url).port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
        stalled.sendall(b"POST /v5/order/create HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        assert stalled.recv(1) == b""  # closed by the server, not by the 10 s client timeout
