"""Pydantic v2 models of Bybit v5 private-stream frames.

Only the fields the ledger and the database schema use are modelled; every other field
is tolerated and ignored (Bybit adds fields often). Numeric strings become ``Decimal``
(never ``float``); ``""`` means absent and becomes ``None``; NaN and infinities are
refused. The few real JSON ints and bools (positionIdx, seq, reduceOnly, isMaker,
creationTime) are typed as such.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _blank_is_absent(value: object) -> object:
    """``""`` -> None; a number given as text stays text for Decimal; floats are refused."""
    if value == "":
        return None
    if isinstance(value, float):
        # JSON floats would smuggle binary rounding into money; Bybit sends strings.
        raise ValueError("decimal values must be JSON strings, not floats")  # noqa: TRY004
    return value


def _blank_is_zero_time(value: object) -> object:
    return 0 if value == "" or value is None else value


#: A decimal string, ``""`` for absent.
OptDecimal = Annotated[Decimal | None, BeforeValidator(_blank_is_absent)]
#: A decimal string that must be present.
ReqDecimal = Annotated[Decimal, BeforeValidator(_blank_is_absent)]
#: Milliseconds, sent as a string (or a number); ``""`` means unknown (0).
Millis = Annotated[int, BeforeValidator(_blank_is_zero_time)]


class WireModel(BaseModel):
    """Base of the frame elements: extra fields tolerated, instances frozen."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


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
    qty: ReqDecimal
    price: OptDecimal = None
    triggerPrice: OptDecimal = None
    cumExecQty: ReqDecimal
    cumExecValue: OptDecimal = None
    cumExecFee: OptDecimal = None
    leavesQty: OptDecimal = None
    avgPrice: OptDecimal = None
    reduceOnly: bool = False
    timeInForce: str = ""
    createType: str = ""
    cancelType: str = ""
    rejectReason: str = ""
    createdTime: Millis = 0
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
    execQty: ReqDecimal
    execPrice: ReqDecimal
    execValue: OptDecimal = None
    execFee: OptDecimal = None
    feeRate: OptDecimal = None
    isMaker: bool | None = None
    closedSize: OptDecimal = None
    leavesQty: OptDecimal = None
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
    execQty: ReqDecimal
    execPrice: ReqDecimal
    isMaker: bool | None = None
    execTime: Millis
    seq: int | None = None


class PositionMsg(WireModel):
    """One element (one leg) of the ``position`` topic."""

    category: str
    symbol: str
    positionIdx: int = 0
    side: str
    size: ReqDecimal
    entryPrice: OptDecimal = None
    markPrice: OptDecimal = None
    unrealisedPnl: OptDecimal = None
    cumRealisedPnl: OptDecimal = None
    seq: int = -1
    updatedTime: Millis = 0


class WalletCoinMsg(WireModel):
    """One coin of a ``wallet`` element."""

    coin: str
    equity: OptDecimal = None
    walletBalance: OptDecimal = None
    unrealisedPnl: OptDecimal = None
    cumRealisedPnl: OptDecimal = None
    locked: OptDecimal = None


class WalletMsg(WireModel):
    """One account of the ``wallet`` topic."""

    accountType: str
    totalEquity: OptDecimal = None
    totalWalletBalance: OptDecimal = None
    totalAvailableBalance: OptDecimal = None
    totalInitialMargin: OptDecimal = None
    totalMaintenanceMargin: OptDecimal = None
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
