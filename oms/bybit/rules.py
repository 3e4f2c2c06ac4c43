"""The rules of Bybit's wire values, each stated once: what a value may be, and what it
becomes.

A ``Rule`` carries two pydantic-core schemas built from the same bounds: ``text``, the value
as the wire models of ``oms.bybit.wire`` keep it (decimal numbers stay exact text), and
``value``, the value straight into its core value (``Decimal``, ``Side``, ``OrderStatus``,
milliseconds as ``int``), which ``oms.bybit.codec`` uses for stream frames and REST rows
alike. ``value`` may refuse more than ``text`` (an unknown side, a negative quantity), never
less. Both run in Rust; a converter that Rust calls is C code (a dict lookup, ``Decimal``)
wherever that is measurably cheaper than a Python function.

Bounds, so that a poisoned copy of a frame is refused here instead of crashing a later
stage, freezing a leg or an order on an absurd value, or overflowing a database column:

- ``positionIdx`` is a JSON integer in {0, 1, 2} (one-way, hedge long, hedge short).
- ``seq`` is a JSON integer that fits a signed 64-bit integer (Bybit also sends -1), the
  database's BIGINT.
- Milliseconds (``createdTime``, ``updatedTime``, ``execTime`` and the envelope's
  ``creationTime``) are at most 14 ASCII digits, as a string or a JSON integer: no sign,
  no space, no fraction, no superscript or other script's digits (``str.isdigit`` would
  take "²"). 14 digits last until the year 5138.
- Decimal text has at most 24 digits before the point and 18 after, and an exponent of
  at most two digits (see ``UNSIGNED_DECIMAL``); JSON numbers are refused (no float ever
  touches a number).
- ``reduceOnly`` and ``isMaker`` are JSON booleans; no ``1`` or ``"true"``.
- JSON ``null`` is what ``""`` is wherever a rule gives ``""`` a meaning (``Rule.empty``:
  no decimal, an unknown time, a flat side, the topic's category) and wherever a text may
  be left out (its default is ``""``): Bybit, and clients that re-serialise its frames,
  write either. Everywhere else (a required text, a quantity, a status, ``positionIdx``,
  ``reduceOnly``, ``seq``) ``null`` is refused: it is not a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from pydantic_core import (
    CoreSchema,
    PydanticCustomError,
    SchemaValidator,
    ValidationError,
    core_schema,
)

from oms.core.orders import Side
from oms.core.states import OrderStatus

if TYPE_CHECKING:
    from collections.abc import Callable

# At most 24 digits before the point and 18 after (a significand of at most 42 digits)
# and a two-digit exponent: far more than Bybit sends (no capture here has more than 10
# digits after the point, or an exponent at all). Written out, an accepted number has at
# most 123 digits before the point and 117 after: the store keeps it exactly (SQLite as
# canonical text, PostgreSQL as unconstrained NUMERIC, which holds 131072 digits before
# the point and 16383 after), every ledger sum stays exact (oms.core.exact works with
# 400 digits), and every number is printable ("1e9999999" would otherwise overflow or
# eat memory).
#: Decimal text without a sign.
UNSIGNED_DECIMAL = r"(?:[0-9]{1,24}(?:\.[0-9]{0,18})?|\.[0-9]{1,18})(?:[eE][-+]?[0-9]{1,2})?"
#: Decimal text.
DECIMAL = f"-?{UNSIGNED_DECIMAL}"
#: What a refused decimal text is told.
DECIMAL_RULE: Final = (
    "not a decimal number of at most 24 digits before the point and 18 after "
    "(and an exponent of at most two digits)"
)
#: Milliseconds as text: 1 to 14 ASCII digits.
MILLIS_DIGITS: Final = "[0-9]{1,14}"
#: The largest milliseconds value (14 digits: the year 5138).
MAX_MILLIS: Final = 10**14 - 1
#: What refused milliseconds are told.
MILLIS_RULE: Final = "milliseconds must be at most 14 ASCII digits (a string or an integer)"
#: The range of ``seq``: a signed 64-bit integer, as the database stores it.
SEQ_MIN: Final = -(2**63)
SEQ_MAX: Final = 2**63 - 1
#: The positionIdx values Bybit defines: one-way, hedge long (Buy), hedge short (Sell).
POSITION_INDEXES: Final = (0, 1, 2)
#: What a refused value of a closed set (a side, a status) is told.
UNKNOWN_VALUE: Final = "unknown value"
#: What a negative quantity is told.
NEGATIVE: Final = "negative"

#: Distinct decimal texts ``parse_decimal`` remembers (a few hundred kB).
CACHE_SIZE: Final = 4096
#: Distinct texts each checked cache remembers (about 1.5 MB each): more than
#: ``CACHE_SIZE``, since a text seen again is checked again after a clear.
CHECKED_CACHE_SIZE: Final = 2 * CACHE_SIZE
_ZERO: Final = Decimal(0)

#: Decimal text -> its exact ``Decimal``. The most recent distinct texts are remembered:
#: functools' LRU cache is C code around the C constructor, so a hit costs a fifth of a
#: parse and a miss little more than the parse itself. A ``Decimal`` is immutable and the
#: key is the exact text, so a cached value is indistinguishable from a fresh one.
parse_decimal: Final = lru_cache(maxsize=CACHE_SIZE)(Decimal)


@dataclass(frozen=True, slots=True)
class Rule:
    """One kind of wire value: ``text`` as the wire models keep it, ``value`` straight into
    its core value. ``name`` is the rule's name in ``oms.testing.poison.FIELD_RULES``."""

    name: str
    text: CoreSchema
    value: CoreSchema
    #: ``""`` means something (empty, unknown, flat): JSON ``null`` is read as ``""``.
    empty: bool = False


