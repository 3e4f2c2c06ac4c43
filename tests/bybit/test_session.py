"""The stream's session without a socket (``oms.bybit.session``): what a connection sends
on connect, on the login ack and on its ping schedule, how it judges acks, and when it
presumes the connection dead, driven by plain numbers for clock readings and decoded
control frames; nothing here opens a socket or starts a thread."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys

import pytest

from oms.bybit.decode import decode
from oms.bybit.frames import ControlFrame
from oms.bybit.session import Ack, Session, StreamSettings
from oms.errors import SubscribeError

KEY = "test-api-key"
SECRET = "s3cr3t-value-never-to-be-logged"  # noqa: S105 - a test secret
START = 1000.0


def settings(**kwargs) -> StreamSettings:
    return StreamSettings("ws://127.0.0.1:1/v5/private", KEY, SECRET, **kwargs)


def control(**message) -> ControlFrame:
    frame = decode(json.dumps(message))
    assert isinstance(frame, ControlFrame)
    return frame


def subscribed(session: Session, conn_id: str = "conn-1") -> None:
    """Through the login and every subscribe ack, at ``START``."""
    for request in session.logged_in(conn_id):
        done = session.subscribe_acked(
            control(op="subscribe", success=True, req_id=request["req_id"])
        )
    assert done
    session.all_subscribed(START)


def test_importing_the_session_loads_no_socket_thread_or_websocket_library():
    code = (
        "import sys, oms.bybit.session; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'socket', 'ssl', 'threading', 'websocket', 'websockets', 'pydantic'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_on_connect_it_sends_a_signed_login_and_awaits_its_ack():
    session = Session.opened(settings(auth_expiry_ms=5000), 3, START)
    request = session.login_request(now_ms=1_700_000_000_000)
    expires = 1_700_000_005_000
    signature = hmac.new(
        SECRET.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256
    ).hexdigest()
    assert request == {"req_id": "auth-3", "op": "auth", "args": [KEY, expires, signature]}
    session.await_ack(START)
    assert session.dead_reason(START + 10 - 0.001) is None
    assert session.dead_reason(START + 10) == "no login ack within 10 s"
    assert session.next_duty_in(START) == 10.0  # the ack is due before the first ping


def test_the_login_ack_yields_one_subscribe_request_per_kind_of_topic():
    session = Session.opened(settings(topics=("order", "execution.linear", "position")), 1, START)
    login_ack = control(op="auth", success=True, conn_id="conn-7")
    assert session.ack_of(login_ack) is Ack.LOGIN
    requests = session.logged_in("conn-7")
    assert requests == [
        {"req_id": "sub-1-0", "op": "subscribe", "args": ["order", "position"]},
        {"req_id": "sub-1-1", "op": "subscribe", "args": ["execution.linear"]},
    ]
    assert (session.authenticated, session.conn_id) == (True, "conn-7")
    assert session.ack_of(login_ack) is Ack.OTHER  # a second login ack is no login
    session.await_ack(START)
    assert session.dead_reason(START + 10) == "no subscribe ack within 10 s"


def test_subscribe_acks_complete_the_subscription_in_any_order():
    session = Session.opened(settings(topics=("order", "execution.linear")), 1, START)
    session.logged_in("conn-1")
    second = control(op="subscribe", success=True, req_id="sub-1-1")
    assert session.ack_of(second) is Ack.SUBSCRIBE
    assert session.subscribe_acked(second) is False
    first = control(op="subscribe", success=True)  # no req_id: the oldest pending one
    assert session.subscribe_acked(first) is True
    assert session.ack_of(first) is Ack.OTHER  # nothing pending any more
    session.await_ack(START)
    session.all_subscribed(START + 1)
    assert session.ack_deadline is None
    assert session.dead_reason(START + 100) is None  # (no ping sent: no pong awaited)
    assert not session.stable(START + 30)
    assert session.stable(START + 31)


@pytest.mark.parametrize(
    ("ack", "named"),
    [
        ({"success": False, "ret_msg": "no such topic"}, ("order",)),
        ({"success": True, "data": {"failTopics": ["order"]}}, ("order",)),
    ],
)
def test_a_refused_topic_is_a_subscribe_error(ack, named):
    session = Session.opened(settings(topics=("order",)), 1, START)
    session.logged_in("conn-1")
    frame = control(op="subscribe", req_id="sub-1-0", **ack)
    with pytest.raises(SubscribeError) as raised:
        session.subscribe_acked(frame)
    assert raised.value.topics == named


def test_pings_follow_the_schedule_and_the_first_unanswered_one_times_the_pong():
    session = Session.opened(settings(ping_interval_s=20, pong_timeout_s=10), 2, START)
    subscribed(session)
    assert session.next_duty_in(START) == 20.0
    assert session.ping_request(START + 20 - 0.001) is None
    assert session.ping_request(START + 20) == {"req_id": "ping-2-1", "op": "ping"}
    assert session.next_duty_in(START + 20) == 10.0  # the pong deadline comes first
    session.received(START + 21)  # the pong: any frame proves the connection alive
    assert session.ping_request(START + 40) == {"req_id": "ping-2-2", "op": "ping"}
    assert session.dead_reason(START + 50 - 0.001) is None
    assert session.dead_reason(START + 50) == (
        "nothing received within 10 s of ping-2-2 (silent for 29.0 s): presumed dead"
    )


def test_a_later_ping_keeps_the_clock_of_the_first_unanswered_one():
    session = Session.opened(settings(ping_interval_s=1, pong_timeout_s=5), 1, START)
    subscribed(session)
    assert session.ping_request(START + 1) is not None
    assert session.ping_request(START + 2) == {"req_id": "ping-1-2", "op": "ping"}
    assert (session.unanswered_ping, session.unanswered_since) == ("ping-1-1", START + 1)
    assert session.dead_reason(START + 6) is not None
    session.received(START + 5)
    assert session.dead_reason(START + 6) is None


def test_dead_after_limits_silence_since_the_last_receipt():
    session = Session.opened(settings(ping_interval_s=20, dead_after_s=25), 1, START)
    subscribed(session)
    session.received(START + 10)
    assert session.next_duty_in(START + 10) == 10.0  # the ping, before the silence limit
    assert session.dead_reason(START + 35 - 0.001) is None
    assert session.dead_reason(START + 35) == "nothing received for 25.0 s: presumed dead"
