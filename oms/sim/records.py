"""The simulated account's records: each symbol's market, the position legs, the orders and
the executions. Plain data with the Decimal arithmetic of a fill; nothing here draws a
random number or renders the wire (``oms.sim.wire`` does that)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from oms.sim.specs import TERMINAL_STATUSES, SymbolSpec, instrument_key

ZERO: Final = Decimal(0)
Q8: Final = Decimal("1e-8")
#: Statuses in which an order can still trade.
FILLABLE: Final = frozenset({"Created", "New", "PartiallyFilled", "Triggered"})
#: Working limit-order statuses (a resting order a maker fill can hit).
WORKING: Final = frozenset({"New", "PartiallyFilled"})

LegId = tuple[str, int]
"""A position leg: (instrument key, positionIdx); the key is the bare symbol for linear
(``oms.sim.specs.instrument_key``)."""


def q8(value: Decimal) -> Decimal:
    """Rounded to 8 decimal places, as Bybit rounds values and fees (half even)."""
    return value.quantize(Q8)


def to_tick(value: Decimal, tick: Decimal) -> Decimal:
    """``value`` rounded to the nearest multiple of ``tick`` (half even). A power-of-ten
    tick quantizes as it always has; a tick such as BTCUSD's 0.5 rounds in ticks."""
    if tick.normalize().as_tuple().digits == (1,):
        return value.quantize(tick)
    return (value / tick).to_integral_value() * tick


def exec_value(spec: SymbolSpec, qty: Decimal, price: Decimal) -> Decimal:
    """A fill's value: qty x price in the quote coin, but for an inverse symbol (qty in
    USD contracts) qty / price in the base coin, to 8 places as Bybit rounds it."""
    return q8(qty / price) if spec.category == "inverse" else qty * price


@dataclass(slots=True)
class Market:
    """One symbol's market: last (mid), mark and index price in ticks, and the sequences."""

    spec: SymbolSpec
    mid_ticks: int
    mark_ticks: int
    index_ticks: int
    #: the symbol's cross sequence: moves with every match on the symbol, ours or not
    cross_seq: int
    #: seq of this account's last trade (or funding) on the symbol; -1 if never traded
    last_seq: int = -1

    @classmethod
    def of(cls, spec: SymbolSpec) -> Market:
        ticks = int(spec.price / spec.tick)
        return cls(spec, ticks, ticks, ticks, spec.seq_base)

    def price_at(self, ticks: int) -> Decimal:
        """The price ``ticks`` ticks above zero (never below one tick)."""
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
        """The price ``ticks`` ticks from the mid."""
        return self.price_at(self.mid_ticks + ticks)

    def take_seq(self, step: int) -> int:
        """The seq of a new trade of this account: the cross sequence moved on by ``step``."""
        self.cross_seq += step
        self.last_seq = self.cross_seq
        return self.last_seq


