"""Matching and funding: how fills happen and what frames they push.

``match`` books one match of an order (1-3 execution elements at one seq, the order, the
leg's position, the wallet), ``fill_taker`` walks a taker order through 1-3 matches,
``sweep_reduce_only`` cancels reduce-only orders a leg can no longer honour, and
``funding`` pays a funding round. All run with the exchange lock held.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Final

from oms.sandbox.model import MAKER_FEE, Q8, TAKER_FEE, Book, Element, Leg, SimOrder, fmt

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.sandbox.exchange import Exchange

D = Decimal
#: Execution elements of one taker match (one per maker it hits).
_PARTS: Final = (1, 1, 1, 1, 1, 1, 2, 2, 3)
#: Arrival order of a match's (order, execution, position) frames, and how often each.
_LAYOUTS: Final = ((0, 1, 2), (1, 0, 2), (1, 2, 0), (0, 2, 1), (2, 1, 0))
_LAYOUT_WEIGHTS: Final = (40, 30, 15, 10, 5)


def _split(ex: Exchange, book: Book, qty: Decimal, parts: int) -> list[Decimal]:
    """``qty`` cut into ``parts`` (at most one per lot) sizes of whole lots."""
    lots = int(qty / book.spec.step)
    parts = min(parts, lots)
    cuts = sorted(ex.rng.sample(range(1, lots), parts - 1)) if parts > 1 else []
    return [book.spec.step * (b - a) for a, b in zip([0, *cuts], [*cuts, lots], strict=True)]


# --- matching ------------------------------------------------------------------------------


def match(
    ex: Exchange, o: SimOrder, qty: Decimal, *, maker: bool, t: int, cancel_rest: bool = False
) -> None:
    """One match of ``qty`` of ``o``: an execution frame of 1-3 elements at one seq, the
    order report and the leg's position report, in a varying order; then the wallet."""
    book, leg, spec = o.book, o.leg, o.book.spec
    if o.reduce_only:
        qty = min(qty, leg.closable(o.side))
        if not qty:
            raise RuntimeError("sandbox bug: reduce-only match with nothing to close")
    book.cross_seq += ex.rng.randint(1, 40)
    book.last_seq = book.cross_seq
    direction = 1 if o.side == "Buy" else -1
    price = o.price if maker else book.ticks_away(direction * ex.rng.randint(0, 2))
    execs: list[Element] = []
    for size in _split(ex, book, qty, 1 if maker else ex.rng.choice(_PARTS)):
        value = size * price
        rate = MAKER_FEE if maker else TAKER_FEE
        fee = (value * rate).quantize(Q8)
        closed, pnl = leg.apply(direction * size, price, fee, t)
        o.cum_qty += size
        o.cum_value += value
        o.cum_fee += fee
        if closed:
            o.closed_pnl += pnl - fee
        element: Element = {
            "category": "linear",
            "symbol": spec.name,
            "closedSize": fmt(closed),
            "execFee": fmt(fee),
            "execId": ex.new_uuid(),
            "execPrice": fmt(price),
            "execQty": fmt(size),
            "execType": "Trade",
            "execValue": fmt(value),
            "feeRate": fmt(rate),
            "tradeIv": "",
            "markIv": "",
            "blockTradeId": "",
            "markPrice": fmt(book.mark),
            "indexPrice": fmt(book.index),
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
            "seq": book.last_seq,
            "marketUnit": "",
            "execPnl": fmt(pnl.quantize(Q8)),
            "createType": o.create_type,
            "feeCurrency": "USDT",
        }
        ex.record_execution(element)
        execs.append(element)
        if not maker:  # a taker walks the book
            price = max(spec.tick, price + direction * spec.tick * ex.rng.randint(0, 3))
    book.mid_ticks = int(price / spec.tick)
    o.updated = t
    if o.cum_qty > o.qty:
        raise RuntimeError("sandbox bug: overfilled")
    if o.cum_qty == o.qty:
        ex.finish(o, "Filled", t)
    elif cancel_rest:
        o.reject_reason = "EC_CancelForNoFullFill"
        ex.finish(o, "Cancelled", t)
    else:
        o.status = "PartiallyFilled"
        ex.track(o)
    swept = sweep_reduce_only(ex, leg, t, skip=o)
    emit: list[Callable[[], None]] = [
        lambda: ex.push_orders([o, *swept], t),
        lambda: ex.push("execution", t, execs),
        lambda: ex.push_position(leg, t),
    ]
    layout = ex.rng.choices(_LAYOUTS, _LAYOUT_WEIGHTS)[0]
    for i in layout:
        emit[i]()
    ex.push_wallet(t)


