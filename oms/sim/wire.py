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

from oms.sim.records import Q8, ZERO, exec_value, q8, to_tick
from oms.sim.specs import CATEGORY, LEVERAGE, MMR

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from oms.sim.records import Execution, Leg, Order

Element = dict[str, object]
_Q4: Final = Decimal("1e-4")

#: Topic names that carry each pushed kind of a linear symbol (the all-in-one and the
#: categorised one); ``topic_names`` gives them for any category.
TOPIC_NAMES: Final = {
    "order": ("order", "order.linear"),
    "execution": ("execution", "execution.linear"),
    "execution.fast": ("execution.fast", "execution.fast.linear"),
    "position": ("position", "position.linear"),
    "wallet": ("wallet",),
}
#: Order keys a spot order lacks (Bybit's spot frames carry no createType, no TP/SL mode
#: and limits, no closedPnl).
_NOT_SPOT_ORDER: Final = (
    "createType", "tpslMode", "tpLimitPrice", "slLimitPrice", "closedPnl",
)  # fmt: skip


def topic_names(topic: str, category: str = CATEGORY) -> tuple[str, ...]:
    """The names a frame of ``topic`` about a ``category`` symbol is delivered under: the
    all-in-one topic and its categorised variant (the wallet has none)."""
    if topic == "wallet":
        return TOPIC_NAMES["wallet"]
    if category == CATEGORY:
        return TOPIC_NAMES[topic]
    return (topic, f"{topic}.{category}")


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
    """The order's average fill price, ``""`` before any fill (inverse: its contracts
    over their value in the base coin)."""
    if not o.cum_qty:
        return ""
    if o.category == "inverse":
        return fmt(q8(o.cum_qty / o.cum_value))
    return fmt(q8(o.cum_value / o.cum_qty))


def order_fee_coin(o: Order) -> str:
    """The coin an order's fees are paid in: the settle coin, or on spot the coin the
    order receives (a buy its base coin, a sell its quote coin)."""
    spec = o.market.spec
    if spec.category == "spot":
        return spec.base_coin if o.side == "Buy" else spec.quote_coin
    return spec.settle_coin


def order_element(o: Order, *, detail: bool = False) -> Element:
    """The ``order`` topic element (also the REST open/closed order row)."""
    leaves = o.leaves if o.is_open else ZERO
    conditional = o.stop_type != ""
    spot = o.category == "spot"
    leaves_value = q8(exec_value(o.market.spec, leaves, o.price)) if leaves else ZERO
    element: Element = {
        "category": o.category, "symbol": o.symbol, "orderId": o.order_id,
        "orderLinkId": o.link_id, "blockTradeId": "", "side": o.side, "positionIdx": o.leg.idx,
        "orderStatus": o.status, "cancelType": o.cancel_type, "rejectReason": o.reject_reason,
        "avgPrice": avg_price(o), "leavesQty": fmt(leaves),
        "leavesValue": fmt(leaves_value), "cumExecQty": fmt(o.cum_qty),
        "cumExecValue": fmt(o.cum_value),
        "cumExecFee": fmt(o.cum_fee), "closedPnl": fmt(q8(o.closed_pnl)), "feeCurrency": "",
        "timeInForce": o.tif, "orderType": o.order_type, "stopOrderType": o.stop_type,
        "orderIv": "", "marketUnit": "", "triggerPrice": fmt(o.trigger),
        "takeProfit": fmt(o.take_profit), "stopLoss": fmt(o.stop_loss),
        "tpslMode": o.tpsl_mode or ("Partial" if o.stop_type.startswith("Partial") else ""),
        "tpLimitPrice": "0", "slLimitPrice": "0", "tpTriggerBy": o.tp_trigger_by,
        "slTriggerBy": o.sl_trigger_by, "triggerDirection": o.trigger_direction,
        "triggerBy": o.trigger_by or ("LastPrice" if conditional else ""),
        "lastPriceOnCreated": o.last_price_on_created, "reduceOnly": o.reduce_only,
        "closeOnTrigger": o.close_on_trigger, "placeType": "", "smpType": "None",
        "smpGroup": 0, "smpOrderId": "", "isLeverage": "0" if spot else "",
        "createType": o.create_type, "createdTime": str(o.created),
        "updatedTime": str(o.updated), "price": fmt(o.price), "qty": fmt(o.qty),
    }  # fmt: skip
    if spot:
        for key in _NOT_SPOT_ORDER:
            del element[key]
    if detail:
        element["cumFeeDetail"] = {order_fee_coin(o): fmt(o.cum_fee)} if o.cum_fee else {}
        element["parentOrderLinkId"] = o.parent_link_id
    return element


