"""PrivateStream against a real local WebSocket server that checks logins like Bybit.

The server (websockets, asyncio on its own thread, 127.0.0.1, port 0) verifies the HMAC and
that ``expires`` lies in the future, acks subscriptions (refusing mixed requests as Bybit
does), answers pings, and can push frames, drop or close a connection, go silent, refuse
logins or topics, and ignore a login. Every wait polls with a deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import re
import shutil
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from oms.bybit.signing import Secret
from oms.bybit.stream import (
    NETWORKS,
    Authenticated,
    BackingOff,
    Connecting,
    Disconnected,
    LoginRefusedError,
    PrivateStream,
    Stopped,
    StreamSettings,
    Subscribed,
    SubscribeError,
    subscribe_batches,
)
from oms.errors import AuthError, LocalError, RemoteError


def sign(secret: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()


KEY = "test-api-key"
SECRET = "s3cr3t-value-never-to-be-logged"  # noqa: S105 - a test secret
CATEGORIES = (".spot", ".linear", ".inverse", ".option")


def wait_until(predicate, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


def data_frame(n: int, topic: str = "order") -> str:
    return json.dumps({"topic": topic, "id": f"frame-{n}", "creationTime": 1700000000000 + n,
                       "data": []})  # fmt: skip


@dataclass
class _Peer:
    ws: ServerConnection
    conn_id: str
    authed: bool = False
    silent: bool = False


@dataclass
class FakeBybit:
    """A Bybit-like private stream endpoint on 127.0.0.1."""

    key: str = KEY
    secret: str = SECRET
    refuse_auths: int = 0  # refuse this many logins (even valid ones) first
    answer_auth: bool = True
    refuse_topics: set[str] = field(default_factory=set)
    reject_handshakes: int = 0  # answer this many upgrades with HTTP 502 first
    drop_on_subscribe: int = 0  # cut this many connections when the subscribe arrives
    auth_requests: list[list[Any]] = field(default_factory=list)
    auth_results: list[bool] = field(default_factory=list)
    subscribe_requests: list[list[str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    pings: int = 0
    peers: list[_Peer] = field(default_factory=list)
    ssl_context: ssl.SSLContext | None = None

    def start(self) -> FakeBybit:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-bybit")
        self._thread.start()
        self.port = self._call(self._serve())
        return self

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/v5/private"

    def close(self) -> None:
        async def shutdown():
            self._server.close()
            await self._server.wait_closed()

        self._call(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    async def _serve(self) -> int:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            ping_interval=None,
            ssl=self.ssl_context,
            process_request=self._gate,
        )
        return next(iter(self._server.sockets)).getsockname()[1]

    def _gate(self, ws: ServerConnection, request: Any) -> Any:
        if self.reject_handshakes > 0:
            self.reject_handshakes -= 1
            return ws.respond(HTTPStatus.BAD_GATEWAY, "upstream down\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        peer = _Peer(ws, conn_id=f"conn-{len(self.peers) + 1}")
        self.paths.append(ws.request.path)
        self.peers.append(peer)
        try:
            async for raw in ws:
                if not peer.silent:
                    await self._answer(peer, json.loads(raw))
        except ConnectionClosed:
            pass

    async def _answer(self, peer: _Peer, request: dict[str, Any]) -> None:
        op, req_id = request.get("op"), request.get("req_id", "")
        reply: dict[str, Any] = {"req_id": req_id, "op": op, "conn_id": peer.conn_id}
        if op == "ping":
            self.pings += 1
            reply.update(op="pong", args=[str(int(time.time() * 1000))])
        elif op == "auth":
            self.auth_requests.append(request["args"])
            ok, reason = self._verify(request["args"])
            self.auth_results.append(ok)
            if not self.answer_auth:
                return
            peer.authed = ok
            reply.update(success=ok, ret_msg=reason)
        elif op == "subscribe":
            topics = request["args"]
            self.subscribe_requests.append(topics)
            if self.drop_on_subscribe > 0:
                self.drop_on_subscribe -= 1
                peer.ws.transport.abort()
                return
            reason = self._refusal(peer, topics)
            reply.update(success=not reason, ret_msg=reason)
        else:
            reply.update(success=False, ret_msg=f"error:invalid op {op}")
        await peer.ws.send(json.dumps(reply))

    def _verify(self, args: list[Any]) -> tuple[bool, str]:
        if self.refuse_auths > 0:
            self.refuse_auths -= 1
            return False, "Params Error"
        key, expires, signature = args
        if not isinstance(expires, int) or expires <= time.time() * 1000:
            return False, "Params Error"  # what Bybit says to an expired login
        wanted = hmac.new(self.secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256)
        if key != self.key or signature != wanted.hexdigest():
            return False, "error:verify signature fail"
        return True, ""

    def _refusal(self, peer: _Peer, topics: list[str]) -> str:
        if not peer.authed:
            return f"error:topic:{topics[0]} needs auth first"
        refused = [t for t in topics if t in self.refuse_topics]
        if refused:
            return f"error:handler not found,topic:{refused[0]}"
        plain = {t for t in topics if not t.endswith(CATEGORIES)}
        if any(t.rsplit(".", 1)[0] in plain for t in topics if t.endswith(CATEGORIES)):
            return "error:all-in-one and categorised topics in one request"
        return ""

    # -- controls used by the tests (from the test thread) -------------------------------

    @property
    def latest(self) -> _Peer:
        return self.peers[-1]

    def push(self, text: str) -> None:
        self._call(self.latest.ws.send(text))

    def drop(self) -> None:
        """Cut the TCP connection without a close frame."""
        ws = self.latest.ws
        self._loop.call_soon_threadsafe(ws.transport.abort)

    def close_latest(self, code: int = 1000, reason: str = "max active time") -> None:
        self._call(self.latest.ws.close(code, reason))

    def silence(self) -> None:
        """Keep the TCP connection open but answer nothing, ever again."""
        self.latest.silent = True


@dataclass
class Recorder:
    frames: list[tuple[str, int]] = field(default_factory=list)
    statuses: list[Any] = field(default_factory=list)

    def on_frame(self, text: str, received_at: int) -> None:
        self.frames.append((text, received_at))

    def on_status(self, status: Any) -> None:
        self.statuses.append(status)

    def of(self, kind: type) -> list[Any]:
        return [s for s in list(self.statuses) if isinstance(s, kind)]

    def texts(self) -> list[str]:
        return [text for text, _ in list(self.frames)]

    def data_ids(self) -> list[str]:
        return [json.loads(t)["id"] for t in self.texts() if '"topic"' in t]


FAST = {
    "ping_interval_s": 0.5,
    "dead_after_s": 5.0,
    "ack_timeout_s": 2.0,
    "connect_timeout_s": 2.0,
    "backoff_initial_s": 0.01,
    "backoff_max_s": 0.05,
}


@pytest.fixture
def server():
    fake = FakeBybit().start()
    yield fake
    fake.close()


@pytest.fixture
def make_stream(server):
    before = set(threading.enumerate())
    streams: list[PrivateStream] = []

    def make(recorder: Recorder, rng: random.Random | None = None, **overrides: Any):
        fields = {"url": server.url, "api_key": KEY, "api_secret": SECRET, **FAST, **overrides}
        settings = StreamSettings(**fields)
        stream = PrivateStream(settings, recorder.on_frame, recorder.on_status, rng=rng)
        streams.append(stream)
        return stream

    yield make
    for stream in streams:
        assert stream.stop(timeout=5), "the stream thread did not end"
    assert set(threading.enumerate()) <= before, "a thread was left behind"


def start_subscribed(make_stream, recorder: Recorder, **overrides: Any) -> PrivateStream:
    stream = make_stream(recorder, **overrides)
    stream.start()
    wait_until(lambda: recorder.of(Subscribed), what="Subscribed")
    return stream


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("mainnet", "wss://stream.bybit.com/v5/private"),
        ("testnet", "wss://stream-testnet.bybit.com/v5/private"),
        ("demo", "wss://stream-demo.bybit.com/v5/private"),
        ("bybit.tr", "wss://stream.bybit.tr/v5/private"),
        ("bybit.id", "wss://stream.bybit.id/v5/private"),
        ("bybit.kz", "wss://stream.bybit.kz/v5/private"),
        ("bybitgeorgia.ge", "wss://stream.bybitgeorgia.ge/v5/private"),
        ("manepa.jp", "wss://stream.manepa.jp/v5/private"),
        ("ws://127.0.0.1:9/x", "ws://127.0.0.1:9/x"),
    ],
)
def test_settings_resolve_network_names(name, url):
    settings = StreamSettings(name, KEY, SECRET)
    assert settings.url == url
    assert settings.endpoint == url
    assert settings.topics == ("order", "execution", "position")
    assert len(NETWORKS) == 8


def test_settings_append_max_active_time_and_check_it():
    settings = StreamSettings("testnet", KEY, SECRET, max_active_time="1m")
    assert settings.endpoint == "wss://stream-testnet.bybit.com/v5/private?max_active_time=1m"
    assert StreamSettings("ws://h/p?x=1", KEY, SECRET, max_active_time="600s").endpoint == (
        "ws://h/p?x=1&max_active_time=600s"
    )
    for bad in ("29s", "11m", "60", "1h", ""):
        with pytest.raises(LocalError, match="max_active_time"):
            StreamSettings("testnet", KEY, SECRET, max_active_time=bad)


@pytest.mark.parametrize(
    "overrides",
    [
        {"url": "https://stream.bybit.com/v5/private"},
        {"url": "moon"},
        {"url": "ws:///v5/private"},
        {"api_key": ""},
        {"api_secret": ""},
        {"topics": ()},
        {"topics": ("order", "")},
        {"dead_after_s": 20.0},  # not longer than the ping interval
        {"pong_timeout_s": 0},
        {"ping_interval_s": 0},
        {"backoff_initial_s": 5.0, "backoff_max_s": 1.0},
        {"max_connections_per_5min": 0},
        {"max_connections_per_5min": 500},  # the exchange's own limit: far too close
        {"max_auth_failures": 0},
    ],
)
def test_settings_refuse_nonsense(overrides):
    args = {"url": "testnet", "api_key": KEY, "api_secret": SECRET, **overrides}
    with pytest.raises(LocalError):
        StreamSettings(**args)


def test_the_secret_is_masked_and_still_usable():
    settings = StreamSettings("testnet", KEY, SECRET)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in repr(settings.api_secret)
    assert SECRET not in str(settings.api_secret)
    assert settings.secret.reveal() == SECRET

    class Vault:
        def reveal(self) -> str:
            return SECRET

    vaulted = StreamSettings("testnet", KEY, Vault())
    assert vaulted.secret.reveal() == SECRET
    assert repr(Secret("abc")) == "Secret('***')"
    assert isinstance(settings.api_secret, Secret)


def test_all_in_one_and_categorised_topics_go_in_separate_requests():
    assert subscribe_batches(("order", "execution", "position")) == [
        ("order", "execution", "position")
    ]
    assert subscribe_batches(("order.linear", "execution.fast.linear")) == [
        ("order.linear", "execution.fast.linear")
    ]
    assert subscribe_batches(("order", "order.linear", "wallet", "position.inverse")) == [
        ("order", "wallet"),
        ("order.linear", "position.inverse"),
    ]
    settings = StreamSettings("testnet", KEY, SECRET, topics=("order", "wallet", "order"))
    assert settings.topics == ("order", "wallet")


# -- the happy path --------------------------------------------------------------------------


def test_logs_in_subscribes_and_delivers_every_frame_in_order(server, make_stream):
    recorder = Recorder()
    stream = start_subscribed(make_stream, recorder, max_active_time="45s")
    assert server.paths == ["/v5/private?max_active_time=45s"]
    key, expires, signature = server.auth_requests[0]
    assert signature == sign(SECRET, expires)
    assert key == KEY
    assert isinstance(expires, int)
    assert expires > time.time() * 1000 + 5_000  # the 10 s expiry window, not pybit's 1 s
    assert server.auth_results == [True]
    assert server.subscribe_requests == [["order", "execution", "position"]]
    assert recorder.of(Authenticated) == [Authenticated("conn-1")]
    assert recorder.of(Subscribed) == [Subscribed("conn-1", ("order", "execution", "position"))]
    assert stream.connected
    assert stream.subscribed

    for n in range(50):
        server.push(data_frame(n))
    server.push("this is not json")
    server.push(data_frame(50))
    wait_until(lambda: len(recorder.data_ids()) == 51, what="51 data frames")
    assert recorder.data_ids() == [f"frame-{n}" for n in range(51)]
    texts = recorder.texts()
    # control frames are delivered too, in arrival order: login ack, subscribe ack, ...
    assert json.loads(texts[0])["op"] == "auth"
    assert json.loads(texts[1])["op"] == "subscribe"
    assert "this is not json" in texts
    times = [at for _, at in recorder.frames]
    assert times == sorted(times)
    assert abs(times[-1] - time.time() * 1000) < 60_000
    stats = stream.stats
    assert stats.connections == 1
    assert stats.reconnects == 0
    assert stats.frames == len(recorder.frames)
    assert stats.last_frame_at == times[-1]
    assert stats.auth_failures == 0

    assert stream.stop()
    assert stream.wait(0)
    assert stream.error is None
    assert recorder.statuses[0] == Connecting(1)
    assert recorder.statuses[-1] == Stopped(None)
    assert not stream.connected


def test_pings_keep_a_quiet_connection_alive(server, make_stream):
    recorder = Recorder()
    stream = start_subscribed(
        make_stream, recorder, ping_interval_s=0.1, pong_timeout_s=0.3, dead_after_s=0.6
    )
    # ten pongs span well over both limits; the pongs alone keep the connection alive
    wait_until(lambda: server.pings >= 10, what="ten pings")
    pongs = [t for t in recorder.texts() if json.loads(t).get("op") == "pong"]
    assert len(pongs) >= 9
    assert stream.stats.connections == 1
    assert recorder.of(Disconnected) == []


def test_mixed_topics_are_subscribed_in_two_requests(server, make_stream):
    recorder = Recorder()
    topics = ("order", "execution.linear", "wallet")
    start_subscribed(make_stream, recorder, topics=topics)
    assert server.subscribe_requests == [["order", "wallet"], ["execution.linear"]]
    assert recorder.of(Subscribed) == [Subscribed("conn-1", topics)]


# -- reconnects ------------------------------------------------------------------------------


def test_reconnects_relogs_in_and_resubscribes_after_every_drop(server, make_stream):
    recorder = Recorder()
    stream = start_subscribed(make_stream, recorder)
    pushed = 0
    for round_ in range(1, 5):
        for _ in range(5):
            server.push(data_frame(pushed))
            pushed += 1
        wait_until(lambda n=pushed: len(recorder.data_ids()) == n, what="frames of this round")
        if round_ % 2:
            server.drop()  # TCP cut without a close frame
        else:
            server.close_latest()  # a clean close frame, as max_active_time does
        wait_until(lambda r=round_: len(recorder.of(Subscribed)) == r + 1, what="resubscribed")
    for _ in range(5):
        server.push(data_frame(pushed))
        pushed += 1
    wait_until(lambda: len(recorder.data_ids()) == pushed, what="frames after the last drop")

    assert recorder.data_ids() == [f"frame-{n}" for n in range(pushed)]
    assert len(server.auth_requests) == 5
    assert server.auth_results == [True] * 5
    assert server.subscribe_requests == [["order", "execution", "position"]] * 5
    assert [s.conn_id for s in recorder.of(Subscribed)] == [f"conn-{n}" for n in range(1, 6)]
    reasons = [d.reason for d in recorder.of(Disconnected)]
    assert len(reasons) == 4
    assert "closed by the server (code 1000: max active time)" in reasons
    assert any(r.startswith("connection lost") for r in reasons)
    assert len(recorder.of(BackingOff)) == 4
    assert all(0 <= b.seconds <= 0.05 for b in recorder.of(BackingOff))  # capped, jittered
    assert stream.stats.connections == 5
    assert stream.stats.reconnects == 4
    # every new connection signs afresh: a replayed login would have an old expiry
    assert len({args[1] for args in server.auth_requests}) == 5


def test_the_overall_silence_limit_declares_a_silent_connection_dead(server, make_stream):
    """``dead_after_s`` alone (the pong timeout set far off): silence since the last frame.
    The pong timeout itself is in test_stream_liveness.py."""
    recorder = Recorder()
    stream = start_subscribed(
        make_stream, recorder, ping_interval_s=0.2, pong_timeout_s=60.0, dead_after_s=0.8
    )
    server.push(data_frame(0))
    server.silence()  # TCP stays open; nothing comes back, not even pongs
    wait_until(lambda: len(recorder.of(Subscribed)) == 2, timeout=10, what="a new connection")
    (dead,) = recorder.of(Disconnected)
    match = re.fullmatch(r"nothing received for ([\d.]+) s: presumed dead", dead.reason)
    assert match is not None, dead.reason
    assert float(match.group(1)) >= 0.8  # the stream's own measure of the silence
    server.push(data_frame(1))
    wait_until(lambda: recorder.data_ids() == ["frame-0", "frame-1"], what="frame after reconnect")
    assert stream.stats.connections == 2


def test_an_unanswered_login_times_out_and_is_retried(server, make_stream):
    recorder = Recorder()
    server.answer_auth = False
    stream = make_stream(recorder, ack_timeout_s=0.3)
    stream.start()
    wait_until(lambda: len(server.auth_requests) >= 2, what="a second login")
    server.answer_auth = True
    wait_until(lambda: recorder.of(Subscribed), what="Subscribed")
    assert "no login ack within 0.3 s" in recorder.of(Disconnected)[0].reason
    assert stream.stats.auth_failures == 0  # a timeout is not a refusal


def test_a_failed_handshake_and_a_drop_during_subscribe_are_retried(server, make_stream):
    recorder = Recorder()
    server.reject_handshakes = 2  # pybit#56: "502 handshake"
    server.drop_on_subscribe = 1  # pybit#62: an error while resubscribing
    stream = start_subscribed(make_stream, recorder)
    reasons = [d.reason for d in recorder.of(Disconnected)]
    assert len(reasons) == 3
    assert all("502" in r for r in reasons[:2])
    assert reasons[2].startswith("connection lost")
    assert server.subscribe_requests == [["order", "execution", "position"]] * 2
    assert stream.stats.connections == 2


def test_an_unreachable_server_is_retried_with_backoff_until_stopped(make_stream):
    recorder = Recorder()
    with socket_bound_but_closed() as port:
        stream = make_stream(recorder, url=f"ws://127.0.0.1:{port}/v5/private")
        stream.start()
        wait_until(lambda: len(recorder.of(BackingOff)) >= 3, what="three backoffs")
    assert recorder.of(Disconnected)[0].reason.startswith("connect failed: ConnectionRefused")
    assert [c.attempt for c in recorder.of(Connecting)][:3] == [1, 2, 3]
    assert stream.stats.connections == 0
    assert stream.stop()
    assert stream.error is None


class socket_bound_but_closed:  # noqa: N801 - used as a context manager
    """A local port with nothing listening on it."""

    def __enter__(self) -> int:
        import socket  # noqa: PLC0415

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return self._sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


def test_the_connection_budget_is_never_exceeded(server, make_stream):
    recorder = Recorder()
    stream = start_subscribed(make_stream, recorder, max_connections_per_5min=2)
    server.drop()
    wait_until(lambda: len(recorder.of(Subscribed)) == 2, what="the second connection")
    server.drop()
    wait_until(lambda: any("budget" in b.reason for b in recorder.of(BackingOff)), what="budget")
    budget_wait = next(b for b in recorder.of(BackingOff) if "budget" in b.reason)
    assert 290 < budget_wait.seconds <= 300
    assert len(server.peers) == 2
    started = time.monotonic()
    assert stream.stop(timeout=5)  # wakes the five-minute wait at once
    assert time.monotonic() - started < 2
    assert recorder.statuses[-1] == Stopped(None)


# -- logins and topics refused ---------------------------------------------------------------


def test_refused_logins_back_off_and_then_succeed(server, make_stream):
    recorder = Recorder()
    server.refuse_auths = 2
    stream = start_subscribed(make_stream, recorder, max_auth_failures=3)
    assert server.auth_results == [False, False, True]
    reasons = [d.reason for d in recorder.of(Disconnected)]
    assert reasons == ["login refused: 'Params Error'"] * 2
    assert len(recorder.of(BackingOff)) == 2
    assert stream.stats.auth_failures == 2
    assert stream.error is None
    assert server.subscribe_requests == [["order", "execution", "position"]]  # only after login


def test_too_many_refused_logins_stop_the_stream_with_auth_error(server, make_stream, caplog):
    caplog.set_level(logging.DEBUG)
    recorder = Recorder()
    server.refuse_auths = 1  # then real checks: the secret below is wrong
    stream = make_stream(recorder, api_secret=Secret("wrong-" + SECRET), max_auth_failures=3)
    stream.start()
    assert stream.wait(timeout=10)
    error = stream.error
    assert isinstance(error, LoginRefusedError)
    assert isinstance(error, AuthError)  # the one oms.errors.AuthError, as the REST client's
    assert isinstance(error, RemoteError)
    assert error.ret_msg == "error:verify signature fail"
    assert error.failures == 3
    assert "refused 3 time(s) in a row" in str(error)
    assert recorder.statuses[-1] == Stopped(error)
    assert len(server.auth_requests) == 3
    assert server.subscribe_requests == []
    assert not stream.connected
    # the secret and the signatures it made appear nowhere
    signatures = [args[2] for args in server.auth_requests]
    for text in (caplog.text, repr(stream._settings), str(error), repr(error)):
        assert "wrong-" + SECRET not in text
        assert all(sig not in text for sig in signatures)
    assert "authentication refused" in caplog.text


def test_a_refused_topic_stops_the_stream_naming_it(server, make_stream):
    recorder = Recorder()
    server.refuse_topics = {"bogus.topic"}
    stream = make_stream(recorder, topics=("order", "bogus.topic"))
    stream.start()
    assert stream.wait(timeout=10)
    error = stream.error
    assert isinstance(error, SubscribeError)
    assert "bogus.topic" in str(error)
    assert "handler not found" in error.ret_msg
    assert recorder.of(Subscribed) == []
    assert recorder.statuses[-1] == Stopped(error)
    assert len(server.peers) == 1  # no pointless resubscribing


# -- callbacks and stopping ------------------------------------------------------------------


def test_callbacks_that_raise_never_stop_delivery(server, make_stream, caplog):
    delivered: list[str] = []

    def on_frame(text: str, received_at: int) -> None:
        delivered.append(text)
        if len(delivered) % 2:
            raise ValueError("journal full")

    def on_status(status: Any) -> None:
        raise RuntimeError("status listener broke")

    settings = StreamSettings(server.url, KEY, SECRET, **FAST)
    stream = PrivateStream(settings, on_frame, on_status)
    stream.start()
    try:
        wait_until(lambda: stream.subscribed, what="subscribed")
        for n in range(10):
            server.push(data_frame(n))
        server.drop()
        wait_until(lambda: stream.stats.connections == 2 and stream.subscribed, what="reconnect")
        server.push(data_frame(10))
        ids = lambda: [json.loads(t)["id"] for t in delivered if '"topic"' in t]  # noqa: E731
        wait_until(lambda: len(ids()) == 11, what="all frames")
        assert ids() == [f"frame-{n}" for n in range(11)]
    finally:
        assert stream.stop()
    assert "on_frame raised" in caplog.text
    assert "journal full" in caplog.text
    assert "on_status raised" in caplog.text
    assert stream.error is None


def test_a_slow_callback_is_not_mistaken_for_a_dead_connection(server, make_stream):
    recorder = Recorder()
    slow = threading.Event()

    def on_frame(text: str, received_at: int) -> None:
        recorder.on_frame(text, received_at)
        if "frame-0" in text:
            slow.set()
            time.sleep(1.0)  # longer than both limits; the pongs queue up meanwhile

    settings = StreamSettings(server.url, KEY, SECRET, **{**FAST, "ping_interval_s": 0.1,
                              "pong_timeout_s": 0.3, "dead_after_s": 0.5})  # fmt: skip
    stream = PrivateStream(settings, on_frame, recorder.on_status)
    stream.start()
    try:
        wait_until(lambda: stream.subscribed, what="subscribed")
        server.push(data_frame(0))
        wait_until(slow.is_set, what="the slow callback")
        server.push(data_frame(1))
        wait_until(lambda: recorder.data_ids() == ["frame-0", "frame-1"], what="both frames")
        pings = server.pings
        wait_until(lambda: server.pings >= pings + 3, what="pings after the slow callback")
        assert recorder.of(Disconnected) == []
        assert stream.stats.connections == 1
    finally:
        assert stream.stop()


def test_an_unexpected_error_reconnects_instead_of_killing_the_stream(
    server, make_stream, monkeypatch, caplog
):
    import oms.bybit.stream as module  # noqa: PLC0415

    real_decode = module.decode
    calls = []

    def flaky_decode(text):
        calls.append(text)
        if len(calls) == 1:
            raise RuntimeError("a bug in the decoder")
        return real_decode(text)

    monkeypatch.setattr(module, "decode", flaky_decode)
    recorder = Recorder()
    stream = start_subscribed(make_stream, recorder)
    assert (
        recorder.of(Disconnected)[0].reason
        == "unexpected error: RuntimeError: a bug in the decoder"
    )
    assert stream.stats.connections == 2
    assert stream.error is None
    assert "a bug in the decoder" in caplog.text


def test_stop_from_a_callback_ends_the_stream(server, make_stream):
    recorder = Recorder()
    holder: list[PrivateStream] = []

    def on_status(status: Any) -> None:
        recorder.on_status(status)
        if isinstance(status, Subscribed):
            assert holder[0].stop() is False  # cannot join itself; asks the loop to end

    settings = StreamSettings(server.url, KEY, SECRET, **FAST)
    stream = PrivateStream(settings, recorder.on_frame, on_status)
    holder.append(stream)
    stream.start()
    assert stream.wait(timeout=5)
    assert recorder.statuses[-1] == Stopped(None)


def test_stop_during_a_long_backoff_returns_promptly(server, make_stream):
    recorder = Recorder()
    server.refuse_auths = 1
    # uniform(0, 60) drawn with seed 0 is about 50 s
    stream = make_stream(recorder, random.Random(0), backoff_initial_s=60.0, backoff_max_s=60.0)
    stream.start()
    wait_until(lambda: recorder.of(BackingOff), what="BackingOff")
    assert recorder.of(BackingOff)[0].seconds > 5
    started = time.monotonic()
    assert stream.stop(timeout=5)
    assert time.monotonic() - started < 1
    assert recorder.statuses[-1] == Stopped(None)


def test_stop_while_reading_returns_promptly_and_leaves_no_thread(server, make_stream):
    recorder = Recorder()
    stream = start_subscribed(make_stream, recorder, ping_interval_s=10, dead_after_s=30)
    assert any(t.name == "oms-stream" for t in threading.enumerate())
    started = time.monotonic()
    assert stream.stop(timeout=5)
    assert time.monotonic() - started < 1
    assert not any(t.name == "oms-stream" for t in threading.enumerate())
    assert recorder.of(Disconnected)[-1].reason == "stopped"
    with pytest.raises(LocalError):
        stream.start()


def test_stop_before_start_and_wait_before_start(server, make_stream):
    stream = make_stream(Recorder())
    with pytest.raises(LocalError):
        stream.wait(0)
    assert stream.stop()
    with pytest.raises(LocalError):
        stream.start()


def test_secret_and_signature_never_reach_the_log(server, make_stream, caplog):
    caplog.set_level(logging.DEBUG)
    recorder = Recorder()
    server.refuse_auths = 1
    stream = start_subscribed(make_stream, recorder)
    server.drop()
    wait_until(lambda: len(recorder.of(Subscribed)) == 2, what="second connection")
    assert stream.stop()
    signatures = [args[2] for args in server.auth_requests]
    assert len(signatures) == 3
    for expires, signature in ((a[1], a[2]) for a in server.auth_requests):
        assert signature == sign(SECRET, expires)
    everything = caplog.text + repr(recorder.statuses) + repr(stream._settings)
    assert SECRET not in everything
    assert not any(sig in everything for sig in signatures)
    for line in ("connecting to ws://127.0.0.1", "authenticated (conn_id conn-",
                 "subscribed to order, execution, position", "disconnected: ",
                 "reconnecting in "):  # fmt: skip
        assert line in caplog.text


def test_a_connection_lost_is_a_warning_and_a_stop_is_not(server, make_stream, caplog):
    caplog.set_level(logging.INFO, logger="oms.stream")
    recorder = Recorder()
    stream = start_subscribed(make_stream, recorder)
    server.drop()  # a gap: shown by default (the CLI logs WARNING and above)
    wait_until(lambda: len(recorder.of(Subscribed)) == 2, what="second connection")
    assert stream.stop()  # asked for: routine
    disconnects = [r for r in caplog.records if r.getMessage().startswith("disconnected: ")]
    assert [r.levelname for r in disconnects] == ["WARNING", "INFO"]


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed for the TLS tests (Debian package openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_wss_verifies_certificates_by_default(tls_files):
    cert, key = tls_files
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    fake = FakeBybit(ssl_context=server_ctx).start()
    before = set(threading.enumerate())
    try:
        untrusting = Recorder()
        settings = StreamSettings(fake.url, KEY, SECRET, **FAST)
        stream = PrivateStream(settings, untrusting.on_frame, untrusting.on_status)
        stream.start()
        wait_until(lambda: untrusting.of(Disconnected), what="a refused handshake")
        assert stream.stop()
        assert "CERTIFICATE_VERIFY_FAILED" in untrusting.of(Disconnected)[0].reason
        assert untrusting.of(Authenticated) == []

        trusting = Recorder()
        client_ctx = ssl.create_default_context(cafile=str(cert))
        settings = StreamSettings(fake.url, KEY, SECRET, ssl_context=client_ctx, **FAST)
        stream = PrivateStream(settings, trusting.on_frame, trusting.on_status)
        stream.start()
        wait_until(lambda: trusting.of(Subscribed), what="Subscribed over TLS")
        fake.push(data_frame(7))
        wait_until(lambda: trusting.data_ids() == ["frame-7"], what="a frame over TLS")
        assert stream.stop()
    finally:
        fake.close()
    assert set(threading.enumerate()) <= before
