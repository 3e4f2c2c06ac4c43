"""The checks of one ``order/create`` request against the instrument, the account and
the market, and the venue ``Terms`` of the order it asks for (``terms_of``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Final

from oms.sim.fields import PARAMS, Refused
from oms.sim.matching import protection_price
from oms.sim.records import Q8, ZERO, Terms, to_tick
from oms.sim.rules import (
    check_balance,
    check_band,
    check_ceilings,
    check_price,
    check_qty,
    check_value,
    codes_of,
)

if TYPE_CHECKING:
    from oms.sim.intent import Intent
    from oms.sim.market import SymbolState
    from oms.sim.records import Leg
    from oms.sim.specs import SymbolSpec
    from oms.sim.venue import Venue

__all__ = ["MODE", "REDUCE_ONLY", "terms_of"]

MODE: Final = "position idx not match position mode"
REDUCE_ONLY: Final = "Reduce-only rule not satisfied"


def _leg(venue: Venue, spec: SymbolSpec, intent: Intent) -> tuple[Leg | None, bool]:
    """The leg the order works on and whether it only reduces it: hedge mode needs
    positionIdx 1 or 2 (a Sell on 1, a Buy on 2 closes), one-way mode 0."""
    if spec.category == "spot":
        return None, False
    idx = intent.position_idx
    if (idx == 0) == spec.hedge:
        raise Refused(PARAMS, MODE)
    closing = spec.hedge and (intent.side == "Sell") == (idx == 1)
    if spec.hedge and intent.reduce_only and not closing:
        raise Refused(110017, REDUCE_ONLY)
    return venue.legs[spec.key, idx], intent.reduce_only or closing


def terms_of(venue: Venue, s: SymbolState, intent: Intent) -> Terms:
    """Every rule checked: the venue terms of the order ``intent`` asks for."""
    spec = s.spec
    leg, reduce_only = _leg(venue, spec, intent)
    qty = intent.qty
    if reduce_only and leg is not None:
        qty = min(qty, leg.closable(intent.side))
        if not qty:
            raise Refused(110017, REDUCE_ONLY)
    last = s.market.mid
    if intent.market_unit == "quoteCoin" and intent.market:
        qty = _spot_quote_qty(s, intent)
    check_qty(spec, qty if intent.market_unit == "quoteCoin" else intent.qty,
              market=intent.market, bounded=not reduce_only)  # fmt: skip
    reference = intent.trigger_price or last
    if intent.trigger_price is not None:
        check_price(spec, intent.trigger_price, name="triggerPrice")
        _check_trigger(s, intent)
    price = _price(s, intent, reference)
    if not reduce_only:
        check_value(spec, qty, price if intent.price is not None else reference)
    _check_tpsl(intent, intent.price or reference)
    if intent.link_id and intent.link_id in venue.links:
        c = codes_of(spec)
        raise Refused(c.duplicate, c.duplicate_msg)
    check_ceilings(venue, spec, conditional=intent.trigger_price is not None)
    if intent.trigger_price is None:
        margin_price = price if intent.price is not None or spec.category == "spot" else last
        check_balance(venue, spec, intent.side, qty, margin_price, reduce_only=reduce_only)
    tp, sl, tp_by, sl_by, mode = _attached(intent)
    return Terms(
        spec.symbol, intent.side, qty, price=price, order_type=intent.order_type,
        time_in_force=intent.tif, trigger_price=intent.trigger_price,
        reduce_only=reduce_only, category=spec.category, link_id=intent.link_id,
        position_idx=None if leg is None else leg.idx,
        trigger_direction=intent.trigger_direction, trigger_by=(
            intent.trigger_by if intent.trigger_price is not None else ""
        ), close_on_trigger=intent.close_on_trigger, take_profit=tp, stop_loss=sl,
        tp_trigger_by=tp_by, sl_trigger_by=sl_by, tpsl_mode=mode,
    )  # fmt: skip


def _spot_quote_qty(s: SymbolState, intent: Intent) -> Decimal:
    """A spot market buy by value (``marketUnit`` quoteCoin, its default): ``qty`` is
    what to spend in the quote coin; the order is for the base coin that buys from
    the book now (its qty is in the base coin)."""
    spec, spend = s.spec, intent.qty
    if spend != spend.quantize(Q8):
        raise Refused(170148, "Market order amount decimal too long.")
    check_value(spec, spend, Decimal(1))  # the value is the qty here
    worst = int(protection_price(s, "Buy") / spec.tick)
    lots = 0
    for t, size in sorted(s.depth.asks.items()):
        if t > worst or spend <= 0:
            break
        price = spec.tick * t
        n = min(size, int(spend / price / spec.qty_step))
        lots, spend = lots + n, spend - spec.qty_step * n * price
        if n < size:
            break
    if not lots:
        raise Refused(170140, "Order value exceeded lower limit.")
    return spec.qty_step * lots


def _price(s: SymbolState, intent: Intent, reference: Decimal) -> Decimal:
    """A limit order's price (checked), or a market order's worst price: the
    protection band around the last (or trigger) price, narrowed by a slippage
    tolerance from the best opposite price."""
    spec = s.spec
    if intent.price is not None:
        check_price(spec, intent.price)
        check_band(spec, intent.side, intent.price, reference)
        return intent.price
    worst = protection_price(s, intent.side, reference)
    if intent.slippage is None:
        return worst
    kind, value = intent.slippage
    best = s.depth.best_ask if intent.side == "Buy" else s.depth.best_bid
    sign = 1 if intent.side == "Buy" else -1
    if kind == "TickSize":
        limit = spec.tick * (best + sign * int(value))
    else:
        limit = to_tick(spec.tick * best * (1 + sign * value / 100), spec.tick)
    return min(worst, limit) if intent.side == "Buy" else max(worst, limit, spec.tick)


def _check_trigger(s: SymbolState, intent: Intent) -> None:
    """A rise trigger above the price it watches, a fall trigger below it (the
    direction, when not given, follows from the trigger against that price)."""
    m = s.market
    watched = {"MarkPrice": m.mark, "IndexPrice": m.index}.get(intent.trigger_by, m.mid)
    trigger = intent.trigger_price
    direction = intent.trigger_direction
    if trigger is None or not direction:
        return
    if direction == 1 and trigger <= watched:
        raise Refused(110092, "expect Rising, trigger price should be higher than current price")
    if direction == 2 and trigger >= watched:
        raise Refused(110093, "expect Falling, trigger price should be lower than current price")


def _check_tpsl(intent: Intent, base: Decimal) -> None:
    """A buy's take-profit above its price and its stop-loss below; a sell's the
    other way round."""
    buy = intent.side == "Buy"
    for name, price, above in (
        ("TakeProfit", intent.take_profit, buy),
        ("StopLoss", intent.stop_loss, not buy),
    ):
        if price is None or not price:
            continue
        if (price > base) != above or price == base:
            where = "higher" if above else "lower"
            raise Refused(
                PARAMS, f"{name}:{price} set for {intent.side} position should be {where} "
                f"than base_price:{base}??LastPrice",
            )  # fmt: skip


def _attached(intent: Intent) -> tuple[Decimal, Decimal, str, str, str]:
    """(takeProfit, stopLoss, tpTriggerBy, slTriggerBy, tpslMode) of the order."""
    tp, sl = intent.take_profit or ZERO, intent.stop_loss or ZERO
    if not tp and not sl:
        return ZERO, ZERO, "", "", ""
    tp_by, sl_by = intent.tp_trigger_by if tp else "", intent.sl_trigger_by if sl else ""
    return tp, sl, tp_by, sl_by, "Full"
