"""A large, realistic, deterministic Bybit v5 private-stream capture for the benchmark.

A small account simulator (seeded ``random.Random``, ``Decimal`` money only) trades several
linear perpetuals, some in one-way mode and some in hedge mode, and writes every frame
the private stream would push, with the element layout, key order and value types of
``/work/shared/data/sample-clean.jsonl``:

- orders go Created/New -> PartiallyFilled -> Filled or Cancelled, are amended, rejected,
  cancelled in bulk; conditional orders go Untriggered -> Triggered -> New/Filled or are
  Deactivated; reduce-only orders and TP/SL are cancelled when the position shrinks;
- every match is one ``execution`` frame (1-3 elements, unique execIds, one per-symbol
  seq) plus one ``position`` frame of the leg it moved, with the same seq, and the order
  report; the three arrive in varying order, as they do on the wire;
- order create/cancel sometimes pushes a ``position`` frame too, and funding rounds push
  a Funding execution and a position frame per open leg.

The stream is valid by construction: replayed through ``oms.Ledger`` it must raise no
anomaly (``bench/run.py`` checks). ``python bench/generate.py --frames N -o FILE`` writes
a capture to a file.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

D = Decimal
_ZERO: Final = D(0)
_Q8: Final = D("1e-8")
_Q4: Final = D("1e-4")
_TAKER: Final = D("0.00055")
_MAKER: Final = D("0.0002")
_LEVERAGE: Final = D(10)
_MMR: Final = D("0.005")
_START_MS: Final = 1_717_200_000_000
#: Frames are produced action by action (at most 18: a funding round over 9 legs); with
#: fewer than this many left, only single-frame actions run, so the capture ends on an
#: action boundary at exactly N frames.
_TAIL: Final = 24
#: The simulator's actions (``Simulator`` methods) and their relative frequencies.
_ACTIONS: Final = {
    "place_market": 25,
    "place_limit": 18,
    "place_ioc_limit": 4,
    "place_conditional": 6,
    "trigger": 5,
    "maker_fill": 19,
    "cancel": 11,
    "amend": 5,
    "cancel_all": 0.5,
    "funding": 0.2,
    "idle": 6.3,
}
_ACTION_NAMES: Final = tuple(_ACTIONS)
_ACTION_WEIGHTS: Final = tuple(_ACTIONS.values())

_WORKING: Final = frozenset({"New", "PartiallyFilled"})
#: Statuses whose leavesQty is still live (everything else reports 0).
_OPEN: Final = _WORKING | {"Created", "Untriggered", "Triggered"}
#: Execution elements of one taker match (one per maker it hits), as often as the sample.
_PARTS: Final = (1, 1, 1, 1, 1, 1, 2, 2, 3)
#: Arrival order of a match's (order, execution, position) frames, and how often each.
_LAYOUTS: Final = ((0, 1, 2), (1, 0, 2), (1, 2, 0), (0, 2, 1), (2, 1, 0))
_LAYOUT_WEIGHTS: Final = (40, 30, 15, 10, 5)
_REJECT_REASONS: Final = (
    "EC_ReachMaxTradeNum",
    "EC_PriceGreaterThanUpperLimit",
    "EC_PriceLessThanLowerLimit",
)


@dataclass(frozen=True, slots=True)
class Spec:
    """A linear perpetual: its mode, lot and tick, and roughly where it trades."""

    name: str
    #: "oneway" (positionIdx 0) or "hedge" (idx 1 long, idx 2 short)
    mode: str
    step: Decimal
    tick: Decimal
    price: Decimal
    max_lots: int
    seq_base: int
    risk_limit: str

    @property
    def hedge(self) -> bool:
        return self.mode == "hedge"


SYMBOLS: Final = (
    Spec("BTCUSDT", "oneway", D("0.001"), D("0.1"), D("65000"), 120, 4_600_000_000, "2000000"),
    Spec("ETHUSDT", "hedge", D("0.01"), D("0.01"), D("3390"), 200, 4_610_000_000, "2000000"),
    Spec("DOGEUSDT", "oneway", D(1), D("0.00001"), D("0.1599"), 9000, 4_620_000_000, "800000"),
    Spec("SOLUSDT", "hedge", D("0.1"), D("0.01"), D("148.6"), 90, 4_630_000_000, "800000"),
    Spec("XRPUSDT", "oneway", D(1), D("0.0001"), D("0.519"), 5000, 4_640_000_000, "400000"),
    Spec("LINKUSDT", "hedge", D("0.1"), D("0.001"), D("17.512"), 800, 4_650_000_000, "400000"),
)


def fmt(value: Decimal) -> str:
    """Bybit's decimal text: no exponent, no trailing zeros, ``"0"`` for zero."""
    if not value:
        return "0"
    return format(value.normalize(), "f")


