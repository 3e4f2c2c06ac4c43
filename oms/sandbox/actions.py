"""The account's actions: each mutates an ``Exchange`` and queues the frames it causes.

Every function takes ``(exchange, book)`` and returns False when it found nothing to act
on (no open order to cancel...). They run with the exchange lock held (``Exchange.step``
and ``Exchange.run`` take it). Adapted from the benchmark's capture generator, with the
sandbox's rules: every order create/amend/cancel also pushes the leg's position.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Final

from oms.sandbox.matching import fill_taker, funding, match
from oms.sandbox.model import (
    WORKING,
    ZERO,
    Book,
    Leg,
    SimOrder,
    fmt,
    order_element,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.sandbox.exchange import Exchange

D = Decimal
_REJECT_REASONS: Final = ("EC_ReachMaxTradeNum", "EC_ReachRiskPriceLimit", "EC_InvalidPriceScale")


# --- helpers -------------------------------------------------------------------------------


def walk(ex: Exchange, book: Book) -> None:
    """Move the market a little (pulled back towards the symbol's price level)."""
    base = int(book.spec.price / book.spec.tick)
    pull = (base - book.mid_ticks) * 8 // max(base, 1)
    book.mid_ticks = max(base // 2, book.mid_ticks + ex.rng.randint(-6, 6) + pull)
    book.mark_ticks = book.mid_ticks + ex.rng.randint(-3, 3)
    book.index_ticks = book.mid_ticks + ex.rng.randint(-5, 5)


def _lots(ex: Exchange, book: Book, cap: Decimal | None = None) -> Decimal:
    top = book.spec.max_lots
    if cap is not None:
        top = max(1, min(top, int(cap / book.spec.step)))
    lots = ex.rng.randint(1, top) if ex.rng.random() < 0.7 else ex.rng.randint(1, 5)
    return book.spec.step * min(lots, top)


def _pick_side(ex: Exchange, book: Book) -> tuple[Leg, str, bool]:
    """(leg, side, reduce_only) of a new order: open or add, sometimes close."""
    name = book.spec.name
    cap = book.spec.step * book.spec.max_lots * 3  # beyond this, lean towards closing
    if not book.spec.hedge:
        leg = ex.legs[f"{name}:0"]
        side = ex.rng.choice(("Buy", "Sell"))
        if abs(leg.net) > cap and ex.rng.random() < 0.6:
            side = "Sell" if leg.net > 0 else "Buy"
        reduce_only = bool(leg.closable(side)) and ex.rng.random() < 0.2
        return leg, side, reduce_only
    long_leg, short_leg = ex.legs[f"{name}:1"], ex.legs[f"{name}:2"]
    roll = ex.rng.random()
    if long_leg.net > cap and roll < 0.3:
        return long_leg, "Sell", True
    if -short_leg.net > cap and roll > 0.7:
        return short_leg, "Buy", True
    if roll < 0.2 and long_leg.net > 0:
        return long_leg, "Sell", True
    if roll < 0.4 and short_leg.net < 0:
        return short_leg, "Buy", True
    return (long_leg, "Buy", False) if roll < 0.7 else (short_leg, "Sell", False)


def _size(ex: Exchange, book: Book, leg: Leg, side: str, reduce_only: bool) -> Decimal:
    return _lots(ex, book, leg.closable(side) if reduce_only else None)


def _new_order(  # noqa: PLR0913 - keyword-only order terms
    ex: Exchange,
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
    ex.stats["orders"] += 1
    t = ex.tick()
    return SimOrder(
        ordinal=ex.next_ordinal(),
        order_id=ex.new_uuid(),
        link_id=ex.new_link_id() if link else "",
        book=book,
        leg=leg,
        side=side,
        order_type=order_type,
        tif=tif,
        qty=qty,
        price=price,
        created=t,
        updated=t,
        reduce_only=reduce_only,
    )


def _resting(ex: Exchange) -> list[SimOrder]:
    """Working limit orders a maker fill could hit."""
    found = (ex.orders[i] for i in ex.open_ids)
    return [o for o in found if o.status in WORKING and o.order_type == "Limit"]


# --- actions -------------------------------------------------------------------------------


def place_market(ex: Exchange, book: Book) -> bool:
    leg, side, reduce_only = _pick_side(ex, book)
    qty = _size(ex, book, leg, side, reduce_only)
    factor = D("1.03") if side == "Buy" else D("0.97")
    price = (book.mid * factor).quantize(book.spec.tick)
    o = _new_order(
        ex, book, leg, side=side, order_type="Market", tif="IOC", qty=qty, price=price,
        reduce_only=reduce_only,
    )  # fmt: skip
    ex.track(o)
    if ex.rng.random() < 0.1:
        ex.push_orders([o], o.created)
        ex.push_position(leg, o.created)
    fill_taker(ex, o)
    return True


def place_limit(ex: Exchange, book: Book) -> bool:
    leg, side, reduce_only = _pick_side(ex, book)
    qty = _size(ex, book, leg, side, reduce_only)
    away = ex.rng.randint(1, 60)
    tif = "PostOnly" if ex.rng.random() < 0.25 else "GTC"
    o = _new_order(
        ex, book, leg, side=side, order_type="Limit", tif=tif, qty=qty,
        price=book.ticks_away(-away if side == "Buy" else away), reduce_only=reduce_only,
    )  # fmt: skip
    roll = ex.rng.random()
    if tif == "PostOnly" and roll < 0.15:
        # priced through the book: a PostOnly order that would take liquidity is cancelled
        o.price = book.ticks_away(away if side == "Buy" else -away)
        o.reject_reason = "EC_PostOnlyWillTakeLiquidity"
        ex.finish(o, "Cancelled", o.created)
    elif roll < 0.03:
        o.reject_reason = ex.rng.choice(_REJECT_REASONS)
        ex.finish(o, "Rejected", o.created)
    else:
        ex.track(o)
    ex.push_orders([o], o.created)
    ex.push_position(leg, o.created)
    return True


def place_ioc_limit(ex: Exchange, book: Book) -> bool:
    leg, side, reduce_only = _pick_side(ex, book)
    qty = _size(ex, book, leg, side, reduce_only)
    tif = ex.rng.choice(("IOC", "FOK"))
    miss = ex.rng.random() < 0.5
    away = ex.rng.randint(1, 30) if miss else -20
    o = _new_order(
        ex, book, leg, side=side, order_type="Limit", tif=tif, qty=qty,
        price=book.ticks_away(-away if side == "Buy" else away), reduce_only=reduce_only,
    )  # fmt: skip
    if miss:  # nothing to match at that price
        o.reject_reason = "EC_NoImmediateQtyToFill" if tif == "IOC" else "EC_CancelForNoFullFill"
        ex.finish(o, "Cancelled", o.created)
        ex.push_orders([o], o.created)
        ex.push_position(leg, o.created)
        return True
    ex.track(o)
    match(ex, o, qty, maker=False, t=ex.tick())
    return True


def place_conditional(ex: Exchange, book: Book) -> bool:
    spec = book.spec
    held = [ex.legs[f"{spec.name}:{i}"] for i in spec.indices]
    held = [leg for leg in held if leg.net]
    if held and ex.rng.random() < 0.5:  # a partial take-profit / stop-loss on a position
        leg = ex.rng.choice(held)
        side = "Sell" if leg.net > 0 else "Buy"
        take_profit = ex.rng.random() < 0.5
        up = take_profit == (leg.net > 0)
        o = _new_order(
            ex, book, leg, side=side, order_type="Market", tif="IOC",
            qty=_lots(ex, book, abs(leg.net)), price=ZERO, reduce_only=True, link=False,
        )  # fmt: skip
        o.stop_type = "PartialTakeProfit" if take_profit else "PartialStopLoss"
        o.create_type = "CreateByPartialTakeProfit" if take_profit else "CreateByPartialStopLoss"
        o.close_on_trigger = True
    else:  # a plain conditional (stop) order that opens or adds
        leg, side, _ = _pick_side(ex, book)
        if spec.hedge:
            leg = ex.legs[f"{spec.name}:{2 if side == 'Sell' else 1}"]
        up = ex.rng.random() < 0.5
        order_type = ex.rng.choice(("Market", "Limit"))
        o = _new_order(
            ex, book, leg, side=side, order_type=order_type,
            tif="IOC" if order_type == "Market" else "GTC", qty=_lots(ex, book), price=ZERO,
        )  # fmt: skip
        o.stop_type = "Stop"
    away = ex.rng.randint(5, 80)
    o.trigger = book.ticks_away(away if up else -away)
    o.trigger_direction = 1 if up else 2
    o.last_price_on_created = fmt(book.mid)
    if o.order_type == "Market":
        factor = D("1.03") if side == "Buy" else D("0.97")
        o.price = (o.trigger * factor).quantize(spec.tick)
    else:
        offset = spec.tick * ex.rng.randint(0, 10)
        o.price = o.trigger + offset if side == "Sell" else max(spec.tick, o.trigger - offset)
    o.status = "Untriggered"
    ex.track(o)
    ex.push_orders([o], o.created)
    ex.push_position(leg, o.created)
    return True


def trigger(ex: Exchange, _book: Book) -> bool:
    """The market reaches a conditional order's trigger: Triggered -> New (-> fills)."""
    waiting = [ex.orders[i] for i in ex.open_ids if ex.orders[i].status == "Untriggered"]
    if not waiting:
        return False
    o = ex.rng.choice(waiting)
    t = ex.tick()
    if o.reduce_only and o.leg.closable(o.side) < o.qty:
        ex.finish(o, "Deactivated", t, "CancelByTpSlTsClear")
        ex.push_orders([o], t)
        ex.push_position(o.leg, t)
        return True
    ex.stats["triggers"] += 1
    o.book.mid_ticks = int(o.trigger / o.book.spec.tick)
    o.status, o.updated = "Triggered", t
    o.history.append("Triggered")
    triggered = order_element(o)
    o.status = "New"
    ex.track(o)
    if ex.rng.random() < 0.5:  # Triggered and New in one frame, at one instant
        o.history.append("New")
        ex.push("order", t, [triggered, order_element(o)])
    else:
        ex.push("order", t, [triggered])
        o.updated = ex.tick()
        ex.push_orders([o], o.updated)
    if o.order_type == "Market":
        fill_taker(ex, o)
    return True


def maker_fill(ex: Exchange, _book: Book) -> bool:
    resting = _resting(ex)
    if not resting:
        return False
    o = ex.rng.choice(resting)
    t = ex.tick()
    if o.reduce_only and not o.leg.closable(o.side):
        ex.finish(o, "Cancelled", t, "CancelByReduceOnly")
        ex.push_orders([o], t)
        ex.push_position(o.leg, t)
        return True
    lots = int(o.leaves / o.book.spec.step)
    full = lots < 2 or ex.rng.random() < 0.45
    qty = o.leaves if full else o.book.spec.step * ex.rng.randint(1, lots - 1)
    match(ex, o, qty, maker=True, t=t)
    return True


def cancel_race(ex: Exchange, _book: Book) -> bool:
    """A cancel that loses the race to the last fill: Filled, then Bybit's second Filled
    echo with cancelType CancelByUser and rejectReason EC_OrigClOrdIDDoesNotExist."""
    resting = [o for o in _resting(ex) if not o.reduce_only]
    if not resting:
        return False
    o = ex.rng.choice(resting)
    match(ex, o, o.leaves, maker=True, t=ex.tick())
    t = ex.tick()
    echo = order_element(o)
    echo.update(
        cancelType="CancelByUser", rejectReason="EC_OrigClOrdIDDoesNotExist", updatedTime=str(t)
    )
    o.history.append(o.status)
    ex.push("order", t, [echo])
    ex.stats["cancel_races"] += 1
    return True


def _cancel(ex: Exchange, orders: list[SimOrder], t: int) -> None:
    for o in orders:
        o.reject_reason = "EC_PerCancelRequest"
        ex.finish(o, "Deactivated" if o.status == "Untriggered" else "Cancelled", t, "CancelByUser")
    ex.push_orders(orders, t)
    for leg in dict.fromkeys(o.leg.key for o in orders):
        ex.push_position(ex.legs[leg], t)


def cancel(ex: Exchange, _book: Book) -> bool:
    if not ex.open_ids:
        return False
    _cancel(ex, [ex.orders[ex.rng.choice(list(ex.open_ids))]], ex.tick())
    return True


def cancel_all(ex: Exchange, book: Book) -> bool:
    found = [ex.orders[i] for i in ex.open_ids if ex.orders[i].book is book]
    if len(found) < 2:
        return False
    ex.stats["cancel_all"] += 1
    _cancel(ex, found, ex.tick())
    return True


def amend(ex: Exchange, _book: Book) -> bool:
    found = [ex.orders[i] for i in ex.open_ids]
    found = [o for o in found if o.order_type == "Limit" or o.status == "Untriggered"]
    if not found:
        return False
    o = ex.rng.choice(found)
    t = ex.tick()
    step, tick = o.book.spec.step, o.book.spec.tick
    if o.status == "Untriggered":
        o.trigger = max(tick, o.trigger + tick * ex.rng.choice((-1, 1)) * ex.rng.randint(1, 20))
    elif ex.rng.random() < 0.5 and not o.reduce_only:
        o.qty = o.cum_qty + step * ex.rng.randint(1, o.book.spec.max_lots)
    else:
        away = ex.rng.randint(1, 60)
        o.price = o.book.ticks_away(-away if o.side == "Buy" else away)
    o.updated = t
    ex.stats["amends"] += 1
    ex.push_orders([o], t)
    ex.push_position(o.leg, t)
    return True


def idle(ex: Exchange, book: Book) -> bool:
    """Nothing for the account this time: other users trade, the sequence moves on."""
    book.cross_seq += ex.rng.randint(1, 40)
    return True


#: Every action by name, with its relative frequency in ``random_action``.
ACTIONS: Final[dict[str, Callable[[Exchange, Book], bool]]] = {
    "place_market": place_market,
    "place_limit": place_limit,
    "place_ioc_limit": place_ioc_limit,
    "place_conditional": place_conditional,
    "trigger": trigger,
    "maker_fill": maker_fill,
    "cancel": cancel,
    "cancel_all": cancel_all,
    "cancel_race": cancel_race,
    "amend": amend,
    "funding": funding,
    "idle": idle,
}
_WEIGHTS: Final = {
    "place_market": 22.0,
    "place_limit": 20.0,
    "place_ioc_limit": 4.0,
    "place_conditional": 6.0,
    "trigger": 5.0,
    "maker_fill": 19.0,
    "cancel": 10.0,
    "cancel_all": 0.5,
    "cancel_race": 1.0,
    "amend": 6.0,
    "funding": 0.5,
    "idle": 6.0,
}
_NAMES: Final = tuple(_WEIGHTS)
_WEIGHT_VALUES: Final = tuple(_WEIGHTS.values())


def random_action(ex: Exchange) -> None:
    """One random action on a random symbol (weights in ``_WEIGHTS``)."""
    book = ex.rng.choice(ex.books)
    walk(ex, book)
    name = ex.rng.choices(_NAMES, _WEIGHT_VALUES)[0]
    if not ACTIONS[name](ex, book):  # nothing to act on: place an order instead
        place_limit(ex, book)