class _CheckedDecimals(dict[str, Decimal | None]):
    """Decimal text -> its exact ``Decimal``, for text matching the decimal pattern; a
    pydantic error for any other (raised from Rust's call, it names the field).

    The pattern runs once per distinct text, when it first comes, rather than on every
    field: a repeated text is a dict lookup in C (about 350 instructions, where the
    pattern alone costs 500 and a ``Decimal`` 1,800). A new text is checked and converted
    by one call into Rust (``_check``: the pattern, then ``Decimal``), which costs half
    what Python's ``re`` and a Python-level conversion did. Worth it for numbers whose
    texts mostly repeat (half or more of them seen before, on the benchmark capture); for
    the others a first sight costs more than the pattern saves. ``optional``: ``""`` is
    absent (None); else refused. ``quantity``: a negative number is refused.
    ``zero_is_none``: a zero is None too. Emptied when full."""

    __slots__ = ("_check", "_quantity", "_seed", "_zero_is_none")

    def __init__(
        self, *, optional: bool = False, quantity: bool = False, zero_is_none: bool = False
    ) -> None:
        super().__init__()
        self._seed: dict[str, Decimal | None] = {"": None} if optional else {}
        self._quantity = quantity
        self._zero_is_none = zero_is_none
        # A quantity's pattern takes no sign: a signed text is the rare case (_refused).
        pattern = _pattern(UNSIGNED_DECIMAL if quantity else DECIMAL)
        self._check: Callable[[str], Decimal] = SchemaValidator(
            _then(Decimal, pattern)
        ).validate_python
        self.update(self._seed)

    def __missing__(self, text: str) -> Decimal | None:
        try:
            value: Decimal | None = self._check(text)
        except ValidationError:
            value = self._refused(text)
        if self._zero_is_none and not value:
            value = None
        if len(self) >= CHECKED_CACHE_SIZE:
            self.clear()
            self.update(self._seed)
        self[text] = value
        return value

    def _refused(self, text: str) -> Decimal:
        """Why ``_check`` refused ``text``, as the pydantic error the field reports; or,
        for a quantity, the value of a signed text that is not negative (``-0``)."""
        if self._quantity and _DECIMAL_TEXT.fullmatch(text) is not None:
            value = Decimal(text)
            if value < _ZERO:
                raise PydanticCustomError("negative", NEGATIVE)
            return value
        raise PydanticCustomError("decimal", DECIMAL_RULE)