@dataclass(slots=True)
class Book:
    """Per-symbol market state: the mid price (in ticks) and the cross sequence."""

    spec: Spec
    mid_ticks: int
    seq: int

    @property
    def mid(self) -> Decimal:
        return self.spec.tick * self.mid_ticks

    def ticks_away(self, ticks: int) -> Decimal:
        return self.spec.tick * max(1, self.mid_ticks + ticks)


@dataclass(slots=True)
class Leg:
    """One position leg. ``net`` is signed: + long, - short (hedge idx 1 >= 0, idx 2 <= 0)."""

    book: Book
    idx: int
    net: Decimal = _ZERO
    entry: Decimal = _ZERO
    cur_realised: Decimal = _ZERO
    cum_realised: Decimal = _ZERO
    created: int = 0
    updated: int = 0
    #: seq of the last match that moved this leg; 0 until it has traded
    seq: int = 0
    reported: bool = False

    def closable(self, side: str) -> Decimal:
        """Quantity a reduce-only order of ``side`` may still close."""
        if (side == "Sell" and self.net > 0) or (side == "Buy" and self.net < 0):
            return abs(self.net)
        return _ZERO

    def apply(
        self, signed_qty: Decimal, price: Decimal, fee: Decimal, t: int
    ) -> tuple[Decimal, Decimal]:
        """Book a fill; return the size it closed and the PnL that realised (before fee)."""
        net = self.net
        if not net:
            self.cur_realised = _ZERO
            self.created = t
        closed = pnl = _ZERO
        if not net or (net > 0) == (signed_qty > 0):
            size = abs(net) + abs(signed_qty)
            self.entry = ((abs(net) * self.entry + abs(signed_qty) * price) / size).quantize(_Q8)
        else:
            closed = min(abs(net), abs(signed_qty))
            pnl = closed * (price - self.entry) * (1 if net > 0 else -1)
            self.cur_realised += pnl
            self.cum_realised += pnl
            remaining = net + signed_qty
            if not remaining:
                self.entry = _ZERO
            elif (remaining > 0) != (net > 0):
                self.entry = price  # flipped through zero
        self.net = net + signed_qty
        self.cur_realised -= fee
        self.cum_realised -= fee
        self.updated = t
        if self.book.spec.hedge and (self.net < 0 if self.idx == 1 else self.net > 0):
            raise RuntimeError(f"simulator bug: hedge leg {self.idx} crossed zero")
        return closed, pnl


@dataclass(slots=True)
class SimOrder:
    """One order as the exchange holds it."""

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
    stop_type: str = ""
    trigger: Decimal = _ZERO
    trigger_direction: int = 0
    last_price_on_created: str = ""
    reduce_only: bool = False
    close_on_trigger: bool = False
    status: str = "New"
    cum_qty: Decimal = _ZERO
    cum_value: Decimal = _ZERO
    cum_fee: Decimal = _ZERO
    closed_pnl: Decimal = _ZERO
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    updated: int = 0

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.cum_qty


@dataclass(frozen=True, slots=True)
class Capture:
    """The generated frames and what they contain."""

    lines: list[str]
    seed: int
    #: frames per topic
    mix: dict[str, int]
    #: elements per topic
    elements: dict[str, int]
    #: what the simulator did
    stats: dict[str, int]
    #: final signed net of every reported leg: (symbol, positionIdx) -> net
    positions: dict[tuple[str, int], Decimal]
    #: final status of every order
    order_status: dict[str, str]


