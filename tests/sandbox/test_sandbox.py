"""The sandbox exchange: the private-stream protocol, the frames of a trading session
(replayed through ``oms.Ledger`` they end equal to ``truth()``), and the life cycle."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
import websocket

from oms import Anomaly
from oms.sandbox import Exchange, Sandbox
from oms.sandbox.__main__ import main

if TYPE_CHECKING:
    from oms.sandbox.model import Push

from tests.sandbox.client import (
    KEY,
    SECRET,
    assert_ledger_matches,
    auth,
    collect,
    connect,
    now_ms,
    read_until_closed,
    replay,
    request,
    subscriber,
    wait_for,
    ws_signature,
)

# --- auth, subscribe, ping ------------------------------------------------------------------


def test_auth_success_echoes_req_id(sandbox):
    ws = connect(sandbox.ws_url)
    ack = auth(ws, req_id="10001")
    assert ack == {
        "req_id": "10001",
        "success": True,
        "ret_msg": "",
        "op": "auth",
        "conn_id": ack["conn_id"],
    }
    assert ack["conn_id"]
    ws.close()


def test_auth_without_req_id_and_with_string_expires(sandbox):
    ws = connect(sandbox.ws_url)
    ack = auth(ws, req_id=None)
    assert "req_id" not in ack
    assert ack["success"] is True
    expires = str(now_ms() + 5000)
    ack = request(ws, {"op": "auth", "args": [KEY, expires, ws_signature(expires)]})
    assert ack["success"] is True
    ws.close()


@pytest.mark.parametrize(
    ("key", "secret", "ret_msg"),
    [("wrong-key", SECRET, "Request not authorized"), (KEY, "wrong", "Request not authorized")],
)
def test_auth_refuses_bad_key_or_signature(sandbox, key, secret, ret_msg):
    ws = connect(sandbox.ws_url)
    ack = auth(ws, key=key, secret=secret)
    assert ack["success"] is False
    assert ack["ret_msg"] == ret_msg
    assert ack["op"] == "auth"
    assert ack["conn_id"]
    # still not authenticated: subscribing is refused
    ack = request(ws, {"op": "subscribe", "args": ["order"]})
    assert (ack["success"], ack["ret_msg"]) == (False, "Request not authorized")
    ws.close()


def test_auth_expired_is_params_error(sandbox):
    ws = connect(sandbox.ws_url)
    ack = auth(ws, expires=now_ms() - 1)
    assert (ack["success"], ack["ret_msg"], ack["op"]) == (False, "Params Error", "auth")
    ack = request(ws, {"op": "auth", "args": [KEY, "soon"]})
    assert (ack["success"], ack["ret_msg"]) == (False, "Params Error")
    ws.close()


def test_subscribe_before_auth_is_refused(sandbox):
    ws = connect(sandbox.ws_url)
    ack = request(ws, {"op": "subscribe", "args": ["order"], "req_id": "s1"})
    assert ack == {
        "req_id": "s1",
        "success": False,
        "ret_msg": "Request not authorized",
        "op": "subscribe",
        "conn_id": ack["conn_id"],
    }
    ws.close()


def test_subscribe_and_unsubscribe_acks(sandbox):
    ws = connect(sandbox.ws_url)
    conn_id = auth(ws)["conn_id"]
    ack = request(ws, {"op": "subscribe", "args": ["order", "execution", "position", "wallet"]})
    assert ack == {"success": True, "ret_msg": "", "op": "subscribe", "conn_id": conn_id}
    ack = request(ws, {"op": "subscribe", "args": ["execution.fast.linear"], "req_id": "f"})
    assert ack["success"] is True
    assert ack["req_id"] == "f"
    ack = request(ws, {"op": "subscribe", "args": ["orders"], "req_id": "bad"})
    assert (ack["success"], ack["ret_msg"], ack["op"]) == (
        False,
        "error:handler not found",
        "subscribe",
    )
    ack = request(ws, {"op": "subscribe", "args": ["order", "order.linear"]})
    assert ack["success"] is False  # all-in-one and categorised in one request
    ack = request(ws, {"op": "unsubscribe", "args": ["order"], "req_id": "u"})
    assert ack == {
        "req_id": "u",
        "success": True,
        "ret_msg": "",
        "op": "unsubscribe",
        "conn_id": conn_id,
    }
    ws.close()


def test_ping_pong(sandbox):
    ws = connect(sandbox.ws_url)
    before = now_ms()
    pong = request(ws, {"op": "ping", "req_id": "100001"})
    assert pong["op"] == "pong"
    assert pong["req_id"] == "100001"
    assert pong["conn_id"]
    assert isinstance(pong["args"][0], str)
    assert before <= int(pong["args"][0]) <= now_ms()
    ws.close()


@pytest.mark.parametrize("path", ["/v5/public/option", "/v5/public/spot", "/v5/privat"])
def test_wrong_path_is_refused(sandbox, path):
    # the sandbox fixture trades linear only: no spot channel, and never option
    with pytest.raises(websocket.WebSocketBadStatusException):
        connect(sandbox.ws_url.replace("/v5/private", path))


def test_max_active_time_sets_the_idle_limit(sandbox):
    ws = connect(sandbox.ws_url + "?max_active_time=1m")
    auth(ws)
    assert [c.ws.idle_limit for c in list(sandbox._clients)] == [60.0]
    ws.close()


def test_idle_connection_is_closed():
    with Sandbox(KEY, SECRET, idle_timeout=0.3) as sandbox:
        quiet = connect(sandbox.ws_url)
        assert read_until_closed(quiet, timeout=5) == ([], "close")  # after ~0.3 s
        chatty = connect(sandbox.ws_url)
        for n in range(12):  # 12 x 0.05 s: twice the idle limit, pinging all along
            assert request(chatty, {"op": "ping", "req_id": str(n)})["op"] == "pong"
            chatty.settimeout(0.05)
            with pytest.raises(websocket.WebSocketTimeoutException):
                chatty.recv()
            chatty.settimeout(5)
        assert chatty.connected


# --- a trading session ----------------------------------------------------------------------


def _data_frames_after(sandbox, before: int) -> int:
    return sandbox.stats()["frames"] - before


def test_session_frames_replay_to_truth(sandbox):
    ws = subscriber(sandbox.ws_url)
    categorised = subscriber(
        sandbox.ws_url, ["order.linear", "execution.linear", "position.linear"]
    )
    before = sandbox.stats()
    sandbox.step(150)
    sandbox.start_trading(rate_per_s=400)
    wait_for(lambda: sandbox.stats()["steps"] >= 450, what="background trading")
    sandbox.stop_trading()
    after = sandbox.stats()
    frames = collect(ws, after["frames"] - before.get("frames", 0))
    ledger, anomalies = replay(frames)
    assert anomalies == []
    assert ledger.stats["illegal"] == 0
    assert ledger.stats["malformed"] == 0
    truth = sandbox.truth()
    assert_ledger_matches(ledger, truth)

    expected = after["frames"] - after.get("frames_wallet", 0) - before.get("frames", 0)
    linear = collect(categorised, expected)
    assert {json.loads(f)["topic"] for f in linear} == {
        "order.linear",
        "execution.linear",
        "position.linear",
    }
    ledger2, anomalies2 = replay(linear)
    assert anomalies2 == []
    assert_ledger_matches(ledger2, truth)
    ws.close()
    categorised.close()


def test_frame_layout_matches_the_wire(sandbox):
    ws = subscriber(sandbox.ws_url)
    sandbox.step(200)
    frames = [json.loads(f) for f in collect(ws, sandbox.stats()["frames"])]
    seen = Counter(f["topic"] for f in frames)
    assert set(seen) == {"order", "execution", "position", "wallet"}
    last_seq: dict[str, int] = {}
    exec_ids = set()
    for frame in frames:
        assert isinstance(frame["id"], str)
        assert isinstance(frame["creationTime"], int)
        for e in frame["data"]:
            if frame["topic"] == "order":
                assert isinstance(e["positionIdx"], int)
                assert isinstance(e["reduceOnly"], bool)
                assert isinstance(e["closeOnTrigger"], bool)
                for name in ("qty", "price", "cumExecQty", "leavesQty", "createdTime"):
                    assert isinstance(e[name], str)
                assert e["avgPrice"] == "" or Decimal(e["cumExecQty"]) > 0
            elif frame["topic"] == "execution":
                assert isinstance(e["seq"], int)
                assert isinstance(e["isMaker"], bool)
                assert e["execId"] not in exec_ids
                exec_ids.add(e["execId"])
                assert e["seq"] >= last_seq.get(e["symbol"], 0)
                last_seq[e["symbol"]] = e["seq"]
                assert isinstance(e["execQty"], str)
            elif frame["topic"] == "position":
                assert isinstance(e["seq"], int)
                assert isinstance(e["positionIdx"], int)
                assert "entryPrice" in e
                assert (e["side"] == "") == (e["size"] == "0")
        if frame["topic"] == "execution":  # the fills of one match share one seq
            assert len({e["seq"] for e in frame["data"]}) == 1
    ws.close()


def test_fast_executions_carry_trades_only(sandbox):
    ws = subscriber(sandbox.ws_url, ["execution.fast"])
    sandbox.step(300)
    truth = sandbox.truth()
    trades = {i for i, e in truth["executions"].items() if e["execType"] == "Trade"}
    got: set[str] = set()
    while got != trades:
        frame = json.loads(collect(ws, 1)[0])
        assert frame["topic"] == "execution.fast"
        assert "id" not in frame
        for e in frame["data"]:
            assert set(e) == {
                "category", "symbol", "orderId", "isMaker", "orderLinkId", "execId",
                "execPrice", "execQty", "side", "execTime", "seq",
            }  # fmt: skip
            got.add(e["execId"])
    assert got == trades


def test_run_for_trades_at_the_given_rate(sandbox):
    steps = sandbox.run_for(0.3, rate_per_s=100)
    assert 20 <= steps <= 40
    assert sandbox.stats()["steps"] == steps


def test_no_snapshot_and_no_replay_of_missed_frames(sandbox):
    sandbox.step(50)  # state exists, nobody listening
    ws = subscriber(sandbox.ws_url)
    # a snapshot would arrive before the pong: nothing does
    assert request(ws, {"op": "ping", "req_id": "p"})["op"] == "pong"
    ws.close()
    sandbox.step(50)  # missed: nobody connected
    ws = subscriber(sandbox.ws_url)
    assert request(ws, {"op": "ping", "req_id": "q"})["op"] == "pong"
    before = sandbox.stats()["frames"]
    sandbox.step(5)
    frames = collect(ws, sandbox.stats()["frames"] - before)
    assert all("topic" in json.loads(f) for f in frames)
    assert request(ws, {"op": "ping"})["op"] == "pong"  # and nothing else was queued
    ws.close()


def test_lifecycle_stop_is_idempotent():
    sandbox = Sandbox(KEY, SECRET)
    with pytest.raises(RuntimeError):
        _ = sandbox.ws_url
    sandbox.start()
    ws = connect(sandbox.ws_url)
    assert sandbox.rest_url.startswith("http://127.0.0.1:")
    sandbox.start_trading(50)
    sandbox.stop()
    sandbox.stop()
    assert read_until_closed(ws)[1] == "lost"
    with pytest.raises(RuntimeError):
        sandbox.start()


# --- the pure exchange ----------------------------------------------------------------------


def _frames(exchange: Exchange) -> list[str]:
    out: list[str] = []

    def sink(push: Push) -> None:
        text = push.render(push.topic)
        assert text is not None
        out.append(text)

    exchange.sink = sink
    return out


def test_exchange_is_deterministic_under_a_fixed_clock():
    def clock() -> int:
        return 1_717_200_000_000

    a, b = Exchange(seed=5, clock=clock), Exchange(seed=5, clock=clock)
    frames_a, frames_b = _frames(a), _frames(b)
    a.step(300)
    b.step(300)
    assert frames_a == frames_b
    assert a.truth() == b.truth()


def test_exchange_covers_the_lifecycles_and_replays_cleanly():
    exchange = Exchange(seed=3, funding_interval_ms=1000)
    frames = _frames(exchange)
    for n in range(2500):
        exchange.step()
        if n % 10 == 0:  # the market moves (and pays funding) between the account's actions
            exchange.tick()
    ledger, anomalies = replay(frames)
    assert anomalies == []
    truth = exchange.truth()
    assert_ledger_matches(ledger, truth)
    orders = truth["orders"].values()
    sequences = {tuple(s) for s in truth["status_sequences"].values()}
    assert ("Untriggered", "Triggered", "New", "Filled") in sequences
    assert ("Untriggered", "Deactivated") in sequences
    assert any(o["status"] == "Cancelled" and o["cumExecQty"] != "0" for o in orders)
    assert any(o["status"] == "Cancelled" and o["cumExecQty"] == "0" for o in orders)
    assert any(o["status"] == "Rejected" for o in orders)
    post_only = [o for o in orders if o["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"]
    assert post_only
    assert {o["status"] for o in post_only} == {"Cancelled"}
    assert {o["timeInForce"] for o in post_only} == {"PostOnly"}
    assert any(o["reduceOnly"] and o["status"] == "Filled" for o in orders)
    assert any(o["positionIdx"] == 2 for o in orders)
    assert any(o["positionIdx"] == 0 for o in orders)
    executions = truth["executions"].values()
    assert any(
        e["execType"] == "Funding" and e["orderId"] not in truth["orders"] for e in executions
    )
    again = [e for f in frames for e in ledger.apply_frame(f, received_at=0)]
    assert not [e for e in again if isinstance(e, Anomaly)]  # a second replay changes nothing
    assert_ledger_matches(ledger, truth)
    flips = 0  # one-way legs that went from long to short or back in one fill
    position_frames = [json.loads(f)["data"][0] for f in frames if '"topic":"position"' in f]
    nets = [
        (p["symbol"], Decimal(p["size"]) * (1 if p["side"] == "Buy" else -1))
        for p in position_frames
        if p["positionIdx"] == 0
    ]
    held: dict[str, Decimal] = {}
    for symbol, net in nets:
        if held.get(symbol, Decimal(0)) * net < 0:
            flips += 1
        held[symbol] = net
    assert flips > 0


def test_unknown_symbol_is_refused():
    with pytest.raises(ValueError, match="unknown symbol"):
        Exchange(symbols=["NOPEUSDT"])


def test_command_line_runs_a_session(capsys):
    assert main(["--seconds", "0.2", "--rate", "50", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "ws://127.0.0.1:" in out
    assert "http://127.0.0.1:" in out
    assert "frames" in out
