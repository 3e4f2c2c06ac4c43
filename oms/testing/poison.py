"""Poison: values a real frame carries only when something upstream went wrong (or someone
crafts them), each one a copy of a valid frame with one field of one element poisoned.

``poisoned_frames(frame)`` poisons one field of one element of a valid data frame and
says which element (``Poisoned.index``): a consumer must refuse exactly that element
and apply its siblings as if it had not been there (``Poisoned.without_poisoned``).
``poisoned_envelopes(frame)`` poisons the envelope instead (``creationTime``, ``id``,
``topic``, ``data``): the whole frame must be refused. ``non_text_inputs()`` are objects
that are not a frame at all (None, a number, a list, bytes that are not
UTF-8): refused as malformed, never raised.

The poison, per field (the rules of ``oms.bybit.rules``):

- integers out of range: ``positionIdx`` not in {0, 1, 2} (3, -1, 2**31, 2**63),
  ``seq`` outside a signed 64-bit integer, times of 15 or more digits or negative;
- digits that are not ASCII: superscripts (``"²"``), Arabic-Indic, Devanagari,
  fullwidth, mathematical digits, mixed into ASCII ones, in numbers and times;
- decimal text with a huge exponent (``"1e999"``) or too many digits (more than 24
  before the point or 18 after), NaN, Infinity, signs and separators Bybit never sends;
- JSON ``null`` where a value is required (a field that may be empty reads ``null`` as
  ``""``: see ``oms.bybit.rules``, so it is no poison there);
- the wrong JSON type in every field: a number for text, text for an integer, a bool
  for a number, an object, a list; a negative quantity; an unknown side or status;
- the same key twice with the poison last (the last one wins);
- an element that is not an object.

Example::

    @given(st.data())
    def test_poison_is_refused_and_the_rest_applied(data):
        s = data.draw(session(max_actions=8))
        poisoned = data.draw(poisoned_frames(s.frames[0]))
        result = Ledger().feed(poisoned.text)
        assert result.outcome is Outcome.MALFORMED
        assert [e.index for e in result.events if isinstance(e, MalformedFrame)] == [
            poisoned.index
        ]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from hypothesis import strategies as st

from oms.bybit.frames import TOPICS
from oms.testing.poison_values import (
    RawJSON,
    labelled,
    poison_values,
    wrong_for_millis,
    wrong_for_text,
)

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "FIELD_RULES",
    "Poisoned",
    "RawJSON",
    "non_text_inputs",
    "poison_values",
    "poisoned_envelopes",
    "poisoned_frames",
]


@dataclass(frozen=True, slots=True)
class Poisoned:
    """A copy of a valid frame with one poisoned value.

    ``index`` is the element of ``data`` that holds the poison, or None when the envelope
    does (then the whole frame is unusable). ``field`` is the poisoned key (None: the
    element itself is not an object); ``how`` says what was done, for failure messages.
    """

    text: str
    index: int | None
    field: str | None
    how: str

    def without_poisoned(self, original: str) -> str | None:
        """``original`` without the poisoned element (None for a poisoned envelope): what
        the valid part of ``text`` must do."""
        if self.index is None:
            return None
        tree = json.loads(original)
        tree["data"] = [e for i, e in enumerate(tree["data"]) if i != self.index]
        return json.dumps(tree, separators=(",", ":"), ensure_ascii=False)


# --- the rules of each field --------------------------------------------------------------

#: Field -> its rule, per topic (``execution.fast`` and the categorised topics share
#: their base topic's). Mirrors ``oms.bybit.wire``; ``tests`` check it covers every
#: modelled field.
FIELD_RULES: Final[dict[str, dict[str, str]]] = {
    "order": {
        "category": "category", "symbol": "text", "orderId": "text",
        "orderLinkId": "optional text", "side": "side", "positionIdx": "position index",
        "orderStatus": "status", "orderType": "optional text",
        "stopOrderType": "optional text", "qty": "quantity", "price": "decimal",
        "triggerPrice": "decimal", "cumExecQty": "quantity", "cumExecValue": "decimal",
        "cumExecFee": "decimal", "leavesQty": "decimal", "avgPrice": "decimal",
        "reduceOnly": "bool", "timeInForce": "optional text", "createType": "optional text",
        "cancelType": "optional text", "rejectReason": "optional text",
        "createdTime": "millis", "updatedTime": "millis",
    },
    "execution": {
        "category": "category", "symbol": "text", "execId": "text",
        "orderId": "optional text", "orderLinkId": "optional text", "side": "side",
        "execType": "text", "execQty": "quantity", "execPrice": "required decimal",
        "execValue": "decimal", "execFee": "decimal", "feeRate": "decimal",
        "isMaker": "optional bool", "closedSize": "decimal", "leavesQty": "decimal",
        "execTime": "millis", "seq": "optional seq",
    },
    "execution.fast": {
        "category": "category", "symbol": "text", "execId": "text",
        "orderId": "optional text", "orderLinkId": "optional text", "side": "side",
        "execQty": "quantity", "execPrice": "required decimal", "isMaker": "optional bool",
        "execTime": "millis", "seq": "optional seq",
    },
    "position": {
        "category": "category", "symbol": "text", "positionIdx": "position index",
        "side": "position side", "size": "quantity", "entryPrice": "decimal",
        "markPrice": "decimal", "unrealisedPnl": "decimal", "cumRealisedPnl": "decimal",
        "seq": "seq", "updatedTime": "millis",
    },
    "wallet": {
        "accountType": "optional text", "totalEquity": "decimal",
        "totalWalletBalance": "decimal", "totalAvailableBalance": "decimal",
        "totalInitialMargin": "decimal", "totalMaintenanceMargin": "decimal",
        "coin": "coins",
    },
}  # fmt: skip

# --- writing frames -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pairs:
    """A JSON object as written: its (key, value) pairs in order, repeats allowed."""

    items: list[tuple[str, Any]]


def _dump(value: object) -> str:
    """Compact JSON, with ``RawJSON`` tokens as they are and keys given as (key, value) pairs
    (``_Pairs``) kept even when repeated."""
    if isinstance(value, RawJSON):
        return value.token
    if isinstance(value, _Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{_dump(v)}" for k, v in value.items) + "}"
    if isinstance(value, dict):
        return _dump(_Pairs(list(value.items())))
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _rules_of(tree: dict[str, Any]) -> dict[str, str]:
    topic = tree.get("topic")
    kind = TOPICS.get(topic) if isinstance(topic, str) else None
    if kind is None or not isinstance(tree.get("data"), list) or not tree["data"]:
        raise ValueError(
            "poisoned_frames() takes a non-empty data frame of a tracked topic "
            f"(order, execution, execution.fast, position, wallet), not topic {topic!r}"
        )
    return FIELD_RULES[kind.value]


def _with_element(tree: dict[str, Any], index: int, element: object) -> str:
    data = list(tree["data"])
    data[index] = element
    return _dump({**tree, "data": data})


def poisoned_frames(frame: str) -> SearchStrategy[Poisoned]:
    """Copies of one valid data frame (``order``, ``execution``, ``execution.fast``,
    ``position`` or ``wallet``, categorised or not) with one field of one element
    poisoned: replaced by a value its rule refuses (see the module doc), or repeated
    with the poison last. Sometimes the element itself is replaced by a non-object.
    ``Poisoned.index`` names the element; its siblings are untouched."""
    tree = json.loads(frame)
    rules = _rules_of(tree)
    data = tree["data"]

    def poison_field(index: int, name: str, label: str, value: object, repeat: bool) -> Poisoned:
        element = data[index]
        pairs = [(k, v) for k, v in element.items() if k != name or repeat]
        if repeat and name in element:
            how = f"{name} repeated, last {value!r} ({label})"
        else:
            how = f"{name}={value!r} ({label})"
        pairs.append((name, value))
        return Poisoned(_with_element(tree, index, _Pairs(pairs)), index, name, how)

    def one_field(index: int, name: str) -> SearchStrategy[Poisoned]:
        return st.tuples(poison_values(rules[name]), st.booleans()).map(
            lambda p: poison_field(index, name, p[0][0], p[0][1], p[1])
        )

    def not_an_object(index: int) -> SearchStrategy[Poisoned]:
        return st.sampled_from([None, 5, "x", [], True, [data[index]]]).map(
            lambda v: Poisoned(
                _with_element(tree, index, v), index, None, f"element {index} is {v!r}"[:80]
            )
        )

    # A field of the element, or (as often as any one field) the element itself.
    targets = st.sampled_from([*sorted(rules), None])
    return st.tuples(st.integers(0, len(data) - 1), targets).flatmap(
        lambda t: not_an_object(t[0]) if t[1] is None else one_field(*t)  # type: ignore[arg-type]
    )


def poisoned_envelopes(frame: str) -> SearchStrategy[Poisoned]:
    """Copies of one valid data frame with its envelope poisoned: ``creationTime`` out of
    range, not ASCII digits, or of the wrong type; ``id``, ``topic`` or ``data`` null or
    of the wrong type. Nothing of such a frame is usable (``Poisoned.index`` is None)."""
    tree = json.loads(frame)
    _rules_of(tree)

    def envelope(key: str, label: str, value: object) -> Poisoned:
        pairs = [(k, v) for k, v in tree.items() if k != key]
        pairs.insert(0, (key, value))
        return Poisoned(_dump(_Pairs(pairs)), None, key, f"{key}={value!r} ({label})")

    creation = wrong_for_millis() | labelled(st.just(""), "empty")
    return st.one_of(
        creation.map(lambda p: envelope("creationTime", *p)),
        wrong_for_text().map(lambda p: envelope("id", *p)),
        wrong_for_text().map(lambda p: envelope("topic", *p)),
        labelled(st.sampled_from([None, {}, "x", 5, True]), "not a list").map(
            lambda p: envelope("data", *p)
        ),
    )


# --- not text at all ----------------------------------------------------------------------


def _not_utf8() -> SearchStrategy[bytes]:
    """Bytes that are not UTF-8: a stray continuation byte, a lead byte cut short, an
    overlong form or a surrogate's encoding, somewhere in otherwise plain bytes."""
    bad = st.sampled_from(
        [b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80"]
    )
    return (
        st.tuples(st.binary(max_size=40), bad, st.binary(max_size=40))
        .map(lambda p: p[0] + p[1] + p[2])
        .filter(_is_not_utf8)
    )


def _is_not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def non_text_inputs(frames: tuple[str, ...] | list[str] = ()) -> SearchStrategy[object]:
    """What must never be taken for a frame: objects that are neither text nor a mapping
    (None, bools, numbers, lists, tuples, sets, plain objects, and ``frames`` parsed and
    wrapped in a list), and bytes, ``bytearray`` and ``memoryview`` that are not UTF-8. A
    consumer refuses each as malformed (for the non-text ones naming the type) and goes
    on."""
    json_like = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    )
    choices: list[SearchStrategy[object]] = [
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.decimals(allow_nan=False, allow_infinity=False),
        st.lists(json_like, max_size=4),
        st.tuples(st.text(max_size=5)),
        st.frozensets(st.integers(), max_size=3),
        st.builds(object),
        _not_utf8(),
        _not_utf8().map(bytearray),
        _not_utf8().map(memoryview),
    ]
    if frames:
        # a parsed frame is a frame (a mapping); inside a list it is not
        choices.append(st.sampled_from(list(frames)).map(lambda f: [json.loads(f)]))
    return st.one_of(choices)
