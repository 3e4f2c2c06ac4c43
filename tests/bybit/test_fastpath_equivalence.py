"""The fast path (``oms.bybit.translate.FAST_FRAMES``) changes speed, never behaviour.

A ledger that takes every frame the general way (``decode`` and the translators) is the
reference: fed the same frames, the usual ``Ledger`` must produce the same events (down to
each Decimal's representation), the same per-frame results and stats, and the same state.
Frames the fast path refuses (bad values, anything unusual) must come out the same too,
since the fast path then hands them to the general path untouched.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms import Ledger
from oms.bybit.messages import ExecutionMsg, OrderMsg, PositionMsg
from oms.bybit.translate import AVG_PRICES, FAST_FRAMES, parse_decimal
from oms.testing import non_text_inputs, poisoned_envelopes, poisoned_frames, session_from_seed
from tests.conftest import DATA, read_lines
from tests.core.frames import T0, execution, frame, ms, order, position

if TYPE_CHECKING:
    from oms.bybit.ledger import FrameResult


class GeneralLedger(Ledger):
    """A ledger that never takes the fast path."""

    def apply_frame(self, text: str | bytes, *, received_at: int | None = None) -> list[Any]:
        return self.ingest(text, received_at=received_at).events

    def ingest(self, text: str | bytes, *, received_at: int | None = None) -> FrameResult:
        assert received_at is not None  # the tests give every frame its time
        return self._ingest_generally(text, received_at)


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
            got = fast.ingest(line, received_at=T0 + i)
            want = general.ingest(line, received_at=T0 + i)
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
def test_the_fast_path_replays_every_bundled_capture_exactly_as_the_general_path(
    name: str, via_ingest: bool
):
    _replay_both(read_lines(name), via_ingest=via_ingest)


def test_the_fast_path_takes_the_usual_frames():
    taken = 0
    for line in read_lines("sample-clean.jsonl.gz"):
        FAST_FRAMES.validate_json(line)  # refusing any of these would be a slowdown
        taken += 1
    assert taken == len(read_lines("sample-clean.jsonl.gz"))
    assert (DATA / "sample-clean.jsonl.gz").exists()


def test_a_frame_of_valid_and_invalid_elements_is_applied_in_part_and_named():
    good = order(orderId="o-good", updatedTime=ms(1))
    bad = {**order(orderId="o-bad", updatedTime=ms(1)), "cumExecQty": "abc"}
    line = frame("order", good, bad)
    with pytest.raises(ValueError, match="cumExecQty"):
        FAST_FRAMES.validate_json(line)  # refused by the fast path...
    result = Ledger().ingest(line, received_at=5)  # ...and applied in part, as before
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
def test_a_mutated_frame_does_the_same_on_both_paths(base: str, data: Any, value: Any):
    topic, element = _base_frames()[base]
    key = data.draw(st.sampled_from(sorted(element)), label="key")
    mutated = dict(element)
    if value is _MISSING:
        del mutated[key]
    else:
        mutated[key] = value
    _replay_both([*_history(), frame(topic, mutated)], via_ingest=True)


@pytest.mark.parametrize("base", sorted(_base_frames()))
def test_every_odd_value_of_every_modelled_field_does_the_same_on_both_paths(base: str):
    topic, element = _base_frames()[base]
    model = {
        "order": OrderMsg,
        "execution": ExecutionMsg,
        "position": PositionMsg,
    }[topic.split(".")[0]]
    for key in model.model_fields:
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
def test_a_mutated_envelope_does_the_same_on_both_paths(key: str, value: Any):
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
def test_duplicate_keys_do_the_same_on_both_paths(old: str, new: str):
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
def test_odd_frames_do_the_same_on_both_paths(line: str | bytes):
    _replay_both([*_history(), line], via_ingest=True)  # type: ignore[list-item]


# --- poison (oms.testing.poison) ------------------------------------------------------------

_POISON_BASES = [
    *read_lines("real/frames.jsonl"),
    *session_from_seed(21, actions=20, fast_executions=True).frames,
]
_POISON_BASES = [line for line in _POISON_BASES if '"topic"' in line]


@given(data=st.data())
def test_a_poisoned_frame_does_the_same_on_both_paths(data: Any):
    original = data.draw(st.sampled_from(_POISON_BASES), label="frame")
    poisoned = data.draw(
        st.one_of(poisoned_frames(original), poisoned_envelopes(original)), label="poisoned"
    )
    _replay_both([*_history(), poisoned.text], via_ingest=True)
    _replay_both([*_history(), poisoned.text], via_ingest=False)


@given(value=non_text_inputs())
def test_input_that_is_not_text_does_the_same_on_both_paths(value: Any):
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
