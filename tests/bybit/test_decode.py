"""The Bybit wire layer: raw frame -> decoded frame -> ledger outcome.

Covers the real frames of ``tests/data/real`` (every one must be accepted), control frames,
topic routing, malformed input of every kind (refused with a reason, nothing applied, the
stream goes on), element-level refusal inside a frame, key order, bytes input and exact
decimals.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from oms import Ledger, MalformedFrame, MalformedFrameError, Outcome
from oms.bybit.decode import (
    OTHER_PRIVATE_TOPICS,
    ControlFrame,
    ControlKind,
    DataFrame,
    IgnoredFrame,
    Kind,
    decode,
)
from oms.core.states import OrderStatus
from tests.conftest import DATA

REAL = DATA / "real"
FRAMES = "frames.jsonl"
FIXTURES = "frames_fixtures_edited.jsonl"


# --- the real frames, with ids from SOURCES.md ------------------------------------------


def _descriptions(name: str) -> dict[int, str]:
    """Line number -> the 'what' column of SOURCES.md's table for one file."""
    text = (REAL / "SOURCES.md").read_text(encoding="utf-8")
    section = text.split(f"## {name}, line by line", 1)[1].split("\n## ", 1)[0]
    return {
        int(n): what for n, what in re.findall(r"^\| (\d+) \| ([^|]+?) \|", section, re.MULTILINE)
    }


def _real_lines(name: str) -> list[str]:
    return (REAL / name).read_text(encoding="utf-8").splitlines()


def _real_params() -> list[Any]:
    params = []
    for name in (FRAMES, FIXTURES):
        lines = _real_lines(name)
        what = _descriptions(name)
        assert sorted(what) == list(range(1, len(lines) + 1)), f"SOURCES.md table of {name}"
        params.extend(
            pytest.param(line, id=f"{name}:{n:02d} {what[n]}") for n, line in enumerate(lines, 1)
        )
    return params


def real(name: str, line: int) -> str:
    """One line (1-based) of a real-frames file."""
    return _real_lines(name)[line - 1]


@pytest.mark.parametrize("line", _real_params())
def test_real_frame_is_accepted(line):
    ledger = Ledger()
    result = ledger.feed(line, received_at=1)
    reasons = [e.reason for e in result.events if isinstance(e, MalformedFrame)]
    assert result.outcome is not Outcome.MALFORMED, reasons
    assert reasons == []
    expected = Outcome.CONTROL if "topic" not in json.loads(line) else Outcome.APPLIED
    assert result.outcome is expected
    assert ledger.stats[expected.value] == 1


@pytest.mark.parametrize("line", _real_params())
def test_real_frame_is_accepted_as_bytes(line):
    result = Ledger().feed(line.encode("utf-8"), received_at=1)
    assert result.outcome is not Outcome.MALFORMED
    assert not any(isinstance(e, MalformedFrame) for e in result.events)


@pytest.mark.parametrize("name", [FRAMES, FIXTURES])
def test_real_files_in_one_ledger_have_no_malformed_frame(name):
    ledger = Ledger()
    for line in _real_lines(name):
        ledger.apply_frame(line, received_at=1)
    stats = ledger.stats
    assert stats["malformed"] == 0
    assert stats["frames"] == len(_real_lines(name))
    assert stats["frames"] == sum(v for k, v in stats.items() if k != "frames")


# --- control frames ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line", "kind", "success"),
    [
        pytest.param(FRAMES, 1, ControlKind.AUTH, True, id="auth-success-docs"),
        pytest.param(FRAMES, 2, ControlKind.AUTH, True, id="auth-success-live-req_id"),
        pytest.param(FRAMES, 3, ControlKind.AUTH, False, id="auth-failure-params-error"),
        pytest.param(FRAMES, 4, ControlKind.SUBSCRIBE, True, id="subscribe-ack"),
        pytest.param(FRAMES, 5, ControlKind.PONG, True, id="private-pong"),
        pytest.param(FIXTURES, 14, ControlKind.AUTH, True, id="auth-success-retCode-style"),
        pytest.param(FIXTURES, 15, ControlKind.AUTH, False, id="auth-failure-retCode-style"),
    ],
)
def test_real_control_frames(name, line, kind, success):
    decoded = decode(real(name, line))
    assert isinstance(decoded, ControlFrame)
    assert decoded.kind is kind
    assert decoded.success is success


