"""Poisoned frames (``oms.testing.poison``): the ledger refuses exactly the poisoned element,
applies its siblings exactly as if it had not been there, never raises, and a stream with
poison mixed in ends where the clean stream ends ("the stream never stops")."""

from __future__ import annotations

import importlib
import json
from typing import Any

from hypothesis import given, note
from hypothesis import strategies as st

import oms.testing
from oms import Ledger, MalformedFrame, Outcome
from oms.testing import (
    FIELD_RULES,
    Poisoned,
    RawJSON,
    ledger_differences,
    non_text_inputs,
    poison_values,
    poisoned_envelopes,
    poisoned_frames,
    session,
    session_from_seed,
)
from tests.conftest import read_lines

#: Data frames of the real captures (every one valid), with what a session brings.
REAL = [
    line
    for name in ("real/frames.jsonl", "real/frames_fixtures_edited.jsonl")
    for line in read_lines(name)
    if '"topic"' in line
]
BASE = session_from_seed(11, actions=30, fast_executions=True)


def _merged(frames: list[str]) -> list[str]:
    """Frames of one topic next to each other, merged into one frame of several elements
    (Bybit batches elements too): siblings to keep apart from the poisoned element."""
    merged: list[str] = []
    for frame in frames:
        tree = json.loads(frame)
        if merged and json.loads(merged[-1])["topic"] == tree["topic"]:
            last = json.loads(merged.pop())
            last["data"] += tree["data"]
            tree = last
        merged.append(json.dumps(tree, separators=(",", ":")))
    return merged


def state(ledger: Ledger) -> tuple[Any, ...]:
    """Everything observable, down to each Decimal's repr, but the frame counters."""
    legs = sorted(
        (key, repr(leg.report), repr(leg.derived_net), leg.disagreement(), leg.mismatch_open)
        for key, leg in ledger.legs().items()
    )
    return (
        [repr(o) for o in ledger.orders()],
        [repr(f) for f in ledger.fills()],
        legs,
        [repr(r) for r in ledger.position_reports()],
        [repr(o) for o in ledger.open_orders()],
        [(repr(o), repr(q)) for o, q in ledger.fill_gaps()],
        sorted((k, repr(v)) for k, v in ledger.wallet().items()),
        ledger.has_pending,
    )


def settled_state(ledger: Ledger) -> tuple[Any, ...]:
    """``state`` in an order-free form (first-seen and booking order aside), after settle:
    for streams whose frames arrive in another order."""
    ledger.settle(received_at=0)
    legs = sorted(
        (key, repr(leg.report), repr(leg.derived_net), leg.disagreement())
        for key, leg in ledger.legs().items()
    )
    return (
        sorted(repr(o) for o in ledger.orders()),
        sorted(repr(f) for f in ledger.fills()),
        legs,
        sorted(repr(o) for o in ledger.open_orders()),
        sorted(repr(gap) for gap in ledger.fill_gaps()),
        sorted((k, repr(v)) for k, v in ledger.wallet().items()),
    )


def replayed(frames: list[str]) -> Ledger:
    ledger = Ledger(settle_frames=5)
    for i, frame in enumerate(frames):
        ledger.feed(frame, received_at=i)
    return ledger


def malformed(events: list[Any]) -> list[MalformedFrame]:
    return [e for e in events if isinstance(e, MalformedFrame)]


def others(events: list[Any]) -> list[str]:
    return [repr(e) for e in events if not isinstance(e, MalformedFrame)]


@st.composite
def poisoned_in_context(draw: st.DrawFn) -> tuple[list[str], str, Poisoned, list[str]]:
    """(frames before, the original frame, its poisoned copy, frames after): the copy
    meets held state, and the stream goes on after it."""
    if draw(st.booleans(), label="real frame"):
        frames = REAL
        index = draw(st.integers(0, len(frames) - 1), label="frame")
        history: list[str] = []
    else:
        frames = _merged(draw(session(max_actions=10), label="session").frames)
        index = draw(st.integers(0, len(frames) - 1), label="frame")
        history = frames[:index]
    original = frames[index]
    poisoned = draw(poisoned_frames(original), label="poisoned")
    note(f"poisoned element {poisoned.index}: {poisoned.how}")
    return history, original, poisoned, frames[index + 1 :] if history else []


