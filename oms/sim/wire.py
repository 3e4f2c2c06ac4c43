"""The simulated account's records as Bybit v5 puts them on the wire.

Every element has the key order and value types of the recorded stream
(``sample-clean.jsonl``): numbers as JSON strings (``fmt``), ``""`` for absent values, and
the few real ints and bools (``positionIdx``, ``seq``, ``reduceOnly``...) as such. With
``detail`` the elements also carry the fields Bybit added later (``cumFeeDetail`` on
orders, ``execPnl`` and ``feeCurrency`` on executions), as the sandbox serves them.
Rendering never draws a random number, so a frame and a REST row of the same record
agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from oms.sim.records import ZERO, q8
from oms.sim.specs import CATEGORY, LEVERAGE, MMR

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from oms.sim.records import Execution, Leg, Order

Element = dict[str, object]
_Q4: Final = Decimal("1e-4")

#: Topic names that carry each pushed kind (the all-in-one and the linear one).
TOPIC_NAMES: Final = {
    "order": ("order", "order.linear"),
    "execution": ("execution", "execution.linear"),
    "execution.fast": ("execution.fast", "execution.fast.linear"),
    "position": ("position", "position.linear"),
    "wallet": ("wallet",),
}
FAST_FIELDS: Final = (
    "category", "symbol", "orderId", "isMaker", "orderLinkId", "execId", "execPrice",
    "execQty", "side", "execTime", "seq",
)  # fmt: skip


def fmt(value: Decimal) -> str:
    """Bybit's decimal text: no exponent, no trailing zeros, ``"0"`` for zero."""
    if not value:
        return "0"
    return format(value.normalize(), "f")


def avg_price(o: Order) -> str:
    """The order's average fill price, ``""`` before any fill."""
    return fmt(q8(o.cum_value / o.cum_qty)) if o.cum_qty else ""


def order_element(o: Order, *, detail: bool = False) -> Element:
    """The ``order`` topic element (also the REST open/closed order row)."""
    leaves = o.leaves if o.is_open else ZERO
    conditional = o.stop_type != ""
    element: Element = {
        "category": CATEGORY, "symbol": o.symbol, "orderId": o.order_id,
        "orderLinkId": o.link_id, "blockTradeId": "", "side": o.side, "positionIdx": o.leg.idx,
        "orderStatus": o.status, "cancelType": o.cancel_type, "rejectReason": o.reject_reason,
        "avgPrice": avg_price(o), "leavesQty": fmt(leaves),
        "leavesValue": fmt(q8(leaves * o.price)), "cumExecQty": fmt(o.cum_qty),
        "cumExecValue": fmt(o.cum_value),
        "cumExecFee": fmt(o.cum_fee), "closedPnl": fmt(q8(o.closed_pnl)), "feeCurrency": "",
        "timeInForce": o.tif, "orderType": o.order_type, "stopOrderType": o.stop_type,
        "orderIv": "", "marketUnit": "", "triggerPrice": fmt(o.trigger),
        "takeProfit": "0", "stopLoss": "0",
        "tpslMode": "Partial" if o.stop_type.startswith("Partial") else "",
        "tpLimitPrice": "0", "slLimitPrice": "0", "tpTriggerBy": "", "slTriggerBy": "",
        "triggerDirection": o.trigger_direction, "triggerBy": "LastPrice" if conditional else "",
        "lastPriceOnCreated": o.last_price_on_created, "reduceOnly": o.reduce_only,
        "closeOnTrigger": o.close_on_trigger, "placeType": "", "smpType": "None",
        "smpGroup": 0, "smpOrderId": "", "isLeverage": "", "createType": o.create_type,
        "createdTime": str(o.created), "updatedTime": str(o.updated), "price": fmt(o.price),
        "qty": fmt(o.qty),
    }  # fmt: skip
    if detail:
        element["cumFeeDetail"] = {"USDT": fmt(o.cum_fee)} if o.cum_fee else {}
    return element


