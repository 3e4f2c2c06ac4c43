"""The instrument and account rules of order entry, refused with Bybit's codes: the qty
step and bounds, the tick and price bounds, the price band, the smallest order value,
the open-order ceilings and the balance an order needs. Derivatives (linear, inverse)
and spot answer with different codes (``Codes``).

The instrument's numbers are ``SymbolSpec``'s (``min_order_qty``, ``max_order_qty``,
``max_mkt_order_qty``, ``min_notional_value``, ``max_order_amt``, ``min_price``,
``max_price``, ``price_limit_ratio``), as instruments-info serves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import localcontext
from typing import TYPE_CHECKING, Final

from oms.sim.fields import PARAMS, Refused
from oms.sim.records import ZERO, exec_value
from oms.sim.specs import LEVERAGE
from oms.sim.wire import leg_upnl, leg_value

if TYPE_CHECKING:
    from decimal import Decimal

    from oms.sim.records import Order
    from oms.sim.specs import SymbolSpec
    from oms.sim.venue import Venue

__all__ = ["Codes", "check_price", "check_qty", "check_value", "codes_of", "largest", "off_grid"]

#: open orders per symbol (derivatives: not conditional) and conditional orders per symbol
MAX_ACTIVE: Final = 500
MAX_CONDITIONAL: Final = 10


@dataclass(frozen=True, slots=True)
class Codes:
    """One product family's retCodes for the rules."""

    qty_step: int
    qty_min: int
    qty_max: int
    tick: int
    price_high: int
    price_low: int
    value_low: int
    balance: int
    balance_msg: str
    duplicate: int
    duplicate_msg: str
    unknown: int
    unknown_msg: str
    too_many: int


DERIVATIVES: Final = Codes(
    qty_step=PARAMS, qty_min=PARAMS, qty_max=PARAMS, tick=PARAMS, price_high=110003,
    price_low=110003, value_low=110094, balance=110007,
    balance_msg="Insufficient available balance", duplicate=110072,
    duplicate_msg="OrderLinkedID is duplicate", unknown=110001,
    unknown_msg="Order does not exist", too_many=110020,
)  # fmt: skip
SPOT: Final = Codes(
    qty_step=170137, qty_min=170136, qty_max=170135, tick=170134, price_high=170193,
    price_low=170194, value_low=170140, balance=170131, balance_msg="Balance insufficient",
    duplicate=170141, duplicate_msg="Duplicate clientOrderId", unknown=170213,
    unknown_msg="Order does not exist.", too_many=170810,
)  # fmt: skip


#: digits enough for the quotient of any number a request holds by any step
_GRID_PRECISION: Final = 100


def codes_of(spec: SymbolSpec) -> Codes:
    return SPOT if spec.category == "spot" else DERIVATIVES


def largest(spec: SymbolSpec, *, market: bool) -> Decimal:
    """The largest qty of one order (a market order's is smaller)."""
    return spec.max_mkt_order_qty if market else spec.max_order_qty


def off_grid(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is not a whole multiple of ``step``, exactly: the default
    context's 28 digits raise DivisionImpossible when the quotient is longer (a qty of
    10**27 on a 0.001 step was a 10016 with a traceback)."""
    with localcontext() as exact:
        exact.prec = _GRID_PRECISION
        return bool(value % step)


def check_qty(spec: SymbolSpec, qty: Decimal, *, market: bool, bounded: bool = True) -> None:
    """The qty step, the smallest qty and (``bounded``: not for a reduce-only order, which
    is split) the largest."""
    c = codes_of(spec)
    if qty <= 0 or off_grid(qty, spec.qty_step):
        raise Refused(c.qty_step, f"Qty invalid: {qty} is not a multiple of {spec.qty_step}")
    if qty < spec.min_order_qty:
        raise Refused(c.qty_min, "The number of contracts exceeds minimum limit allowed")
    top = largest(spec, market=market)
    if bounded and qty > top:
        raise Refused(
            c.qty_max, f"The number of contracts exceeds maximum limit allowed: {qty} > {top}"
        )


def check_price(spec: SymbolSpec, price: Decimal, *, name: str = "price") -> None:
    """A price on the tick grid within the instrument's bounds."""
    c = codes_of(spec)
    if price <= 0 or off_grid(price, spec.tick):
        raise Refused(c.tick, f"{name} invalid: {price} is not a multiple of {spec.tick}")
    if not spec.min_price <= price <= spec.max_price:
        raise Refused(c.price_high, "Order price is out of permissible range")