@dataclass(slots=True)
class Leg:
    """One position leg. ``net`` is signed: + long, - short (hedge idx 1 >= 0, idx 2 <= 0)."""

    market: Market
    idx: int
    net: Decimal = ZERO
    entry: Decimal = ZERO
    cur_realised: Decimal = ZERO
    cum_realised: Decimal = ZERO
    created: int = 0
    updated: int = 0
    #: the position's TP/SL prices (0: none), set through order entry
    take_profit: Decimal = ZERO
    stop_loss: Decimal = ZERO

    @property
    def key(self) -> str:
        """``SYMBOL:idx`` (linear) or ``category:SYMBOL:idx``: the leg's key in the truth."""
        return f"{self.market.spec.key}:{self.idx}"

    def closable(self, side: str) -> Decimal:
        """Quantity a reduce-only order of ``side`` may still close."""
        if (side == "Sell" and self.net > 0) or (side == "Buy" and self.net < 0):
            return abs(self.net)
        return ZERO

    def apply(
        self, signed_qty: Decimal, price: Decimal, fee: Decimal, t: int
    ) -> tuple[Decimal, Decimal]:
        """Book a fill; return the size it closed and the PnL that realised (before fee).
        A spot "leg" only counts the base coin the fills bought and sold (no position,
        no PnL: the wallet's balances carry the rest)."""
        net = self.net
        if self.market.spec.category == "spot":
            self.net, self.updated = net + signed_qty, t
            return ZERO, ZERO
        if not net:
            self.cur_realised = ZERO
            self.created = t
        if not net or (net > 0) == (signed_qty > 0):
            closed, pnl = ZERO, ZERO
            self._add(net, signed_qty, price)
        else:
            closed, pnl = self._reduce(net, signed_qty, price)
        self.net = net + signed_qty
        if not self.net:  # a closed position keeps no TP/SL
            self.take_profit = self.stop_loss = ZERO
        self.charge(fee, t)
        if self.market.spec.hedge and (self.net < 0 if self.idx == 1 else self.net > 0):
            raise RuntimeError(f"simulator bug: hedge leg {self.key} crossed zero")
        return closed, pnl

    def _add(self, net: Decimal, signed_qty: Decimal, price: Decimal) -> None:
        """A fill that opens the leg or adds to it: the entry becomes the average price of
        the old and the new contracts."""
        size = abs(net) + abs(signed_qty)
        if self.market.spec.category == "inverse":
            # the contracts' average over their values: a harmonic mean
            value = (abs(net) / self.entry if net else ZERO) + abs(signed_qty) / price
            self.entry = q8(size / value)
        else:
            self.entry = q8((abs(net) * self.entry + abs(signed_qty) * price) / size)

    def _reduce(self, net: Decimal, signed_qty: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
        """A fill against the leg's side: the size it closed and the PnL that realised
        (booked); a fill that flips the leg through zero opens the rest at ``price``."""
        closed = min(abs(net), abs(signed_qty))
        if self.market.spec.category == "inverse":
            # in the base coin: USD contracts valued at entry minus at exit
            pnl = q8(closed * (1 / self.entry - 1 / price)) * (1 if net > 0 else -1)
        else:
            pnl = closed * (price - self.entry) * (1 if net > 0 else -1)
        self.cur_realised += pnl
        self.cum_realised += pnl
        remaining = net + signed_qty
        if not remaining:
            self.entry = ZERO
        elif (remaining > 0) != (net > 0):
            self.entry = price  # flipped through zero
            self.take_profit = self.stop_loss = ZERO
        return closed, pnl

    def charge(self, fee: Decimal, t: int) -> None:
        """A fee (or funding) paid by the leg, without moving it."""
        self.cur_realised -= fee
        self.cum_realised -= fee
        self.updated = t


@dataclass(frozen=True, slots=True)
class Terms:
    """What an order request asks for: the fields of Bybit's ``order/create`` the venue
    models. ``trigger_price`` makes the order conditional; a TP/SL ``stop_order_type``
    makes it a reduce-only TP/SL; a market order without ``price`` gets Bybit's 3%
    protection price; ``time_in_force`` defaults to GTC (limit) or IOC (market)."""

    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None = None
    order_type: str = "Limit"
    time_in_force: str | None = None
    trigger_price: Decimal | None = None
    stop_order_type: str = ""
    reduce_only: bool = False
    category: str = "linear"
    # What order entry adds (the defaults are what the venue always did):
    #: the client's orderLinkId (None: the venue makes one, or "" for a TP/SL)
    link_id: str | None = None
    #: the leg (None: from side and reduce_only, as the random policies trade)
    position_idx: int | None = None
    #: 1 rise / 2 fall (0: from the trigger price against the last price)
    trigger_direction: int = 0
    #: LastPrice, MarkPrice or IndexPrice ("": LastPrice on a conditional order)
    trigger_by: str = ""
    close_on_trigger: bool = False
    #: TP/SL attached to the order (0: none), their trigger prices and mode
    take_profit: Decimal = ZERO
    stop_loss: Decimal = ZERO
    tp_trigger_by: str = ""
    sl_trigger_by: str = ""
    tpsl_mode: str = ""
    #: a TP/SL order's parent: the orderLinkId of the order it was attached to
    parent_link_id: str = ""

    @property
    def key(self) -> str:
        """The instrument's key in the venue (``oms.sim.specs.instrument_key``)."""
        return instrument_key(self.category, self.symbol)


@dataclass(slots=True)
class Order:
    """One order as the venue holds it."""

    ordinal: int
    order_id: str
    link_id: str
    market: Market
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
    #: whether the cancel-race echo of this (filled) order was sent
    echoed: bool = False
    #: every status pushed for this order, in order
    history: list[str] = field(default_factory=list)
    trigger_by: str = ""
    take_profit: Decimal = ZERO
    stop_loss: Decimal = ZERO
    tp_trigger_by: str = ""
    sl_trigger_by: str = ""
    tpsl_mode: str = ""
    parent_link_id: str = ""

    @property
    def symbol(self) -> str:
        return self.market.spec.symbol

    @property
    def category(self) -> str:
        return self.market.spec.category

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.cum_qty

    def capacity(self) -> Decimal | None:
        """What a reduce-only order may still fill (the part of the position its side
        reduces); None for an order that may open or add."""
        return self.leg.closable(self.side) if self.reduce_only else None

    def fillable(self) -> Decimal:
        """How much of the order can trade now."""
        if self.status not in FILLABLE:
            return ZERO
        cap = self.capacity()
        return self.leaves if cap is None else min(self.leaves, cap)


@dataclass(frozen=True, slots=True)
class Execution:
    """One execution (a trade of an order, or a funding payment of a leg)."""

    ordinal: int
    exec_id: str
    exec_type: str
    symbol: str
    #: the leg it moved (a trade) or was paid on (funding)
    idx: int
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_rate: Decimal
    maker: bool
    closed: Decimal
    pnl: Decimal
    time: int
    seq: int
    mark: Decimal
    index: Decimal
    order_id: str
    link_id: str = ""
    #: the order's terms after this execution ("0", "UNKNOWN"... for funding)
    leaves: Decimal = ZERO
    order_price: Decimal = ZERO
    order_qty: Decimal = ZERO
    order_type: str = "UNKNOWN"
    stop_type: str = "UNKNOWN"
    create_type: str = ""
    category: str = "linear"
    #: the coin ``fee`` is paid in (USDT on linear, BTC on BTCUSD; spot: by side)
    fee_coin: str = "USDT"
    #: execValue (``exec_value``: qty x price, or qty / price on inverse)
    value: Decimal = ZERO