# --- never raises ---------------------------------------------------------------------------


@given(poisoned_in_context())
def test_apply_frame_and_feed_never_raise_for_poison(case):
    history, _, poisoned, after = case
    for method in ("apply_frame", "feed", "ingest"):
        ledger = replayed(history)
        getattr(ledger, method)(poisoned.text, received_at=10**12)
        for frame in after:
            ledger.apply_frame(frame, received_at=10**12)
        assert ledger.stats["frames"] == len(history) + 1 + len(after)


@given(st.data())
def test_a_poisoned_envelope_is_refused_whole_and_changes_nothing(data):
    original = data.draw(st.sampled_from(REAL + BASE.frames), label="frame")
    poisoned = data.draw(poisoned_envelopes(original), label="poisoned")
    note(poisoned.how)
    ledger = replayed(BASE.frames[:5])
    before = state(ledger)
    result = ledger.feed(poisoned.text, received_at=10**12)
    assert result.outcome is Outcome.MALFORMED
    assert [e.index for e in malformed(result.events)] == [None]
    assert result.events == malformed(result.events)
    assert state(ledger) == before
    assert ledger.apply_frame(poisoned.text, received_at=10**12)[0].reason  # type: ignore[attr-defined]


@given(non_text_inputs(tuple(REAL[:6])))
def test_input_that_is_not_text_is_malformed_never_raised(value):
    for method in ("apply_frame", "feed", "ingest"):
        ledger = replayed(BASE.frames[:5])
        before = state(ledger)
        outcome = getattr(ledger, method)(value, received_at=10**12)
        events = outcome if method == "apply_frame" else outcome.events
        (event,) = events
        assert isinstance(event, MalformedFrame)
        if not isinstance(value, bytes | bytearray | memoryview):
            assert f"not text but {type(value).__name__}" in event.reason
        assert state(ledger) == before
        assert ledger.stats["malformed"] == 1
        assert ledger.stats["frames"] == 6


# --- exactly the poisoned element is refused --------------------------------------------------


@given(poisoned_in_context())
def test_the_poisoned_element_is_refused_with_a_reason_naming_it(case):
    history, original, poisoned, _ = case
    result = replayed(history).feed(poisoned.text, received_at=10**12)
    assert result.outcome is Outcome.MALFORMED
    (refused,) = malformed(result.events)
    assert refused.index == poisoned.index
    assert refused.topic == json.loads(original)["topic"]
    if poisoned.field is None:  # the element itself is not an object
        assert refused.reason.startswith("element")
    else:
        assert refused.reason.startswith(poisoned.field), refused.reason


@given(poisoned_in_context())
def test_the_siblings_are_applied_exactly_as_without_the_poisoned_element(case):
    history, original, poisoned, after = case
    without = poisoned.without_poisoned(original)
    assert without is not None
    dirty, clean = replayed(history), replayed(history)
    got = dirty.feed(poisoned.text, received_at=10**12)
    want = clean.feed(without, received_at=10**12)
    assert others(got.events) == others(want.events)
    assert got.batch.verdicts == want.batch.verdicts
    assert (got.batch.orders, got.batch.fills, got.batch.legs) == (
        want.batch.orders,
        want.batch.fills,
        want.batch.legs,
    )
    assert state(dirty) == state(clean)
    for i, frame in enumerate(after):  # and the stream goes on the same
        assert others(dirty.apply_frame(frame, received_at=i)) == others(
            clean.apply_frame(frame, received_at=i)
        )
    assert state(dirty) == state(clean)
    # the counters differ by this frame's outcome only: malformed instead of its own
    stats = dirty.stats
    stats["malformed"] -= 1
    stats[want.outcome.value] += 1
    assert stats == clean.stats


