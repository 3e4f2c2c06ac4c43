"""``SimulatedExchange``: a small, strict Bybit linear account that emits the frames of
everything that happens to it, and records its own truth.

>>> import json
>>> from decimal import Decimal
>>> ex = SimulatedExchange()
>>> order_id = ex.place("BTCUSDT", "Buy", Decimal("0.002"), price=Decimal(65000))
>>> [json.loads(f)["topic"] for f in ex.fill(order_id, Decimal("0.002"), pieces=2)]
['order', 'execution', 'position']
>>> ex.truth.orders[order_id].status, len(ex.truth.fills), ex.net("BTCUSDT", 0)
('Filled', 2, Decimal('0.002'))
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from oms.testing import _wire as w
from oms.testing._account import Account
from oms.testing.symbols import CANCEL_RACE_REASON
from oms.testing.truth import FillTruth, LegId, OrderTruth

__all__ = ["SimulatedExchange"]

_ZERO: Final = w.ZERO
_MAKER_FEE: Final = Decimal("0.0002")
_TAKER_FEE: Final = Decimal("0.00055")
_FUNDING_RATE: Final = Decimal("0.0001")
_FILLABLE: Final = frozenset({"Created", "New", "PartiallyFilled", "Triggered"})


class SimulatedExchange(Account):
    """A small, strict Bybit linear account that emits the frames of what happens to it.

    Every action stamps a new exchange time (at least 1 ms after the previous one), appends
    the frames it caused to ``frames`` and records them in ``truth`` (a
    ``ReferenceModel``); actions return the frames they emitted. Invalid requests (filling
    more than is left, amending a closed order, ...) raise ``ValueError``: the exchange
    never emits an impossible lifecycle. ``topic_order`` is the order in which the topics
    of one action are sent (Bybit gives no ordering between topics). With
    ``fast_executions`` every trade is also sent on ``execution.fast`` (no fee;
    orderLinkId ``""`` for maker fills, as Bybit does), right before ``execution`` unless
    ``topic_order`` places it. Drive it directly to script a particular scenario; a
    hypothesis state machine can drive it rule by rule.

    ``SimulatedExchange(symbols=DEFAULT_SYMBOLS, *, start_ms=T0, fast_executions=False)``.
    """

    # --- queries ----------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols traded."""
        return tuple(self.specs)

    def mark(self, symbol: str) -> Decimal:
        """The current mark price of a symbol."""
        return self._marks[symbol]

    def open_legs(self) -> list[LegId]:
        """Legs holding a position."""
        return [k for k, leg in self._legs.items() if leg.net != 0]

    def order_ids(self, *statuses: str) -> list[str]:
        """Orders (with one of ``statuses``, if given), oldest first."""
        return [i for i, o in self._orders.items() if not statuses or o.status in statuses]

    def current(self, order_id: str) -> OrderTruth:
        """The order's state now (what its next report would say)."""
        return OrderTruth.from_wire(self._element(self._order(order_id)))

    def fillable(self, order_id: str) -> Decimal:
        """How much of the order can fill now (reduce-only orders: at most the position)."""
        o = self._order(order_id)
        if o.status not in _FILLABLE:
            return _ZERO
        left = o.qty - o.cum_qty
        cap = self._capacity(o)
        return left if cap is None else min(left, cap)

    def echoable(self) -> list[str]:
        """Filled orders that have not had a cancel-race echo yet."""
        return [i for i, o in self._orders.items() if o.status == "Filled" and not o.echoed]

    # --- time and prices --------------------------------------------------------------

    def advance(self, ms: int) -> None:
        """Let ``ms`` milliseconds pass."""
        if ms < 0:
            raise ValueError("time only moves forward")
        self.now += ms

    def move_mark(self, symbol: str, ticks: int) -> None:
        """Move a mark price by whole ticks (never below 100 ticks)."""
        spec = self.specs[symbol]
        self._marks[symbol] = max(self._marks[symbol] + ticks * spec.tick, 100 * spec.tick)

    # --- actions ----------------------------------------------------------------------

    def place(  # noqa: PLR0913 - the order request's fields
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        *,
        price: Decimal | None = None,
        order_type: str = "Limit",
        time_in_force: str | None = None,
        trigger_price: Decimal | None = None,
        stop_order_type: str = "",
        reduce_only: bool = False,
        announce: bool = True,
        created_first: bool = False,
    ) -> str:
        """Accept an order and return its orderId.

        ``trigger_price`` makes it conditional (born ``Untriggered``); a TP/SL
        ``stop_order_type`` makes it a reduce-only TP/SL with an empty orderLinkId. In
        hedge mode the leg follows from side and reduce_only. ``announce=False`` sends no
        report yet (a market order whose first report is its fill); ``created_first``
        sends ``Created`` before ``New``.
        """
        o = self._new_order(
            symbol, side, qty, price=price, order_type=order_type, time_in_force=time_in_force,
            trigger_price=trigger_price, stop_order_type=stop_order_type,
            reduce_only=reduce_only,
        )  # fmt: skip
        if announce:
            if created_first and o.status == "New":
                o.status = "Created"
                self._send(orders=[o])
                o.status = "New"
            self._send(orders=[o])
        return o.order_id

    def place_rejected(
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        price: Decimal,
        *,
        reason: str = "EC_ReachMaxTradeNum",
        status: str = "Rejected",
        time_in_force: str = "GTC",
    ) -> str:
        """An order refused at once: ``Rejected``, or ``Cancelled`` as Bybit does for a
        PostOnly order that would take liquidity (``EC_PostOnlyWillTakeLiquidity``)."""
        if status not in {"Rejected", "Cancelled"}:
            raise ValueError("a refused order is Rejected or Cancelled")
        o = self._new_order(symbol, side, qty, price=price, time_in_force=time_in_force)
        o.status = status
        o.reject_reason = reason
        self._send(orders=[o])
        return o.order_id

    def fill(
        self, order_id: str, qty: Decimal, *, pieces: int = 1, price: Decimal | None = None
    ) -> list[str]:
        """One match of ``qty``, booked as ``pieces`` executions sharing one seq.

        Sends the order report, the executions and the leg's position report (at the
        trade's seq). TP/SL and reduce-only orders that the new position leaves nothing to
        reduce are deactivated or cancelled in the same order frame, as Bybit does.
        """
        o = self._order(order_id)
        step = o.spec.qty_step
        if qty <= 0 or qty % step or qty > self.fillable(order_id):
            raise ValueError(f"cannot fill {qty} of {order_id} ({o.status})")
        units = int(qty / step)
        if not 1 <= pieces <= units:
            raise ValueError("each piece needs at least one qty step")
        t = self._stamp()
        seq = self._take_seq(o.spec.symbol)
        px = price if price is not None else self._fill_price(o)
        rate = _MAKER_FEE if o.order_type == "Limit" else _TAKER_FEE
        leg = self._leg(o.spec.symbol, o.idx)
        sizes = [step * (units // pieces)] * pieces
        sizes[0] += step * (units % pieces)
        executions = []
        for size in sizes:
            fee = w.q8(size * px * rate)
            o.cum_qty += size
            o.cum_value += size * px
            o.cum_fee += fee
            closed = w.move_leg(leg, o.side, size, px, fee)
            fields = w.trade_fields(o, size, px, rate, fee, closed)
            executions.append(self._execution(o.spec.symbol, t, seq, fields))
        o.status = "Filled" if o.cum_qty == o.qty else "PartiallyFilled"
        o.updated = t
        if o.is_open and self._capacity(o) == _ZERO:
            o.status, o.cancel_type = "Cancelled", "CancelByReduceOnly"
        changed = [o, *self._close_orphans(o.spec.symbol, o.idx, t, skip=o.order_id)]
        for e in executions:
            self.truth.record_fill(FillTruth.from_wire(e, o.idx))
        fast = [w.fast_element(e) for e in executions] if self.fast_executions else []
        return self._send(
            orders=changed, executions=executions, fast=fast, positions=[(o.spec.symbol, o.idx)]
        )

    def amend(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> list[str]:
        """Amend a working (or untriggered) order: same status, new terms, later time."""
        o = self._order(order_id)
        if o.status not in {"New", "PartiallyFilled", "Untriggered"}:
            raise ValueError(f"cannot amend a {o.status} order")
        new_qty = o.qty if qty is None else qty
        new_price = o.price if price is None else price
        new_trigger = o.trigger if trigger_price is None else trigger_price
        if (new_qty, new_price, new_trigger) == (o.qty, o.price, o.trigger):
            raise ValueError("an amend changes something")
        if new_qty <= o.cum_qty or new_qty % o.spec.qty_step:
            raise ValueError("amended qty must exceed cumExecQty, on the qty step")
        if price is not None and (o.order_type != "Limit" or price <= 0 or price % o.spec.tick):
            raise ValueError("only a limit price on the tick grid can be amended")
        if trigger_price is not None and (o.status != "Untriggered" or trigger_price <= 0):
            raise ValueError("only an untriggered order's trigger price can be amended")
        o.qty, o.price, o.trigger = new_qty, new_price, new_trigger
        o.updated = self._stamp()
        return self._send(orders=[o])

    def cancel(
        self, order_id: str, *, cancel_type: str = "CancelByUser", reject_reason: str = "EC_NoError"
    ) -> list[str]:
        """Cancel an open order: ``Deactivated`` before its trigger, else ``Cancelled``
        (keeping whatever it filled)."""
        o = self._order(order_id)
        if not o.is_open:
            raise ValueError(f"cannot cancel a {o.status} order")
        o.status = "Deactivated" if o.status == "Untriggered" else "Cancelled"
        o.cancel_type, o.reject_reason = cancel_type, reject_reason
        o.updated = self._stamp()
        return self._send(orders=[o])

    def trigger(self, order_id: str, *, then_new: bool = True) -> list[str]:
        """Fire a conditional order's trigger: ``Triggered``, and for a limit order
        ``New`` in the same frame at the same time (``then_new``). A market order is then
        filled by the caller."""
        o = self._order(order_id)
        if o.status != "Untriggered":
            raise ValueError(f"cannot trigger a {o.status} order")
        o.updated = self._stamp()
        o.status = "Triggered"
        elements = [self._element(o)]
        if then_new and o.order_type == "Limit":
            o.status = "New"
            elements.append(self._element(o))
        for e in elements:
            self.truth.record_order(OrderTruth.from_wire(e))
        return self._emit({"order": elements})

    def echo_cancel_race(self, order_id: str) -> list[str]:
        """The second ``Filled`` Bybit sends when a cancel arrived after the final fill
        (``EC_OrigClOrdIDDoesNotExist``). The order's state does not change."""
        o = self._order(order_id)
        if o.status != "Filled" or o.echoed:
            raise ValueError("only a filled order echoes a lost cancel, once")
        o.echoed = True
        element = self._element(o)
        element.update(
            cancelType="CancelByUser",
            rejectReason=CANCEL_RACE_REASON,
            updatedTime=str(self._stamp()),
        )
        return self._emit({"order": [element]})

    def funding(self, symbol: str, position_idx: int) -> list[str]:
        """A funding execution on an open leg (it never moves the position), then the
        leg's position report at the funding's seq."""
        leg = self._legs.get((symbol, position_idx))
        if leg is None or leg.net == 0:
            raise ValueError("funding is paid on an open position")
        t = self._stamp()
        seq = self._take_seq(symbol)
        size = abs(leg.net)
        value = size * self._marks[symbol]
        fee = w.q8(value * _FUNDING_RATE)
        self._counter += 1
        execution = self._execution(
            symbol, t, seq,
            {
                "execFee": w.fmt(fee), "execQty": w.fmt(size), "execType": "Funding",
                "execValue": w.fmt(value), "feeRate": w.fmt(_FUNDING_RATE),
                "orderId": f"{t // 1000}-{self._counter}-382053-1-{position_idx}",
                "side": "Buy" if leg.net > 0 else "Sell",
            },
        )  # fmt: skip
        leg.realised -= fee
        self.truth.record_fill(FillTruth.from_wire(execution, position_idx))
        return self._send(executions=[execution], positions=[(symbol, position_idx)])

    def report_position(self, symbol: str, position_idx: int) -> list[str]:
        """A position report that changes nothing (Bybit sends one on every order create,
        amend or cancel): the symbol's last seq, a later updatedTime."""
        if position_idx not in self.specs[symbol].legs:
            raise ValueError(f"{symbol} has no leg {position_idx}")
        self._stamp()
        return self._send(positions=[(symbol, position_idx)])