def test_auth_failure_keeps_the_venue_message():
    decoded = decode(real(FRAMES, 3))
    assert isinstance(decoded, ControlFrame)
    assert decoded.message.success is False
    assert decoded.message.ret_msg == "Params Error"
    assert decoded.message.conn_id == "cldfn8fcgepd64b9hgg0-o8uhe"


def test_private_pong_keeps_args_and_req_id():
    decoded = decode(real(FRAMES, 5))
    assert isinstance(decoded, ControlFrame)
    assert decoded.message.op == "pong"
    assert decoded.message.args == ["1675418560633"]
    assert decoded.message.req_id == "test"
    assert decoded.message.success is None


@pytest.mark.parametrize(
    ("text", "kind", "success"),
    [
        pytest.param(
            '{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}',
            ControlKind.PONG,
            True,
            id="public-pong-spot",
        ),
        pytest.param(
            '{"success":true,"ret_msg":"pong","conn_id":"x","req_id":"","op":"ping"}',
            ControlKind.PONG,
            True,
            id="public-pong-linear",
        ),
        pytest.param(
            '{"args":["1672916271846"],"op":"pong"}',
            ControlKind.PONG,
            True,
            id="public-pong-option",
        ),
        pytest.param(
            '{"success":true,"conn_id":"x","data":{"failTopics":[],"successTopics":["order"]},'
            '"type":"COMMAND_RESP"}',
            ControlKind.SUBSCRIBE,
            True,
            id="command-resp-ack",
        ),
        pytest.param(
            '{"success":false,"ret_msg":"error:handler not found","op":"subscribe","conn_id":"x"}',
            ControlKind.SUBSCRIBE,
            False,
            id="subscribe-failure",
        ),
        pytest.param(
            '{"success":true,"ret_msg":"","op":"unsubscribe","conn_id":"x"}',
            ControlKind.UNSUBSCRIBE,
            True,
            id="unsubscribe-ack",
        ),
    ],
)
def test_control_frame_shapes(text, kind, success):
    decoded = decode(text)
    assert isinstance(decoded, ControlFrame)
    assert decoded.kind is kind
    assert decoded.success is success
    ledger = Ledger()
    result = ledger.feed(text, received_at=1)
    assert result.outcome is Outcome.CONTROL
    assert result.control is not None
    assert result.control.kind is kind
    assert result.events == []
    assert ledger.stats["control"] == 1


# --- wire templates ---------------------------------------------------------------------

ORDER: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "orderId": "o-1",
    "orderLinkId": "c-1",
    "side": "Buy",
    "positionIdx": 0,
    "orderStatus": "New",
    "orderType": "Limit",
    "stopOrderType": "",
    "qty": "1",
    "price": "100",
    "triggerPrice": "",
    "cumExecQty": "0",
    "cumExecValue": "0",
    "cumExecFee": "0",
    "leavesQty": "1",
    "avgPrice": "",
    "reduceOnly": False,
    "timeInForce": "GTC",
    "createType": "CreateByUser",
    "cancelType": "UNKNOWN",
    "rejectReason": "EC_NoError",
    "createdTime": "1000",
    "updatedTime": "1000",
}
EXECUTION: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "execId": "e-1",
    "orderId": "o-1",
    "orderLinkId": "c-1",
    "side": "Buy",
    "execType": "Trade",
    "execQty": "0.4",
    "execPrice": "100",
    "execValue": "40",
    "execFee": "0.02",
    "feeRate": "0.0005",
    "isMaker": False,
    "closedSize": "0",
    "leavesQty": "0.6",
    "execTime": "1500",
    "seq": 10,
}
FAST_EXECUTION: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "execId": "e-1",
    "orderId": "o-1",
    "orderLinkId": "c-1",
    "side": "Buy",
    "execQty": "0.4",
    "execPrice": "100",
    "isMaker": False,
    "execTime": "1500",
    "seq": 10,
}
POSITION: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "positionIdx": 0,
    "side": "Buy",
    "size": "0.4",
    "entryPrice": "100",
    "markPrice": "101",
    "unrealisedPnl": "0.4",
    "cumRealisedPnl": "0",
    "seq": 10,
    "updatedTime": "1600",
}
WALLET: dict[str, Any] = {
    "accountType": "UNIFIED",
    "totalEquity": "1000",
    "coin": [{"coin": "USDT", "equity": "1000", "walletBalance": "1000"}],
}
ELEMENT = {
    Kind.ORDER: ORDER,
    Kind.EXECUTION: EXECUTION,
    Kind.FAST_EXECUTION: FAST_EXECUTION,
    Kind.POSITION: POSITION,
    Kind.WALLET: WALLET,
}