# --- the stream never stops ---------------------------------------------------------------


@given(st.data())
def test_a_stream_with_poison_mixed_in_ends_where_the_clean_stream_ends(data):
    s = data.draw(session(max_actions=12), label="session")
    frames = _merged(s.frames)
    stream = list(frames)
    copies = data.draw(st.integers(1, 6), label="poisoned copies")
    for _ in range(copies):
        original = data.draw(st.sampled_from(frames), label="original")
        poisoned = data.draw(st.one_of(poisoned_frames(original), poisoned_envelopes(original)))
        at = data.draw(st.integers(0, len(stream)), label="at")
        note(f"at {at}: {poisoned.how}")
        stream.insert(at, poisoned.text)
    clean, dirty = replayed(frames), replayed(stream)
    assert ledger_differences(dirty, s.truth) == []
    assert settled_state(dirty) == settled_state(clean)
    assert dirty.stats["frames"] == clean.stats["frames"] + copies
    assert dirty.stats["malformed"] == clean.stats["malformed"] + copies


# --- the strategies themselves ------------------------------------------------------------


def test_the_poison_strategies_are_exported_and_documented():
    module = importlib.import_module("oms.testing.poison")
    assert module.__doc__
    for public in module.__all__:
        assert getattr(oms.testing, public) is getattr(module, public)
        assert public in oms.testing.__all__
        assert getattr(module, public).__doc__, public


def test_the_field_rules_cover_every_modelled_field():
    from oms.bybit.messages import (  # noqa: PLC0415 - only this test needs the models
        ExecutionMsg,
        FastExecutionMsg,
        OrderMsg,
        PositionMsg,
        WalletMsg,
    )

    models = {
        "order": OrderMsg,
        "execution": ExecutionMsg,
        "execution.fast": FastExecutionMsg,
        "position": PositionMsg,
        "wallet": WalletMsg,
    }
    assert {topic: sorted(m.model_fields) for topic, m in models.items()} == {
        topic: sorted(rules) for topic, rules in FIELD_RULES.items()
    }


@given(st.data())
def test_every_poison_value_is_refused_by_its_own_field_alone(data):
    """Each rule's poison, in a plain valid element: refused, whatever the field."""
    topic = data.draw(st.sampled_from(sorted(FIELD_RULES)), label="topic")
    original = next(f for f in REAL if json.loads(f)["topic"] == topic)
    tree = json.loads(original)
    name = data.draw(st.sampled_from(sorted(FIELD_RULES[topic])), label="field")
    label, value = data.draw(poison_values(FIELD_RULES[topic][name]), label="poison")
    note(f"{topic}.{name} = {value!r} ({label})")
    text = _raw_json(tree, {**tree["data"][0], name: value})
    result = Ledger().feed(text, received_at=1)
    assert result.outcome is Outcome.MALFORMED, text[:300]
    assert [e.index for e in malformed(result.events)] == [0]


def _raw_json(tree: dict[str, Any], element: dict[str, Any]) -> str:
    """The frame with ``element`` as its only element, ``RawJSON`` values as their tokens."""
    marks: dict[str, str] = {}

    def mark(value: object) -> object:
        if isinstance(value, RawJSON):
            marks[f"__raw{len(marks)}__"] = value.token
            return f"__raw{len(marks) - 1}__"
        return value

    text = json.dumps({**tree, "data": [{k: mark(v) for k, v in element.items()}]})
    for key, token in marks.items():
        text = text.replace(f'"{key}"', token)
    return text


def test_the_module_example_runs():
    @given(st.data())
    def test_poison_is_refused_and_the_rest_applied(data):
        s = data.draw(session(max_actions=8))
        poisoned = data.draw(poisoned_frames(s.frames[0]))
        result = Ledger().feed(poisoned.text)
        assert result.outcome is Outcome.MALFORMED
        assert [e.index for e in result.events if isinstance(e, MalformedFrame)] == [poisoned.index]

    test_poison_is_refused_and_the_rest_applied()
