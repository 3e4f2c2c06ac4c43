"""The account's orders matched against the market (``oms.sim.market``): what Bybit's
matching engine does with them once they are accepted. The venue books every match
(``Venue.match`` and friends, which push the frames); this module decides what matches.

- a taker order walks the book level by level up to its price (a market order's price
  is its protection price), one execution per level, one seq per match; an IOC remainder
  (market orders included) is cancelled;
- a resting limit order fills as maker at its price when the tape trades through it (in
  full) or at it (in part), or when the book moved across it;
- a conditional order fires when its trigger price (last, mark or index) crosses the
  trigger in its direction, then works as a market or limit order;
- TP/SL attached to an order become the position's TP/SL orders (reduce-only
  conditional market orders, ``parentOrderLinkId`` = the order's orderLinkId) once the
  order fills; they close the whole position when they fire and are deactivated by the
  venue when the position is gone.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Final

from oms.sim.records import WORKING, ZERO, Terms, to_tick

if TYPE_CHECKING:
    from oms.sim.market import Markets, SymbolState
    from oms.sim.records import Execution, Leg, Order

__all__ = ["Matcher", "protection_price"]

#: a market order's protection band around the last price (Bybit's default slippage band)
BAND: Final = Decimal("0.03")
#: rejectReason of an IOC order (or the rest of one) with nothing left to take
NOTHING_TO_TAKE: Final = "EC_NoImmediateQtyToFill"
#: (take profit?, long position?) -> trigger direction: 1 rise, 2 fall
_TPSL_DIRECTION: Final = {(True, True): 1, (False, True): 2, (True, False): 2, (False, False): 1}


def protection_price(s: SymbolState, side: str, reference: Decimal | None = None) -> Decimal:
    """The worst price a market order of ``side`` may trade at: the band around
    ``reference`` (default: the last price), on the tick grid."""
    tick = s.spec.tick
    ref = s.market.mid if reference is None else reference
    if side == "Buy":
        return to_tick(ref * (1 + BAND), tick)
    return max(tick, to_tick(ref * (1 - BAND), tick))


def opposite(side: str) -> str:
    return "Sell" if side == "Buy" else "Buy"


class Matcher:
    """Works the orders ``markets.tracked`` holds (see the module docstring)."""

    def __init__(self, markets: Markets) -> None:
        self.markets, self.venue = markets, markets.venue
        #: tracked orders still open (the ones a step looks at)
        self.working: dict[str, None] = {}
        #: orders whose attached TP/SL were made
        self.attached: set[str] = set()

    def track(self, o: Order) -> None:
        self.markets.tracked[o.order_id] = None
        if o.is_open:
            self.working[o.order_id] = None

    def _open_on(self, s: SymbolState) -> list[Order]:
        orders = self.venue.orders
        for order_id in [i for i in self.working if not orders[i].is_open]:
            del self.working[order_id]
        return [orders[i] for i in self.working if orders[i].market is s.market]

    # --- a market step ----------------------------------------------------------------

    def work(self, s: SymbolState, low: int, high: int) -> None:
        """After a step printed trades between ``low`` and ``high`` ticks: fill the
        resting orders the price reached, fire the triggers crossed."""
        for o in self._open_on(s):
            if not o.is_open:  # closed by an earlier order's fill (reduce-only sweep)
                continue
            if o.status == "Untriggered":
                if self.crossed(s, o):
                    self.fire(s, o)
            elif o.status in WORKING and o.order_type == "Limit":
                self._rest_fill(s, o, low, high)

    def _rest_fill(self, s: SymbolState, o: Order, low: int, high: int) -> None:
        can = self._affordable(o, o.fillable(), o.price)
        if not can:
            return
        at = int(o.price / s.spec.tick)
        depth = s.depth
        if o.side == "Buy":
            through = low < at or (bool(depth.asks) and depth.best_ask <= at)
            touched = low == at
        else:
            through = high > at or (bool(depth.bids) and depth.best_bid >= at)
            touched = high == at
        if not (through or touched):
            return
        step = s.spec.qty_step
        qty = can if through else step * self.markets.rng.randint(1, int(can / step))
        executions = self.venue.match(o.order_id, [(qty, o.price)], maker=True)
        self.markets.print_fills(s, executions, opposite(o.side))
        self.after_fill(o)

    @staticmethod
    def watched(s: SymbolState, trigger_by: str) -> Decimal:
        """The price a trigger watches: mark, index or (by default) last."""
        m = s.market
        return {"MarkPrice": m.mark, "IndexPrice": m.index}.get(trigger_by, m.mid)

    def crossed(self, s: SymbolState, o: Order) -> bool:
        """Whether a conditional order's trigger price crossed its trigger."""
        price = self.watched(s, o.trigger_by)
        return price >= o.trigger if o.trigger_direction == 1 else price <= o.trigger

    def fire(self, s: SymbolState, o: Order) -> None:
        """Trigger a conditional order; then it trades as a market or limit order."""
        if o.tpsl_mode == "Full" and o.reduce_only:
            # a Full TP/SL closes the whole position, whatever its size at the trigger
            o.qty = o.leg.closable(o.side) or o.qty
        if o.order_type == "Market":
            o.price = protection_price(s, o.side)
        self.venue.trigger(o.order_id, then_new=o.order_type == "Limit")
        if o.order_type == "Market":
            self.take(s, o, cancel_rest=True)
        elif self.crosses(s, o):
            self.take(s, o, cancel_rest=o.tif in ("IOC", "FOK"))

    # --- taking liquidity ---------------------------------------------------------------

    def crosses(self, s: SymbolState, o: Order) -> bool:
        """Whether a limit order at its price would take liquidity now."""
        return self.markets.available(s, o.side, o.price) > 0

    def take(self, s: SymbolState, o: Order, *, cancel_rest: bool) -> list[Execution]:
        """One taker match of ``o`` against the book up to its price. ``cancel_rest``: an
        IOC order, whose rest (or all of it, with nothing to take) is cancelled."""
        can = self._affordable(o, o.fillable(), o.price)
        parts = self.markets.take(s, o.side, can, o.price) if can else []
        if not parts:
            if cancel_rest:
                self.venue.cancel(o.order_id, cancel_type="UNKNOWN", reject_reason=NOTHING_TO_TAKE)
            return []
        total = sum((qty for qty, _ in parts), ZERO)
        executions = self.venue.match(
            o.order_id, parts, maker=False, cancel_rest=cancel_rest and total < o.leaves
        )
        self.markets.print_fills(s, executions, o.side)
        self.after_fill(o)
        return executions

    def _affordable(self, o: Order, qty: Decimal, price: Decimal) -> Decimal:
        """``qty`` capped to what the wallet pays for (a spot buy's quote coin)."""
        spec = o.market.spec
        if spec.category != "spot" or o.side != "Buy" or not qty:
            return qty
        free = self.venue.free(spec.quote_coin, excluding=o)
        lots = int(max(ZERO, free) / price / spec.qty_step)
        return min(qty, spec.qty_step * lots)

    # --- TP/SL --------------------------------------------------------------------------

    def after_fill(self, o: Order) -> None:
        """The first fill of an order with TP/SL attached makes the position's TP/SL."""
        if o.order_id in self.attached or not (o.take_profit or o.stop_loss) or not o.cum_qty:
            return
        self.attached.add(o.order_id)
        self.set_tpsl(
            o.leg, take_profit=o.take_profit, stop_loss=o.stop_loss,
            tp_by=o.tp_trigger_by or "LastPrice", sl_by=o.sl_trigger_by or "LastPrice",
            parent=o.link_id,
        )  # fmt: skip

    def tpsl_orders(self, leg: Leg) -> dict[str, Order]:
        """The leg's open Full TP/SL orders the market works, by stopOrderType."""
        found = {}
        for order_id in self.working:
            o = self.venue.orders[order_id]
            if o.is_open and o.leg is leg and o.tpsl_mode == "Full" and o.stop_type:
                found[o.stop_type] = o
        return found

    def set_tpsl(
        self, leg: Leg, *, take_profit: Decimal | None, stop_loss: Decimal | None,
        tp_by: str, sl_by: str, parent: str = "",
    ) -> None:  # fmt: skip
        """Set (a price), remove (0) or keep (None) the position's TP and SL: its TP/SL
        orders are made, moved or deactivated; then the position report."""
        current = self.tpsl_orders(leg)
        for kind, price, by in (("TakeProfit", take_profit, tp_by), ("StopLoss", stop_loss, sl_by)):
            if price is None:
                continue
            held = current.get(kind)
            if not price:
                if held is not None:
                    self.venue.cancel(held.order_id)
            elif held is None:
                self._place_tpsl(leg, kind, price, by, parent)
            else:
                held.trigger_by = by
                if held.trigger != price:
                    self.venue.amend(held.order_id, trigger_price=price)
            if kind == "TakeProfit":
                leg.take_profit = price
            else:
                leg.stop_loss = price
        self.venue.report_position(leg.market.spec.key, leg.idx)

    def _place_tpsl(self, leg: Leg, kind: str, price: Decimal, by: str, parent: str) -> None:
        spec = leg.market.spec
        long = leg.net > 0
        side = "Sell" if long else "Buy"
        s = self.markets.state(spec.key)
        terms = Terms(
            spec.symbol, side, abs(leg.net), price=protection_price(s, side, price),
            order_type="Market", trigger_price=price, stop_order_type=kind, reduce_only=True,
            category=spec.category, link_id="", position_idx=leg.idx,
            trigger_direction=_TPSL_DIRECTION[kind == "TakeProfit", long], trigger_by=by,
            tpsl_mode="Full", parent_link_id=parent,
        )  # fmt: skip
        self.track(self.venue.place(terms))