def frame(
    topic: str, *elements: dict[str, Any], creation: int = 1_700_000_000_000, topic_last=False
) -> str:
    """A compact data frame, with ``topic`` first (as Bybit sends) or last."""
    envelope: dict[str, Any] = {"id": "f-1", "creationTime": creation, "data": list(elements)}
    envelope = {**envelope, "topic": topic} if topic_last else {"topic": topic, **envelope}
    return json.dumps(envelope, separators=(",", ":"))


def snapshot(ledger: Ledger) -> tuple[Any, ...]:
    """Everything a frame could change, for "nothing was applied" checks."""
    return (
        ledger.orders(),
        ledger.open_orders(),
        ledger.fills(),
        ledger.position_reports(),
        ledger.position("BTCUSDT"),
        ledger.derived_position("BTCUSDT"),
        ledger.wallet(),
    )


def seeded() -> Ledger:
    """A ledger holding one working order, one fill, one position leg and a wallet."""
    ledger = Ledger()
    for text in (
        frame("order", ORDER),
        frame("execution", EXECUTION),
        frame("position", POSITION),
        frame("wallet", WALLET),
    ):
        assert ledger.feed(text, received_at=1).outcome is Outcome.APPLIED
    return ledger


# --- topics -----------------------------------------------------------------------------

_ROUTED = [
    ("order", Kind.ORDER),
    ("order.spot", Kind.ORDER),
    ("order.linear", Kind.ORDER),
    ("order.inverse", Kind.ORDER),
    ("order.option", Kind.ORDER),
    ("execution", Kind.EXECUTION),
    ("execution.spot", Kind.EXECUTION),
    ("execution.linear", Kind.EXECUTION),
    ("execution.inverse", Kind.EXECUTION),
    ("execution.option", Kind.EXECUTION),
    ("execution.fast", Kind.FAST_EXECUTION),
    ("execution.fast.spot", Kind.FAST_EXECUTION),
    ("execution.fast.linear", Kind.FAST_EXECUTION),
    ("execution.fast.inverse", Kind.FAST_EXECUTION),
    ("execution.fast.option", Kind.FAST_EXECUTION),
    ("position", Kind.POSITION),
    ("position.linear", Kind.POSITION),
    ("position.inverse", Kind.POSITION),
    ("position.option", Kind.POSITION),
    ("wallet", Kind.WALLET),
]


@pytest.mark.parametrize(("topic", "kind"), _ROUTED, ids=[t for t, _ in _ROUTED])
def test_topic_routes_to_kind(topic, kind):
    element = dict(ELEMENT[kind])
    suffix = topic.removeprefix(kind.value).removeprefix(".")
    if suffix:
        element["category"] = suffix  # e.g. order.spot carries spot orders
    text = frame(topic, element)
    decoded = decode(text)
    assert isinstance(decoded, DataFrame)
    assert decoded.kind is kind
    assert decoded.topic == topic
    assert decoded.frame_id == "f-1"
    assert decoded.creation_time == 1_700_000_000_000
    assert len(decoded.elements) == 1
    assert decoded.errors == []
    ledger = Ledger()
    result = ledger.feed(text, received_at=1)
    assert result.outcome is Outcome.APPLIED
    assert result.topic == topic


_IGNORED = [
    "position.spot",
    "orders",
    "order.spotx",
    "unknown.topic",
    "Order",
    "ORDER",
    "order.",
    "execution.fast.spotx",
    "wallet.unified",
    " order",
    "",
    *sorted(OTHER_PRIVATE_TOPICS),
]


@pytest.mark.parametrize("topic", _IGNORED, ids=[repr(t) for t in _IGNORED])
def test_untracked_topic_is_ignored_and_never_applied(topic):
    # Carry elements that *would* change state if the topic were routed anywhere.
    element = {
        **ORDER,
        **POSITION,
        **EXECUTION,
        "orderStatus": "Filled",
        "cumExecQty": "1",
        "updatedTime": "9000",
        "seq": 99,
    }
    text = frame(topic, element)
    decoded = decode(text)
    assert isinstance(decoded, IgnoredFrame)
    assert decoded.topic == topic
    ledger = seeded()
    before = snapshot(ledger)
    stats = ledger.stats
    result = ledger.feed(text, received_at=2)
    assert result.outcome is Outcome.IGNORED
    assert result.events == []
    assert snapshot(ledger) == before
    after = ledger.stats
    assert after["ignored"] == stats["ignored"] + 1
    assert after["frames"] == stats["frames"] + 1
    assert after["applied"] == stats["applied"]


