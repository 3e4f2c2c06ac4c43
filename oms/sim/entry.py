"""``OrderEntry``: what Bybit does with one order-entry request (``order/create``,
``/amend``, ``/cancel``, ``/cancel-all``, ``position/trading-stop``) on the simulated
account: read and check the request as Bybit would (``oms.sim.fields``,
``oms.sim.intent``, ``oms.sim.rules``), then drive the venue and the market
(``oms.sim.matching``). A refused request raises ``Refused`` and changes nothing; an
accepted one returns the REST ``result`` and queues the frames Bybit pushes for it in the
venue (``venue.take()``).

The orders placed here (and the TP/SL made for them) are the market's ``tracked``
orders: ``owns`` tells them from the background trading's, which leaves them alone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final

from oms.sim.fields import PARAMS, Refused, integer, number, text
from oms.sim.intent import TRIGGER_BY, Amend, read_amend, read_create
from oms.sim.placing import MODE, terms_of
from oms.sim.records import WORKING, Terms
from oms.sim.rules import (
    check_balance,
    check_band,
    check_price,
    check_qty,
    codes_of,
    largest,
)
from oms.sim.specs import instrument_key

if TYPE_CHECKING:
    from collections.abc import Mapping
    from decimal import Decimal

    from oms.sim.market import Markets, SymbolState
    from oms.sim.records import Leg, Order
    from oms.sim.specs import SymbolSpec
    from oms.sim.venue import Venue

__all__ = ["OrderEntry", "Refused"]

POST_ONLY_TAKES: Final = "EC_PostOnlyWillTakeLiquidity"
NO_FULL_FILL: Final = "EC_CancelForNoFullFill"
NOTHING_TO_TAKE: Final = "EC_NoImmediateQtyToFill"
#: a cancel this soon (venue ms) after the order's last fill raced it (PRIV §10.1)
RACE_MS: Final = 50
#: cancel-all cancels at most this many orders per call (futures)
CANCEL_ALL_MAX: Final = 500
#: the orderFilter values cancel-all takes
_FILTERS: Final = {
    "derivatives": ("Order", "StopOrder", "OpenOrder"),
    "spot": ("Order", "tpslOrder", "StopOrder", "OcoOrder", "BidirectionalTpslOrder"),
}


class OrderEntry:
    """Order entry on ``venue`` and ``markets`` (see the module docstring)."""

    def __init__(self, venue: Venue, markets: Markets) -> None:
        if markets.venue is not venue:
            raise ValueError("order entry and the market work on one venue")
        self.venue, self.markets, self.matcher = venue, markets, markets.matcher
        self.categories = tuple(dict.fromkeys(s.category for s in venue.specs.values()))

    def owns(self, order_id: str) -> bool:
        """Whether the order was placed here (or is a TP/SL made for such an order or a
        position set here)."""
        return order_id in self.markets.tracked

    # --- lookups ------------------------------------------------------------------------

    def _spec(self, category: str, request: Mapping[str, object]) -> SymbolSpec:
        if category not in self.categories:
            raise Refused(PARAMS, f"category only support {', '.join(self.categories)}")
        symbol = text(request, "symbol")
        if not symbol:
            raise Refused(PARAMS, "params error: symbol is required")
        spec = self.venue.specs.get(instrument_key(category, symbol))
        if spec is None:
            if category == "spot":
                raise Refused(170121, "Invalid symbol.")
            raise Refused(PARAMS, f"params error: symbol invalid: {symbol}")
        return spec

    def _find(self, spec: SymbolSpec, request: Mapping[str, object]) -> Order | None:
        """The order named by ``orderId`` (it wins) or ``orderLinkId``, on the symbol."""
        order_id, link = text(request, "orderId"), text(request, "orderLinkId")
        if not order_id and not link:
            raise Refused(PARAMS, "params error: orderId or orderLinkId is required")
        found = self.venue.orders.get(order_id) if order_id else None
        if not order_id:
            found = self.venue.orders.get(self.venue.links.get(link, ""))
        return found if found is not None and found.market.spec is spec else None

    def _open(self, spec: SymbolSpec, request: Mapping[str, object]) -> Order:
        o = self._find(spec, request)
        if o is None or not o.is_open:
            c = codes_of(spec)
            raise Refused(c.unknown, c.unknown_msg)
        return o

    def _state(self, spec: SymbolSpec) -> SymbolState:
        return self.markets.state(spec.key)

    def _report(self, o: Order) -> None:
        """Bybit's position report after an order create, amend or cancel."""
        if o.category != "spot":
            self.venue.report_position(o.market.spec.key, o.leg.idx)

    # --- create -------------------------------------------------------------------------

    def create(self, category: str, request: Mapping[str, object]) -> dict[str, str]:
        """``POST /v5/order/create``: result ``{"orderId", "orderLinkId"}``."""
        spec = self._spec(category, request)
        intent = read_create(spec, request)
        s = self._state(spec)
        terms = terms_of(self.venue, s, intent)
        first, *rest = _split(terms, spec)
        placed = self._enter(s, first)
        for part in rest:
            self._enter(s, part)
        return {"orderId": placed.order_id, "orderLinkId": placed.link_id}

    def _enter(self, s: SymbolState, terms: Terms) -> Order:
        """Place the checked order and match what it takes on entry."""
        venue, matcher = self.venue, self.matcher
        if terms.trigger_price is not None:
            o = venue.place(terms)
        elif terms.order_type == "Market":
            o = venue.place(terms, announce=False)
            matcher.track(o)
            matcher.take(s, o, cancel_rest=True)
            return self._after(o, announced=not o.cum_qty)
        else:
            available = self.markets.available(s, terms.side, terms.price)
            refusal = self._refusal(terms, available)
            if refusal:
                o = venue.reject(terms, reason=refusal, status="Cancelled")
            elif available:
                o = venue.place(terms, announce=False)
                matcher.track(o)
                matcher.take(s, o, cancel_rest=terms.time_in_force in ("IOC", "FOK"))
                return o
            else:
                o = venue.place(terms)
        matcher.track(o)
        return self._after(o, announced=True)

    @staticmethod
    def _refusal(terms: Terms, available: Decimal) -> str:
        """Why a limit order dies on entry: a PostOnly that would take, an IOC with
        nothing to take, a FOK that cannot fill in full; "" when it lives."""
        tif = terms.time_in_force
        if tif == "PostOnly" and available:
            return POST_ONLY_TAKES
        if tif == "IOC" and not available:
            return NOTHING_TO_TAKE
        if tif == "FOK" and available < terms.qty:
            return NO_FULL_FILL
        return ""

    def _after(self, o: Order, *, announced: bool) -> Order:
        if announced:
            self._report(o)
        return o

    # --- amend, cancel, cancel-all --------------------------------------------------------

    def amend(self, category: str, request: Mapping[str, object]) -> dict[str, str]:
        """``POST /v5/order/amend``: result ``{"orderId", "orderLinkId"}``."""
        spec = self._spec(category, request)
        o = self._open(spec, request)
        change = read_amend(o, request)
        s = self._state(spec)
        self._check_amend(s, o, change)
        self.venue.revise(
            o.order_id, qty=change.qty, price=change.price, trigger_price=change.trigger,
            tpsl=change.tpsl, trigger_by=change.trigger_by,
        )  # fmt: skip
        self._report(o)
        if o.order_type == "Limit" and o.status in WORKING and self.matcher.crosses(s, o):
            if o.tif == "PostOnly":
                self.venue.cancel(o.order_id, cancel_type="UNKNOWN", reject_reason=POST_ONLY_TAKES)
            else:
                self.matcher.take(s, o, cancel_rest=False)
        return {"orderId": o.order_id, "orderLinkId": o.link_id}

    def _check_amend(self, s: SymbolState, o: Order, change: Amend) -> None:
        spec = s.spec
        qty = o.qty if change.qty is None else change.qty
        price = o.price if change.price is None else change.price
        if change.qty is not None:
            check_qty(spec, change.qty, market=o.order_type == "Market")
            if change.qty <= o.cum_qty:
                raise Refused(110064, "The modified contract quantity cannot be less than or "
                              "equal to the filled quantity")  # fmt: skip
        if change.price is not None:
            check_price(spec, change.price)
            check_band(spec, o.side, change.price, s.market.mid)
        if change.trigger is not None:
            check_price(spec, change.trigger, name="triggerPrice")
            watched = self.matcher.watched(s, change.trigger_by or o.trigger_by)
            if o.trigger_direction == 1 and change.trigger <= watched:
                raise Refused(110092, "expect Rising, trigger price should be higher than "
                              "current price")  # fmt: skip
            if o.trigger_direction == 2 and change.trigger >= watched:
                raise Refused(110093, "expect Falling, trigger price should be lower than "
                              "current price")  # fmt: skip
        if change.tpsl is not None and o.cum_qty:
            raise Refused(110059, "Cannot modify the TP/SL of a partially filled open order")
        if not o.reduce_only and o.status != "Untriggered" and (qty, price) != (o.qty, o.price):
            check_balance(
                self.venue, spec, o.side, qty - o.cum_qty, price, reduce_only=False, excluding=o
            )

    def cancel(self, category: str, request: Mapping[str, object]) -> dict[str, str]:
        """``POST /v5/order/cancel``: result ``{"orderId", "orderLinkId"}``. A cancel that
        arrives just after the order's last fill is acked, and the order's second
        ``Filled`` (``EC_OrigClOrdIDDoesNotExist``) says it was too late."""
        spec = self._spec(category, request)
        o = self._find(spec, request)
        if o is not None and self._raced(o):
            self.venue.echo_cancel_race(o.order_id)
            return {"orderId": o.order_id, "orderLinkId": o.link_id}
        o = self._open(spec, request)
        self.venue.cancel(o.order_id)
        self._report(o)
        return {"orderId": o.order_id, "orderLinkId": o.link_id}

    def _raced(self, o: Order) -> bool:
        """A filled order of entry's whose last fill is at most ``RACE_MS`` old."""
        return (
            o.status == "Filled" and not o.echoed and self.owns(o.order_id)
            and self.venue.time() - o.updated <= RACE_MS
        )  # fmt: skip

    def cancel_all(self, category: str, request: Mapping[str, object]) -> dict[str, object]:
        """``POST /v5/order/cancel-all``: the open orders of ``symbol`` (else
        ``baseCoin``, else ``settleCoin``; one is required on linear and inverse) and
        of ``orderFilter``, at most 500 (the oldest); one order frame, then each leg's
        position report. Result ``{"list": [{"orderId", "orderLinkId"}...],
        "success": "1"}``."""
        picked = self._scope(category, request)[:CANCEL_ALL_MAX]
        if picked:
            self.venue.cancel(*(o.order_id for o in picked))
        for o in {o.leg.key: o for o in picked}.values():
            self._report(o)
        return {
            "list": [{"orderId": o.order_id, "orderLinkId": o.link_id} for o in picked],
            "success": "1",
        }

    def _scope(self, category: str, request: Mapping[str, object]) -> list[Order]:
        if category not in self.categories:
            raise Refused(PARAMS, f"category only support {', '.join(self.categories)}")
        symbol, base = text(request, "symbol"), text(request, "baseCoin")
        settle = text(request, "settleCoin")
        spot = category == "spot"
        if spot and settle:
            raise Refused(PARAMS, "params error: spot does not take settleCoin")
        if not spot and not (symbol or base or settle):
            raise Refused(PARAMS, "params error: symbol, baseCoin or settleCoin is required")
        if symbol:
            specs = [self._spec(category, request)]
        else:
            specs = [
                s for s in self.venue.specs.values() if s.category == category
                and (s.base_coin == base if base else not settle or s.settle_coin == settle)
            ]  # fmt: skip
        kinds = _FILTERS["spot" if spot else "derivatives"]
        wanted = text(request, "orderFilter", default="Order" if spot else "", allowed=kinds)
        stop_type = text(request, "stopOrderType")
        return [
            o for o in (self.venue.orders[i] for i in self.venue.open_ids)
            if o.market.spec in specs and _filtered(o, wanted, stop_type)
        ]  # fmt: skip

    # --- position TP/SL -------------------------------------------------------------------

    def trading_stop(self, category: str, request: Mapping[str, object]) -> dict[str, object]:
        """``POST /v5/position/trading-stop``: set (a price), remove ("0") or keep (absent)
        the Full TP/SL of an open position: its TP/SL orders are made, moved or
        deactivated, then the position report. Result ``{}``."""
        if category == "spot":
            raise Refused(PARAMS, "category only support linear, inverse")
        spec = self._spec(category, request)
        idx = integer(request, "positionIdx", default=0, allowed=(0, 1, 2))
        if (idx == 0) == spec.hedge:
            raise Refused(PARAMS, MODE)
        if text(request, "tpslMode", default="Full", allowed=("Full", "Partial")) != "Full":
            raise Refused(PARAMS, "params error: the sandbox emulates tpslMode Full only")
        if number(request, "trailingStop"):
            raise Refused(PARAMS, "params error: the sandbox emulates no trailing stop")
        leg = self.venue.legs[spec.key, idx]
        if not leg.net:
            raise Refused(PARAMS, "can not set tp/sl/ts for zero position")
        s = self._state(spec)
        tp, tp_by = self._position_stop(s, leg, request, "takeProfit", "tpTriggerBy")
        sl, sl_by = self._position_stop(s, leg, request, "stopLoss", "slTriggerBy")
        if (tp in (None, leg.take_profit)) and (sl in (None, leg.stop_loss)):
            raise Refused(34040, "not modified")
        self.matcher.set_tpsl(leg, take_profit=tp, stop_loss=sl, tp_by=tp_by, sl_by=sl_by)
        return {}

    def _position_stop(
        self, s: SymbolState, leg: Leg, request: Mapping[str, object], name: str, by_name: str
    ) -> tuple[Decimal | None, str]:
        """A position's new take-profit (or stop-loss) and the price it watches: beyond
        that price on the side that profits (or loses)."""
        price = number(request, name)
        by = text(request, by_name, default="LastPrice", allowed=TRIGGER_BY)
        if not price:
            return price, by
        check_price(s.spec, price, name=name)
        watched = self.matcher.watched(s, by)
        side = "Buy" if leg.net > 0 else "Sell"
        above = (name == "takeProfit") == (side == "Buy")
        if (price > watched) != above or price == watched:
            where = "higher" if above else "lower"
            label = "TakeProfit" if name == "takeProfit" else "StopLoss"
            raise Refused(
                PARAMS, f"{label}:{price} set for {side} position should be {where} than "
                f"base_price:{watched}??{by}",
            )  # fmt: skip
        return price, by