def execution_element(e: Execution, *, detail: bool = False) -> Element:
    """The ``execution`` topic element (also the REST execution row, less ``execFeeV2``)."""
    spot = e.category == "spot"
    element: Element = {
        "category": e.category, "symbol": e.symbol,
        "closedSize": "" if spot else fmt(e.closed),
        "execFee": fmt(e.fee), "execId": e.exec_id, "execPrice": fmt(e.price),
        "execQty": fmt(e.qty), "execType": e.exec_type, "execValue": fmt(e.value),
        "feeRate": fmt(e.fee_rate), "tradeIv": "", "markIv": "", "blockTradeId": "",
        "markPrice": "" if spot else fmt(e.mark), "indexPrice": "" if spot else fmt(e.index),
        "underlyingPrice": "",
        "leavesQty": fmt(e.leaves), "orderId": e.order_id, "orderLinkId": e.link_id,
        "orderPrice": fmt(e.order_price), "orderQty": fmt(e.order_qty),
        "orderType": e.order_type, "stopOrderType": e.stop_type, "side": e.side,
        "execTime": str(e.time), "isLeverage": "0", "isMaker": e.maker, "seq": e.seq,
        "marketUnit": "",
    }  # fmt: skip
    if detail:
        element["execPnl"] = fmt(q8(e.pnl))
    if not spot:  # spot executions carry no createType
        element["createType"] = e.create_type
    if detail:
        element["feeCurrency"] = e.fee_coin
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
    inverse = spec.category == "inverse"
    value = leg_value(leg) if inverse else leg_value(leg).quantize(_Q4)
    im = q8(value / LEVERAGE)
    upnl = leg_upnl(leg).quantize(Q8 if inverse else _Q4) if size else ZERO
    liq = bust = ""
    if size:
        sign = -1 if leg.net > 0 else 1
        # inverse: the prices at which the margin is gone, 1/price being linear in PnL
        bust_at = 1 / (1 - sign / LEVERAGE) if inverse else 1 + sign / LEVERAGE
        liq_at = (
            1 / (1 - sign * (1 / LEVERAGE - MMR)) if inverse else 1 + sign * (1 / LEVERAGE - MMR)
        )
        bust = fmt(to_tick(leg.entry * bust_at, spec.tick))
        liq = fmt(to_tick(leg.entry * liq_at, spec.tick))
    return {
        "category": spec.category, "symbol": spec.symbol, "side": side, "size": fmt(size),
        "positionIdx": leg.idx, "tradeMode": 0, "positionValue": fmt(value), "riskId": 1,
        "riskLimitValue": spec.risk_limit, "avgPrice" if rest else "entryPrice": fmt(leg.entry),
        "markPrice": fmt(market.mark), "leverage": fmt(LEVERAGE), "positionBalance": fmt(im),
        "autoAddMargin": 0, "positionMM": fmt(q8(value * MMR)), "positionIM": fmt(im),
        "liqPrice": liq, "bustPrice": bust, "tpslMode": "Full",
        "takeProfit": fmt(leg.take_profit), "stopLoss": fmt(leg.stop_loss),
        "trailingStop": "0", "unrealisedPnl": fmt(upnl),
        "curRealisedPnl": fmt(q8(leg.cur_realised)), "cumRealisedPnl": fmt(q8(leg.cum_realised)),
        "sessionAvgPrice": "", "createdTime": str(leg.created or leg.updated),
        "updatedTime": str(leg.updated), "positionStatus": "Normal",
        "adlRankIndicator": 2 if size else 0, "isReduceOnly": False, "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "", "seq": market.last_seq,
    }  # fmt: skip