def test_other_private_topics_are_known():
    assert {"greeks", "dcp.future", "dcp.spot", "dcp.option"} <= OTHER_PRIVATE_TOPICS
    assert decode(frame("greeks", {"baseCoin": "ETH"})) == IgnoredFrame("greeks", "untracked topic")
    assert decode(frame("orders", ORDER)) == IgnoredFrame("orders", "unknown topic")


def test_ignored_topic_needs_no_valid_data():
    ledger = Ledger()
    result = ledger.feed('{"topic":"dcp.future","data":{"anything":1}}', received_at=1)
    assert result.outcome is Outcome.IGNORED


# --- malformed frames -------------------------------------------------------------------

_NEWER_ORDER = {
    **ORDER,
    "orderStatus": "PartiallyFilled",
    "cumExecQty": "0.4",
    "leavesQty": "0.6",
    "avgPrice": "100",
    "updatedTime": "2000",
}
_NEWER_POSITION = {**POSITION, "size": "0.9", "seq": 20, "updatedTime": "2600"}
_NEWER_EXECUTION = {**EXECUTION, "execId": "e-2", "execTime": "2500", "seq": 20}


def _bad(topic: str, base: dict[str, Any], **override: Any) -> str:
    return frame(topic, {**base, **override})


# (id, text, words the reason must contain, whole-frame topic or None, element index)
_MALFORMED: list[tuple[str, str, tuple[str, ...], int | None]] = [
    ("not-json", "hello there", ("not JSON",), None),
    ("truncated-json", frame("order", _NEWER_ORDER)[:80], ("not JSON",), None),
    ("empty-text", "", ("not JSON",), None),
    ("json-array", json.dumps([json.loads(frame("order", _NEWER_ORDER))]), ("object",), None),
    ("json-number", "42", ("object",), None),
    ("json-string", '"order"', ("object",), None),
    ("json-null", "null", ("object",), None),
    ("json-true", "true", ("object",), None),
    ("neither-topic-nor-op", '{"id":"x","creationTime":1,"data":[]}', ("topic", "op"), None),
    ("data-missing", '{"id":"x","topic":"order","creationTime":1}', ("data", "missing"), None),
    ("data-null", '{"id":"x","topic":"order","creationTime":1,"data":null}', ("data",), None),
    (
        "data-object",
        json.dumps({"id": "x", "topic": "order", "creationTime": 1, "data": _NEWER_ORDER}),
        ("data",),
        None,
    ),
    ("topic-not-string", '{"topic":1,"data":[]}', ("topic",), None),
    ("cumExecQty-abc", _bad("order", _NEWER_ORDER, cumExecQty="abc"), ("cumExecQty",), 0),
    ("cumExecQty-NaN", _bad("order", _NEWER_ORDER, cumExecQty="NaN"), ("cumExecQty",), 0),
    ("cumExecQty-nan", _bad("order", _NEWER_ORDER, cumExecQty="nan"), ("cumExecQty",), 0),
    ("cumExecQty-sNaN", _bad("order", _NEWER_ORDER, cumExecQty="sNaN"), ("cumExecQty",), 0),
    ("cumExecQty-Infinity", _bad("order", _NEWER_ORDER, cumExecQty="Infinity"), ("cumExecQty",), 0),
    ("price--Infinity", _bad("order", _NEWER_ORDER, price="-Infinity"), ("price",), 0),
    ("cumExecQty-float", _bad("order", _NEWER_ORDER, cumExecQty=0.1), ("cumExecQty",), 0),
    ("price-float", _bad("order", _NEWER_ORDER, price=100.5), ("price",), 0),
    ("execPrice-float", _bad("execution", _NEWER_EXECUTION, execPrice=0.1), ("execPrice",), 0),
    ("size-float", _bad("position", _NEWER_POSITION, size=0.1), ("size",), 0),
    ("positionIdx-x", _bad("order", _NEWER_ORDER, positionIdx="x"), ("positionIdx",), 0),
    (
        "orderStatus-Exploded",
        _bad("order", _NEWER_ORDER, orderStatus="Exploded"),
        ("orderStatus",),
        0,
    ),
    ("order-side-Long", _bad("order", _NEWER_ORDER, side="Long"), ("side",), 0),
    ("execution-side-Long", _bad("execution", _NEWER_EXECUTION, side="Long"), ("side",), 0),
    ("fast-side-Long", _bad("execution.fast", _NEWER_EXECUTION, side="Long"), ("side",), 0),
    ("position-side-Long", _bad("position", _NEWER_POSITION, side="Long"), ("side",), 0),
    (
        "position-empty-side-size-1",
        _bad("position", _NEWER_POSITION, side="", size="1"),
        ("size",),
        0,
    ),
    ("position-negative-size", _bad("position", _NEWER_POSITION, size="-1"), ("size",), 0),
    ("qty-empty", _bad("order", _NEWER_ORDER, qty=""), ("qty",), 0),
    ("cumExecQty-empty", _bad("order", _NEWER_ORDER, cumExecQty=""), ("cumExecQty",), 0),
    ("execQty-empty", _bad("execution", _NEWER_EXECUTION, execQty=""), ("execQty",), 0),
    ("fast-execQty-empty", _bad("execution.fast", _NEWER_EXECUTION, execQty=""), ("execQty",), 0),
    ("size-empty", _bad("position", _NEWER_POSITION, size=""), ("size",), 0),
    (
        "orderId-missing",
        frame("order", {k: v for k, v in _NEWER_ORDER.items() if k != "orderId"}),
        ("orderId",),
        0,
    ),
    ("element-not-object", frame("order", 7), ("element",), 0),  # type: ignore[arg-type]
    ("wallet-equity-NaN", frame("wallet", {**WALLET, "totalEquity": "NaN"}), ("totalEquity",), 0),
]


