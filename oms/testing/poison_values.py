"""The poison of each field rule: hypothesis strategies of (label, value) pairs a real
frame carries only when something upstream went wrong (``poison_values(rule)``), for
``oms.testing.poison``, which writes them into copies of valid frames.

The rules are those of ``oms.bybit.rules``: integers out of range, digits that are not
ASCII, decimal text with huge exponents or too many digits, NaN and Infinity, ``null``
where a value is required, the wrong JSON type, unknown sides and statuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from hypothesis import strategies as st

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "RawJSON",
    "labelled",
    "non_ascii_digits",
    "poison_values",
    "wrong_for_millis",
    "wrong_for_text",
]


@dataclass(frozen=True, slots=True)
class RawJSON:
    """A JSON token written as is (``NaN``, ``1e400``): ``json.dumps`` cannot spell it.
    ``poison_values`` gives some; write ``token`` where the value goes."""

    token: str


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


def labelled(values: SearchStrategy[Any], label: str) -> SearchStrategy[tuple[str, Any]]:
    """``values`` each paired with ``label`` (what the poison is, for failure messages)."""
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
        labelled(st.sampled_from(_NOT_DECIMAL_TEXT), "not decimal text"),
        labelled(non_ascii_digits(), "non-ASCII digits"),
        labelled(_too_many_digits(), "too many digits"),
        labelled(_huge_exponents(), "huge exponent"),
        labelled(st.sampled_from(_JSON_NUMBERS), "a JSON number"),
        labelled(st.booleans(), "a bool"),
        labelled(st.sampled_from(_CONTAINERS), "a container"),
    )


def wrong_for_text(
    *, unknown: tuple[str, ...] = (), nullable: bool = False
) -> SearchStrategy[tuple[str, Any]]:
    """Poison for a text field: numbers, bools, containers, ``unknown`` values; ``null``
    unless ``nullable`` (then it means ``""``)."""
    choices = [
        labelled(st.sampled_from(_JSON_NUMBERS), "a JSON number"),
        labelled(st.booleans(), "a bool"),
        labelled(st.sampled_from(_CONTAINERS), "a container"),
    ]
    if not nullable:  # (a text that may be empty reads null as "")
        choices.append(labelled(st.none(), "null"))
    if unknown:
        choices.append(labelled(st.sampled_from(unknown), "not a value Bybit defines"))
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
        labelled(edges | far, "out of range"),
        labelled(st.integers(low, high).map(str), "digits as a string"),
        labelled(st.integers(low, high).map(float), "a float"),
        labelled(st.sampled_from([1.5, RawJSON("1e400"), RawJSON("NaN")]), "a fraction"),
        labelled(st.booleans(), "a bool"),
        labelled(non_ascii_digits(), "non-ASCII digits"),
        labelled(st.sampled_from(_CONTAINERS), "a container"),
    ]
    if not nullable:
        choices.append(labelled(st.none(), "null"))
    return st.one_of(choices)


def _wrong_for_bool(*, nullable: bool) -> SearchStrategy[tuple[str, Any]]:
    choices = [
        labelled(
            st.sampled_from([0, 1, 5, 1.0, "true", "false", "1", "0", "yes", ""]), "not a bool"
        ),
        labelled(st.sampled_from(_CONTAINERS), "a container"),
    ]
    if not nullable:
        choices.append(labelled(st.none(), "null"))
    return st.one_of(choices)


def wrong_for_millis() -> SearchStrategy[tuple[str, Any]]:
    """Poison for a millisecond time: too many digits, negative, not ASCII, not an integer."""
    digit_strings = st.integers(15, 40).flatmap(
        lambda n: st.text(_ASCII_DIGITS, min_size=n - 1, max_size=n - 1).map(lambda d: "1" + d)
    )
    return st.one_of(
        labelled(digit_strings, "more than 14 digits"),
        labelled(st.integers(_MAX_MILLIS + 1, 10**40) | st.integers(max_value=-1), "out of range"),
        labelled(non_ascii_digits(), "non-ASCII digits"),
        labelled(
            st.sampled_from(["-1", "+1", " 1", "1 ", "1_000", "1.0", "1.5", "1e3", "0x10", "abc"]),
            "not digits",
        ),
        labelled(st.sampled_from([1.0, 1.5, 1e12, RawJSON("NaN"), RawJSON("1e400")]), "a float"),
        labelled(st.booleans(), "a bool"),
        labelled(st.sampled_from(_CONTAINERS), "a container"),
    )


def _wrong_for_coins() -> SearchStrategy[tuple[str, Any]]:
    return st.one_of(
        labelled(st.sampled_from([None, "USDT", 5, {"coin": "USDT"}]), "not a list"),
        labelled(
            st.sampled_from(
                [
                    [None],
                    ["USDT"],
                    [{"coin": 5}],
                    [{"coin": "USDT", "equity": "1e999"}],
                    [{"coin": None, "equity": "1"}],
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
        "text": wrong_for_text(),
        "optional text": wrong_for_text(nullable=True),
        # "" (and null) is valid: the topic names the category
        "category": wrong_for_text(nullable=True),
        "side": wrong_for_text(unknown=_UNKNOWN_SIDES),
        "position side": wrong_for_text(unknown=_UNKNOWN_POSITION_SIDES, nullable=True),
        "status": wrong_for_text(unknown=_UNKNOWN_STATUSES),
        "decimal": _wrong_for_decimal(),
        "required decimal": _wrong_for_decimal() | labelled(st.sampled_from(["", None]), "empty"),
        "quantity": _wrong_for_decimal()
        | labelled(st.sampled_from(["", None]), "empty")
        | labelled(st.sampled_from(["-1", "-0.001", "-5e-2"]), "negative"),
        "position index": _wrong_for_int(0, 2, nullable=False),
        "seq": _wrong_for_int(_INT64_MIN, _INT64_MAX, nullable=False),
        "optional seq": _wrong_for_int(_INT64_MIN, _INT64_MAX, nullable=True),
        "bool": _wrong_for_bool(nullable=False),
        "optional bool": _wrong_for_bool(nullable=True),
        "millis": wrong_for_millis(),
        "coins": _wrong_for_coins(),
    }
    if rule not in builders:
        raise ValueError(f"no poison for rule {rule!r}; rules: {sorted(builders)}")
    return builders[rule]