def leg_value(leg: Leg) -> Decimal:
    """A leg's position value in its settle coin at entry (inverse: contracts / entry)."""
    size = abs(leg.net)
    if leg.market.spec.category == "inverse":
        return q8(size / leg.entry) if size else ZERO
    return size * leg.entry


def leg_upnl(leg: Leg) -> Decimal:
    """A leg's unrealised PnL at the mark, in its settle coin (unrounded)."""
    if not leg.net:
        return ZERO
    if leg.market.spec.category == "inverse":
        return leg.net * (1 / leg.entry - 1 / leg.market.mark)
    return (leg.market.mark - leg.entry) * leg.net


def wallet_element(
    legs: Iterable[Leg], coins: Mapping[str, tuple[Decimal, Decimal, Decimal]]
) -> Element:
    """The ``wallet`` topic element of the unified account. ``coins``: each coin's
    (walletBalance, locked, USD price); a coin's margin and PnL come from the legs that
    settle in it; the account's totals are in USD."""
    legs = list(legs)
    elements, totals = [], dict.fromkeys(("equity", "balance", "upnl", "im", "mm"), ZERO)
    for coin, (balance, locked, usd) in coins.items():
        mine = [leg for leg in legs if leg.market.spec.settle_coin == coin]
        realised = q8(sum((leg.cum_realised for leg in mine), ZERO))
        upnl = sum((leg_upnl(leg) for leg in mine), ZERO).quantize(_Q4 if usd == 1 else Q8)
        im = q8(sum((leg_value(leg) / LEVERAGE for leg in mine), ZERO))
        mm = q8(sum((leg_value(leg) * MMR for leg in mine), ZERO))
        equity = balance + upnl
        elements.append(_wallet_coin(coin, equity, balance, locked, usd, upnl, im, mm, realised))
        for name, value in zip(totals, (equity, balance, upnl, im, mm), strict=True):
            totals[name] += value if usd == 1 else (value * usd).quantize(_Q4)
    equity, balance, upnl, im, mm = totals.values()
    rate = (im / equity).quantize(_Q4) if equity > 0 else ZERO
    mm_rate = (mm / equity).quantize(_Q4) if equity > 0 else ZERO
    return {
        "accountIMRate": fmt(rate), "accountMMRate": fmt(mm_rate), "totalEquity": fmt(equity),
        "totalWalletBalance": fmt(balance), "totalMarginBalance": fmt(equity),
        "totalAvailableBalance": fmt(max(ZERO, equity - im)), "totalPerpUPL": fmt(upnl),
        "totalInitialMargin": fmt(im), "totalMaintenanceMargin": fmt(mm), "coin": elements,
        "accountLTV": "0", "accountType": "UNIFIED",
    }  # fmt: skip


def _wallet_coin(
    coin: str, equity: Decimal, balance: Decimal, locked: Decimal, usd: Decimal,
    *pnl_and_margin: Decimal,
) -> Element:  # fmt: skip
    upnl, im, mm, realised = pnl_and_margin
    usd_value = equity if usd == 1 else (equity * usd).quantize(_Q4)
    return {
        "coin": coin, "equity": fmt(equity), "usdValue": fmt(usd_value),
        "walletBalance": fmt(balance), "free": "", "locked": fmt(locked),
        "spotHedgingQty": "0", "borrowAmount": "0", "availableToWithdraw": "",
        "accruedInterest": "0", "totalOrderIM": "0", "totalPositionIM": fmt(im),
        "totalPositionMM": fmt(mm), "unrealisedPnl": fmt(upnl), "cumRealisedPnl": fmt(realised),
        "bonus": "0", "collateralSwitch": True, "marginCollateral": True,
        "availableToBorrow": "", "spotBorrow": "0",
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
    #: the category of the symbol the frame is about (it picks the categorised topic)
    category: str = CATEGORY
    _cache: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    def names(self) -> tuple[str, ...]:
        """Every topic name this frame is delivered under."""
        names = topic_names(self.topic, self.category)
        if self.topic == "execution":
            return names + topic_names("execution.fast", self.category)
        return names

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
