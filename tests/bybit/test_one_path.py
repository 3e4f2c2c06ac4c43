"""The one decode path (``oms.bybit.codec``) against the reference model, and its two
executions against each other.

Against the reference: every frame of any session ``oms.testing`` draws decodes, in one
pass, to exactly what the reference model (``oms.testing.truth``: a plain reading of the
wire) says each element is, and a REST row of the same element to the same value; a
poisoned frame loses exactly its poisoned element, its siblings decoding as the frame
without it.

The same path runs in one pass (``FRAMES``: the whole frame in one call) or element by
element (``decode_exactly``: for the reason of a refusal). A ledger that takes every frame
element by element must produce the same events (down to each Decimal's representation),
the same per-frame results and stats, and the same state as the usual ``Ledger``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms import Ledger
from oms.bybit.codec import FRAMES, decode, decode_exactly
from oms.bybit.frames import DataFrame
from oms.bybit.rest import fill_from_rest, order_from_rest, position_from_rest
from oms.bybit.rules import AVG_PRICES, parse_decimal
from oms.bybit.wire import EXECUTION, ORDER, POSITION
from oms.testing import (
    non_text_inputs,
    poisoned_envelopes,
    poisoned_frames,
    session,
    session_from_seed,
)
from oms.testing.truth import FillTruth, OrderTruth, PositionTruth
from tests.bybit import general_ledger
from tests.conftest import DATA, read_lines
from tests.core.frames import T0, execution, frame, ms, order, position

if TYPE_CHECKING:
    from oms.bybit.ledger import FrameResult


class GeneralLedger(general_ledger.GeneralLedger):
    """Every frame element by element, each with its time."""

    def feed(self, text: Any, *, received_at: int | None = None) -> FrameResult:
        assert received_at is not None  # the tests give every frame its time
        return super().feed(text, received_at=received_at)


# --- against the reference model -------------------------------------------------------------


def _as_truth(topic: str, value: Any) -> Any:
    """The reference model's record of a decoded core value (enums as their wire text)."""
    if topic.startswith("order"):
        return OrderTruth(**{f: getattr(value, f) for f in OrderTruth.__dataclass_fields__})
    if topic.startswith("position"):
        return PositionTruth(**{f: getattr(value, f) for f in PositionTruth.__dataclass_fields__})
    fields = {f: getattr(value, f) for f in FillTruth.__dataclass_fields__ if f != "position_idx"}
    return FillTruth(**fields)


def _reference(topic: str, element: dict[str, Any]) -> Any:
    if topic.startswith("order"):
        return OrderTruth.from_wire(element)
    if topic.startswith("position"):
        return PositionTruth.from_wire(element)
    if topic.startswith("execution.fast"):
        return FillTruth.from_fast_wire(element)
    return FillTruth.from_wire(element)


def _wire_text(value: Any) -> Any:
    """Side, OrderStatus -> their wire text (a flat leg's side None -> "")."""
    return getattr(value, "value", value)


def _check_against_the_reference(line: str) -> None:
    tree = json.loads(line)
    decoded = decode(line)
    assert isinstance(decoded, DataFrame), line[:200]
    assert decoded.errors == [], decoded.errors
    FRAMES.validate_json(line)  # one pass: a clean frame never needs the slow way
    for element, value in zip(tree["data"], decoded.elements, strict=True):
        want = _reference(tree["topic"], element)
        got = _as_truth(tree["topic"], value)
        got = type(got)(**{f: _wire_text(getattr(got, f)) for f in got.__dataclass_fields__})
        if isinstance(got, PositionTruth) and got.side is None:
            got = PositionTruth(
                **{**{f: getattr(got, f) for f in got.__dataclass_fields__}, "side": ""}
            )
        assert got == want, (got, want)
        assert value.category == element["category"]


@settings(max_examples=60)
@given(s=session(fast_executions=None))
def test_every_frame_of_any_session_decodes_to_what_the_reference_model_reads(s: Any):
    for line in s.frames:
        _check_against_the_reference(line)


