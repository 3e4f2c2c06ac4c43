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
- JSON ``null`` where a value is required (and where the default is not None);
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
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from hypothesis import strategies as st

from oms.bybit.frames import TOPICS

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
class RawJSON:
    """A JSON token written as is (``NaN``, ``1e400``): ``json.dumps`` cannot spell it.
    ``poison_values`` gives some; write ``token`` where the value goes."""

    token: str


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

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_MAX_MILLIS: Final = 10**14 - 1


def _run(first: int, count: int = 10) -> str:
    """``count`` consecutive code points from ``first``."""
    return "".join(chr(first + i) for i in range(count))


#: Unicode digits that are not ASCII: ``str.isdigit`` (and ``int``) take most of them.
_FOREIGN_DIGITS: Final = (
    "\u2070\u00b9\u00b2\u00b3" + _run(0x2074, 6)  # superscripts 0-9
    + _run(0x2080)  # subscripts
    + _run(0x0660)  # Arabic-Indic
    + _run(0x06F0)  # Extended Arabic-Indic
    + _run(0x0966)  # Devanagari
    + _run(0x09E6)  # Bengali
    + _run(0x0E50)  # Thai
    + _run(0xFF10)  # fullwidth
    + _run(0x1D7CE)  # mathematical bold
    + _run(0x2460, 3)  # circled 1-3 (digits to isdigit, not to int)
)  # fmt: skip
_ASCII_DIGITS: Final = "0123456789"


def _labelled(values: SearchStrategy[Any], label: str) -> SearchStrategy[tuple[str, Any]]:
    return values.map(lambda v: (label, v))


def non_ascii_digits() -> SearchStrategy[str]:
    """Digit strings with at least one digit that is not ASCII (``"1²"``, ``"١٢٣"``)."""
    foreign = st.sampled_from(_FOREIGN_DIGITS)
    ascii_digits = st.text(_ASCII_DIGITS, max_size=13)
    return st.tuples(
        ascii_digits, foreign, st.text(_FOREIGN_DIGITS + _ASCII_DIGITS, max_size=4)
    ).map(lambda parts: parts[0] + parts[1] + parts[2])


def _too_many_digits() -> SearchStrategy[str]:
    digits = st.text(_ASCII_DIGITS, min_size=1, max_size=8)
    whole = st.integers(25, 60).map(lambda n: "9" * n)  # more than 24 before the point
    fraction = st.integers(19, 60).map(lambda n: "0." + "0" * (n - 1) + "1")  # > 18 after
    return st.one_of(
        whole,
        fraction,
        st.tuples(whole, digits).map(lambda p: f"{p[0]}.{p[1]}"),
        st.tuples(digits, fraction).map(lambda p: p[0] + p[1][1:]),
    )


def _huge_exponents() -> SearchStrategy[str]:
    return st.tuples(
        st.sampled_from(["1", "9.5", "-1", ".5", "1."]),
        st.sampled_from(["e", "E"]),
        st.sampled_from(["", "+", "-"]),
        st.integers(100, 10**9),
    ).map(lambda p: f"{p[0]}{p[1]}{p[2]}{p[3]}")


#: Decimal text the pattern refuses: not a number, or spelled as Bybit never does.
_NOT_DECIMAL_TEXT: Final = (
    "abc", "NaN", "nan", "Infinity", "-Infinity", "inf", "1.2.3", "0x10", "1,5", "1_000",
    " 1", "1 ", "+1", "--1", "-", ".", "1e", "e5", "1e+", "\u0661", "\u00b2",
)  # fmt: skip
_JSON_NUMBERS: Final = (
    0,
    1,
    -1,
    7,
    1.5,
    -0.0,
    1e300,
    RawJSON("1e400"),
    RawJSON("NaN"),
    RawJSON("-Infinity"),
)
_CONTAINERS: Final[tuple[object, ...]] = ([], {}, [1, "2"], {"a": "1"}, ["1"])


def _wrong_for_decimal() -> SearchStrategy[tuple[str, Any]]:
    return st.one_of(
        _labelled(st.sampled_from(_NOT_DECIMAL_TEXT), "not decimal text"),
        _labelled(non_ascii_digits(), "non-ASCII digits"),
        _labelled(_too_many_digits(), "too many digits"),
        _labelled(_huge_exponents(), "huge exponent"),
        _labelled(st.sampled_from(_JSON_NUMBERS), "a JSON number"),
        _labelled(st.booleans(), "a bool"),
        _labelled(st.sampled_from(_CONTAINERS), "a container"),
        _labelled(st.none(), "null"),
    )


def _wrong_for_text(*, unknown: tuple[str, ...] = ()) -> SearchStrategy[tuple[str, Any]]:
    choices = [
        _labelled(st.sampled_from(_JSON_NUMBERS), "a JSON number"),
        _labelled(st.booleans(), "a bool"),
        _labelled(st.sampled_from(_CONTAINERS), "a container"),
        _labelled(st.none(), "null"),
    ]
    if unknown:
        choices.append(_labelled(st.sampled_from(unknown), "not a value Bybit defines"))
    return st.one_of(choices)


