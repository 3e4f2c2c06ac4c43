"""Pydantic v2 models of Bybit v5 private-stream frames.

Only the fields the ledger and the database schema use are modelled; every other field
is tolerated and ignored (Bybit adds fields often). The few real JSON ints and bools
(positionIdx, seq, reduceOnly, isMaker, creationTime) are typed as such.

Numbers: Bybit sends every price, quantity, value and fee as a JSON string. The models
validate that text in Rust against a strict decimal pattern (so ``"abc"``, ``"NaN"``,
``"Infinity"`` and JSON floats are refused here, naming the field) and keep it as exact
text; ``oms.bybit.translate`` turns it into ``Decimal`` exactly once. ``""`` means absent
(``None`` after translation). Why not ``Decimal`` fields directly: measured on real
frames, a Python-level validator per numeric field cost ~0.35 us each and made decoding
alone 1.9x slower than JSON parsing; the pattern runs inside pydantic-core and costs a
tenth of that. No float ever touches a number on either path.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# At most 30 digits on either side of the point and a two-digit exponent: more than any
# price or quantity has, and it keeps every ledger sum exact (see oms.core.exact) and
# every number printable ("1e9999999" would otherwise overflow or eat memory).
#: Decimal text without a sign.
UNSIGNED_DECIMAL = r"(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][-+]?[0-9]{1,2})?"
#: Decimal text.
DECIMAL = f"-?{UNSIGNED_DECIMAL}"

#: Exact decimal text; ``""`` means absent.
DecimalText = Annotated[str, Field(pattern=f"^(?:{DECIMAL})?$")]
#: Exact decimal text that must be present.
RequiredDecimalText = Annotated[str, Field(pattern=f"^{DECIMAL}$")]
#: Milliseconds, sent as a string (or a number); ``""`` means unknown.
Millis = Annotated[int | Literal[""], Field(union_mode="left_to_right")]


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
    positionIdx: int = 0
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
    reduceOnly: bool = False
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
    isMaker: bool | None = None
    closedSize: DecimalText = ""
    leavesQty: DecimalText = ""
    execTime: Millis
    seq: int | None = None


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
    isMaker: bool | None = None
    execTime: Millis
    seq: int | None = None


class PositionMsg(WireModel):
    """One element (one leg) of the ``position`` topic. Old docs examples omit
    ``category``; the ledger then takes it from the topic (``linear`` by default)."""

    category: str = ""
    symbol: str
    positionIdx: int = 0
    side: str
    size: RequiredDecimalText
    entryPrice: DecimalText = ""
    markPrice: DecimalText = ""
    unrealisedPnl: DecimalText = ""
    cumRealisedPnl: DecimalText = ""
    seq: int = -1
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
    creationTime: int = 0
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