class _Lookup(dict[str, Any]):
    """A closed set of wire texts -> core values; a pydantic error for anything else."""

    __slots__ = ()

    def __missing__(self, text: str) -> object:
        raise PydanticCustomError("unknown_value", UNKNOWN_VALUE)


#: Position side text -> ``Side``, or None (flat: "" and the legacy "None").
POSITION_SIDES: Final = _Lookup({"Buy": Side.BUY, "Sell": Side.SELL, "": None, "None": None})


def _pattern(pattern: str) -> CoreSchema:
    return core_schema.str_schema(pattern=f"^{pattern}$")


def _then(convert: Callable[[Any], Any], schema: CoreSchema) -> CoreSchema:
    return core_schema.no_info_after_validator_function(convert, schema)


_DECIMAL_TEXT: Final = re.compile(DECIMAL)  # fullmatch: ASCII classes only, as in Rust
#: avgPrice text -> ``Decimal``, or None for "" and for zero: Bybit sends "" (and on some
#: paths "0") before any fill, and both mean none.
AVG_PRICES: Final = _CheckedDecimals(optional=True, zero_is_none=True)
_REPEATING_QUANTITIES: Final = _CheckedDecimals(quantity=True)
#: Position sizes: their own cache, since they repeat less than order quantities.
_SIZES: Final = _CheckedDecimals(quantity=True)
_REPEATING_REQUIRED: Final = _CheckedDecimals()
_REPEATING_OPTIONAL: Final = _CheckedDecimals(optional=True)
#: Prices (order and mark prices): their own cache, since they are many.
_PRICES: Final = _CheckedDecimals(optional=True)


def _or_empty(schema: CoreSchema, empty: object) -> CoreSchema:
    """``schema``, or ``""`` meaning ``empty``: a union that stops at its first match, so
    a present value costs what ``schema`` costs."""
    blank = _then(lambda _text: empty, core_schema.literal_schema([""]))
    return core_schema.union_schema(
        [schema, blank],
        mode="left_to_right",
        custom_error_type="decimal",
        custom_error_message=DECIMAL_RULE,
    )


def millis_schema(*, empty: bool, number_first: bool = False, empty_is: object = "") -> CoreSchema:
    """Milliseconds: 1-14 ASCII digits as a string, or a JSON integer 0..``MAX_MILLIS``;
    with ``empty``, ``""`` (unknown) too, which becomes ``empty_is``. ``number_first``
    tries the integer first (for a field Bybit sends as a JSON number): a union stops at
    its first match, so a present value never pays for the choices after it."""
    digits = core_schema.chain_schema(
        [
            core_schema.str_schema(pattern=f"^{MILLIS_DIGITS}$", strict=True),
            core_schema.int_schema(),  # digits only, so this is int(text) in Rust
        ]
    )
    number = core_schema.int_schema(ge=0, le=MAX_MILLIS, strict=True)
    choices: list[CoreSchema | tuple[CoreSchema, str]] = (
        [number, digits] if number_first else [digits, number]
    )
    if empty:
        blank = core_schema.literal_schema([""])
        choices.append(blank if empty_is == "" else _then(lambda _text: empty_is, blank))
    return core_schema.union_schema(
        choices, mode="left_to_right", custom_error_type="millis", custom_error_message=MILLIS_RULE
    )


def _decimal(convert: Callable[[str], Any] | _CheckedDecimals) -> Rule:
    """Optional decimal text ("" is absent: None), converted by ``convert`` after the
    pattern in Rust, or by a checked cache that runs the pattern once per distinct
    text."""
    text = _pattern(f"(?:{DECIMAL})?")
    if isinstance(convert, _CheckedDecimals):
        return Rule("decimal", text, _then(convert.__getitem__, _str()), empty=True)
    return Rule("decimal", text, _or_empty(_then(convert, _pattern(DECIMAL)), None), empty=True)


