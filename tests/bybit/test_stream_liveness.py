"""Liveness and echoed signatures, against a real WebSocket venue on 127.0.0.1.

* A connection that answers nothing after a ping (no pong, no data; TCP stays open) is
  declared dead ``pong_timeout_s`` after that ping and replaced: with the defaults (ping
  every 20 s, pong timeout 10 s) a silent socket is found 30 s after its last frame. A
  stepped monotonic clock drives the stream's timers, so the test shows the exact moment
  (not before, then at once) by counters and the order of events, never by wall time.
* A venue that echoes the login arguments (the signature) in its replies and its close
  reason: the signature reaches no log line (DEBUG, text and JSON), no status, no reason,
  not the ``LoginRefusedError``; only ``on_frame`` sees the raw frames (the journal scrubs).
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from websockets.exceptions import ConnectionClosed

from oms.bybit.stream import (
    BackingOff,
    Connecting,
    Disconnected,
    LoginRefusedError,
    PrivateStream,
    Stopped,
    StreamSettings,
    Subscribed,
)
from oms.errors import LocalError
from oms.redact import SIGNATURE_MASK
from oms.runtime import logs
from tests.bybit.test_stream import KEY, SECRET, FakeBybit, Recorder, _Peer, wait_until

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

QUICK = {
    "connect_timeout_s": 2.0,
    "ack_timeout_s": 2.0,
    "backoff_initial_s": 0.01,
    "backoff_max_s": 0.05,
}


@dataclass(frozen=True)
class Received:
    """What one connection of the venue got, in arrival order across connections."""

    conn_id: str
    op: str
    req_id: str = ""
    answered: bool = True


@dataclass
class ListeningBybit(FakeBybit):
    """``FakeBybit`` that also records every request it receives (answered or, once
    silenced, not) and every new connection; with ``echo_args`` every login reply,
    accepted or refused, quotes the login's arguments back, signature included."""

    received: list[Received] = field(default_factory=list)
    echo_args: bool = False

    async def _handle(self, ws: ServerConnection) -> None:
        peer = _Peer(ws, conn_id=f"conn-{len(self.peers) + 1}")
        self.paths.append(ws.request.path)
        self.peers.append(peer)
        self.received.append(Received(peer.conn_id, "connect"))
        try:
            async for raw in ws:
                request = json.loads(raw)
                op, req_id = request.get("op", ""), request.get("req_id", "")
                self.received.append(Received(peer.conn_id, op, req_id, not peer.silent))
                if not peer.silent:
                    await self._answer(peer, request)
        except ConnectionClosed:
            pass

    def _verify(self, args: list[Any]) -> tuple[bool, str]:
        ok, reason = super()._verify(args)
        if self.echo_args:
            reason = f"{reason or 'login ok'}; you sent {json.dumps(args)}"
        return ok, reason

    def events(self) -> list[Received]:
        return list(self.received)