@dataclass(slots=True)
class Simulator:
    """Runs a random account and records the private-stream frames it causes."""

    seed: int
    p_extra_position: float = 0.03
    rng: random.Random = field(init=False)
    now: int = _START_MS
    lines: list[str] = field(default_factory=list)
    mix: Counter[str] = field(default_factory=Counter)
    elements: Counter[str] = field(default_factory=Counter)
    stats: Counter[str] = field(default_factory=Counter)
    books: list[Book] = field(default_factory=list)
    legs: dict[tuple[str, int], Leg] = field(default_factory=dict)
    orders: dict[str, SimOrder] = field(default_factory=dict)
    open_ids: list[str] = field(default_factory=list)
    _links: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        for spec in SYMBOLS:
            book = Book(spec, int(spec.price / spec.tick), spec.seq_base)
            self.books.append(book)
            for idx in (1, 2) if spec.hedge else (0,):
                self.legs[spec.name, idx] = Leg(book, idx)

    # --- ids, prices, sizes --------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _frame_id(self) -> str:
        r = self.rng.getrandbits
        return f"{r(56):014x}-{r(16):04x}-{r(16):04x}-{r(16):04x}-{r(48):012x}"

    def _link(self) -> str:
        self._links += 1
        return f"oms-{self.seed}-{self._links}"

    def _lots(self, book: Book, cap: Decimal | None = None) -> Decimal:
        top = book.spec.max_lots
        if cap is not None:
            top = min(top, int(cap / book.spec.step))
        lots = self.rng.randint(1, top) if self.rng.random() < 0.7 else self.rng.randint(1, 5)
        return book.spec.step * min(lots, top)

    def _walk(self, book: Book) -> None:
        base = int(book.spec.price / book.spec.tick)
        pull = (base - book.mid_ticks) * 8 // max(base, 1)
        book.mid_ticks = max(base // 2, book.mid_ticks + self.rng.randint(-6, 6) + pull)

    def _mark(self, book: Book) -> Decimal:
        return book.ticks_away(self.rng.randint(-3, 3))

    # --- elements ------------------------------------------------------------------------

    def _order_elem(self, o: SimOrder) -> dict[str, object]:
        leaves = o.leaves if o.status in _OPEN else _ZERO
        avg = fmt((o.cum_value / o.cum_qty).quantize(_Q8)) if o.cum_qty else ""
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
            "avgPrice": avg,
            "leavesQty": fmt(leaves),
            "leavesValue": fmt(leaves * o.price),
            "cumExecQty": fmt(o.cum_qty),
            "cumExecValue": fmt(o.cum_value),
            "cumExecFee": fmt(o.cum_fee),
            "closedPnl": fmt(o.closed_pnl.quantize(_Q8)),
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
            "createType": "CreateByUser",
            "createdTime": str(o.created),
            "updatedTime": str(o.updated),
            "price": fmt(o.price),
            "qty": fmt(o.qty),
        }

    def _exec_elem(
        self,
        o: SimOrder,
        *,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        maker: bool,
        closed: Decimal,
        t: int,
        seq: int,
    ) -> dict[str, object]:
        mark = self._mark(o.book)
        return {
            "category": "linear",
            "symbol": o.book.spec.name,
            "closedSize": fmt(closed),
            "execFee": fmt(fee),
            "execId": self._uuid(),
            "execPrice": fmt(price),
            "execQty": fmt(qty),
            "execType": "Trade",
            "execValue": fmt(qty * price),
            "feeRate": fmt(_MAKER if maker else _TAKER),
            "tradeIv": "",
            "markIv": "",
            "blockTradeId": "",
            "markPrice": fmt(mark),
            "indexPrice": fmt(o.book.ticks_away(self.rng.randint(-5, 5))),
            "underlyingPrice": "",
            "leavesQty": fmt(o.leaves),
            "orderId": o.order_id,
            "orderLinkId": o.link_id,
            "orderPrice": fmt(o.price),
            "orderQty": fmt(o.qty),
            "orderType": o.order_type,
            "stopOrderType": o.stop_type or "UNKNOWN",
            "side": o.side,
            "execTime": str(t),
            "isLeverage": "0",
            "isMaker": maker,
            "seq": seq,
            "marketUnit": "",
            "createType": "CreateByUser",
        }

    def _position_elem(self, leg: Leg) -> dict[str, object]:
        spec = leg.book.spec
        mark = self._mark(leg.book)
        size = abs(leg.net)
        side = "" if not size else ("Buy" if leg.net > 0 else "Sell")
        value = (size * leg.entry).quantize(_Q4)
        im = (value / _LEVERAGE).quantize(_Q8)
        upnl = ((mark - leg.entry) * leg.net).quantize(_Q4) if size else _ZERO
        liq = bust = ""
        if size:
            sign = -1 if leg.net > 0 else 1
            bust = fmt((leg.entry * (1 + sign / _LEVERAGE)).quantize(spec.tick))
            liq = fmt((leg.entry * (1 + sign * (1 / _LEVERAGE - _MMR))).quantize(spec.tick))
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
            "entryPrice": fmt(leg.entry),
            "markPrice": fmt(mark),
            "leverage": fmt(_LEVERAGE),
            "positionBalance": fmt(im),
            "autoAddMargin": 0,
            "positionMM": fmt((value * _MMR).quantize(_Q8)),
            "positionIM": fmt(im),
            "liqPrice": liq,
            "bustPrice": bust,
            "tpslMode": "Full",
            "takeProfit": "0",
            "stopLoss": "0",
            "trailingStop": "0",
            "unrealisedPnl": fmt(upnl),
            "curRealisedPnl": fmt(leg.cur_realised.quantize(_Q8)),
            "cumRealisedPnl": fmt(leg.cum_realised.quantize(_Q8)),
            "sessionAvgPrice": "",
            "createdTime": str(leg.created or self.now),
            "updatedTime": str(leg.updated or self.now),
            "positionStatus": "Normal",
            "adlRankIndicator": 2 if size else 0,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            # A leg that never traded reports the symbol's current sequence.
            "seq": leg.seq or leg.book.seq,
        }

    # --- frames --------------------------------------------------------------------------

    def _frame(self, topic: str, t: int, data: list[dict[str, object]]) -> str:
        created = t + self.rng.randint(0, 3)
        # Bybit puts "topic" first on execution frames and "id" first on the others.
        if topic == "execution":
            frame: dict[str, object] = {"topic": topic, "id": self._frame_id()}
        else:
            frame = {"id": self._frame_id(), "topic": topic}
        frame["creationTime"] = created
        frame["data"] = data
        self.mix[topic] += 1
        self.elements[topic] += len(data)
        return json.dumps(frame, separators=(",", ":"))

    def _emit(self, *lines: str) -> None:
        self.lines.extend(lines)

    def _order_frame(self, orders: list[SimOrder], t: int) -> str:
        return self._frame("order", t, [self._order_elem(o) for o in orders])

    def _position_frame(self, leg: Leg, t: int) -> str:
        leg.reported = True
        return self._frame("position", t, [self._position_elem(leg)])

    def _maybe_extra_position(self, leg: Leg, t: int) -> None:
        """Bybit also pushes the leg on order create/amend/cancel (same seq)."""
        if self.rng.random() < self.p_extra_position:
            leg.updated = t
            self._emit(self._position_frame(leg, t))
            self.stats["extra_position_frames"] += 1

    # --- order bookkeeping ---------------------------------------------------------------

    def _new_order(
        self,
        book: Book,
        leg: Leg,
        *,
        side: str,
        order_type: str,
        tif: str,
        qty: Decimal,
        price: Decimal,
        reduce_only: bool = False,
        link: bool = True,
    ) -> SimOrder:
        self.stats["orders"] += 1
        return SimOrder(
            order_id=self._uuid(),
            link_id=self._link() if link else "",
            book=book,
            leg=leg,
            side=side,
            order_type=order_type,
            tif=tif,
            qty=qty,
            price=price,
            created=self.now,
            updated=self.now,
            reduce_only=reduce_only,
        )

    def _track(self, o: SimOrder) -> None:
        self.orders[o.order_id] = o
        if o.status in _WORKING or o.status in ("Untriggered", "Created"):
            if o.order_id not in self.open_ids:
                self.open_ids.append(o.order_id)
        elif o.order_id in self.open_ids:
            self.open_ids.remove(o.order_id)

    def _finish(self, o: SimOrder, status: str, t: int, cancel_type: str = "UNKNOWN") -> None:
        o.status = status
        o.cancel_type = cancel_type
        o.updated = t
        self.stats[f"st_{status}"] += 1
        self._track(o)

    def _pick_side(self, book: Book) -> tuple[Leg, str, bool]:
        """(leg, side, reduce_only) of a new order: open or add, sometimes close."""
        spec = book.spec
        if not spec.hedge:
            leg = self.legs[spec.name, 0]
            side = self.rng.choice(("Buy", "Sell"))
            reduce_only = bool(leg.closable(side)) and self.rng.random() < 0.2
            return leg, side, reduce_only
        long_leg, short_leg = self.legs[spec.name, 1], self.legs[spec.name, 2]
        roll = self.rng.random()
        if roll < 0.2 and long_leg.net > 0:
            return long_leg, "Sell", True
        if roll < 0.4 and short_leg.net < 0:
            return short_leg, "Buy", True
        return (long_leg, "Buy", False) if roll < 0.7 else (short_leg, "Sell", False)

    def _size(self, book: Book, leg: Leg, side: str, reduce_only: bool) -> Decimal:
        return self._lots(book, leg.closable(side) if reduce_only else None)

    # --- matching ------------------------------------------------------------------------

    def _match(
        self,
        o: SimOrder,
        qty: Decimal,
        *,
        maker: bool,
        t: int,
        cancel_rest: bool = False,
    ) -> None:
        """One match of ``qty`` of ``o``: an execution frame of 1-3 elements at one seq,
        the order report and the leg's position report, in a realistic order."""
        book, leg, spec = o.book, o.leg, o.book.spec
        if o.reduce_only:
            qty = min(qty, leg.closable(o.side))
            if not qty:
                raise RuntimeError("simulator bug: reduce-only match with nothing to close")
        book.seq += self.rng.randint(1, 40)
        leg.seq = book.seq
        direction = 1 if o.side == "Buy" else -1
        price = o.price if maker else book.ticks_away(direction * self.rng.randint(0, 2))
        execs = []
        for size in self._split(spec, qty, 1 if maker else self.rng.choice(_PARTS)):
            value = size * price
            fee = (value * (_MAKER if maker else _TAKER)).quantize(_Q8)
            closed, pnl = leg.apply(direction * size, price, fee, t)
            o.cum_qty += size
            o.cum_value += value
            o.cum_fee += fee
            if closed:
                o.closed_pnl += pnl - fee
                self.stats["closing_fills"] += 1
            execs.append(
                self._exec_elem(
                    o, qty=size, price=price, fee=fee, maker=maker, closed=closed, t=t, seq=leg.seq
                )
            )
            self.stats["exec_Trade"] += 1
            if not maker:  # a taker walks the book
                price = max(spec.tick, price + direction * spec.tick * self.rng.randint(0, 3))
        book.mid_ticks = int(price / spec.tick)
        self._after_match(o, t, cancel_rest=cancel_rest)
        swept = self._sweep_reduce_only(leg, t, skip=o)
        frames = [
            self._order_frame([o, *swept], t),
            self._frame("execution", t, execs),
            self._position_frame(leg, t),
        ]
        # Bybit gives no order between topics: (order, execution, position) permuted.
        layout = self.rng.choices(_LAYOUTS, _LAYOUT_WEIGHTS)[0]
        self._emit(*(frames[i] for i in layout))

    def _split(self, spec: Spec, qty: Decimal, parts: int) -> list[Decimal]:
        """``qty`` cut into ``parts`` (at most one per lot) sizes of whole lots."""
        lots = int(qty / spec.step)
        parts = min(parts, lots)
        cuts = sorted(self.rng.sample(range(1, lots), parts - 1)) if parts > 1 else []
        return [spec.step * (b - a) for a, b in zip([0, *cuts], [*cuts, lots], strict=True)]

    def _after_match(self, o: SimOrder, t: int, *, cancel_rest: bool) -> None:
        o.updated = t
        if o.cum_qty > o.qty:
            raise RuntimeError("simulator bug: overfilled")
        if o.cum_qty == o.qty:
            self._finish(o, "Filled", t)
        elif cancel_rest:
            o.reject_reason = "EC_CancelForNoFullFill"
            self._finish(o, "Cancelled", t)
            self.stats["cancel_with_fill"] += 1
        else:
            o.status = "PartiallyFilled"
            self.stats["st_PartiallyFilled"] += 1
            self._track(o)

    def _sweep_reduce_only(self, leg: Leg, t: int, skip: SimOrder) -> list[SimOrder]:
        """Reduce-only orders the leg can no longer honour are cancelled (TP/SL: cleared)."""
        swept = []
        for order_id in list(self.open_ids):
            o = self.orders[order_id]
            if o is skip or o.leg is not leg or not o.reduce_only:
                continue
            closable = leg.closable(o.side)
            if o.status == "Untriggered":
                if not closable:
                    self._finish(o, "Deactivated", t, "CancelByTpSlTsClear")
                    swept.append(o)
            elif o.leaves > closable:
                self._finish(o, "Cancelled", t, "CancelByReduceOnly")
                self.stats["reduce_only_cancels"] += 1
                swept.append(o)
        return swept

    # --- actions -------------------------------------------------------------------------

    def _tick(self, spread: int = 1) -> int:
        self.now += self.rng.randint(0, spread)
        return self.now

    def place_market(self, book: Book) -> bool:
        leg, side, reduce_only = self._pick_side(book)
        qty = self._size(book, leg, side, reduce_only)
        factor = D("1.03") if side == "Buy" else D("0.97")
        price = (book.mid * factor).quantize(book.spec.tick)
        o = self._new_order(
            book,
            leg,
            side=side,
            order_type="Market",
            tif="IOC",
            qty=qty,
            price=price,
            reduce_only=reduce_only,
        )
        self._track(o)
        if self.rng.random() < 0.1:
            self._emit(self._order_frame([o], self.now))
            self.stats["st_New"] += 1
        self._fill_taker(o)
        return True

    def _fill_taker(self, o: SimOrder) -> None:
        """Fill a taker order in 1-3 matches; sometimes the book runs out (IOC cancel)."""
        matches = self.rng.choice((1, 1, 1, 1, 1, 2, 2, 3))
        cut_short = o.order_type == "Market" and self.rng.random() < 0.05
        for n in range(matches):
            t = self._tick(2)
            last = n == matches - 1
            lots_left = int(o.leaves / o.book.spec.step)
            if last or lots_left < 2:
                qty = o.leaves
                if cut_short and lots_left >= 2:
                    qty = o.book.spec.step * self.rng.randint(1, lots_left - 1)
                self._match(o, qty, maker=False, t=t, cancel_rest=cut_short)
                return
            qty = o.book.spec.step * self.rng.randint(1, lots_left - 1)
            self._match(o, qty, maker=False, t=t)

    def place_limit(self, book: Book, *, single_frame: bool = False) -> bool:
        leg, side, reduce_only = self._pick_side(book)
        qty = self._size(book, leg, side, reduce_only)
        away = self.rng.randint(1, 60)
        price = book.ticks_away(-away if side == "Buy" else away)
        tif = "PostOnly" if self.rng.random() < 0.2 else "GTC"
        o = self._new_order(
            book,
            leg,
            side=side,
            order_type="Limit",
            tif=tif,
            qty=qty,
            price=price,
            reduce_only=reduce_only,
        )
        roll = self.rng.random()
        if roll < 0.03:
            o.reject_reason = (
                "EC_PostOnlyWillTakeLiquidity"
                if tif == "PostOnly"
                else self.rng.choice(_REJECT_REASONS)
            )
            self._finish(o, "Rejected", self.now)
            self._emit(self._order_frame([o], self.now))
            return True
        if roll < 0.08 and not single_frame:
            o.status = "Created"
            self.stats["st_Created"] += 1
            self._emit(self._order_frame([o], self.now))
            o.updated = self._tick(1)
        o.status = "New"
        self.stats["st_New"] += 1
        self._track(o)
        self._emit(self._order_frame([o], o.updated))
        if not single_frame:
            self._maybe_extra_position(leg, o.updated)
        return True

    def place_ioc_limit(self, book: Book) -> bool:
        leg, side, reduce_only = self._pick_side(book)
        qty = self._size(book, leg, side, reduce_only)
        tif = self.rng.choice(("IOC", "FOK"))
        if self.rng.random() < 0.5:
            away = self.rng.randint(1, 30)
            price = book.ticks_away(-away if side == "Buy" else away)
            o = self._new_order(
                book,
                leg,
                side=side,
                order_type="Limit",
                tif=tif,
                qty=qty,
                price=price,
                reduce_only=reduce_only,
            )
            o.reject_reason = "EC_NoImmediateQtyToFill"
            self._finish(o, "Cancelled", self.now)
            self._emit(self._order_frame([o], self.now))
            return True
        price = book.ticks_away(20 if side == "Buy" else -20)
        o = self._new_order(
            book,
            leg,
            side=side,
            order_type="Limit",
            tif=tif,
            qty=qty,
            price=price,
            reduce_only=reduce_only,
        )
        self._track(o)
        self._match(o, qty, maker=False, t=self._tick(2))
        return True

    def place_conditional(self, book: Book) -> bool:
        spec = book.spec
        legs = [self.legs[spec.name, i] for i in ((1, 2) if spec.hedge else (0,))]
        held = [leg for leg in legs if leg.net]
        if held and self.rng.random() < 0.5:
            leg = self.rng.choice(held)
            side = "Sell" if leg.net > 0 else "Buy"
            take_profit = self.rng.random() < 0.5
            stop_type = "PartialTakeProfit" if take_profit else "PartialStopLoss"
            up = take_profit == (leg.net > 0)
            qty = self._lots(book, abs(leg.net))
            o = self._new_order(
                book,
                leg,
                side=side,
                order_type="Market",
                tif="IOC",
                qty=qty,
                price=_ZERO,
                reduce_only=True,
                link=False,
            )
            o.close_on_trigger = True
        else:
            leg, side, _ = self._pick_side(book)
            if side == "Sell" and spec.hedge:
                leg = self.legs[spec.name, 2]
            elif spec.hedge:
                leg = self.legs[spec.name, 1]
            stop_type, up = "Stop", self.rng.random() < 0.5
            order_type = self.rng.choice(("Market", "Limit"))
            tif = "IOC" if order_type == "Market" else "GTC"
            o = self._new_order(
                book,
                leg,
                side=side,
                order_type=order_type,
                tif=tif,
                qty=self._lots(book),
                price=_ZERO,
            )
        away = self.rng.randint(5, 80)
        o.trigger = book.ticks_away(away if up else -away)
        o.trigger_direction = 1 if up else 2
        o.last_price_on_created = fmt(book.mid)
        if o.order_type == "Market":
            factor = D("1.03") if side == "Buy" else D("0.97")
            o.price = (o.trigger * factor).quantize(spec.tick)
        else:
            offset = spec.tick * self.rng.randint(0, 10)
            o.price = o.trigger + offset if side == "Sell" else max(spec.tick, o.trigger - offset)
        o.stop_type = stop_type
        o.status = "Untriggered"
        self.stats["st_Untriggered"] += 1
        self._track(o)
        self._emit(self._order_frame([o], self.now))
        self._maybe_extra_position(leg, self.now)
        return True

    def trigger(self, _book: Book) -> bool:
        waiting = [self.orders[i] for i in self.open_ids if self.orders[i].status == "Untriggered"]
        if not waiting:
            return False
        o = self.rng.choice(waiting)
        t = self._tick(1)
        if o.reduce_only and o.leg.closable(o.side) < o.qty:
            self._finish(o, "Deactivated", t, "CancelByTpSlTsClear")
            self._emit(self._order_frame([o], t))
            return True
        self.stats["triggers"] += 1
        o.book.mid_ticks = int(o.trigger / o.book.spec.tick)
        o.status = "Triggered"
        o.updated = t
        self.stats["st_Triggered"] += 1
        triggered = self._order_elem(o)
        if o.order_type == "Market":
            self._emit(self._frame("order", t, [triggered]))
            self._fill_taker(o)
            return True
        o.status = "New"
        self.stats["st_New"] += 1
        self._track(o)
        if self.rng.random() < 0.5:  # Triggered and New in one frame, at one instant
            self._emit(self._frame("order", t, [triggered, self._order_elem(o)]))
        else:
            self._emit(self._frame("order", t, [triggered]))
            o.updated = t + 1
            self._emit(self._order_frame([o], t + 1))
        return True

    def _working(self, *, limit_only: bool = False) -> list[SimOrder]:
        found = [self.orders[i] for i in self.open_ids]
        if limit_only:
            return [o for o in found if o.status in _WORKING and o.order_type == "Limit"]
        return found

    def maker_fill(self, _book: Book) -> bool:
        resting = self._working(limit_only=True)
        if not resting:
            return False
        o = self.rng.choice(resting)
        t = self._tick(2)
        if o.reduce_only and not o.leg.closable(o.side):
            self._finish(o, "Cancelled", t, "CancelByReduceOnly")
            self._emit(self._order_frame([o], t))
            return True
        lots = int(o.leaves / o.book.spec.step)
        full = lots < 2 or self.rng.random() < 0.45
        qty = o.leaves if full else o.book.spec.step * self.rng.randint(1, lots - 1)
        self._match(o, qty, maker=True, t=t)
        return True

    def cancel(self, _book: Book) -> bool:
        found = self._working()
        if not found:
            return False
        o = self.rng.choice(found)
        t = self._tick(2)
        status = "Deactivated" if o.status == "Untriggered" else "Cancelled"
        self._finish(o, status, t, "CancelByUser")
        self._emit(self._order_frame([o], t))
        self._maybe_extra_position(o.leg, t)
        return True

    def cancel_all(self, book: Book) -> bool:
        found = [o for o in self._working() if o.book is book]
        if len(found) < 2:
            return False
        t = self._tick(2)
        self.stats["cancel_all"] += 1
        for o in found:
            status = "Deactivated" if o.status == "Untriggered" else "Cancelled"
            self._finish(o, status, t, "CancelByUser")
        self._emit(self._order_frame(found, t))
        self._maybe_extra_position(found[0].leg, t)
        return True

    def amend(self, _book: Book) -> bool:
        found = [o for o in self._working() if o.order_type == "Limit" or o.stop_type]
        if not found:
            return False
        o = self.rng.choice(found)
        t = self._tick(2)
        step, tick = o.book.spec.step, o.book.spec.tick
        if o.status == "Untriggered":
            o.trigger = max(tick, o.trigger + tick * self.rng.randint(-20, 20))
        elif self.rng.random() < 0.5 and not o.reduce_only:
            o.qty = o.cum_qty + step * self.rng.randint(1, o.book.spec.max_lots)
        else:
            away = self.rng.randint(1, 60)
            o.price = o.book.ticks_away(-away if o.side == "Buy" else away)
        o.updated = t
        self.stats["amends"] += 1
        self._emit(self._order_frame([o], t))
        return True

    def funding(self, _book: Book) -> bool:
        """A funding round: a Funding execution and a position frame per open leg."""
        self.stats["funding_rounds"] += 1
        t = self._tick(3)
        rate = D("0.0001") if self.rng.random() < 0.7 else D("0.00005")
        for leg in self.legs.values():
            if not leg.net:
                continue
            book, spec = leg.book, leg.book.spec
            mark = self._mark(book)
            size = abs(leg.net)
            value = size * mark
            fee = (value * rate * (1 if leg.net > 0 else -1)).quantize(_Q8)
            book.seq += self.rng.randint(1, 40)
            leg.seq = book.seq
            leg.cur_realised -= fee
            leg.cum_realised -= fee
            leg.updated = t
            elem: dict[str, object] = {
                "category": "linear",
                "symbol": spec.name,
                "closedSize": "0",
                "execFee": fmt(fee),
                "execId": self._uuid(),
                "execPrice": fmt(mark),
                "execQty": fmt(size),
                "execType": "Funding",
                "execValue": fmt(value),
                "feeRate": fmt(rate),
                "tradeIv": "",
                "markIv": "",
                "blockTradeId": "",
                "markPrice": fmt(mark),
                "indexPrice": fmt(mark),
                "underlyingPrice": "",
                "leavesQty": "0",
                "orderId": f"{t // 1000}-{self.rng.randint(10, 99)}-"
                f"{self.rng.randint(100000, 999999)}-{leg.idx or 1}-2",
                "orderLinkId": "",
                "orderPrice": "0",
                "orderQty": "0",
                "orderType": "UNKNOWN",
                "stopOrderType": "UNKNOWN",
                "side": "Buy" if leg.net > 0 else "Sell",
                "execTime": str(t),
                "isLeverage": "0",
                "isMaker": False,
                "seq": leg.seq,
                "marketUnit": "",
                "createType": "",
            }
            self.stats["exec_Funding"] += 1
            self._emit(self._frame("execution", t, [elem]), self._position_frame(leg, t))
        return True

    # --- driver --------------------------------------------------------------------------

    def idle(self, book: Book) -> bool:
        """Nothing for the account this time: other users trade, the sequence moves on."""
        book.seq += self.rng.randint(1, 40)
        return True

    def step(self) -> None:
        """One random action on the account (weights in ``_ACTIONS``)."""
        self.now += self.rng.randint(20, 900)
        book = self.rng.choice(self.books)
        self._walk(book)
        name = self.rng.choices(_ACTION_NAMES, _ACTION_WEIGHTS)[0]
        action: Callable[[Book], bool] = getattr(self, name)
        if not action(book):  # nothing to act on (no open order...): place one instead
            self.place_limit(book)

    def run(self, frames: int) -> Capture:
        while len(self.lines) < frames:
            if frames - len(self.lines) < _TAIL:
                # Single-frame actions only, so the capture ends on an action boundary.
                self.now += self.rng.randint(20, 900)
                self.place_limit(self.rng.choice(self.books), single_frame=True)
            else:
                self.step()
        if len(self.lines) != frames:
            raise RuntimeError(f"simulator bug: {len(self.lines)} frames, not {frames}")
        return Capture(
            lines=self.lines,
            seed=self.seed,
            mix=dict(self.mix),
            elements=dict(self.elements),
            stats=dict(sorted(self.stats.items())),
            positions={
                (leg.book.spec.name, leg.idx): leg.net for leg in self.legs.values() if leg.reported
            },
            order_status={o.order_id: o.status for o in self.orders.values()},
        )


def generate(frames: int = 100_000, seed: int = 1001) -> Capture:
    """A capture of exactly ``frames`` frames; the same ``seed`` gives the same frames."""
    if frames < 1:
        raise ValueError("frames must be positive")
    return Simulator(seed).run(frames)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=100_000, help="frames (default 100000)")
    parser.add_argument("--seed", type=int, default=1001, help="random seed (default 1001)")
    parser.add_argument("-o", "--out", type=Path, help="write JSONL here (default stdout)")
    args = parser.parse_args(argv)
    capture = generate(args.frames, args.seed)
    text = "\n".join(capture.lines) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"{len(capture.lines)} frames -> {args.out}: {capture.mix}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