def check_band(spec: SymbolSpec, side: str, price: Decimal, last: Decimal) -> None:
    """A buy priced at most ``price_limit_ratio`` above the last price, a sell at most
    that far below it."""
    c = codes_of(spec)
    ratio = spec.price_limit_ratio
    if side == "Buy" and price > last * (1 + ratio):
        cap = last * (1 + ratio)
        message = "Order price is out of permissible range"
        raise Refused(c.price_high, message if c is DERIVATIVES else (
            f"Buy order price cannot be higher than {cap:f}."
        ))  # fmt: skip
    if side == "Sell" and price < last * (1 - ratio):
        floor = last * (1 - ratio)
        message = "Order price is out of permissible range"
        raise Refused(c.price_low, message if c is DERIVATIVES else (
            f"Sell order price cannot be lower than {floor:f}."
        ))  # fmt: skip


def check_value(spec: SymbolSpec, qty: Decimal, price: Decimal) -> None:
    """The order's value at ``price`` is at least the smallest order value (inverse: its
    qty is the value, in USD)."""
    c = codes_of(spec)
    value = qty if spec.category == "inverse" else qty * price
    low = spec.min_notional_value
    if value < low:
        coin = "USD" if spec.category == "inverse" else spec.quote_coin
        raise Refused(c.value_low, f"Order does not meet minimum order value {low}{coin}")
    if spec.category == "spot" and value > spec.max_order_amt:
        raise Refused(SPOT.qty_max, "Order value exceeded upper limit.")


def check_ceilings(venue: Venue, spec: SymbolSpec, *, conditional: bool) -> None:
    """At most 500 active orders per symbol, and 10 conditional ones (TP/SL apart)."""
    mine = [o for o in (venue.orders[i] for i in venue.open_ids) if o.market.spec is spec]
    if conditional:
        stops = [o for o in mine if o.status == "Untriggered" and o.stop_type == "Stop"]
        if len(stops) >= MAX_CONDITIONAL:
            raise Refused(110009, "The number of stop orders exceeds maximum limit allowed")
    elif len([o for o in mine if o.status != "Untriggered"]) >= MAX_ACTIVE:
        message = "Cannot have more than 500 active orders."
        if spec.category == "spot":
            message = "The number of open orders exceeds the maximum limit allowed."
        raise Refused(codes_of(spec).too_many, message)


def order_margin(spec: SymbolSpec, qty: Decimal, price: Decimal) -> Decimal:
    """The initial margin an order of ``qty`` at ``price`` needs (in the settle coin)."""
    return exec_value(spec, qty, price) / LEVERAGE


def available(venue: Venue, coin: str, *, excluding: Order | None = None) -> Decimal:
    """What the unified account can still commit in ``coin``: the wallet and unrealised
    PnL of the legs settling in it, less their position margin and the margin of the
    open orders that may open or add (reduce-only and untriggered ones need none)."""
    legs = [leg for leg in venue.legs.values() if leg.market.spec.settle_coin == coin]
    total = venue.balance(coin) + sum((leg_upnl(leg) for leg in legs), ZERO)
    total -= sum((leg_value(leg) / LEVERAGE for leg in legs), ZERO)
    for o in (venue.orders[i] for i in venue.open_ids):
        spec = o.market.spec
        if spec.category == "spot" or spec.settle_coin != coin or o is excluding:
            continue
        if not o.reduce_only and o.status != "Untriggered":
            total -= order_margin(spec, o.leaves, o.price)
    return total


def check_balance(
    venue: Venue, spec: SymbolSpec, side: str, qty: Decimal, price: Decimal, *,
    reduce_only: bool, excluding: Order | None = None,
) -> None:  # fmt: skip
    """The wallet holds what the order needs: a spot order its coins, a derivative one
    its initial margin (none for reduce-only)."""
    c = codes_of(spec)
    if spec.category == "spot":
        if not venue.affordable(spec, side, qty, price, excluding=excluding):
            raise Refused(c.balance, c.balance_msg)
        return
    if reduce_only:
        return
    if order_margin(spec, qty, price) > available(venue, spec.settle_coin, excluding=excluding):
        raise Refused(c.balance, c.balance_msg)
