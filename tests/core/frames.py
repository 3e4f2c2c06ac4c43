"""Builders of Bybit v5 private-stream frames, shaped exactly as the wire sends them.

Every element carries the full field set of ``tests/data/sample-clean.jsonl``: numbers as
strings, ``""`` for absent values, and the few real JSON ints/bools (positionIdx, seq,
reduceOnly, isMaker, creationTime) as such. Keyword overrides use Bybit's camelCase names.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from oms import Event

if TYPE_CHECKING:
    from collections.abc import Iterable

E = TypeVar("E", bound=Event)

T0 = 1_717_200_000_000  # 2024-06-01, milliseconds

_TERMINAL_WIRE = frozenset(
    {"Filled", "Cancelled", "Rejected", "PartiallyFilledCanceled", "Deactivated", "Active"}
)


def frame(topic: str, *elements: dict[str, Any], creation_time: int = T0) -> str:
    """A data frame with ``elements`` as its ``data``."""
    envelope: dict[str, Any] = {
        "topic": topic,
        "creationTime": creation_time,
        "data": list(elements),
    }
    if topic != "execution.fast":  # execution.fast frames carry no id
        envelope = {"id": f"frame-{topic}-{creation_time}", **envelope}
    return json.dumps(envelope, separators=(",", ":"))


def order(**fields: Any) -> dict[str, Any]:
    """One ``order`` element; leavesQty/leavesValue follow qty, cumExecQty and status."""
    element: dict[str, Any] = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "orderId": "9aac161b-8ed6-450d-9cab-c5cc67c21784",
        "orderLinkId": "oms-1",
        "blockTradeId": "",
        "side": "Buy",
        "positionIdx": 0,
        "orderStatus": "New",
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": "",
        "leavesQty": None,
        "leavesValue": None,
        "cumExecQty": "0",
        "cumExecValue": "0",
        "cumExecFee": "0",
        "closedPnl": "0",
        "feeCurrency": "",
        "timeInForce": "GTC",
        "orderType": "Limit",
        "stopOrderType": "",
        "orderIv": "",
        "marketUnit": "",
        "triggerPrice": "0",
        "takeProfit": "0",
        "stopLoss": "0",
        "tpslMode": "",
        "tpLimitPrice": "0",
        "slLimitPrice": "0",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": "",
        "reduceOnly": False,
        "closeOnTrigger": False,
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "isLeverage": "",
        "createType": "CreateByUser",
        "createdTime": str(T0),
        "updatedTime": str(T0),
        "price": "65000",
        "qty": "1",
    }
    element.update(fields)
    qty, cum = Decimal(element["qty"]), Decimal(element["cumExecQty"])
    leaves = Decimal(0) if element["orderStatus"] in _TERMINAL_WIRE else qty - cum
    price = Decimal(element["price"] or "0")
    if element["leavesQty"] is None:
        element["leavesQty"] = str(leaves)
    if element["leavesValue"] is None:
        element["leavesValue"] = str(leaves * price)
    if cum and "avgPrice" not in fields:
        element["avgPrice"] = element["price"]
    return element


def execution(**fields: Any) -> dict[str, Any]:
    """One ``execution`` element (a Trade unless execType is given)."""
    element: dict[str, Any] = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "closedSize": "0",
        "execFee": "0.0325",
        "execId": "0ab1bdf7-4219-438b-b30a-32ec863018f7",
        "execPrice": "65000",
        "execQty": "1",
        "execType": "Trade",
        "execValue": "65000",
        "feeRate": "0.0002",
        "tradeIv": "",
        "markIv": "",
        "blockTradeId": "",
        "markPrice": "65012.5",
        "indexPrice": "64990.6",
        "underlyingPrice": "",
        "leavesQty": "0",
        "orderId": "9aac161b-8ed6-450d-9cab-c5cc67c21784",
        "orderLinkId": "oms-1",
        "orderPrice": "65000",
        "orderQty": "1",
        "orderType": "Limit",
        "stopOrderType": "UNKNOWN",
        "side": "Buy",
        "execTime": str(T0),
        "isLeverage": "0",
        "isMaker": True,
        "seq": 4600000001,
        "marketUnit": "",
        "createType": "CreateByUser",
    }
    element.update(fields)
    return element


def fast_execution(**fields: Any) -> dict[str, Any]:
    """One ``execution.fast`` element: no fee, no execType, no leavesQty, no closedSize."""
    element: dict[str, Any] = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "execId": "0ab1bdf7-4219-438b-b30a-32ec863018f7",
        "execPrice": "65000",
        "execQty": "1",
        "orderId": "9aac161b-8ed6-450d-9cab-c5cc67c21784",
        "orderLinkId": "",
        "isMaker": True,
        "side": "Buy",
        "execTime": str(T0),
        "seq": 4600000001,
    }
    element.update(fields)
    return element


def position(**fields: Any) -> dict[str, Any]:
    """One ``position`` element (one leg)."""
    element: dict[str, Any] = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "size": "1",
        "positionIdx": 0,
        "tradeMode": 0,
        "positionValue": "65000",
        "riskId": 1,
        "riskLimitValue": "2000000",
        "entryPrice": "65000",
        "markPrice": "65019.3",
        "leverage": "10",
        "positionBalance": "6500",
        "autoAddMargin": 0,
        "positionMM": "325",
        "positionIM": "6500",
        "liqPrice": "58825",
        "bustPrice": "",
        "tpslMode": "Full",
        "takeProfit": "0",
        "stopLoss": "0",
        "trailingStop": "0",
        "unrealisedPnl": "19.3",
        "curRealisedPnl": "-0.0325",
        "cumRealisedPnl": "-0.0325",
        "sessionAvgPrice": "",
        "createdTime": str(T0),
        "updatedTime": str(T0),
        "positionStatus": "Normal",
        "adlRankIndicator": 2,
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "seq": 4600000001,
    }
    element.update(fields)
    if element["side"] == "":
        element.update(entryPrice="0", positionValue="0", unrealisedPnl="0", adlRankIndicator=0)
    return element


def order_frame(*elements: dict[str, Any], creation_time: int = T0) -> str:
    """An ``order`` frame."""
    return frame("order", *elements, creation_time=creation_time)


def execution_frame(*elements: dict[str, Any], creation_time: int = T0) -> str:
    """An ``execution`` frame."""
    return frame("execution", *elements, creation_time=creation_time)


def fast_frame(*elements: dict[str, Any], creation_time: int = T0) -> str:
    """An ``execution.fast`` frame."""
    return frame("execution.fast", *elements, creation_time=creation_time)


def position_frame(*elements: dict[str, Any], creation_time: int = T0) -> str:
    """A ``position`` frame."""
    return frame("position", *elements, creation_time=creation_time)


def ms(offset: int) -> str:
    """A wire timestamp ``offset`` ms after T0."""
    return str(T0 + offset)


def of(kind: type[E], events: Iterable[Event]) -> list[E]:
    """The events of one type, in order."""
    return [e for e in events if isinstance(e, kind)]