def _str() -> CoreSchema:
    return core_schema.str_schema()


def _strict_int(lo: int, hi: int) -> CoreSchema:
    return core_schema.int_schema(ge=lo, le=hi, strict=True)


_BOOL: Final = core_schema.bool_schema(strict=True)
_SEQ: Final = _strict_int(SEQ_MIN, SEQ_MAX)
_NULL_BOOL: Final = core_schema.nullable_schema(_BOOL)
_NULL_SEQ: Final = core_schema.nullable_schema(_SEQ)

TEXT: Final = Rule("text", _str(), _str())
#: "" (and null): the topic's category, or the REST page's.
CATEGORY: Final = Rule("category", _str(), _str(), empty=True)
SIDE: Final = Rule("side", _str(), core_schema.enum_schema(Side, list(Side), sub_type="str"))
POSITION_SIDE: Final = Rule(
    "position side", _str(), _then(POSITION_SIDES.__getitem__, _str()), empty=True
)
STATUS: Final = Rule(
    "status", _str(), core_schema.enum_schema(OrderStatus, list(OrderStatus), sub_type="str")
)
_INDEX: Final = _strict_int(POSITION_INDEXES[0], POSITION_INDEXES[-1])
POSITION_INDEX: Final = Rule("position index", _INDEX, _INDEX)
BOOL: Final = Rule("bool", _BOOL, _BOOL)
OPTIONAL_BOOL: Final = Rule("optional bool", _NULL_BOOL, _NULL_BOOL)
SEQ: Final = Rule("seq", _SEQ, _SEQ)
OPTIONAL_SEQ: Final = Rule("optional seq", _NULL_SEQ, _NULL_SEQ)
#: Milliseconds; "" (unknown) is kept as text, and is 0 as a core value.
MILLIS: Final = Rule(
    "millis", millis_schema(empty=True), millis_schema(empty=True, empty_is=0), empty=True
)
#: The envelope's ``creationTime``: sent as a JSON number (or a string); never empty.
_CREATION: Final = millis_schema(empty=False, number_first=True)
CREATION_TIME: Final = Rule("millis", _CREATION, _CREATION)

# Decimal numbers, one rule, converted the way measured fastest for how often the field's
# texts repeat on the benchmark capture.
#: A quantity that must be present and not negative, whose texts nearly always repeat.
QUANTITY: Final = Rule(
    "quantity", _pattern(DECIMAL), _then(_REPEATING_QUANTITIES.__getitem__, _str())
)
#: A quantity that must be present and not negative, whose texts repeat less (sizes).
SIZE: Final = Rule("quantity", _pattern(DECIMAL), _then(_SIZES.__getitem__, _str()))
#: A decimal that must be present, whose texts nearly always repeat.
REQUIRED_DECIMAL: Final = Rule(
    "required decimal", _pattern(DECIMAL), _then(_REPEATING_REQUIRED.__getitem__, _str())
)
#: Optional decimals: texts that nearly always repeat, often, and hardly ever.
REPEATING_DECIMAL: Final = _decimal(_REPEATING_OPTIONAL)
#: Optional prices (order and mark prices: their texts mostly repeat; entry prices, a
#: running average, hardly do).
PRICE: Final = _decimal(_PRICES)
DECIMAL_NUMBER: Final = _decimal(parse_decimal)
UNIQUE_DECIMAL: Final = _decimal(Decimal)
#: avgPrice: "" and zero are none.
_OPTIONAL_TEXT: Final = _pattern(f"(?:{DECIMAL})?")
AVG_PRICE: Final = Rule(
    "decimal", _OPTIONAL_TEXT, _then(AVG_PRICES.__getitem__, _str()), empty=True
)
#: Decimal text kept as text (the wallet's numbers: not core values).
DECIMAL_TEXT: Final = Rule("decimal", _OPTIONAL_TEXT, _OPTIONAL_TEXT, empty=True)