class SteppedClock:
    """A monotonic clock that moves only when the test says, and counts its reads."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._reads = 0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self._reads += 1
            return self._now

    def set(self, now: float) -> int:
        """Move to ``now``; the number of reads so far (to wait for reads after this)."""
        with self._lock:
            self._now = now
            return self._reads

    def reads(self) -> int:
        with self._lock:
            return self._reads


def wait_for_reads(clock: SteppedClock, mark: int, count: int = 4) -> None:
    """Wait until the stream read the clock ``count`` times since ``mark``: it has then
    checked its deadlines at the new time and, had one passed, already said so (the
    reads between a deadline check and the ``Disconnected`` it causes are fewer)."""
    wait_until(lambda: clock.reads() >= mark + count, what=f"{count} clock reads")


@pytest.fixture
def venue():
    fake = ListeningBybit().start()
    yield fake
    fake.close()


@pytest.fixture
def run_stream(venue):
    before = set(threading.enumerate())
    streams: list[PrivateStream] = []

    def run(recorder: Recorder, *, on_frame: Any = None, **kwargs: Any) -> PrivateStream:
        monotonic = kwargs.pop("monotonic", None)
        fields = {"url": venue.url, "api_key": KEY, "api_secret": SECRET, **QUICK, **kwargs}
        extra = {} if monotonic is None else {"monotonic": monotonic}
        stream = PrivateStream(
            StreamSettings(**fields), on_frame or recorder.on_frame, recorder.on_status, **extra
        )
        streams.append(stream)
        stream.start()
        return stream

    yield run
    for stream in streams:
        assert stream.stop(timeout=5), "the stream thread did not end"
    assert set(threading.enumerate()) <= before, "a thread was left behind"


def pongs(recorder: Recorder) -> int:
    return sum(1 for text in recorder.texts() if json.loads(text).get("op") == "pong")


# -- liveness --------------------------------------------------------------------------------


def test_defaults_find_a_silent_connection_30_s_after_its_last_frame(venue, run_stream):
    settings = StreamSettings(venue.url, KEY, SECRET)
    assert (settings.ping_interval_s, settings.pong_timeout_s) == (20.0, 10.0)
    assert settings.dead_after_s is None
    assert settings.detects_silence_within_s == 30.0

    clock, start = SteppedClock(), 1000.0
    recorder = Recorder()
    stream = run_stream(recorder, monotonic=clock)  # the default ping and pong timeout
    wait_until(lambda: recorder.of(Subscribed), what="Subscribed")

    # A ping at 20 s; its pong arrives, so 15 s later (past 20 + 10) all is well.
    clock.set(start + 20)
    wait_until(lambda: pongs(recorder) == 1, what="the first pong")
    wait_for_reads(clock, clock.set(start + 40 - 0.001))
    assert recorder.of(Disconnected) == []

    # Silence (TCP stays open). The next ping, at 40 s, goes unanswered.
    venue.silence()
    clock.set(start + 40)
    unanswered = Received("conn-1", "ping", "ping-1-2", answered=False)
    wait_until(lambda: unanswered in venue.events(), what="the unanswered ping")
    wait_for_reads(clock, clock.set(start + 50 - 0.001))  # a hair before 40 + 10
    assert recorder.of(Disconnected) == []
    assert stream.stats.connections == 1

    clock.set(start + 50)
    wait_until(lambda: recorder.of(Disconnected), what="the dead connection found")
    (dead,) = recorder.of(Disconnected)
    assert dead.reason == (
        "nothing received within 10 s of ping-1-2 (silent for 30.0 s): presumed dead"
    )
    wait_until(lambda: len(recorder.of(Subscribed)) == 2, what="the new connection")
    assert [s.conn_id for s in recorder.of(Subscribed)] == ["conn-1", "conn-2"]
    events = venue.events()
    assert events.index(unanswered) < events.index(Received("conn-2", "connect"))
    assert not any(e.conn_id == "conn-1" and e.answered for e in events[events.index(unanswered) :])
    assert stream.stats.connections == 2


def test_a_silent_connection_is_dropped_after_the_pong_timeout_and_replaced(venue, run_stream):
    recorder = Recorder()
    stream = run_stream(recorder, ping_interval_s=0.3, pong_timeout_s=0.3)
    wait_until(lambda: recorder.of(Subscribed), what="Subscribed")
    wait_until(lambda: pongs(recorder) >= 2, what="two pongs")
    silenced = venue.latest
    venue.silence()
    statuses_before = len(recorder.statuses)
    wait_until(
        lambda: any(s.conn_id != silenced.conn_id for s in recorder.of(Subscribed)),
        what="a new connection",
    )
    after = recorder.statuses[statuses_before:]
    dead = next(s for s in after if isinstance(s, Disconnected))
    first_unanswered = next(
        e for e in venue.events() if e.conn_id == silenced.conn_id and not e.answered
    )
    assert first_unanswered.op == "ping"
    match = re.fullmatch(
        r"nothing received within 0\.3 s of (\S+) \(silent for ([\d.]+) s\): presumed dead",
        dead.reason,
    )
    assert match is not None, dead.reason
    assert match.group(1) == first_unanswered.req_id  # timed from the first unanswered ping
    assert float(match.group(2)) >= 0.3
    kinds = [type(s) for s in after[after.index(dead) :]]
    assert kinds[:3] == [Disconnected, BackingOff, Connecting]
    assert Subscribed in kinds
    events = venue.events()
    new_connect = next(
        i for i, e in enumerate(events) if e.op == "connect" and e.conn_id != silenced.conn_id
        and i > events.index(first_unanswered)
    )  # fmt: skip
    assert events.index(first_unanswered) < new_connect
    assert stream.stats.connections >= 2

    venue.push(json.dumps({"topic": "order", "id": "after", "creationTime": 1, "data": []}))
    wait_until(lambda: "after" in recorder.data_ids(), what="a frame on the new connection")


@pytest.mark.parametrize(
    "overrides",
    [
        {"pong_timeout_s": 0},
        {"pong_timeout_s": -1.0},
        {"dead_after_s": 20.0},  # a quiet healthy connection hears only a pong per interval
        {"dead_after_s": 5.0, "ping_interval_s": 5.0},
    ],
)
def test_liveness_settings_refuse_nonsense(overrides):
    with pytest.raises(LocalError, match=r"pong_timeout_s|dead_after_s"):
        StreamSettings("testnet", KEY, SECRET, **overrides)


def test_an_overall_silence_limit_is_optional_and_the_sooner_rule_counts():
    assert StreamSettings("testnet", KEY, SECRET, dead_after_s=25.0).detects_silence_within_s == 25
    assert StreamSettings("testnet", KEY, SECRET, dead_after_s=60.0).detects_silence_within_s == 30
    quick = StreamSettings("testnet", KEY, SECRET, ping_interval_s=5.0, pong_timeout_s=2.0)
    assert quick.detects_silence_within_s == 7.0


# -- echoed signatures -----------------------------------------------------------------------


@pytest.fixture
def log_lines():
    """Every log line at DEBUG, through oms.runtime.logs' text and JSON formats, from the root."""
    root = logging.getLogger()
    buffers = {"text": io.StringIO(), "json": io.StringIO()}
    handlers = []
    for name, buffer in buffers.items():
        handler = logging.StreamHandler(buffer)
        handler.addFilter(logs.ContextFilter())
        handler.setFormatter(logs.JsonFormatter() if name == "json" else logs.TextFormatter())
        handler.setLevel(logging.DEBUG)
        root.addHandler(handler)
        handlers.append(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    yield buffers
    root.setLevel(level)
    for handler in handlers:
        root.removeHandler(handler)


def test_echoed_signatures_reach_no_log_line_status_or_error(venue, run_stream, log_lines, caplog):
    caplog.set_level(logging.DEBUG)
    venue.echo_args = True
    venue.refuse_auths = 1  # refused (echoed), then accepted (echoed too)
    recorder = Recorder()

    def on_frame(text: str, received_at: int) -> None:
        recorder.on_frame(text, received_at)
        if json.loads(text).get("op") == "auth":  # a journal that quotes what it could not store
            raise ValueError(f"cannot journal {text}")

    with logs.bound(logs.account_context("main")):
        stream = run_stream(recorder, on_frame=on_frame, max_auth_failures=3)
    wait_until(lambda: recorder.of(Subscribed), what="Subscribed")
    signature = venue.auth_requests[-1][2]
    venue.close_latest(4000, f"bye {signature}")  # a close reason that echoes it too
    wait_until(lambda: len(recorder.of(Subscribed)) == 2, what="the second connection")
    venue.refuse_auths = 10  # from now on every login is refused, and echoed
    venue.drop()
    assert stream.wait(timeout=10)

    error = stream.error
    assert isinstance(error, LoginRefusedError)
    assert error.failures == 3
    signatures = [args[2] for args in venue.auth_requests]
    assert len(signatures) == 6
    assert all(re.fullmatch(r"[0-9a-f]{64}", s) for s in signatures)
    # The venue did echo them: the raw frames (for the journal, which scrubs) hold them all.
    raw = "".join(recorder.texts())
    assert all(s in raw for s in signatures)

    reasons = [s.reason for s in recorder.of(Disconnected) + recorder.of(BackingOff)]
    records = [r.getMessage() for r in caplog.records]
    shown = {
        "text log": log_lines["text"].getvalue(),
        "json log": log_lines["json"].getvalue(),
        "caplog": caplog.text,
        "records": "\n".join(records),
        "statuses": repr(recorder.statuses),
        "reasons": "\n".join(reasons),
        "error": f"{error}\n{error!r}\n{error.ret_msg}",
    }
    for where, text in shown.items():
        for s in signatures:
            assert s not in text, f"a signature in the {where}"
        assert SECRET not in text

    # ... and the texts still say what happened, with the echo masked.
    assert SIGNATURE_MASK in error.ret_msg
    assert "authentication refused 3 time(s) in a row" in str(error)
    assert f"closed by the server (code 4000: bye {SIGNATURE_MASK})" in reasons
    assert any(r.startswith("login refused: ") and SIGNATURE_MASK in r for r in reasons)
    text_log = log_lines["text"].getvalue()
    assert "on_frame raised; the stream goes on" in text_log
    assert "ValueError: cannot journal" in text_log  # the traceback kept, masked
    assert "signature-shaped token(s) masked" in text_log
    assert "[acct=main conn=" in text_log
    for line in log_lines["json"].getvalue().splitlines():
        assert json.loads(line)["logger"]
    assert recorder.statuses[-1] == Stopped(error)