@pytest.mark.parametrize(
    ("text", "words", "index"),
    [pytest.param(t, w, i, id=name) for name, t, w, i in _MALFORMED],
)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_malformed_frame_is_refused_and_stream_goes_on(text, words, index, as_bytes):
    ledger = seeded()
    before = snapshot(ledger)
    stats = ledger.stats
    raw = text.encode("utf-8") if as_bytes else text
    result = ledger.feed(raw, received_at=777)

    assert result.outcome is Outcome.MALFORMED
    malformed = [e for e in result.events if isinstance(e, MalformedFrame)]
    assert len(malformed) == 1
    assert result.events == malformed  # nothing else happened
    event = malformed[0]
    for word in words:
        assert word in event.reason, event.reason
    assert event.index == index
    assert event.received_at == 777
    if index is not None:
        assert event.topic == json.loads(text)["topic"]
    assert text.startswith(event.excerpt.removesuffix("..."))
    # nothing applied
    assert snapshot(ledger) == before
    after = ledger.stats
    assert after["malformed"] == stats["malformed"] + 1
    assert after["frames"] == stats["frames"] + 1
    assert after["applied"] == stats["applied"]

    # ... and the next valid frame is applied as usual
    nxt = ledger.feed(frame("order", _NEWER_ORDER), received_at=778)
    assert nxt.outcome is Outcome.APPLIED
    held = ledger.order("o-1")
    assert held is not None
    assert held.status is OrderStatus.PARTIALLY_FILLED
    assert held.cum_exec_qty == Decimal("0.4")


@pytest.mark.parametrize(
    ("text", "words"),
    [pytest.param(t, w, id=name) for name, t, w, i in _MALFORMED if i is None],
)
def test_decode_raises_for_unusable_frames(text, words):
    with pytest.raises(MalformedFrameError) as info:
        decode(text)
    for word in words:
        assert word in info.value.reason


def test_apply_frame_never_raises_on_garbage():
    ledger = Ledger()
    for text in ("", "{", "\x00\x01", b"\xff\xfe\xfd", "[]", '{"topic":"order","data":[null]}'):
        events = ledger.apply_frame(text, received_at=1)
        assert len(events) == 1
        assert isinstance(events[0], MalformedFrame)
    assert ledger.stats["malformed"] == 6
    assert ledger.stats["frames"] == 6


# --- one bad element among good ones ----------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        pytest.param({"cumExecQty": "abc"}, "cumExecQty", id="wire-type-error"),
        pytest.param({"orderStatus": "Exploded"}, "orderStatus", id="unknown-status"),
        pytest.param({"side": "Long"}, "side", id="unknown-side"),
    ],
)
def test_second_element_bad_first_applied(bad, field):
    good = {**ORDER, "orderId": "o-good"}
    worse = {**ORDER, "orderId": "o-bad", **bad}
    ledger = Ledger()
    result = ledger.feed(frame("order", good, worse), received_at=5)
    assert result.outcome is Outcome.MALFORMED
    assert ledger.order("o-good") is not None
    assert ledger.order("o-bad") is None
    malformed = [e for e in result.events if isinstance(e, MalformedFrame)]
    assert len(malformed) == 1
    assert malformed[0].index == 1
    assert malformed[0].topic == "order"
    assert field in malformed[0].reason
    assert "o-good" in result.batch.orders
    assert ledger.stats["malformed"] == 1
    assert ledger.stats["applied"] == 0