@settings(max_examples=30)
@given(s=session())
def test_a_rest_row_decodes_to_its_stream_element(s: Any):
    rest = {"order": order_from_rest, "execution": fill_from_rest, "position": position_from_rest}
    for line in s.frames:
        tree = json.loads(line)
        convert = rest.get(tree["topic"])
        if convert is None:
            continue
        decoded = decode(line)
        assert isinstance(decoded, DataFrame)
        for element, value in zip(tree["data"], decoded.elements, strict=True):
            row = convert(element)
            if tree["topic"] == "execution":
                value = value._replace(source=row.source)  # noqa: PLW2901 - the one difference
            assert repr(row) == repr(value)


_POISON_BASES = [
    *read_lines("real/frames.jsonl"),
    *session_from_seed(21, actions=20, fast_executions=True).frames,
]
_POISON_BASES = [line for line in _POISON_BASES if '"topic"' in line]


@given(data=st.data())
def test_a_poisoned_element_is_refused_alone_and_its_siblings_decode_as_without_it(data: Any):
    original = data.draw(st.sampled_from(_POISON_BASES), label="frame")
    poisoned = data.draw(poisoned_frames(original), label="poisoned")
    decoded = decode(poisoned.text)
    assert isinstance(decoded, DataFrame)
    assert [e.index for e in decoded.errors] == [poisoned.index], poisoned.how
    rest = poisoned.without_poisoned(original)
    assert rest is not None
    clean = decode(rest)
    assert isinstance(clean, DataFrame)
    assert [repr(v) for v in decoded.elements] == [repr(v) for v in clean.elements]
    exactly = decode_exactly(poisoned.text)  # what decode fell back to, with the reason
    assert isinstance(exactly, DataFrame)
    assert [(e.index, e.reason) for e in exactly.errors] == [
        (e.index, e.reason) for e in decoded.errors
    ]
    assert decoded.errors[0].reason


def test_every_table_names_the_core_fields_in_a_known_order():
    assert [c.core for c in ORDER.columns][:3] == ["order_id", "order_link_id", "category"]
    assert EXECUTION.context == ("source",)
    assert POSITION.column("side").rule.name == "position side"  # type: ignore[union-attr]


# --- one pass and element by element -----------------------------------------------------------


def _events(events: list[Any]) -> list[str]:
    # repr, not ==: it also tells Decimal("1.0") from Decimal("1")
    return [repr(event) for event in events]


def _result(result: FrameResult) -> tuple[Any, ...]:
    batch = result.batch
    return (
        result.outcome,
        result.topic,
        _events(result.events),
        result.control,
        batch.verdicts,
        [repr(update) for update in batch.order_updates],
        batch.orders,
        batch.fills,
        batch.legs,
    )


def _state(ledger: Ledger) -> tuple[Any, ...]:
    legs = sorted(
        (key, repr(leg.report), repr(leg.derived_net), leg.disagreement(), leg.mismatch_open)
        for key, leg in ledger.legs().items()
    )
    return (
        [repr(o) for o in ledger.orders()],
        [repr(f) for f in ledger.fills()],
        legs,
        [repr(o) for o in ledger.open_orders()],
        [(repr(o), repr(q)) for o, q in ledger.fill_gaps()],
        ledger.stats,
        ledger.has_pending,
        _events(ledger.settle(received_at=T0)),
    )


def _replay_both(lines: list[str], *, via_ingest: bool) -> None:
    fast, general = Ledger(settle_frames=5), GeneralLedger(settle_frames=5)
    for i, line in enumerate(lines):
        if via_ingest:
            got = fast.feed(line, received_at=T0 + i)
            want = general.feed(line, received_at=T0 + i)
            assert _result(got) == _result(want), line[:200]
        else:
            got_events = fast.apply_frame(line, received_at=T0 + i)
            want_events = general.apply_frame(line, received_at=T0 + i)
            assert _events(got_events) == _events(want_events), line[:200]
    assert _state(fast) == _state(general)


@pytest.mark.parametrize("via_ingest", [False, True])
@pytest.mark.parametrize(
    "name",
    [
        "sample-clean.jsonl.gz",
        "sample-dirty.jsonl.gz",
        "real/frames.jsonl",
        "real/frames_fixtures_edited.jsonl",
    ],
)
def test_one_pass_replays_every_bundled_capture_exactly_as_element_by_element(
    name: str, via_ingest: bool
):
    _replay_both(read_lines(name), via_ingest=via_ingest)


