"""The sandbox exchange's state objects and their wire elements.

Symbols, per-symbol market state (``Book``), position legs (``Leg``), orders
(``SimOrder``), and the functions that render each as the exact Bybit v5 element: every
number a JSON string (``fmt``), ``""`` for absent values, and the few real ints and bools
(``positionIdx``, ``seq``, ``reduceOnly``...) as such. Decimal arithmetic only; nothing
here draws random numbers, so rendering an element (for a frame or a REST row) never
changes the simulation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

D = Decimal
ZERO: Final = D(0)
Q8: Final = D("1e-8")
Q4: Final = D("1e-4")
TAKER_FEE: Final = D("0.00055")
MAKER_FEE: Final = D("0.0002")
LEVERAGE: Final = D(10)
MMR: Final = D("0.005")

#: Statuses whose leavesQty is still live (everything else reports 0).
OPEN_STATUSES: Final = frozenset({"New", "PartiallyFilled", "Untriggered", "Triggered"})
WORKING: Final = frozenset({"New", "PartiallyFilled"})

Element = dict[str, object]


def fmt(value: Decimal) -> str:
    """Bybit's decimal text: no exponent, no trailing zeros, ``"0"`` for zero."""
    if not value:
        return "0"
    return format(value.normalize(), "f")


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A linear USDT perpetual: its position mode, lot and tick, and its price level."""

    name: str
    step: Decimal
    tick: Decimal
    price: Decimal
    max_lots: int
    seq_base: int
    #: hedge mode (positionIdx 1 long, 2 short) or one-way (positionIdx 0)
    hedge: bool = False
    risk_limit: str = "2000000"

    @property
    def base_coin(self) -> str:
        return self.name.removesuffix("USDT")

    @property
    def settle_coin(self) -> str:
        return "USDT"

    @property
    def indices(self) -> tuple[int, ...]:
        return (1, 2) if self.hedge else (0,)


CATALOGUE: Final[dict[str, SymbolSpec]] = {
    s.name: s
    for s in (
        SymbolSpec("BTCUSDT", D("0.001"), D("0.1"), D(65000), 120, 4_600_000_000, hedge=False),
        SymbolSpec("ETHUSDT", D("0.01"), D("0.01"), D(3390), 200, 4_610_000_000, hedge=True),
        SymbolSpec("DOGEUSDT", D(1), D("0.00001"), D("0.1599"), 9000, 4_620_000_000, hedge=False),
        SymbolSpec("SOLUSDT", D("0.1"), D("0.01"), D("148.6"), 90, 4_630_000_000, hedge=True),
        SymbolSpec("XRPUSDT", D(1), D("0.0001"), D("0.519"), 5000, 4_640_000_000, hedge=False),
        SymbolSpec("LINKUSDT", D("0.1"), D("0.001"), D("17.512"), 800, 4_650_000_000, hedge=True),
    )
}
#: BTCUSDT and DOGEUSDT one-way, ETHUSDT and SOLUSDT hedge mode.
DEFAULT_SYMBOLS: Final = ("BTCUSDT", "ETHUSDT", "DOGEUSDT", "SOLUSDT")


@dataclass(slots=True)
class Book:
    """Per-symbol market state: mid, mark and index price (in ticks) and the sequences."""

    spec: SymbolSpec
    mid_ticks: int
    mark_ticks: int
    index_ticks: int
    #: the symbol's cross sequence: moves with every match on the symbol, ours or not
    cross_seq: int
    #: seq of this account's last trade (or funding) on the symbol; -1 if never traded
    last_seq: int = -1

    def price_at(self, ticks: int) -> Decimal:
        return self.spec.tick * max(1, ticks)

    @property
    def mid(self) -> Decimal:
        return self.price_at(self.mid_ticks)

    @property
    def mark(self) -> Decimal:
        return self.price_at(self.mark_ticks)

    @property
    def index(self) -> Decimal:
        return self.price_at(self.index_ticks)

    def ticks_away(self, ticks: int) -> Decimal:
        return self.price_at(self.mid_ticks + ticks)


@dataclass(slots=True)
class Leg:
    """One position leg. ``net`` is signed: + long, - short (hedge idx 1 >= 0, idx 2 <= 0)."""

    book: Book
    idx: int
    net: Decimal = ZERO
    entry: Decimal = ZERO
    cur_realised: Decimal = ZERO
    cum_realised: Decimal = ZERO
    created: int = 0
    updated: int = 0

    @property
    def key(self) -> str:
        return f"{self.book.spec.name}:{self.idx}"

    def closable(self, side: str) -> Decimal:
        """Quantity a reduce-only order of ``side`` may still close."""
        if (side == "Sell" and self.net > 0) or (side == "Buy" and self.net < 0):
            return abs(self.net)
        return ZERO

    def apply(
        self, signed_qty: Decimal, price: Decimal, fee: Decimal, t: int
    ) -> tuple[Decimal, Decimal]:
        """Book a fill; return the size it closed and the PnL that realised (before fee)."""
        net = self.net
        if not net:
            self.cur_realised = ZERO
            self.created = t
        closed = pnl = ZERO
        if not net or (net > 0) == (signed_qty > 0):
            size = abs(net) + abs(signed_qty)
            self.entry = ((abs(net) * self.entry + abs(signed_qty) * price) / size).quantize(Q8)
        else:
            closed = min(abs(net), abs(signed_qty))
            pnl = closed * (price - self.entry) * (1 if net > 0 else -1)
            self.cur_realised += pnl
            self.cum_realised += pnl
            remaining = net + signed_qty
            if not remaining:
                self.entry = ZERO
            elif (remaining > 0) != (net > 0):
                self.entry = price  # flipped through zero
        self.net = net + signed_qty
        self.cur_realised -= fee
        self.cum_realised -= fee
        self.updated = t
        if self.book.spec.hedge and (self.net < 0 if self.idx == 1 else self.net > 0):
            raise RuntimeError(f"sandbox bug: hedge leg {self.key} crossed zero")
        return closed, pnl


@dataclass(slots=True)
class SimOrder:
    """One order as the exchange holds it."""

    ordinal: int
    order_id: str
    link_id: str
    book: Book
    leg: Leg
    side: str
    order_type: str
    tif: str
    qty: Decimal
    price: Decimal
    created: int
    updated: int
    stop_type: str = ""
    create_type: str = "CreateByUser"
    trigger: Decimal = ZERO
    trigger_direction: int = 0
    last_price_on_created: str = ""
    reduce_only: bool = False
    close_on_trigger: bool = False
    status: str = "New"
    cum_qty: Decimal = ZERO
    cum_value: Decimal = ZERO
    cum_fee: Decimal = ZERO
    closed_pnl: Decimal = ZERO
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    #: every status pushed for this order, in order
    history: list[str] = field(default_factory=list)

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.cum_qty

    @property
    def avg_price(self) -> str:
        return fmt((self.cum_value / self.cum_qty).quantize(Q8)) if self.cum_qty else ""


def order_element(o: SimOrder) -> Element:
    """The ``order`` topic element (also the REST open/closed order row)."""
    leaves = o.leaves if o.status in OPEN_STATUSES else ZERO
    conditional = o.stop_type != ""
    return {
        "category": "linear",
        "symbol": o.book.spec.name,
        "orderId": o.order_id,
        "orderLinkId": o.link_id,
        "blockTradeId": "",
        "side": o.side,
        "positionIdx": o.leg.idx,
        "orderStatus": o.status,
        "cancelType": o.cancel_type,
        "rejectReason": o.reject_reason,
        "avgPrice": o.avg_price,
        "leavesQty": fmt(leaves),
        "leavesValue": fmt(leaves * o.price),
        "cumExecQty": fmt(o.cum_qty),
        "cumExecValue": fmt(o.cum_value),
        "cumExecFee": fmt(o.cum_fee),
        "closedPnl": fmt(o.closed_pnl.quantize(Q8)),
        "feeCurrency": "",
        "timeInForce": o.tif,
        "orderType": o.order_type,
        "stopOrderType": o.stop_type,
        "orderIv": "",
        "marketUnit": "",
        "triggerPrice": fmt(o.trigger),
        "takeProfit": "0",
        "stopLoss": "0",
        "tpslMode": "",
        "tpLimitPrice": "0",
        "slLimitPrice": "0",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": o.trigger_direction,
        "triggerBy": "LastPrice" if conditional else "",
        "lastPriceOnCreated": o.last_price_on_created,
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": o.close_on_trigger,
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "isLeverage": "",
        "createType": o.create_type,
        "createdTime": str(o.created),
        "updatedTime": str(o.updated),
        "price": fmt(o.price),
        "qty": fmt(o.qty),
        "cumFeeDetail": {"USDT": fmt(o.cum_fee)} if o.cum_fee else {},
    }


def position_element(leg: Leg, *, rest: bool = False) -> Element:
    """The ``position`` topic element of one leg; ``rest`` gives the /v5/position/list row
    (``avgPrice`` in place of ``entryPrice``)."""
    book, spec = leg.book, leg.book.spec
    size = abs(leg.net)
    side = "" if not size else ("Buy" if leg.net > 0 else "Sell")
    value = (size * leg.entry).quantize(Q4)
    im = (value / LEVERAGE).quantize(Q8)
    upnl = ((book.mark - leg.entry) * leg.net).quantize(Q4) if size else ZERO
    liq = bust = ""
    if size:
        sign = -1 if leg.net > 0 else 1
        bust = fmt((leg.entry * (1 + sign / LEVERAGE)).quantize(spec.tick))
        liq = fmt((leg.entry * (1 + sign * (1 / LEVERAGE - MMR))).quantize(spec.tick))
    return {
        "category": "linear",
        "symbol": spec.name,
        "side": side,
        "size": fmt(size),
        "positionIdx": leg.idx,
        "tradeMode": 0,
        "positionValue": fmt(value),
        "riskId": 1,
        "riskLimitValue": spec.risk_limit,
        "avgPrice" if rest else "entryPrice": fmt(leg.entry),
        "markPrice": fmt(book.mark),
        "leverage": fmt(LEVERAGE),
        "positionBalance": fmt(im),
        "autoAddMargin": 0,
        "positionMM": fmt((value * MMR).quantize(Q8)),
        "positionIM": fmt(im),
        "liqPrice": liq,
        "bustPrice": bust,
        "tpslMode": "Full",
        "takeProfit": "0",
        "stopLoss": "0",
        "trailingStop": "0",
        "unrealisedPnl": fmt(upnl),
        "curRealisedPnl": fmt(leg.cur_realised.quantize(Q8)),
        "cumRealisedPnl": fmt(leg.cum_realised.quantize(Q8)),
        "sessionAvgPrice": "",
        "createdTime": str(leg.created or leg.updated),
        "updatedTime": str(leg.updated),
        "positionStatus": "Normal",
        "adlRankIndicator": 2 if size else 0,
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "seq": book.last_seq,
    }


def wallet_element(legs: list[Leg], deposit: Decimal) -> Element:
    """The ``wallet`` topic element of the unified account (one coin, USDT)."""
    realised = sum((leg.cum_realised for leg in legs), ZERO).quantize(Q8)
    upnl = sum(((leg.book.mark - leg.entry) * leg.net for leg in legs if leg.net), ZERO).quantize(
        Q4
    )
    im = sum((abs(leg.net) * leg.entry / LEVERAGE for leg in legs), ZERO).quantize(Q8)
    mm = sum((abs(leg.net) * leg.entry * MMR for leg in legs), ZERO).quantize(Q8)
    balance = deposit + realised
    equity = balance + upnl
    available = max(ZERO, equity - im)
    coin: Element = {
        "coin": "USDT",
        "equity": fmt(equity),
        "usdValue": fmt(equity),
        "walletBalance": fmt(balance),
        "free": "",
        "locked": "0",
        "spotHedgingQty": "0",
        "borrowAmount": "0",
        "availableToWithdraw": "",
        "accruedInterest": "0",
        "totalOrderIM": "0",
        "totalPositionIM": fmt(im),
        "totalPositionMM": fmt(mm),
        "unrealisedPnl": fmt(upnl),
        "cumRealisedPnl": fmt(realised),
        "bonus": "0",
        "collateralSwitch": True,
        "marginCollateral": True,
        "availableToBorrow": "",
        "spotBorrow": "0",
    }
    rate = (im / equity).quantize(Q4) if equity > 0 else ZERO
    mm_rate = (mm / equity).quantize(Q4) if equity > 0 else ZERO
    return {
        "accountIMRate": fmt(rate),
        "accountMMRate": fmt(mm_rate),
        "totalEquity": fmt(equity),
        "totalWalletBalance": fmt(balance),
        "totalMarginBalance": fmt(equity),
        "totalAvailableBalance": fmt(available),
        "totalPerpUPL": fmt(upnl),
        "totalInitialMargin": fmt(im),
        "totalMaintenanceMargin": fmt(mm),
        "coin": [coin],
        "accountLTV": "0",
        "accountType": "UNIFIED",
    }


#: Topic names that carry each pushed kind (the all-in-one and the linear one).
TOPIC_NAMES: Final = {
    "order": ("order", "order.linear"),
    "execution": ("execution", "execution.linear"),
    "execution.fast": ("execution.fast", "execution.fast.linear"),
    "position": ("position", "position.linear"),
    "wallet": ("wallet",),
}
_FAST_FIELDS: Final = (
    "category",
    "symbol",
    "orderId",
    "isMaker",
    "orderLinkId",
    "execId",
    "execPrice",
    "execQty",
    "side",
    "execTime",
    "seq",
)


@dataclass(frozen=True, slots=True)
class Push:
    """One data frame the exchange pushes: ``topic`` is ``order``, ``execution``,
    ``position`` or ``wallet``; ``render`` gives its text under a subscribed topic name."""

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

    def render(self, name: str) -> str | None:
        """The frame's text as sent to a subscriber of ``name``; None if it sends nothing
        there (``execution.fast`` carries trades only)."""
        if name not in self._cache:
            self._cache[name] = self._render(name)
        return self._cache[name]

    def _render(self, name: str) -> str | None:
        if name.startswith("execution.fast"):
            fast = [{k: e[k] for k in _FAST_FIELDS} for e in self.data if e["execType"] == "Trade"]
            if not fast:
                return None
            return _dumps({"topic": name, "creationTime": self.creation_time, "data": fast})
        # Bybit puts "topic" first on execution frames and "id" first on the others.
        if self.topic == "execution":
            frame: Element = {"topic": name, "id": self.frame_id}
        else:
            frame = {"id": self.frame_id, "topic": name}
        frame["creationTime"] = self.creation_time
        frame["data"] = list(self.data)
        return _dumps(frame)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