def test_bad_position_leg_among_good_ones():
    long_leg = {**POSITION, "positionIdx": 1, "side": "Buy", "size": "2"}
    bad_leg = {**POSITION, "positionIdx": 2, "side": "", "size": "1"}
    ledger = Ledger()
    result = ledger.feed(frame("position", long_leg, bad_leg), received_at=5)
    assert result.outcome is Outcome.MALFORMED
    assert [e.index for e in result.events if isinstance(e, MalformedFrame)] == [1]
    assert ledger.position("BTCUSDT") == Decimal(2)


def test_element_indexes_count_every_element_of_data():
    """Index is the element's position in ``data``, whichever stage refused it."""
    elements = [
        {**ORDER, "orderId": "o-a", "cumExecQty": "abc"},  # refused by the wire model
        {**ORDER, "orderId": "o-b"},  # fine
        {**ORDER, "orderId": "o-c", "orderStatus": "Exploded"},  # refused by translation
    ]
    ledger = Ledger()
    result = ledger.feed(frame("order", *elements), received_at=5)
    assert result.outcome is Outcome.MALFORMED
    by_index = {e.index: e.reason for e in result.events if isinstance(e, MalformedFrame)}
    assert set(by_index) == {0, 2}, by_index
    assert "cumExecQty" in by_index[0]
    assert "orderStatus" in by_index[2]
    assert [o.order_id for o in ledger.orders()] == ["o-b"]


def test_decode_keeps_valid_siblings_and_names_the_bad_one():
    decoded = decode(frame("order", ORDER, {**ORDER, "orderId": "o-2", "qty": "NaN"}))
    assert isinstance(decoded, DataFrame)
    assert [e.order_id for e in decoded.elements] == ["o-1"]
    assert len(decoded.errors) == 1
    assert decoded.errors[0].index == 1
    assert decoded.errors[0].topic == "order"
    assert "qty" in decoded.errors[0].reason


# --- key order and bytes ----------------------------------------------------------------


@pytest.mark.parametrize("topic", ["order", "execution", "execution.fast", "position", "wallet"])
def test_key_order_does_not_matter(topic):
    kind = {k.value: k for k in Kind}[topic]
    element = ELEMENT[kind]
    first = decode(frame(topic, element))
    last = decode(frame(topic, element, topic_last=True))
    middle = decode(
        json.dumps(
            {"data": [element], "topic": topic, "creationTime": 1_700_000_000_000, "id": "f-1"}
        )
    )
    pretty = decode(json.dumps(json.loads(frame(topic, element)), indent=2))
    assert isinstance(first, DataFrame)
    assert first == last == middle == pretty


def test_key_order_does_not_matter_with_a_bad_element():
    elements = (ORDER, {**ORDER, "orderId": "o-2", "side": "Long"})
    for text in (frame("order", *elements), frame("order", *elements, topic_last=True)):
        ledger = Ledger()
        result = ledger.feed(text, received_at=1)
        assert result.outcome is Outcome.MALFORMED
        assert [e.index for e in result.events if isinstance(e, MalformedFrame)] == [1]
        assert [o.order_id for o in ledger.orders()] == ["o-1"]


def test_topic_key_inside_an_element_does_not_confuse_routing():
    element = {**ORDER, "note": '"topic":"wallet"', "topic": "position"}
    text = json.dumps({"data": [element], "id": "x", "creationTime": 1, "topic": "order"})
    decoded = decode(text)
    assert isinstance(decoded, DataFrame)
    assert decoded.kind is Kind.ORDER
    assert Ledger().feed(text, received_at=1).outcome is Outcome.APPLIED


@pytest.mark.parametrize("topic", ["order", "execution", "execution.fast", "position", "wallet"])
def test_bytes_input_decodes_like_str(topic):
    kind = {k.value: k for k in Kind}[topic]
    text = frame(topic, ELEMENT[kind])
    assert decode(text.encode("utf-8")) == decode(text)
    ledger = Ledger()
    assert ledger.feed(text.encode("utf-8"), received_at=1).outcome is Outcome.APPLIED


def test_bytes_control_frame():
    decoded = decode(real(FRAMES, 3).encode("utf-8"))
    assert isinstance(decoded, ControlFrame)
    assert decoded.kind is ControlKind.AUTH
    assert decoded.success is False