def test_one_pass_takes_the_usual_frames():
    taken = 0
    for line in read_lines("sample-clean.jsonl.gz"):
        FRAMES.validate_json(line)  # refusing any of these would be a slowdown
        taken += 1
    assert taken == len(read_lines("sample-clean.jsonl.gz"))
    assert (DATA / "sample-clean.jsonl.gz").exists()


def test_a_frame_of_valid_and_invalid_elements_is_applied_in_part_and_named():
    good = order(orderId="o-good", updatedTime=ms(1))
    bad = {**order(orderId="o-bad", updatedTime=ms(1)), "cumExecQty": "abc"}
    line = frame("order", good, bad)
    with pytest.raises(ValueError, match="cumExecQty"):
        FRAMES.validate_json(line)  # refused in one pass...
    result = Ledger().feed(line, received_at=5)  # ...and applied in part, element by element
    assert result.outcome.value == "malformed"
    assert "o-good" in result.batch.orders
    assert result.events[-1].reason.startswith("cumExecQty")  # type: ignore[attr-defined]


# --- mutated frames ------------------------------------------------------------------------

_ODD_VALUES: list[Any] = [
    "",
    "0",
    "-0",
    "-1",
    "1",
    "0.000",
    "1E+2",
    "1e5",
    "007",
    ".5",
    "5.",
    " 1",
    "1_0",
    "+1",
    "1e999",
    "NaN",
    "Infinity",
    "abc",
    "9" * 31,
    "1" * 30 + "." + "1" * 30,
    "1.5",
    1.5,
    1,
    0,
    -1,
    None,
    True,
    False,
    [],
    {},
    "Buy",
    "Sell",
    "None",
    "New",
    "Filled",
    "Cancelled",
    "Weird",
    "linear",
    "spot",
    "EC_OrigClOrdIDDoesNotExist",
    str(T0 + 5),
    T0 + 5,
    # poison: out of range, digits that are not ASCII, too many digits, non-canonical
    3,
    2,
    2**31,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    10**30,
    10**14,
    "1" * 15,
    "99999999999999",
    "\u00b2",
    "1\u00b2",
    "\u0661\u0662",
    "\uff11\uff12",
    "9" * 24,
    "9" * 25,
    "0." + "0" * 17 + "1",
    "0." + "0" * 18 + "1",
    "1e99",
    "1e100",
    1.0,
    "+1",
    "1.0",
    "1_000",
    "true",
]
_MISSING = object()


def _base_frames() -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "order": ("order", order(orderStatus="PartiallyFilled", cumExecQty="0.5", price="65000")),
        "order-filled": ("order.linear", order(orderStatus="Filled", cumExecQty="1")),
        "execution": ("execution", execution(execQty="0.5", seq=4600000002)),
        "position": ("position", position(size="0.5", seq=4600000002, updatedTime=ms(2))),
        "flat": ("position.linear", position(side="", size="0", seq=4600000003)),
    }


def _history() -> list[str]:
    """Frames applied first, so that mutated frames meet held state."""
    return [
        frame("order", order(updatedTime=ms(0))),
        frame("position", position(size="0.2", seq=4600000001, updatedTime=ms(0))),
    ]


@given(
    base=st.sampled_from(sorted(_base_frames())),
    data=st.data(),
    value=st.sampled_from([*_ODD_VALUES, _MISSING]),
)
def test_a_mutated_frame_does_the_same_both_ways(base: str, data: Any, value: Any):
    topic, element = _base_frames()[base]
    key = data.draw(st.sampled_from(sorted(element)), label="key")
    mutated = dict(element)
    if value is _MISSING:
        del mutated[key]
    else:
        mutated[key] = value
    _replay_both([*_history(), frame(topic, mutated)], via_ingest=True)


