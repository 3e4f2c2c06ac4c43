"""The simulated account's internal records and their exact Bybit wire shapes.

Private to ``oms.testing``: ``SimulatedExchange`` keeps ``SimOrder`` and ``SimLeg`` records
and turns them into ``order``, ``execution``, ``execution.fast`` and ``position`` elements
here. Numbers go on the wire as strings (``fmt``), except the fields Bybit sends as JSON
ints or bools.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, Final

from oms.testing.symbols import CATEGORY, TERMINAL_STATUSES

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from oms.testing.symbols import SymbolSpec

ZERO: Final = Decimal(0)
_E8: Final = Decimal("0.00000001")
#: Every topic a session sends, in the default order of one action's frames.
TOPICS: Final = ("order", "execution.fast", "execution", "position")


def fmt(value: Decimal) -> str:
    """Bybit's text for a decimal: plain notation, no trailing zeros (``"0.1"``, ``"65000"``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"", "-0"} else text


def q8(value: Decimal) -> Decimal:
    """Rounded to 8 decimal places, as Bybit rounds values and fees."""
    return value.quantize(_E8, rounding=ROUND_HALF_EVEN)


def dec(text: object) -> Decimal | None:
    """A wire decimal (``""`` is absent)."""
    if not isinstance(text, str):
        raise TypeError(f"expected decimal text, got {text!r}")
    return Decimal(text) if text else None


def req(text: object) -> Decimal:
    """A wire decimal that must be present."""
    value = dec(text)
    if value is None:
        raise ValueError("missing decimal")
    return value


@dataclass(slots=True)
class SimOrder:
    """One order as the exchange holds it."""

    order_id: str
    link_id: str
    spec: SymbolSpec
    side: str
    idx: int
    order_type: str
    tif: str
    stop_type: str
    create_type: str
    qty: Decimal
    price: Decimal
    trigger: Decimal
    trigger_direction: int
    reduce_only: bool
    close_on_trigger: bool
    status: str
    created: int
    updated: int
    cum_qty: Decimal = ZERO
    cum_value: Decimal = ZERO
    cum_fee: Decimal = ZERO
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    echoed: bool = False

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES


@dataclass(slots=True)
class SimLeg:
    """One position leg as the exchange holds it."""

    created: int
    net: Decimal = ZERO
    entry: Decimal = ZERO
    realised: Decimal = ZERO


def move_leg(leg: SimLeg, side: str, size: Decimal, price: Decimal, fee: Decimal) -> Decimal:
    """Move a leg by one fill; return the size it closed."""
    signed = size if side == "Buy" else -size
    before, after = leg.net, leg.net + signed
    closed = min(size, abs(before)) if before * signed < 0 else ZERO
    if closed:
        leg.realised += q8((price - leg.entry) * closed * (1 if before > 0 else -1))
    if after == 0:
        leg.entry = ZERO
    elif before == 0 or (before > 0) != (after > 0):
        leg.entry = price
    elif abs(after) > abs(before):
        leg.entry = q8((leg.entry * abs(before) + price * size) / abs(after))
    leg.net = after
    leg.realised -= fee
    return closed


def order_element(o: SimOrder, mark: Decimal) -> dict[str, Any]:
    """The ``order`` element of an order's current state."""
    leaves = o.qty - o.cum_qty if o.is_open else ZERO
    avg = fmt(q8(o.cum_value / o.cum_qty)) if o.cum_qty else ""
    return {
        "category": CATEGORY, "symbol": o.spec.symbol, "orderId": o.order_id,
        "orderLinkId": o.link_id, "blockTradeId": "", "side": o.side, "positionIdx": o.idx,
        "orderStatus": o.status, "cancelType": o.cancel_type, "rejectReason": o.reject_reason,
        "avgPrice": avg, "leavesQty": fmt(leaves), "leavesValue": fmt(q8(leaves * o.price)),
        "cumExecQty": fmt(o.cum_qty), "cumExecValue": fmt(o.cum_value),
        "cumExecFee": fmt(o.cum_fee), "closedPnl": "0", "feeCurrency": "",
        "timeInForce": o.tif, "orderType": o.order_type, "stopOrderType": o.stop_type,
        "orderIv": "", "marketUnit": "", "triggerPrice": fmt(o.trigger),
        "takeProfit": "0", "stopLoss": "0",
        "tpslMode": "Partial" if o.stop_type.startswith("Partial") else "",
        "tpLimitPrice": "0", "slLimitPrice": "0", "tpTriggerBy": "", "slTriggerBy": "",
        "triggerDirection": o.trigger_direction, "triggerBy": "LastPrice" if o.trigger else "",
        "lastPriceOnCreated": fmt(mark) if o.trigger else "",
        "reduceOnly": o.reduce_only, "closeOnTrigger": o.close_on_trigger, "placeType": "",
        "smpType": "None", "smpGroup": 0, "smpOrderId": "", "isLeverage": "",
        "createType": o.create_type, "createdTime": str(o.created),
        "updatedTime": str(o.updated), "price": fmt(o.price), "qty": fmt(o.qty),
    }  # fmt: skip