def sweep_reduce_only(ex: Exchange, leg: Leg, t: int, skip: SimOrder) -> list[SimOrder]:
    """Reduce-only orders the leg can no longer honour are cancelled (TP/SL: cleared)."""
    swept = []
    for order_id in list(ex.open_ids):
        o = ex.orders[order_id]
        if o is skip or o.leg is not leg or not o.reduce_only:
            continue
        closable = leg.closable(o.side)
        if o.status == "Untriggered":
            if not closable:
                ex.finish(o, "Deactivated", t, "CancelByTpSlTsClear")
                swept.append(o)
        elif o.leaves > closable:
            ex.finish(o, "Cancelled", t, "CancelByReduceOnly")
            swept.append(o)
    return swept


def fill_taker(ex: Exchange, o: SimOrder) -> None:
    """Fill a taker order in 1-3 matches; sometimes the book runs out (rest cancelled)."""
    matches = ex.rng.choice((1, 1, 1, 1, 1, 2, 2, 3))
    cut_short = o.order_type == "Market" and ex.rng.random() < 0.05
    for n in range(matches):
        t = ex.tick()
        lots_left = int(o.leaves / o.book.spec.step)
        if n == matches - 1 or lots_left < 2:
            qty = o.leaves
            if cut_short and lots_left >= 2:
                qty = o.book.spec.step * ex.rng.randint(1, lots_left - 1)
            match(ex, o, qty, maker=False, t=t, cancel_rest=cut_short)
            return
        match(ex, o, o.book.spec.step * ex.rng.randint(1, lots_left - 1), maker=False, t=t)


def funding(ex: Exchange, _book: Book) -> bool:
    """A funding round: a Funding execution and a position frame per open leg."""
    t = ex.tick()
    rate = D("0.0001") if ex.rng.random() < 0.7 else D("-0.00005")
    paid = False
    for leg in ex.legs.values():
        if not leg.net:
            continue
        paid = True
        book = leg.book
        size, mark = abs(leg.net), book.mark
        fee = (size * mark * rate * (1 if leg.net > 0 else -1)).quantize(Q8)
        book.cross_seq += ex.rng.randint(1, 40)
        book.last_seq = book.cross_seq
        leg.cur_realised -= fee
        leg.cum_realised -= fee
        element: Element = {
            "category": "linear",
            "symbol": book.spec.name,
            "closedSize": "0",
            "execFee": fmt(fee),
            "execId": ex.new_uuid(),
            "execPrice": fmt(mark),
            "execQty": fmt(size),
            "execType": "Funding",
            "execValue": fmt(size * mark),
            "feeRate": fmt(rate),
            "tradeIv": "",
            "markIv": "",
            "blockTradeId": "",
            "markPrice": fmt(mark),
            "indexPrice": fmt(book.index),
            "underlyingPrice": "",
            "leavesQty": "0",
            "orderId": f"{t // 1000}-{ex.rng.randint(10, 99)}-"
            f"{ex.rng.randint(100000, 999999)}-{leg.idx or 1}-2",
            "orderLinkId": "",
            "orderPrice": "0",
            "orderQty": "0",
            "orderType": "UNKNOWN",
            "stopOrderType": "UNKNOWN",
            "side": "Buy" if leg.net > 0 else "Sell",
            "execTime": str(t),
            "isLeverage": "0",
            "isMaker": False,
            "seq": book.last_seq,
            "marketUnit": "",
            "execPnl": "0",
            "createType": "",
            "feeCurrency": "USDT",
        }
        ex.record_execution(element)
        ex.push("execution", t, [element])
        ex.push_position(leg, t)
    if paid:
        ex.stats["funding_rounds"] += 1
        ex.push_wallet(t)
    return paid