def execution_element(e: Execution, *, detail: bool = False) -> Element:
    """The ``execution`` topic element (also the REST execution row, less ``execFeeV2``)."""
    element: Element = {
        "category": CATEGORY, "symbol": e.symbol, "closedSize": fmt(e.closed),
        "execFee": fmt(e.fee), "execId": e.exec_id, "execPrice": fmt(e.price),
        "execQty": fmt(e.qty), "execType": e.exec_type, "execValue": fmt(e.value),
        "feeRate": fmt(e.fee_rate), "tradeIv": "", "markIv": "", "blockTradeId": "",
        "markPrice": fmt(e.mark), "indexPrice": fmt(e.index), "underlyingPrice": "",
        "leavesQty": fmt(e.leaves), "orderId": e.order_id, "orderLinkId": e.link_id,
        "orderPrice": fmt(e.order_price), "orderQty": fmt(e.order_qty),
        "orderType": e.order_type, "stopOrderType": e.stop_type, "side": e.side,
        "execTime": str(e.time), "isLeverage": "0", "isMaker": e.maker, "seq": e.seq,
        "marketUnit": "",
    }  # fmt: skip
    if detail:
        element["execPnl"] = fmt(q8(e.pnl))
    element["createType"] = e.create_type
    if detail:
        element["feeCurrency"] = "USDT"
    return element


def fast_element(e: Mapping[str, object]) -> Element:
    """The ``execution.fast`` copy of a trade (maker fills lose their orderLinkId, as
    Bybit sends them)."""
    fast = {k: e[k] for k in FAST_FIELDS}
    if e["isMaker"]:
        fast["orderLinkId"] = ""
    return fast


def position_element(leg: Leg, *, rest: bool = False) -> Element:
    """The ``position`` topic element of one leg; ``rest`` gives the /v5/position/list row
    (``avgPrice`` in place of ``entryPrice``). ``seq``: the symbol's last trade."""
    market, spec = leg.market, leg.market.spec
    size = abs(leg.net)
    side = "" if not size else ("Buy" if leg.net > 0 else "Sell")
    value = (size * leg.entry).quantize(_Q4)
    im = q8(value / LEVERAGE)
    upnl = ((market.mark - leg.entry) * leg.net).quantize(_Q4) if size else ZERO
    liq = bust = ""
    if size:
        sign = -1 if leg.net > 0 else 1
        bust = fmt((leg.entry * (1 + sign / LEVERAGE)).quantize(spec.tick))
        liq = fmt((leg.entry * (1 + sign * (1 / LEVERAGE - MMR))).quantize(spec.tick))
    return {
        "category": CATEGORY, "symbol": spec.symbol, "side": side, "size": fmt(size),
        "positionIdx": leg.idx, "tradeMode": 0, "positionValue": fmt(value), "riskId": 1,
        "riskLimitValue": spec.risk_limit, "avgPrice" if rest else "entryPrice": fmt(leg.entry),
        "markPrice": fmt(market.mark), "leverage": fmt(LEVERAGE), "positionBalance": fmt(im),
        "autoAddMargin": 0, "positionMM": fmt(q8(value * MMR)), "positionIM": fmt(im),
        "liqPrice": liq, "bustPrice": bust, "tpslMode": "Full", "takeProfit": "0",
        "stopLoss": "0", "trailingStop": "0", "unrealisedPnl": fmt(upnl),
        "curRealisedPnl": fmt(q8(leg.cur_realised)), "cumRealisedPnl": fmt(q8(leg.cum_realised)),
        "sessionAvgPrice": "", "createdTime": str(leg.created or leg.updated),
        "updatedTime": str(leg.updated), "positionStatus": "Normal",
        "adlRankIndicator": 2 if size else 0, "isReduceOnly": False, "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "", "seq": market.last_seq,
    }  # fmt: skip


