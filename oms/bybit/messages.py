"""Pydantic v2 models of Bybit v5 private-stream frames.

Only the fields the ledger and the database schema use are modelled; every other field
is tolerated and ignored (Bybit adds fields often). The few real JSON ints and bools
(positionIdx, seq, reduceOnly, isMaker, creationTime) are typed as such, strictly.

Numbers: Bybit sends every price, quantity, value and fee as a JSON string. The models
validate that text in Rust against a strict decimal pattern (so ``"abc"``, ``"NaN"``,
``"Infinity"`` and JSON floats are refused here, naming the field) and keep it as exact
text; ``oms.bybit.translate`` turns it into ``Decimal`` exactly once. ``""`` means absent
(``None`` after translation). Why not ``Decimal`` fields directly: measured on real
frames, a Python-level validator per numeric field cost ~0.35 us each and made decoding
alone 1.9x slower than JSON parsing; the pattern runs inside pydantic-core and costs a
tenth of that. No float ever touches a number on either path.

Bounds, so that a poisoned copy of a frame is refused here instead of crashing a later
stage, freezing a leg or an order on an absurd value, or overflowing a database column
(every check runs inside pydantic-core, in Rust):

- ``positionIdx`` is a JSON integer in {0, 1, 2} (one-way, hedge long, hedge short).
- ``seq`` is a JSON integer that fits a signed 64-bit integer (Bybit also sends -1), the
  database's BIGINT.
- Milliseconds (``createdTime``, ``updatedTime``, ``execTime`` and the envelope's
  ``creationTime``) are at most 14 ASCII digits, as a string or a JSON integer: no sign,
  no space, no fraction, no superscript or other script's digits (``str.isdigit`` would
  take "²"). 14 digits last until the year 5138.
- Decimal text has at most 24 digits before the point and 18 after, and an exponent of
  at most two digits (see ``UNSIGNED_DECIMAL``).
- ``reduceOnly`` and ``isMaker`` are JSON booleans; no ``1`` or ``"true"``.
- JSON ``null`` is refused wherever a value is required, and wherever the field has a
  default that is not None (``null`` is not "absent"). Only ``isMaker`` and an
  execution's ``seq`` may be null: None is their "not known" value.

Duplicate keys: the last one wins, everywhere (pydantic-core's JSON parser, used by both
the one-pass and the element-by-element paths, keeps the last value of a repeated key;
so do ``json.loads`` and the ``topic`` discriminator of ``oms.bybit.translate``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, GetPydanticSchema, Strict
from pydantic_core import CoreSchema, core_schema

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
#: What a refused decimal text is told (``oms.bybit.decode.describe``).
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


def millis_schema(*, empty: bool, number_first: bool = False) -> CoreSchema:
    """Milliseconds: 1-14 ASCII digits as a string, or a JSON integer 0..``MAX_MILLIS``;
    with ``empty``, ``""`` (unknown) too. ``number_first`` tries the integer first (for a
    field Bybit sends as a JSON number): a union stops at its first match."""
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
        choices.append(core_schema.literal_schema([""]))
    return core_schema.union_schema(
        choices, mode="left_to_right", custom_error_type="millis", custom_error_message=MILLIS_RULE
    )


#: Exact decimal text; ``""`` means absent.
DecimalText = Annotated[str, Field(pattern=f"^(?:{DECIMAL})?$")]
#: Exact decimal text that must be present.
RequiredDecimalText = Annotated[str, Field(pattern=f"^{DECIMAL}$")]
#: Milliseconds, sent as a string (or a number); ``""`` means unknown.
Millis = Annotated[
    int | Literal[""], GetPydanticSchema(lambda _type, _handler: millis_schema(empty=True))
]
#: The envelope's ``creationTime``: milliseconds, sent as a JSON number (or a string).
CreationTime = Annotated[
    int,
    GetPydanticSchema(lambda _type, _handler: millis_schema(empty=False, number_first=True)),
]
#: 0 one-way, 1 hedge long, 2 hedge short: a JSON integer.
PositionIdx = Annotated[int, Strict(), Field(ge=POSITION_INDEXES[0], le=POSITION_INDEXES[-1])]
#: Bybit's cross sequence: a JSON integer within a signed 64-bit integer.
Seq = Annotated[int, Strict(), Field(ge=SEQ_MIN, le=SEQ_MAX)]
#: A JSON boolean (not 0/1, not "true").
StrictBool = Annotated[bool, Strict()]


class WireModel(BaseModel):
    """Base of the frame elements: extra fields tolerated, instances frozen."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class OrderMsg(WireModel):
    """One element of the ``order`` topic."""

    category: str
    symbol: str
    orderId: str
    orderLinkId: str = ""
    side: str
    positionIdx: PositionIdx = 0
    orderStatus: str
    orderType: str = ""
    stopOrderType: str = ""
    qty: RequiredDecimalText
    price: DecimalText = ""
    triggerPrice: DecimalText = ""
    cumExecQty: RequiredDecimalText
    cumExecValue: DecimalText = ""
    cumExecFee: DecimalText = ""
    leavesQty: DecimalText = ""
    avgPrice: DecimalText = ""
    reduceOnly: StrictBool = False
    timeInForce: str = ""
    createType: str = ""
    cancelType: str = ""
    rejectReason: str = ""
    createdTime: Millis = ""
    updatedTime: Millis


