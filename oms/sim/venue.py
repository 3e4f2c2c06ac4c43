"""``Venue``: a strict simulated Bybit account, driven by requests: linear perpetuals, the
inverse perpetual BTCUSD (contracts of 1 USD; values, fees and PnL in BTC) and the spot
pair BTCUSDT (no position; the fills move the wallet's BTC and USDT; a spot order that
filled in part and then was cancelled ends ``PartiallyFilledCanceled``).

Every action (``place``, ``match``, ``amend``, ``cancel``, ``trigger``, ``funding``...)
checks its request first and raises ``VenueError`` changing nothing when Bybit would
refuse it or the lifecycle would be impossible; otherwise it stamps a new venue time,
changes the records and queues the frames Bybit would push (``take()`` hands them over).
Who asks does not matter: a script (``oms.testing``), a random policy
(``oms.sim.policies``: the benchmark and the sandbox's background trading) or, later, an
order-entry request.

>>> from decimal import Decimal
>>> from oms.sim.specs import DEFAULT_SYMBOLS
>>> venue = Venue(DEFAULT_SYMBOLS)
>>> order = venue.place(Terms("BTCUSDT", "Buy", Decimal("0.002"), price=Decimal(65000)))
>>> _ = venue.match(order.order_id, [(Decimal("0.002"), Decimal(65000))])
>>> [push.topic for push in venue.take()]
['order', 'order', 'execution', 'position']
>>> order.status, venue.legs["BTCUSDT", 0].net
('Filled', Decimal('0.002'))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oms.sim import wire
from oms.sim.account import Account, Group, VenueError
from oms.sim.records import ZERO, Execution, Leg, Order, Terms, exec_value, q8
from oms.sim.specs import (
    CANCEL_RACE_REASON,
    FUNDING_RATE,
    MAKER_FEE,
    SPOT_MAKER_FEE,
    SPOT_TAKER_FEE,
    TAKER_FEE,
    TPSL_STOP_ORDER_TYPES,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from oms.sim.specs import SymbolSpec

__all__ = ["Group", "TpSl", "Venue", "VenueError"]

#: The TP/SL attached to an order: takeProfit, stopLoss (0: none), tpTriggerBy, slTriggerBy.
TpSl = tuple["Decimal", "Decimal", str, str]


class Venue(Account):
    """The simulated account, driven by requests (see the module docstring and
    ``Account`` for its settings)."""

    # --- orders -----------------------------------------------------------------------

    def place(self, terms: Terms, *, announce: bool = True, created_first: bool = False) -> Order:
        """Accept an order of ``terms``: ``New``, or ``Untriggered`` with a trigger price
        (in hedge mode the leg follows from side and reduce_only). ``announce=False``
        sends no report yet (a market order whose first report is its fill);
        ``created_first`` sends ``Created`` before ``New``."""
        o = self._new_order(terms)
        if announce:
            if created_first and o.status == "New":
                o.status = "Created"
                self._send(o.created, [("order", self._reported([o]))])
                o.status = "New"
            self._send(o.created, [("order", self._reported([o]))])
        return o

    def reject(self, terms: Terms, *, reason: str, status: str = "Rejected") -> Order:
        """An order refused at once: ``Rejected``, or ``Cancelled`` as Bybit does for a
        PostOnly order that would take liquidity or an IOC/FOK order with nothing to
        match."""
        if status not in {"Rejected", "Cancelled"} or terms.price is None:
            raise VenueError("a refused order has a price and is Rejected or Cancelled")
        o = self._new_order(terms, funded=False)
        o.reject_reason = reason
        self._close(o, status, o.created)
        self._send(o.created, [("order", self._reported([o]))])
        return o

    def amend(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> None:
        """Amend a working (or untriggered) order: same status, new terms, later time."""
        self.revise(order_id, qty=qty, price=price, trigger_price=trigger_price)

    def revise(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        tpsl: TpSl | None = None,
        trigger_by: str | None = None,
    ) -> None:
        """``amend``, and what order entry amends too: ``tpsl`` replaces the TP/SL
        attached to the order, ``trigger_by`` the price a conditional order watches."""
        o = self.order(order_id)
        if o.status not in {"New", "PartiallyFilled", "Untriggered"}:
            raise VenueError(f"cannot amend a {o.status} order")
        new = (o.qty if qty is None else qty, o.price if price is None else price)
        new_trigger = o.trigger if trigger_price is None else trigger_price
        new_tpsl = _tpsl_of(o) if tpsl is None else tpsl
        new_by = o.trigger_by if trigger_by is None else trigger_by
        if (*new, new_trigger, new_tpsl, new_by) == (
            o.qty, o.price, o.trigger, _tpsl_of(o), o.trigger_by
        ):  # fmt: skip
            raise VenueError("an amend changes something")
        step, tick = o.market.spec.qty_step, o.market.spec.tick
        if new[0] <= o.cum_qty or new[0] % step:
            raise VenueError("amended qty must exceed cumExecQty, on the qty step")
        if price is not None and (o.order_type != "Limit" or price <= 0 or price % tick):
            raise VenueError("only a limit price on the tick grid can be amended")
        if trigger_price is not None and (o.status != "Untriggered" or trigger_price <= 0):
            raise VenueError("only an untriggered order's trigger price can be amended")
        if not self.affordable(o.market.spec, o.side, new[0] - o.cum_qty, new[1], excluding=o):
            raise VenueError("insufficient balance for the amended order")
        (o.qty, o.price), o.trigger = new, new_trigger
        (o.take_profit, o.stop_loss, o.tp_trigger_by, o.sl_trigger_by) = new_tpsl
        o.trigger_by = new_by
        o.updated = self.stamp()
        self.stats["amends"] += 1
        self._send(o.updated, [("order", self._reported([o]))])

    def cancel(
        self, *order_ids: str, cancel_type: str = "CancelByUser", reject_reason: str = "EC_NoError"
    ) -> None:
        """Cancel open orders, in one frame: ``Deactivated`` before their trigger, else
        ``Cancelled`` (keeping whatever they filled)."""
        orders = [self.order(i) for i in order_ids]
        if not orders or any(not o.is_open for o in orders):
            raise VenueError("cancel takes open orders")
        t = self.stamp()
        for o in orders:
            o.reject_reason = reject_reason
            self._close(o, _cancelled(o), t, cancel_type)
        self._send(t, [("order", self._reported(orders))])

    def trigger(self, order_id: str, *, then_new: bool = True) -> None:
        """Fire a conditional order's trigger: ``Triggered``, and for a limit order
        ``New`` in the same frame at the same time (``then_new``; else ``activate``
        later). A triggered market order is matched next."""
        o = self.order(order_id)
        if o.status != "Untriggered":
            raise VenueError(f"cannot trigger a {o.status} order")
        o.status, o.updated = "Triggered", self.stamp()
        reports = self._reported([o])
        if then_new and o.order_type == "Limit":
            o.status = "New"
            reports += self._reported([o])
        self.stats["triggers"] += 1
        self._send(o.updated, [("order", reports)])

    def activate(self, order_id: str) -> None:
        """A triggered order starts working: ``New``, in a frame of its own."""
        o = self.order(order_id)
        if o.status != "Triggered":
            raise VenueError(f"cannot activate a {o.status} order")
        o.status, o.updated = "New", self.stamp()
        self._send(o.updated, [("order", self._reported([o]))])

    def echo_cancel_race(self, order_id: str) -> None:
        """The second ``Filled`` Bybit sends when a cancel arrived after the final fill
        (``EC_OrigClOrdIDDoesNotExist``). The order's state does not change."""
        o = self.order(order_id)
        if o.status != "Filled" or o.echoed:
            raise VenueError("only a filled order echoes a lost cancel, once")
        o.echoed = True
        t = self.stamp()
        element = self._reported([o])[0]
        element.update(
            cancelType="CancelByUser", rejectReason=CANCEL_RACE_REASON, updatedTime=str(t)
        )
        self.stats["cancel_races"] += 1
        self._send(t, [("order", [element])])

    # --- trades, funding, reports -----------------------------------------------------

    def match(
        self,
        order_id: str,
        parts: Sequence[tuple[Decimal, Decimal]],
        *,
        maker: bool | None = None,
        cancel_rest: bool = False,
    ) -> list[Execution]:
        """One match of an order: ``parts`` are the (qty, price) of its executions, which
        share one seq. Sends the order report (with the reduce-only orders the new
        position leaves nothing to reduce, deactivated or cancelled), the executions
        and the leg's position report. ``maker`` defaults to "a limit order";
        ``cancel_rest`` cancels what is left (an IOC order that ran out of book)."""
        o = self.order(order_id)
        self._check_parts(o, parts)
        maker = o.order_type == "Limit" if maker is None else maker
        t = self.stamp()
        seq = o.market.take_seq(self.ids.seq_step())
        executions = [
            self._execute(o, qty, price, maker=maker, t=t, seq=seq) for qty, price in parts
        ]
        self._after_fills(o, t, cancel_rest=cancel_rest)
        spot = o.category == "spot"
        changed = [o, *(s for s in self._sweep(o.leg, t) if s is not o)]
        elements = [wire.execution_element(e, detail=self.detail) for e in executions]
        fast = [wire.fast_element(e) for e in elements] if self.fast_frames else []
        group: Group = [
            ("order", self._reported(changed)),
            ("execution.fast", fast),
            ("execution", elements),
            ("position", [] if spot else [wire.position_element(o.leg)]),
        ]
        self._send(t, group, wallet=True)
        return executions

    def _check_parts(self, o: Order, parts: Sequence[tuple[Decimal, Decimal]]) -> None:
        """Refuse a match whose parts are not positive lots at positive prices, fill more
        than the order may, or (spot) cost more than the wallet holds."""
        step = o.market.spec.qty_step
        total = sum((qty for qty, _ in parts), ZERO)
        if not parts or any(q <= 0 or q % step or p <= 0 for q, p in parts):
            raise VenueError("each part is a positive qty on the step at a positive price")
        if total > o.fillable():
            raise VenueError(f"cannot fill {total} of {o.order_id} ({o.status})")
        self._check_spot_funds(o, parts)

    def _after_fills(self, o: Order, t: int, *, cancel_rest: bool) -> None:
        """The order's status once a match booked its fills: Filled, Cancelled if the rest
        is cancelled (``cancel_rest``), else PartiallyFilled."""
        o.updated = t
        if o.cum_qty == o.qty:
            self._close(o, "Filled", t)
        elif cancel_rest:
            o.reject_reason = "EC_CancelForNoFullFill"
            self._close(o, _cancelled(o), t)
        else:
            o.status = "PartiallyFilled"

    def _check_spot_funds(self, o: Order, parts: Sequence[tuple[Decimal, Decimal]]) -> None:
        """A spot buy's fills may cost no more quote coin than the wallet holds (a sell's
        base coin was checked when the order was placed)."""
        spec = o.market.spec
        if spec.category != "spot" or o.side != "Buy":
            return
        cost = sum((qty * price for qty, price in parts), ZERO)
        if cost > self.free(spec.quote_coin, excluding=o):
            raise VenueError(f"insufficient {spec.quote_coin} for the fills of {o.order_id}")

    def _execute(
        self, o: Order, qty: Decimal, price: Decimal, *, maker: bool, t: int, seq: int
    ) -> Execution:
        spec = o.market.spec
        rate = _fee_rate(spec.category, maker=maker)
        value = exec_value(spec, qty, price)
        fee_coin = wire.order_fee_coin(o)
        # a spot buy pays its fee out of the base coin it receives, a sell out of the quote
        fee = q8((qty if spec.category == "spot" and o.side == "Buy" else value) * rate)
        closed, pnl = o.leg.apply(qty if o.side == "Buy" else -qty, price, fee, t)
        if spec.category == "spot":
            self._move_coins(spec, o.side, qty, value, fee)
        o.cum_qty += qty
        o.cum_value += value
        o.cum_fee += fee
        if closed:
            o.closed_pnl += pnl - fee
        e = Execution(
            ordinal=self._next_ordinal(), exec_id=self.ids.uuid(), exec_type="Trade",
            symbol=o.symbol, idx=o.leg.idx, side=o.side, qty=qty, price=price, fee=fee,
            fee_rate=rate, maker=maker, closed=closed, pnl=pnl, time=t, seq=seq,
            mark=o.market.mark, index=o.market.index, order_id=o.order_id, link_id=o.link_id,
            leaves=o.leaves, order_price=o.price, order_qty=o.qty, order_type=o.order_type,
            stop_type=o.stop_type or ("" if spec.category == "spot" else "UNKNOWN"),
            create_type=o.create_type, category=spec.category, fee_coin=fee_coin, value=value,
        )  # fmt: skip
        self.executions[e.exec_id] = e
        self.stats["exec_Trade"] += 1
        return e

    def _move_coins(
        self, spec: SymbolSpec, side: str, qty: Decimal, value: Decimal, fee: Decimal
    ) -> None:
        """A spot fill's coins: a buy receives the base coin less its fee and pays the
        quote; a sell pays the base coin and receives the quote less its fee."""
        flows, base, quote = self.spot_flows, spec.base_coin, spec.quote_coin
        sign = 1 if side == "Buy" else -1
        flows[base] = flows.get(base, ZERO) + sign * qty - (fee if side == "Buy" else ZERO)
        flows[quote] = flows.get(quote, ZERO) - sign * value - (fee if side == "Sell" else ZERO)

    def _sweep(self, leg: Leg, t: int) -> list[Order]:
        """Reduce-only orders the leg left nothing to reduce: TP/SL are deactivated
        (``CancelByTpSlTsClear``), working reduce-only orders cancelled."""
        swept = []
        for o in [self.orders[i] for i in self.open_ids]:
            if o.leg is not leg or not o.reduce_only or o.capacity():
                continue
            if o.status == "Untriggered":
                tpsl = o.stop_type in TPSL_STOP_ORDER_TYPES
                self._close(
                    o, "Deactivated", t, "CancelByTpSlTsClear" if tpsl else "CancelByReduceOnly"
                )
            else:
                self._close(o, "Cancelled", t, "CancelByReduceOnly")
            swept.append(o)
        return swept

    def funding(self, symbol: str, position_idx: int, *, rate: Decimal = FUNDING_RATE) -> Execution:
        """A funding execution on an open leg of the instrument ``symbol`` (its key:
        ``inverse:BTCUSD``): it never moves the position, longs pay a positive rate on the
        position's value at the mark (in BTC on inverse); then the leg's position report
        at the funding's seq."""
        leg = self.leg(symbol, position_idx)
        if not leg.net:
            raise VenueError("funding is paid on an open position")
        t = self.stamp()
        market, size = leg.market, abs(leg.net)
        spec = market.spec
        value = exec_value(spec, size, market.mark)
        fee = q8(value * rate * (1 if leg.net > 0 else -1))
        leg.charge(fee, t)
        self._fundings += 1
        e = Execution(
            ordinal=self._next_ordinal(), exec_id=self.ids.uuid(), exec_type="Funding",
            symbol=spec.symbol, idx=position_idx, side="Buy" if leg.net > 0 else "Sell", qty=size,
            price=market.mark, fee=fee, fee_rate=rate, maker=False, closed=ZERO, pnl=ZERO,
            time=t, seq=market.take_seq(self.ids.seq_step()), mark=market.mark,
            index=market.index, order_id=f"{t // 1000}-{self._fundings}-{position_idx or 1}-2",
            category=spec.category, fee_coin=spec.settle_coin, value=value,
        )  # fmt: skip
        self.executions[e.exec_id] = e
        self.stats["exec_Funding"] += 1
        group: Group = [
            ("execution", [wire.execution_element(e, detail=self.detail)]),
            ("position", [wire.position_element(leg)]),
        ]
        self._send(t, group, wallet=True)
        return e

    def report_position(self, symbol: str, position_idx: int) -> None:
        """A position report that changes nothing (Bybit sends one on order create,
        amend or cancel): the symbol's last seq, a later updatedTime."""
        leg = self.leg(symbol, position_idx)
        leg.updated = t = self.stamp()
        self._send(t, [("position", [wire.position_element(leg)])])


def _tpsl_of(o: Order) -> TpSl:
    return (o.take_profit, o.stop_loss, o.tp_trigger_by, o.sl_trigger_by)


def _cancelled(o: Order) -> str:
    """The status a cancel gives an open order: ``Deactivated`` before its trigger; on
    spot ``PartiallyFilledCanceled`` once it filled in part (derivatives keep
    ``Cancelled`` with a cumExecQty)."""
    if o.status == "Untriggered":
        return "Deactivated"
    if o.category == "spot" and o.cum_qty:
        return "PartiallyFilledCanceled"
    return "Cancelled"


def _fee_rate(category: str, *, maker: bool) -> Decimal:
    if category == "spot":
        return SPOT_MAKER_FEE if maker else SPOT_TAKER_FEE
    return MAKER_FEE if maker else TAKER_FEE