def wallet_element(legs: Iterable[Leg], deposit: Decimal) -> Element:
    """The ``wallet`` topic element of the unified account (one coin, USDT)."""
    legs = list(legs)
    realised = q8(sum((leg.cum_realised for leg in legs), ZERO))
    upnl = sum(((leg.market.mark - leg.entry) * leg.net for leg in legs), ZERO).quantize(_Q4)
    im = q8(sum((abs(leg.net) * leg.entry / LEVERAGE for leg in legs), ZERO))
    mm = q8(sum((abs(leg.net) * leg.entry * MMR for leg in legs), ZERO))
    balance = deposit + realised
    equity = balance + upnl
    coin: Element = {
        "coin": "USDT", "equity": fmt(equity), "usdValue": fmt(equity),
        "walletBalance": fmt(balance), "free": "", "locked": "0", "spotHedgingQty": "0",
        "borrowAmount": "0", "availableToWithdraw": "", "accruedInterest": "0",
        "totalOrderIM": "0", "totalPositionIM": fmt(im), "totalPositionMM": fmt(mm),
        "unrealisedPnl": fmt(upnl), "cumRealisedPnl": fmt(realised), "bonus": "0",
        "collateralSwitch": True, "marginCollateral": True, "availableToBorrow": "",
        "spotBorrow": "0",
    }  # fmt: skip
    rate = (im / equity).quantize(_Q4) if equity > 0 else ZERO
    mm_rate = (mm / equity).quantize(_Q4) if equity > 0 else ZERO
    return {
        "accountIMRate": fmt(rate), "accountMMRate": fmt(mm_rate), "totalEquity": fmt(equity),
        "totalWalletBalance": fmt(balance), "totalMarginBalance": fmt(equity),
        "totalAvailableBalance": fmt(max(ZERO, equity - im)), "totalPerpUPL": fmt(upnl),
        "totalInitialMargin": fmt(im), "totalMaintenanceMargin": fmt(mm), "coin": [coin],
        "accountLTV": "0", "accountType": "UNIFIED",
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Push:
    """One data frame the venue pushes: ``topic`` is ``order``, ``execution``,
    ``execution.fast``, ``position`` or ``wallet``; ``render`` gives its text under a
    subscribed topic name."""

    topic: str
    frame_id: str
    creation_time: int
    data: tuple[Element, ...]
    _cache: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    def names(self) -> tuple[str, ...]:
        """Every topic name this frame is delivered under."""
        if self.topic == "execution":
            return TOPIC_NAMES["execution"] + TOPIC_NAMES["execution.fast"]
        return TOPIC_NAMES[self.topic]

    @property
    def text(self) -> str:
        """The frame under its own topic name."""
        text = self.render(self.topic)
        if text is None:  # pragma: no cover - a frame always renders under its own topic
            raise RuntimeError("simulator bug: a frame with nothing to send")
        return text

    def render(self, name: str) -> str | None:
        """The frame's text as sent to a subscriber of ``name``; None if it sends nothing
        there (``execution.fast`` carries trades only)."""
        if name not in self._cache:
            self._cache[name] = self._render(name)
        return self._cache[name]

    def _render(self, name: str) -> str | None:
        data: list[Element] = list(self.data)
        if name.startswith("execution.fast") and self.topic == "execution":
            data = [fast_element(e) for e in data if e["execType"] == "Trade"]
            if not data:
                return None
        if name.startswith("execution.fast"):  # fast frames carry no id
            return dumps({"topic": name, "creationTime": self.creation_time, "data": data})
        # Bybit puts "topic" first on execution frames and "id" first on the others.
        if self.topic == "execution":
            frame: Element = {"topic": name, "id": self.frame_id}
        else:
            frame = {"id": self.frame_id, "topic": name}
        frame["creationTime"] = self.creation_time
        frame["data"] = data
        return dumps(frame)


def dumps(value: object) -> str:
    """Compact JSON, as Bybit sends it."""
    return json.dumps(value, separators=(",", ":"))
