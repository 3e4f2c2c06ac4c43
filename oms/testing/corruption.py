"""Malformed input: corrupted copies of valid frames, and arbitrary garbage.

``corrupted(frame)`` knows which elements of its copy are bad (``Corruption.bad_elements``),
so a test can check that exactly those are refused and their valid siblings applied.

Example::

    @given(st.data())
    def test_a_corrupted_frame_changes_nothing_it_should_not(data):
        s = data.draw(session(max_actions=12))
        bad = data.draw(corrupted(s.frames[0]))
        result = Ledger().feed(bad.text)
        assert result.outcome is Outcome.MALFORMED
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from hypothesis import strategies as st

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = ["Corruption", "corrupted", "garbage"]

_NAN: Final = "__oms_testing_nan__"
_WRONG_ANY: Final[tuple[object, ...]] = ([], {}, [1, "2"], {"a": "1"})
# JSON null is wrong only where a value is required: in a field Bybit may leave empty
# ("" has a meaning there), null reads as "" (see the README's "Nulls at the boundary").
_WRONG_FOR: Final[dict[str, tuple[object, ...]]] = {
    # exact decimal text: no JSON numbers, no NaN/Infinity, no words ("" is absent)
    "decimal": ("abc", "NaN", "Infinity", "-Infinity", "1.2.3", "0x10", "1,5", 1.5, 7, True,
                _NAN),
    "required decimal": ("", "abc", "NaN", "Infinity", 1.5, 7, True, None, _NAN),
    # strings: not numbers or booleans; a required one not null either
    "string": (5, 1.5, True, _NAN),
    "required string": (None, 5, 1.5, True, _NAN),
    # strings Bybit spells from a fixed set
    "enum": ("abc", "", "buy", None, 5, 1.5, _NAN),
    "position side": ("abc", "buy", "Long", 5, 1.5, _NAN),  # "" is flat
    # JSON ints: not words, fractions or null
    "int": ("abc", 1.5, "1.5", None, _NAN),
    "optional int": ("abc", 1.5, "1.5", _NAN),
    # JSON bools
    "bool": ("abc", 1.5, 5, None, _NAN),
    "optional bool": ("abc", 1.5, 5, _NAN),
    # milliseconds: digits as a string or a JSON int ("" is unknown)
    "millis": ("abc", "1.5", 1.5, _NAN),
}  # fmt: skip
_FIELDS: Final[dict[str, dict[str, str]]] = {
    "order": {
        "category": "string", "symbol": "required string", "orderId": "required string",
        "orderLinkId": "string", "side": "enum", "positionIdx": "int", "orderStatus": "enum",
        "orderType": "string",
        "stopOrderType": "string", "qty": "required decimal", "price": "decimal",
        "triggerPrice": "decimal", "cumExecQty": "required decimal", "cumExecValue": "decimal",
        "cumExecFee": "decimal", "leavesQty": "decimal", "avgPrice": "decimal",
        "reduceOnly": "bool", "timeInForce": "string", "createType": "string",
        "cancelType": "string", "rejectReason": "string", "createdTime": "millis",
        "updatedTime": "millis",
    },
    "execution": {
        "category": "string", "symbol": "required string", "execId": "required string",
        "orderId": "string",
        "orderLinkId": "string", "side": "enum", "execType": "required string",
        "execQty": "required decimal", "execPrice": "required decimal", "execValue": "decimal",
        "execFee": "decimal", "feeRate": "decimal", "isMaker": "optional bool",
        "closedSize": "decimal", "leavesQty": "decimal", "execTime": "millis",
        "seq": "optional int",
    },
    "execution.fast": {
        "category": "string", "symbol": "required string", "execId": "required string",
        "orderId": "string",
        "orderLinkId": "string", "side": "enum", "execQty": "required decimal",
        "execPrice": "required decimal", "isMaker": "optional bool", "execTime": "millis",
        "seq": "optional int",
    },
    "position": {
        "category": "string", "symbol": "required string", "positionIdx": "int",
        "side": "position side", "size": "required decimal", "entryPrice": "decimal",
        "markPrice": "decimal",
        "unrealisedPnl": "decimal", "cumRealisedPnl": "decimal", "seq": "int",
        "updatedTime": "millis",
    },
}  # fmt: skip
#: Fields whose absence makes an element invalid.
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "order": ("category", "symbol", "orderId", "side", "orderStatus", "qty", "cumExecQty",
              "updatedTime"),
    "execution": ("category", "symbol", "execId", "side", "execType", "execQty", "execPrice",
                  "execTime"),
    "execution.fast": ("category", "symbol", "execId", "side", "execQty", "execPrice",
                       "execTime"),
    "position": ("symbol", "side", "size"),
}  # fmt: skip


class _Remove:
    def __repr__(self) -> str:
        return "<removed>"


_REMOVE: Final = _Remove()


@dataclass(frozen=True, slots=True)
class Corruption:
    """A malformed copy of a valid data frame.

    ``bad_elements`` names the elements of ``data`` that are invalid (their valid siblings
    may still be applied); None means the whole frame is unusable.
    """

    text: str
    how: str
    bad_elements: frozenset[int] | None = None

    def valid_part(self, original: str) -> str | None:
        """The original frame without its bad elements (None if nothing of it is usable)."""
        if self.bad_elements is None:
            return None
        tree = json.loads(original)
        tree["data"] = [e for i, e in enumerate(tree["data"]) if i not in self.bad_elements]
        return json.dumps(tree, separators=(",", ":"))


def _dump(tree: object) -> str:
    return json.dumps(tree, separators=(",", ":")).replace(f'"{_NAN}"', "NaN")


def corrupted(frame: str) -> SearchStrategy[Corruption]:
    """Malformed copies of one valid ``order``, ``execution``, ``execution.fast`` or
    ``position`` frame:
    truncated text, a field of one element replaced by a value of the wrong JSON type
    (``"abc"`` for a number, null, a list, NaN, a float...), a required field removed, an
    element that is not an object, ``data`` missing or not a list, a bad envelope."""
    original = _Original(frame)
    data = original.data
    element_level = st.integers(0, len(data) - 1).flatmap(
        lambda i: st.one_of(
            original.wrong_field(i), original.missing_field(i), original.not_an_object(i)
        )
    )
    truncated = st.integers(1, len(frame) - 1).map(
        lambda n: Corruption(frame[:n], f"truncated at {n}")
    )
    return st.one_of(element_level, truncated, original.bad_envelope())


class _Original:
    """The valid frame ``corrupted()`` copies, parsed once: each method gives one kind of
    corrupted copy (of an element, or of the envelope)."""

    def __init__(self, frame: str) -> None:
        tree = json.loads(frame)
        self.frame = frame
        self.topic = tree["topic"]
        self.data = tree["data"]
        if self.topic not in _FIELDS or not self.data:
            raise ValueError("corrupted() takes a non-empty data frame of a tracked topic")

    def with_element(self, index: int, element: object) -> str:
        copy = json.loads(self.frame)
        copy["data"][index] = element
        return _dump(copy)

    def wrong_field(self, index: int) -> SearchStrategy[Corruption]:
        kinds = _FIELDS[self.topic]
        names = sorted(k for k in self.data[index] if k in kinds)

        def build(name: str, value: object) -> Corruption:
            element = dict(self.data[index])
            element[name] = value
            text = self.with_element(index, element)
            return Corruption(text, f"{name}={value!r}", frozenset({index}))

        return st.sampled_from(names).flatmap(
            lambda name: st.sampled_from(_WRONG_FOR[kinds[name]] + _WRONG_ANY).map(
                lambda value: build(name, value)
            )
        )

    def missing_field(self, index: int) -> SearchStrategy[Corruption]:
        def build(name: str) -> Corruption:
            element = {k: v for k, v in self.data[index].items() if k != name}
            return Corruption(self.with_element(index, element), f"no {name}", frozenset({index}))

        return st.sampled_from(_REQUIRED[self.topic]).map(build)

    def not_an_object(self, index: int) -> SearchStrategy[Corruption]:
        return st.sampled_from((None, 5, "x", [], [self.data[index]], True)).map(
            lambda v: Corruption(self.with_element(index, v), f"element {v!r}", frozenset({index}))
        )

    def envelope(self, key: str, value: object, how: str) -> Corruption:
        copy = json.loads(self.frame)
        if value is _REMOVE:
            del copy[key]
        else:
            copy[key] = value
        return Corruption(_dump(copy), how)

    def bad_envelope(self) -> SearchStrategy[Corruption]:
        """``data``, ``creationTime``, ``id`` or ``topic`` removed or of the wrong type."""
        envelope = self.envelope
        return st.one_of(
            st.sampled_from((_REMOVE, None, {}, "x", 5, {"0": self.data[0]})).map(
                lambda v: envelope("data", v, f"data={v!r}")
            ),
            st.sampled_from(("abc", 1.5, [], None)).map(
                lambda v: envelope("creationTime", v, f"creationTime={v!r}")
            ),
            st.sampled_from((5, [], None)).map(lambda v: envelope("id", v, f"id={v!r}")),
            st.sampled_from((5, [], None, _REMOVE)).map(
                lambda v: envelope("topic", v, f"topic={v!r}")
            ),
        )


_FRAME_KEYS: Final = ("topic", "data", "op", "id", "creationTime", "success", "ret_msg")
_TOPIC_NAMES: Final = ("order", "execution", "position", "wallet", "greeks", "order.linear", "x")


def _json_values() -> SearchStrategy[object]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(_TOPIC_NAMES),
    )
    keys = st.one_of(st.sampled_from(_FRAME_KEYS), st.text(max_size=8))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)
        ),
        max_leaves=20,
    )


def garbage() -> SearchStrategy[str | bytes]:
    """Input that is not a usable data frame: arbitrary text and bytes, and arbitrary JSON
    (objects biased towards frame-like keys such as ``topic``, ``data`` and ``op``).

    A few of these are acceptable control frames (``{"op": ...}``), frames of topics the
    ledger ignores, or data frames whose ``data`` is empty; none carries a valid element.
    """
    return st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        _json_values().map(json.dumps),
    )