@pytest.mark.parametrize("base", sorted(_base_frames()))
def test_every_odd_value_of_every_modelled_field_does_the_same_both_ways(base: str):
    topic, element = _base_frames()[base]
    table = {"order": ORDER, "execution": EXECUTION, "position": POSITION}[topic.split(".")[0]]
    for key in (c.wire for c in table.columns):
        for value in [*_ODD_VALUES, _MISSING]:
            mutated = dict(element)
            if value is _MISSING:
                mutated.pop(key, None)
            else:
                mutated[key] = value
            _replay_both([*_history(), frame(topic, mutated)], via_ingest=False)


@given(
    key=st.sampled_from(["topic", "id", "creationTime", "data"]),
    value=st.sampled_from(
        [*_ODD_VALUES, "order", "execution", "position", "wallet", "greeks", _MISSING]
    ),
)
def test_a_mutated_envelope_does_the_same_both_ways(key: str, value: Any):
    envelope = json.loads(frame("order", order(updatedTime=ms(3))))
    if value is _MISSING:
        del envelope[key]
    else:
        envelope[key] = value
    _replay_both([*_history(), json.dumps(envelope)], via_ingest=True)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"positionIdx":0', '"positionIdx":3,"positionIdx":0'),
        ('"positionIdx":0', '"positionIdx":0,"positionIdx":3'),
        ('"updatedTime":', '"updatedTime":"\u00b2","updatedTime":'),
        ('"qty":"1"', '"qty":"1","qty":"1e999"'),
        ('"reduceOnly":false', '"reduceOnly":false,"reduceOnly":null'),
        ('"creationTime":', '"creationTime":"\u00b2","creationTime":'),
        ('"symbol":"BTCUSDT"', '"symbol":"BTCUSDT","symbol":"ETHUSDT"'),
        ('"topic":"order"', '"topic":"order","topic":"position"'),
        ('"topic":"order"', '"topic":"position","topic":"order"'),
        ('"qty":"1"', '"qty":"1","qty":"-1"'),
        ('"side":"Buy"', '"side":"Sell","side":"Buy"'),
        ('"data":[', '"data":[],"data":['),
    ],
)
def test_duplicate_keys_do_the_same_both_ways(old: str, new: str):
    line = frame("order", order(updatedTime=ms(3)))
    assert old in line
    _replay_both([*_history(), line.replace(old, new, 1)], via_ingest=True)


@pytest.mark.parametrize(
    "line",
    [
        b'{"topic":"order","data":[\xff]}',
        frame("order").encode(),
        frame("order", order(updatedTime=ms(3))).encode(),
        "[]",
        "{",
        "",
        '{"op":"pong"}',
        '{"topic":"order","data":[{}]}',
        frame("order", {**order(updatedTime=ms(3)), "category": ""}),
        frame("position", {k: v for k, v in position().items() if k != "category"}),
    ],
)
def test_odd_frames_do_the_same_both_ways(line: str | bytes):
    _replay_both([*_history(), line], via_ingest=True)  # type: ignore[list-item]


# --- poison (oms.testing.poison) ------------------------------------------------------------

_POISON_BASES = [
    *read_lines("real/frames.jsonl"),
    *session_from_seed(21, actions=20, fast_executions=True).frames,
]
_POISON_BASES = [line for line in _POISON_BASES if '"topic"' in line]


@given(data=st.data())
def test_a_poisoned_frame_does_the_same_both_ways(data: Any):
    original = data.draw(st.sampled_from(_POISON_BASES), label="frame")
    poisoned = data.draw(
        st.one_of(poisoned_frames(original), poisoned_envelopes(original)), label="poisoned"
    )
    _replay_both([*_history(), poisoned.text], via_ingest=True)
    _replay_both([*_history(), poisoned.text], via_ingest=False)


@given(value=non_text_inputs())
def test_input_that_is_not_text_does_the_same_both_ways(value: Any):
    _replay_both([*_history(), value], via_ingest=True)


def test_cached_numbers_are_exactly_the_parsed_ones():
    for text in ("0", "0.0", "-0", "1E+2", "100", "0.049", "65000.50"):
        cached = parse_decimal(text)
        assert cached is parse_decimal(text)
        assert repr(cached) == repr(Decimal(text))
    assert AVG_PRICES[""] is None
    assert AVG_PRICES["0"] is None
    assert AVG_PRICES["0.00"] is None
    assert repr(AVG_PRICES["65000.0"]) == repr(Decimal("65000.0"))