def _filtered(o: Order, wanted: str, stop_type: str) -> bool:
    """Whether cancel-all's ``orderFilter`` (and ``stopOrderType``) takes the order:
    ``Order``/``OpenOrder`` the working orders, ``StopOrder`` the untriggered ones
    (``stopOrderType`` Stop: plain conditional orders only), none all of them. The
    sandbox's spot orders are all plain ``Order``s."""
    if not wanted:
        return True
    if wanted in ("Order", "OpenOrder"):
        return o.status != "Untriggered"
    if wanted == "StopOrder" and o.category != "spot":
        return o.status == "Untriggered" and (stop_type != "Stop" or o.stop_type == "Stop")
    return False


def _split(terms: Terms, spec: SymbolSpec) -> list[Terms]:
    """A reduce-only order above the largest qty is split into orders of at most it
    (PRIV §10.8); the first keeps the orderLinkId (the others have none: whether Bybit's
    children share it is not documented)."""
    top = largest(spec, market=terms.order_type == "Market")
    if not terms.reduce_only or terms.qty <= top:
        return [terms]
    parts: list[Terms] = []
    left = terms.qty
    while left > 0:
        parts.append(replace(terms, qty=min(top, left), link_id=terms.link_id if not parts else ""))
        left -= top
    return parts