class ExecutionMsg(WireModel):
    """One element of the ``execution`` topic (also the REST execution list)."""

    category: str
    symbol: str
    execId: str
    orderId: str = ""
    orderLinkId: str = ""
    side: str
    execType: str
    execQty: RequiredDecimalText
    execPrice: RequiredDecimalText
    execValue: DecimalText = ""
    execFee: DecimalText = ""
    feeRate: DecimalText = ""
    isMaker: StrictBool | None = None
    closedSize: DecimalText = ""
    leavesQty: DecimalText = ""
    execTime: Millis
    seq: Seq | None = None


class FastExecutionMsg(WireModel):
    """One element of ``execution.fast``: trades only, no fee, no execType."""

    category: str
    symbol: str
    execId: str
    orderId: str = ""
    orderLinkId: str = ""
    side: str
    execQty: RequiredDecimalText
    execPrice: RequiredDecimalText
    isMaker: StrictBool | None = None
    execTime: Millis
    seq: Seq | None = None


class PositionMsg(WireModel):
    """One element (one leg) of the ``position`` topic. Old docs examples omit
    ``category``; the ledger then takes it from the topic (``linear`` by default)."""

    category: str = ""
    symbol: str
    positionIdx: PositionIdx = 0
    side: str
    size: RequiredDecimalText
    entryPrice: DecimalText = ""
    markPrice: DecimalText = ""
    unrealisedPnl: DecimalText = ""
    cumRealisedPnl: DecimalText = ""
    seq: Seq = -1
    updatedTime: Millis = ""


class WalletCoinMsg(WireModel):
    """One coin of a ``wallet`` element."""

    coin: str
    equity: DecimalText = ""
    walletBalance: DecimalText = ""
    unrealisedPnl: DecimalText = ""
    cumRealisedPnl: DecimalText = ""
    locked: DecimalText = ""


class WalletMsg(WireModel):
    """One account of the ``wallet`` topic (old docs examples omit accountType)."""

    accountType: str = ""
    totalEquity: DecimalText = ""
    totalWalletBalance: DecimalText = ""
    totalAvailableBalance: DecimalText = ""
    totalInitialMargin: DecimalText = ""
    totalMaintenanceMargin: DecimalText = ""
    coin: list[WalletCoinMsg] = []


ElementT = TypeVar("ElementT", bound=WireModel)


class TopicFrame(BaseModel, Generic[ElementT]):
    """A data frame: ``{"id", "topic", "creationTime", "data": [...]}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = ""
    topic: str
    creationTime: CreationTime = 0
    data: list[ElementT]


class ControlMsg(BaseModel):
    """Auth and subscribe/unsubscribe acks and pongs (both shapes)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    op: str = ""
    success: bool | None = None
    ret_msg: str = ""
    conn_id: str = ""
    req_id: str = ""
    type: str = ""
    args: list[Any] | None = None
    data: dict[str, Any] | None = None
