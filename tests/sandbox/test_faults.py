"""Each injected fault does what it says, and none of them changes the truth."""

from __future__ import annotations

import json

import websocket

from oms import MalformedFrame
from tests.sandbox.client import (
    assert_ledger_matches,
    auth,
    collect,
    connect,
    now_ms,
    read_until_closed,
    replay,
    request,
    rest_get,
    subscriber,
    wait_for,
)

POSITIONS = "/v5/position/list"


def _quiet_for(ws: websocket.WebSocket, seconds: float) -> bool:
    """True when nothing (data, pong or close) arrives for ``seconds`` (a bounded wait)."""
    ws.settimeout(seconds)
    try:
        ws.recv_data_frame(control_frame=True)
    except websocket.WebSocketTimeoutException:
        return True
    finally:
        ws.settimeout(10)
    return False


def test_drop_once_after_n_frames(sandbox, faults):
    faults.drop_after_frames = 5
    ws = subscriber(sandbox.ws_url)
    sandbox.step(40)
    frames, how = read_until_closed(ws)
    assert (len(frames), how) == (5, "lost")
    assert faults.drop_after_frames == 0  # disarmed
    ws = subscriber(sandbox.ws_url)  # reconnect: nothing is replayed, nothing dropped
    before = sandbox.stats()["frames"]
    sandbox.step(40)
    assert len(collect(ws, sandbox.stats()["frames"] - before)) > 5
    assert request(ws, {"op": "ping"})["op"] == "pong"


def test_drop_armed_on_a_live_connection_counts_from_then(sandbox, faults):
    ws = subscriber(sandbox.ws_url)
    before = sandbox.stats()["frames"]
    sandbox.step(30)
    collect(ws, sandbox.stats()["frames"] - before)
    faults.drop_after_frames = 4
    sandbox.step(30)
    frames, how = read_until_closed(ws)
    assert (len(frames), how) == (4, "lost")


def test_drop_every_n_frames(sandbox, faults):
    faults.drop_after_frames = 3
    faults.drop_every = True
    for _ in range(2):
        ws = subscriber(sandbox.ws_url)
        sandbox.step(20)
        frames, how = read_until_closed(ws)
        assert (len(frames), how) == (3, "lost")


def test_silent_until_resumed(sandbox, faults):
    ws = subscriber(sandbox.ws_url)
    faults.silence()
    wait_for(lambda: all(c.paused for c in list(sandbox._clients)), what="reading paused")
    ws.send(json.dumps({"op": "ping", "req_id": "during"}))
    ws.ping("protocol")
    sandbox.step(20)  # frames pushed while silent are lost
    assert _quiet_for(ws, 0.3)
    assert ws.connected
    assert sandbox.stats()["connections"] == 1  # TCP still open
    faults.resume()
    # the held-up pings are answered now; the frames pushed meanwhile never come
    seen = []
    while not any('"req_id":"during"' in m for m in seen):
        opcode, frame = ws.recv_data_frame(control_frame=True)
        seen.append(frame.data.decode() if opcode == websocket.ABNF.OPCODE_TEXT else "")
    assert all('"topic"' not in m for m in seen)
    assert request(ws, {"op": "ping", "req_id": "after"})["req_id"] == "after"


def test_silence_for_a_period_ends_by_itself(sandbox, faults):
    ws = subscriber(sandbox.ws_url)
    faults.silence(0.2)
    assert faults.is_silent()
    wait_for(lambda: not faults.is_silent(), timeout=5, what="the silence to end")
    wait_for(lambda: not any(c.paused for c in list(sandbox._clients)), what="reading resumed")
    assert request(ws, {"op": "ping", "req_id": "x"})["op"] == "pong"


def test_refuse_first_auth_attempts(sandbox, faults):
    faults.refuse_auth = 2
    ws = connect(sandbox.ws_url)
    for _ in range(2):
        ack = auth(ws)
        assert (ack["success"], ack["ret_msg"]) == (False, "Request not authorized")
    assert auth(ws)["success"] is True
    assert faults.refuse_auth == 0


def test_malformed_copies_leave_the_truth_intact(sandbox, faults):
    faults.malformed_every = 4
    ws = subscriber(sandbox.ws_url)
    sandbox.step(150)
    real = sandbox.stats()["frames"]
    messages = collect(ws, real + real // 4)
    ledger, anomalies = replay(messages)
    assert ledger.stats["malformed"] == real // 4
    assert anomalies
    assert all(isinstance(a, MalformedFrame) for a in anomalies)
    assert_ledger_matches(ledger, sandbox.truth())
    assert request(ws, {"op": "ping"})["op"] == "pong"  # nothing else in flight


def test_rest_rate_limit(sandbox, faults):
    faults.rest_rate_limit = 2
    query = "category=linear&symbol=BTCUSDT"
    for _ in range(2):
        body = rest_get(sandbox.rest_url, POSITIONS, query)
        assert (body["retCode"], body["retMsg"]) == (10006, "Too many visits!")
    assert rest_get(sandbox.rest_url, POSITIONS, query)["retCode"] == 0


def test_rest_clock_skew(sandbox, faults):
    faults.rest_clock_skew_ms = 60_000
    server = rest_get(sandbox.rest_url, "/v5/market/time", signed=False)["time"]
    assert server - now_ms() > 55_000
    query = "category=linear&symbol=BTCUSDT"
    assert rest_get(sandbox.rest_url, POSITIONS, query)["retCode"] == 10002
    server = rest_get(sandbox.rest_url, "/v5/market/time", signed=False)["time"]
    assert rest_get(sandbox.rest_url, POSITIONS, query, timestamp=server)["retCode"] == 0
    faults.rest_clock_skew_ms = -60_000
    assert rest_get(sandbox.rest_url, POSITIONS, query)["retCode"] == 10002