def trade_fields(
    o: SimOrder, size: Decimal, price: Decimal, rate: Decimal, fee: Decimal, closed: Decimal
) -> dict[str, Any]:
    """The ``execution`` fields of one trade of an order (after its cum values moved)."""
    return {
        "closedSize": fmt(closed), "execFee": fmt(fee), "execPrice": fmt(price),
        "execQty": fmt(size), "execValue": fmt(size * price), "feeRate": fmt(rate),
        "leavesQty": fmt(o.qty - o.cum_qty), "orderId": o.order_id, "orderLinkId": o.link_id,
        "orderPrice": fmt(o.price), "orderQty": fmt(o.qty), "orderType": o.order_type,
        "stopOrderType": o.stop_type or "UNKNOWN", "side": o.side,
        "isMaker": o.order_type == "Limit", "createType": o.create_type,
    }  # fmt: skip


def execution_element(
    symbol: str, mark: Decimal, exec_id: str, t: int, seq: int, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """One ``execution`` element: the shared wire fields, then ``fields``."""
    price = fmt(mark)
    element: dict[str, Any] = {
        "category": CATEGORY, "symbol": symbol, "closedSize": "0", "execFee": "0",
        "execId": exec_id, "execPrice": price, "execQty": "0", "execType": "Trade",
        "execValue": "0", "feeRate": "0", "tradeIv": "", "markIv": "", "blockTradeId": "",
        "markPrice": price, "indexPrice": price, "underlyingPrice": "", "leavesQty": "0",
        "orderId": "", "orderLinkId": "", "orderPrice": "0", "orderQty": "0",
        "orderType": "UNKNOWN", "stopOrderType": "UNKNOWN", "side": "Buy",
        "execTime": str(t), "isLeverage": "0", "isMaker": False, "seq": seq,
        "marketUnit": "", "createType": "",
    }  # fmt: skip
    element.update(fields)
    return element


def fast_element(e: Mapping[str, Any]) -> dict[str, Any]:
    """The ``execution.fast`` copy of a trade (maker fills lose their orderLinkId)."""
    return {
        "category": e["category"], "symbol": e["symbol"], "orderId": e["orderId"],
        "isMaker": e["isMaker"], "orderLinkId": "" if e["isMaker"] else e["orderLinkId"],
        "execId": e["execId"], "execPrice": e["execPrice"], "execQty": e["execQty"],
        "side": e["side"], "execTime": e["execTime"], "seq": e["seq"],
    }  # fmt: skip


def position_element(
    symbol: str, idx: int, leg: SimLeg, mark: Decimal, now: int, seq: int
) -> dict[str, Any]:
    """The ``position`` element of a leg now (``seq``: the symbol's last trade)."""
    size = abs(leg.net)
    side = "Buy" if leg.net > 0 else "Sell" if leg.net < 0 else ""
    value = q8(size * leg.entry)
    return {
        "category": CATEGORY, "symbol": symbol, "side": side, "size": fmt(size),
        "positionIdx": idx, "tradeMode": 0, "positionValue": fmt(value), "riskId": 1,
        "riskLimitValue": "2000000", "entryPrice": fmt(leg.entry), "markPrice": fmt(mark),
        "leverage": "10", "positionBalance": fmt(q8(value / 10)), "autoAddMargin": 0,
        "positionMM": fmt(q8(value / 200)), "positionIM": fmt(q8(value / 10)),
        "liqPrice": "", "bustPrice": "", "tpslMode": "Full", "takeProfit": "0",
        "stopLoss": "0", "trailingStop": "0",
        "unrealisedPnl": fmt(q8((mark - leg.entry) * leg.net)),
        "curRealisedPnl": fmt(leg.realised), "cumRealisedPnl": fmt(leg.realised),
        "sessionAvgPrice": "", "createdTime": str(leg.created), "updatedTime": str(now),
        "positionStatus": "Normal", "adlRankIndicator": 2 if size else 0,
        "isReduceOnly": False, "mmrSysUpdatedTime": "", "leverageSysUpdatedTime": "",
        "seq": seq,
    }  # fmt: skip


def frame_texts(
    by_topic: Mapping[str, Sequence[dict[str, Any]]],
    topic_order: Sequence[str],
    now: int,
    new_id: Callable[[], str],
) -> list[str]:
    """One action's frames, one per non-empty topic, in ``topic_order`` (``execution.fast``
    right before ``execution`` unless placed), as compact JSON text like Bybit's."""
    order = [t for t in topic_order if t in TOPICS]
    if "execution.fast" not in order:
        order.insert(order.index("execution") if "execution" in order else 0, "execution.fast")
    order += [t for t in TOPICS if t not in order]
    sent = []
    for offset, topic in enumerate(order):
        elements = by_topic.get(topic)
        if not elements:
            continue
        envelope: dict[str, Any] = {
            "id": new_id(),
            "topic": topic,
            "creationTime": now + 1 + offset,
            "data": list(elements),
        }
        if topic == "execution.fast":
            del envelope["id"]  # execution.fast frames carry no id
        sent.append(json.dumps(envelope, separators=(",", ":")))
    return sent
