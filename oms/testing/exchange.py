"""``SimulatedExchange``: the simulator's strict venue (``oms.sim.Venue``) scripted by hand,
emitting the text frames of everything that happens to it and recording its own truth.

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

from typing import TYPE_CHECKING, Final

from oms.sim import wire
from oms.sim.records import ZERO, Terms
from oms.sim.venue import Venue
from oms.testing.model import ReferenceModel
from oms.testing.symbols import DEFAULT_SYMBOLS, T0
from oms.testing.truth import FillTruth, LegId, OrderTruth, PositionTruth

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from oms.sim.venue import Group
    from oms.testing.symbols import SymbolSpec

__all__ = ["SimulatedExchange"]

#: Every topic a session sends, in the default order of one action's frames.
TOPICS: Final = ("order", "execution.fast", "execution", "position")


class SimulatedExchange:
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

    def __init__(
        self,
        symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
        *,
        start_ms: int = T0,
        fast_executions: bool = False,
    ) -> None:
        if not symbols:
            raise ValueError("at least one symbol")
        self.venue = Venue(symbols, start_ms=start_ms, fast_frames=fast_executions)
        self.venue.arrange = self._arrange
        self.venue.delay = lambda i: 1 + i
        self.specs = self.venue.specs
        self.frames: list[str] = []
        self.truth = ReferenceModel()
        self.topic_order: tuple[str, ...] = TOPICS
        self.fast_executions = fast_executions

    # --- queries ----------------------------------------------------------------------

    @property
    def now(self) -> int:
        """The exchange's time: its newest timestamp."""
        return self.venue.now

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols traded."""
        return tuple(self.specs)

    def net(self, symbol: str, position_idx: int) -> Decimal:
        """The signed net of one leg now."""
        leg = self.venue.legs.get((symbol, position_idx))
        return ZERO if leg is None else leg.net

    def mark(self, symbol: str) -> Decimal:
        """The current mark price of a symbol."""
        return self.venue.markets[symbol].mark

    def open_legs(self) -> list[LegId]:
        """Legs holding a position."""
        return [key for key, leg in self.venue.legs.items() if leg.net != 0]

    def order_ids(self, *statuses: str) -> list[str]:
        """Orders (with one of ``statuses``, if given), oldest first."""
        orders = self.venue.orders.items()
        return [i for i, o in orders if not statuses or o.status in statuses]

    def current(self, order_id: str) -> OrderTruth:
        """The order's state now (what its next report would say)."""
        return OrderTruth.from_wire(wire.order_element(self.venue.order(order_id)))

    def fillable(self, order_id: str) -> Decimal:
        """How much of the order can fill now (reduce-only orders: at most the position)."""
        return self.venue.order(order_id).fillable()

    def echoable(self) -> list[str]:
        """Filled orders that have not had a cancel-race echo yet."""
        orders = self.venue.orders.items()
        return [i for i, o in orders if o.status == "Filled" and not o.echoed]

    # --- time and prices --------------------------------------------------------------

    def advance(self, ms: int) -> None:
        """Let ``ms`` milliseconds pass."""
        if ms < 0:
            raise ValueError("time only moves forward")
        self.venue.now += ms

    def move_mark(self, symbol: str, ticks: int) -> None:
        """Move a mark price (and the last price with it) by whole ticks (never below 100
        ticks)."""
        market = self.venue.markets[symbol]
        moved = max(market.mark_ticks + ticks, 100)
        market.mid_ticks = market.mark_ticks = market.index_ticks = moved

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
        """Accept an order and return its orderId (see ``oms.sim.Venue.place``):
        ``trigger_price`` makes it conditional (born ``Untriggered``); a TP/SL
        ``stop_order_type`` makes it a reduce-only TP/SL with an empty orderLinkId; in
        hedge mode the leg follows from side and reduce_only; ``announce=False`` sends no
        report yet; ``created_first`` sends ``Created`` before ``New``."""
        terms = Terms(
            symbol, side, qty, price=price, order_type=order_type, time_in_force=time_in_force,
            trigger_price=trigger_price, stop_order_type=stop_order_type,
            reduce_only=reduce_only,
        )  # fmt: skip
        o = self.venue.place(terms, announce=announce, created_first=created_first)
        self._collect()
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
        terms = Terms(symbol, side, qty, price, time_in_force=time_in_force)
        o = self.venue.reject(terms, reason=reason, status=status)
        self._collect()
        return o.order_id

    def fill(
        self, order_id: str, qty: Decimal, *, pieces: int = 1, price: Decimal | None = None
    ) -> list[str]:
        """One match of ``qty``, booked as ``pieces`` executions sharing one seq, at
        ``price`` (default: a limit order's price, else the mark).

        Sends the order report, the executions and the leg's position report (at the
        trade's seq). TP/SL and reduce-only orders that the new position leaves nothing to
        reduce are deactivated or cancelled in the same order frame, as Bybit does.
        """
        o = self.venue.order(order_id)
        step = o.market.spec.qty_step
        if qty <= 0 or qty % step or qty > o.fillable():
            raise ValueError(f"cannot fill {qty} of {order_id} ({o.status})")
        units = int(qty / step)
        if not 1 <= pieces <= units:
            raise ValueError("each piece needs at least one qty step")
        if price is None:
            price = o.price if o.order_type == "Limit" else o.market.mark
        sizes = [step * (units // pieces)] * pieces
        sizes[0] += step * (units % pieces)
        self.venue.match(order_id, [(size, price) for size in sizes])
        return self._collect()

    def amend(self, order_id: str, **changes: Decimal | None) -> list[str]:
        """Amend a working (or untriggered) order: same status, new terms (``qty``,
        ``price`` or ``trigger_price``), later time."""
        self.venue.amend(order_id, **changes)
        return self._collect()

    def cancel(
        self, order_id: str, *, cancel_type: str = "CancelByUser", reject_reason: str = "EC_NoError"
    ) -> list[str]:
        """Cancel an open order: ``Deactivated`` before its trigger, else ``Cancelled``
        (keeping whatever it filled)."""
        self.venue.cancel(order_id, cancel_type=cancel_type, reject_reason=reject_reason)
        return self._collect()

    def trigger(self, order_id: str, *, then_new: bool = True) -> list[str]:
        """Fire a conditional order's trigger: ``Triggered``, and for a limit order
        ``New`` in the same frame at the same time (``then_new``). A market order is then
        filled by the caller."""
        self.venue.trigger(order_id, then_new=then_new)
        return self._collect()

    def echo_cancel_race(self, order_id: str) -> list[str]:
        """The second ``Filled`` Bybit sends when a cancel arrived after the final fill
        (``EC_OrigClOrdIDDoesNotExist``). The order's state does not change."""
        self.venue.echo_cancel_race(order_id)
        return self._collect()

    def funding(self, symbol: str, position_idx: int) -> list[str]:
        """A funding execution on an open leg (it never moves the position), then the
        leg's position report at the funding's seq."""
        self.venue.funding(symbol, position_idx)
        return self._collect()

    def report_position(self, symbol: str, position_idx: int) -> list[str]:
        """A position report that changes nothing (Bybit sends one on every order create,
        amend or cancel): the symbol's last seq, a later updatedTime."""
        self.venue.report_position(symbol, position_idx)
        return self._collect()

    # --- frames and truth -------------------------------------------------------------

    def _arrange(self, group: Group) -> Group:
        """One action's frames in ``topic_order`` (``execution.fast`` right before
        ``execution`` unless placed; unplaced topics last)."""
        order = [t for t in self.topic_order if t in TOPICS]
        if "execution.fast" not in order:
            order.insert(order.index("execution") if "execution" in order else 0, "execution.fast")
        order += [t for t in TOPICS if t not in order]
        return sorted(group, key=lambda item: order.index(item[0]))

    def _collect(self) -> list[str]:
        """The frames of the last action, recorded in ``frames`` and ``truth``."""
        sent = []
        for push in self.venue.take():
            for e in push.data:
                if push.topic == "order":
                    self.truth.record_order(OrderTruth.from_wire(e))
                elif push.topic == "execution":
                    idx = self.venue.executions[str(e["execId"])].idx
                    self.truth.record_fill(FillTruth.from_wire(e, idx))
                elif push.topic == "position":
                    self.truth.record_position(PositionTruth.from_wire(e))
            sent.append(push.text)
        self.frames.extend(sent)
        return sent