def test_non_utf8_bytes_are_malformed_not_raised():
    result = Ledger().feed(b'{"topic":"order","data":[\xff]}', received_at=1)
    assert result.outcome is Outcome.MALFORMED


def test_non_ascii_text_is_fine():
    element = {**ORDER, "orderLinkId": "client-\u00e9\u4e2d"}
    text = json.dumps({"topic": "order", "data": [element]}, ensure_ascii=False)
    for raw in (text, text.encode("utf-8")):
        decoded = decode(raw)
        assert isinstance(decoded, DataFrame)
        assert decoded.elements[0].order_link_id == "client-\u00e9\u4e2d"


# --- decimals ---------------------------------------------------------------------------

_EXACT = [
    "0.00000001",
    "123456789.123456789",
    "1E+2",
    "0.10",
    "-8.0758617716",
    "2270000001384586812",
]


def _same_decimal(got: object, text: str) -> None:
    """``got`` is the exact number ``text`` spells: same digits, same exponent, no float."""
    assert not isinstance(got, float)
    want = Decimal(text)
    value = got if isinstance(got, Decimal) else Decimal(str(got))
    assert value == want
    assert value.as_tuple() == want.as_tuple()


@pytest.mark.parametrize("value", _EXACT)
@pytest.mark.parametrize("slow", [False, True], ids=["one-pass", "per-element"])
def test_decoded_numbers_are_exact(value, slow):
    unsigned = value.lstrip("-")
    order = {
        **ORDER,
        "qty": unsigned,
        "price": value,
        "cumExecQty": unsigned,
        "cumExecValue": value,
        "cumExecFee": value,
        "triggerPrice": value,
    }
    extra = ({**ORDER, "orderId": "o-bad", "qty": "abc"},) if slow else ()
    decoded = decode(frame("order", order, *extra))
    assert isinstance(decoded, DataFrame)
    assert len(decoded.errors) == (1 if slow else 0)
    msg = decoded.elements[0]  # the core Order
    for name in ("price", "cum_exec_value", "cum_exec_fee", "trigger_price"):
        _same_decimal(getattr(msg, name), value)
    for name in ("qty", "cum_exec_qty"):
        _same_decimal(getattr(msg, name), unsigned)


@pytest.mark.parametrize("value", _EXACT)
def test_execution_position_and_wallet_numbers_are_exact(value):
    unsigned = value.lstrip("-")
    ex = decode(
        frame("execution", {**EXECUTION, "execQty": unsigned, "execPrice": value, "execFee": value})
    )
    fast = decode(
        frame("execution.fast", {**FAST_EXECUTION, "execQty": unsigned, "execPrice": value})
    )
    pos = decode(frame("position", {**POSITION, "size": unsigned, "entryPrice": value}))
    wal = decode(
        frame(
            "wallet", {**WALLET, "totalEquity": value, "coin": [{"coin": "BTC", "equity": value}]}
        )
    )
    assert isinstance(ex, DataFrame)
    assert isinstance(fast, DataFrame)
    assert isinstance(pos, DataFrame)
    assert isinstance(wal, DataFrame)
    _same_decimal(ex.elements[0].exec_qty, unsigned)
    _same_decimal(ex.elements[0].exec_price, value)
    _same_decimal(ex.elements[0].exec_fee, value)
    _same_decimal(fast.elements[0].exec_qty, unsigned)
    _same_decimal(fast.elements[0].exec_price, value)
    _same_decimal(pos.elements[0].size, unsigned)
    _same_decimal(pos.elements[0].entry_price, value)
    _same_decimal(wal.elements[0].totalEquity, value)
    _same_decimal(wal.elements[0].coin[0].equity, value)


@pytest.mark.parametrize("value", _EXACT)
def test_ledger_holds_exact_decimals(value):
    unsigned = value.lstrip("-")
    ledger = Ledger()
    order = {
        **ORDER,
        "qty": unsigned,
        "price": value,
        "leavesQty": unsigned,
        "cumExecFee": value,
    }
    ledger.feed(frame("order", order), received_at=1)
    ledger.feed(
        frame("execution", {**EXECUTION, "execQty": unsigned, "execFee": value}), received_at=2
    )
    ledger.feed(frame("position", {**POSITION, "size": unsigned}), received_at=3)
    held = ledger.order("o-1")
    fill = ledger.fill("e-1")
    assert held is not None
    assert fill is not None
    for got, want in (
        (held.qty, unsigned),
        (held.price, value),
        (held.leaves_qty, unsigned),
        (held.cum_exec_fee, value),
        (fill.exec_qty, unsigned),
        (fill.exec_fee, value),
    ):
        assert type(got) is Decimal
        _same_decimal(got, want)
    assert ledger.position("BTCUSDT") == Decimal(unsigned)