def _wrong_for_int(low: int, high: int, *, nullable: bool) -> SearchStrategy[tuple[str, Any]]:
    far = st.integers(min_value=high + 1, max_value=high + 2**70) | st.integers(
        min_value=low - 2**70, max_value=low - 1
    )
    edges = st.sampled_from(
        [
            v
            for v in (3, -1, 2**31, 2**32, 2**63, -(2**63) - 1, 2**64, 10**30)
            if not low <= v <= high
        ]
    )
    choices = [
        _labelled(edges | far, "out of range"),
        _labelled(st.integers(low, high).map(str), "digits as a string"),
        _labelled(st.integers(low, high).map(float), "a float"),
        _labelled(st.sampled_from([1.5, RawJSON("1e400"), RawJSON("NaN")]), "a fraction"),
        _labelled(st.booleans(), "a bool"),
        _labelled(non_ascii_digits(), "non-ASCII digits"),
        _labelled(st.sampled_from(_CONTAINERS), "a container"),
    ]
    if not nullable:
        choices.append(_labelled(st.none(), "null"))
    return st.one_of(choices)


def _wrong_for_bool(*, nullable: bool) -> SearchStrategy[tuple[str, Any]]:
    choices = [
        _labelled(
            st.sampled_from([0, 1, 5, 1.0, "true", "false", "1", "0", "yes", ""]), "not a bool"
        ),
        _labelled(st.sampled_from(_CONTAINERS), "a container"),
    ]
    if not nullable:
        choices.append(_labelled(st.none(), "null"))
    return st.one_of(choices)


def _wrong_for_millis() -> SearchStrategy[tuple[str, Any]]:
    digit_strings = st.integers(15, 40).flatmap(
        lambda n: st.text(_ASCII_DIGITS, min_size=n - 1, max_size=n - 1).map(lambda d: "1" + d)
    )
    return st.one_of(
        _labelled(digit_strings, "more than 14 digits"),
        _labelled(st.integers(_MAX_MILLIS + 1, 10**40) | st.integers(max_value=-1), "out of range"),
        _labelled(non_ascii_digits(), "non-ASCII digits"),
        _labelled(
            st.sampled_from(["-1", "+1", " 1", "1 ", "1_000", "1.0", "1.5", "1e3", "0x10", "abc"]),
            "not digits",
        ),
        _labelled(st.sampled_from([1.0, 1.5, 1e12, RawJSON("NaN"), RawJSON("1e400")]), "a float"),
        _labelled(st.booleans(), "a bool"),
        _labelled(st.sampled_from(_CONTAINERS), "a container"),
        _labelled(st.none(), "null"),
    )


def _wrong_for_coins() -> SearchStrategy[tuple[str, Any]]:
    return st.one_of(
        _labelled(st.sampled_from([None, "USDT", 5, {"coin": "USDT"}]), "not a list"),
        _labelled(
            st.sampled_from(
                [
                    [None],
                    ["USDT"],
                    [{"coin": 5}],
                    [{"coin": "USDT", "equity": "1e999"}],
                    [{"coin": "USDT", "equity": None}],
                    [{"equity": "1"}],
                ]
            ),
            "a bad coin",
        ),
    )


_UNKNOWN_SIDES: Final = ("buy", "sell", "BUY", "Long", "Short", "None", "", " Buy")
_UNKNOWN_POSITION_SIDES: Final = ("buy", "sell", "BUY", "Long", "Short", "none", " Buy")
_UNKNOWN_STATUSES: Final = ("new", "FILLED", "Open", "Canceled", "", "Weird", "New ")


@cache
def poison_values(rule: str) -> SearchStrategy[tuple[str, Any]]:
    """(label, value) pairs that a field with ``rule`` (a value of ``FIELD_RULES``) must
    refuse. Values are JSON values (``RawJSON`` for tokens like ``NaN``)."""
    builders: dict[str, SearchStrategy[tuple[str, Any]]] = {
        "text": _wrong_for_text(),
        "optional text": _wrong_for_text(),
        "category": _wrong_for_text(),  # "" is valid: the topic names the category
        "side": _wrong_for_text(unknown=_UNKNOWN_SIDES),
        "position side": _wrong_for_text(unknown=_UNKNOWN_POSITION_SIDES),
        "status": _wrong_for_text(unknown=_UNKNOWN_STATUSES),
        "decimal": _wrong_for_decimal(),
        "required decimal": _wrong_for_decimal() | _labelled(st.just(""), "empty"),
        "quantity": _wrong_for_decimal()
        | _labelled(st.just(""), "empty")
        | _labelled(st.sampled_from(["-1", "-0.001", "-5e-2"]), "negative"),
        "position index": _wrong_for_int(0, 2, nullable=False),
        "seq": _wrong_for_int(_INT64_MIN, _INT64_MAX, nullable=False),
        "optional seq": _wrong_for_int(_INT64_MIN, _INT64_MAX, nullable=True),
        "bool": _wrong_for_bool(nullable=False),
        "optional bool": _wrong_for_bool(nullable=True),
        "millis": _wrong_for_millis(),
        "coins": _wrong_for_coins(),
    }
    if rule not in builders:
        raise ValueError(f"no poison for rule {rule!r}; rules: {sorted(builders)}")
    return builders[rule]


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

    creation = _wrong_for_millis() | _labelled(st.just(""), "empty")
    return st.one_of(
        creation.map(lambda p: envelope("creationTime", *p)),
        _wrong_for_text().map(lambda p: envelope("id", *p)),
        _wrong_for_text().map(lambda p: envelope("topic", *p)),
        _labelled(st.sampled_from([None, {}, "x", 5, True]), "not a list").map(
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