_OPTIONAL = [
    ("order", ORDER, "price"),
    ("order", ORDER, "triggerPrice"),
    ("order", ORDER, "avgPrice"),
    ("order", ORDER, "leavesQty"),
    ("order", ORDER, "cumExecValue"),
    ("order", ORDER, "cumExecFee"),
    ("execution", EXECUTION, "execFee"),
    ("execution", EXECUTION, "execValue"),
    ("execution", EXECUTION, "feeRate"),
    ("execution", EXECUTION, "closedSize"),
    ("execution", EXECUTION, "leavesQty"),
    ("position", POSITION, "entryPrice"),
    ("position", POSITION, "markPrice"),
    ("position", POSITION, "unrealisedPnl"),
    ("wallet", WALLET, "totalEquity"),
]


@pytest.mark.parametrize(("topic", "base", "field"), _OPTIONAL)
def test_empty_string_optional_number_is_accepted(topic, base, field):
    text = frame(topic, {**base, field: ""})
    decoded = decode(text)
    assert isinstance(decoded, DataFrame)
    assert decoded.errors == []
    assert len(decoded.elements) == 1
    assert Ledger().feed(text, received_at=1).outcome is Outcome.APPLIED


@pytest.mark.parametrize(
    ("topic", "base", "field"),
    [
        ("order", ORDER, "qty"),
        ("order", ORDER, "cumExecQty"),
        ("execution", EXECUTION, "execQty"),
        ("execution", EXECUTION, "execPrice"),
        ("execution.fast", FAST_EXECUTION, "execQty"),
        ("position", POSITION, "size"),
    ],
)
@pytest.mark.parametrize("value", ["", None], ids=["empty", "null"])
def test_required_number_refuses_empty(topic, base, field, value):
    decoded = decode(frame(topic, {**base, field: value}))
    assert isinstance(decoded, DataFrame)
    assert decoded.elements == []
    assert len(decoded.errors) == 1
    assert field in decoded.errors[0].reason
    assert decoded.errors[0].index == 0


@pytest.mark.parametrize("value", [0.5, 1, 100.0, True], ids=["0.5", "1", "100.0", "true"])
def test_json_number_is_refused_for_money(value):
    # Even numbers that are exact in binary: money must arrive as text, no exceptions.
    decoded = decode(frame("order", {**ORDER, "price": value}))
    assert isinstance(decoded, DataFrame)
    assert decoded.elements == []
    assert "price" in decoded.errors[0].reason


@pytest.mark.parametrize("value", ["1\n", " 1", "1_000", "+1", "0x10", "1,5", ".", "-", "\u0663"])
def test_number_text_must_be_plain_decimal(value):
    text = frame("order", {**ORDER, "qty": value})
    result = Ledger().feed(text, received_at=1)
    assert result.outcome is Outcome.MALFORMED
    assert "qty" in result.events[0].reason


def test_wallet_frame_with_a_bad_account_applies_the_good_ones():
    """Per element, like every other topic: the bad account is named, the good one kept."""
    ledger = Ledger()
    text = frame("wallet", {**WALLET, "accountType": "FUND"}, {**WALLET, "totalEquity": "x"})
    result = ledger.feed(text, received_at=1)
    assert result.outcome is Outcome.MALFORMED
    assert [e.index for e in result.events if isinstance(e, MalformedFrame)] == [1]
    assert list(ledger.wallet()) == ["FUND"]
    assert ledger.wallet()["FUND"].totalEquity == WALLET["totalEquity"]


def test_wallet_frame_of_only_bad_accounts_changes_nothing():
    ledger = Ledger()
    ledger.feed(frame("wallet", WALLET, creation=1_700_000_000_010), received_at=1)
    held = ledger.wallet()
    text = frame("wallet", {**WALLET, "totalEquity": "x"}, creation=1_700_000_000_020)
    result = ledger.feed(text, received_at=2)
    assert result.outcome is Outcome.MALFORMED
    assert ledger.wallet() == held
    # an older report than the refused frame is still applied: the refused one set no time
    newer_than_held = {**WALLET, "totalEquity": "5"}
    later = ledger.feed(frame("wallet", newer_than_held, creation=1_700_000_000_015), received_at=3)
    assert later.outcome is Outcome.APPLIED
