"""A hypothesis state machine: a real ``oms.Ledger`` beside an obviously correct model.

Rules make a small exchange act (place, fill, amend, cancel, trigger, funding, a cancel
that loses the race to a fill) and deliver what it sent through a bounded buffer: order
updates, fills (``execution`` and ``execution.fast``) and position reports are taken from
the first ``WINDOW`` undelivered frames in any order, and frames already delivered are
delivered again. After every step the ledger's full observable state must equal the
model's (``oms.testing.DeliveryModel``): each order's newest delivered report, every
delivered execId and the quantity booked per order, each leg's newest report and the net
of the fills attributed to it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import oms
from oms.testing import (
    DEFAULT_SYMBOLS,
    TPSL_STOP_ORDER_TYPES,
    DeliveryModel,
    SimulatedExchange,
    ledger_differences,
)

if TYPE_CHECKING:
    from decimal import Decimal

#: BTCUSDT (one-way) and ETHUSDT (hedge): few symbols, so orders meet on the same legs.
SYMBOLS = DEFAULT_SYMBOLS[:2]
SYMBOL_NAMES = st.sampled_from([s.symbol for s in SYMBOLS])
SIDES = st.sampled_from(["Buy", "Sell"])
#: How far ahead of the oldest undelivered frame a delivery may reach.
WINDOW = 6
#: Large enough that no disagreement is judged mid-run; ``settle`` judges at the end.
NEVER = 10**9


def topic(frame: str) -> str:
    return str(json.loads(frame)["topic"])


def order_ids_in(frame: str) -> set[str]:
    return {e["orderId"] for e in json.loads(frame)["data"] if "orderId" in e}


class LedgerMachine(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        # every trade also goes out on execution.fast (no fee), as with both subscriptions
        self.exchange = SimulatedExchange(SYMBOLS, fast_executions=True)
        self.model = DeliveryModel()
        self.ledger = oms.Ledger(settle_frames=NEVER)
        self.pending: list[str] = []
        self.delivered: list[str] = []
        self.events: list[oms.Event] = []
        self.registered = 0

    # --- helpers ----------------------------------------------------------------------

    def _collect(self) -> None:
        """Register what the exchange sent since last time; it waits in the buffer."""
        for frame in self.exchange.frames[self.registered :]:
            self.model.register(frame)
            self.pending.append(frame)
        self.registered = len(self.exchange.frames)

    def _deliver(self, frame: str) -> None:
        note(f"deliver {topic(frame)} {sorted(order_ids_in(frame))}")
        self.events += self.ledger.apply_frame(frame, received_at=0)
        self.model.deliver(frame)
        self.delivered.append(frame)

    def _window(self, *wanted: str) -> list[int]:
        """Positions of buffered frames of these topics that may be delivered now."""
        return [i for i, f in enumerate(self.pending[:WINDOW]) if topic(f) in wanted]

    def _open(self, *statuses: str) -> list[str]:
        return self.exchange.order_ids(*statuses)

    def _fillable(self) -> list[str]:
        return [i for i in self._open("New", "PartiallyFilled") if self.exchange.fillable(i) > 0]

    def _step(self, symbol: str) -> Decimal:
        return self.exchange.specs[symbol].qty_step

    # --- the exchange acts --------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        note(f"symbols {[s.symbol for s in SYMBOLS]}, window {WINDOW}")

    @rule(target=orders, symbol=SYMBOL_NAMES, side=SIDES, units=st.integers(1, 20),
          ticks=st.integers(-20, 20), reduce=st.booleans())  # fmt: skip
    def place_limit(self, symbol, side, units, ticks, reduce):
        spec = self.exchange.specs[symbol]
        closes = 2 if side == "Buy" else 1
        reduce = reduce and spec.hedge and self.exchange.net(symbol, closes) != 0
        price = self.exchange.mark(symbol) + ticks * spec.tick
        order_id = self.exchange.place(
            symbol, side, units * spec.qty_step, price=price, reduce_only=reduce
        )
        note(f"place limit {order_id[:8]} {symbol} {side} {units * spec.qty_step} @ {price}")
        self._collect()
        return order_id

    @rule(target=orders, symbol=SYMBOL_NAMES, side=SIDES, units=st.integers(1, 20),
          pieces=st.integers(1, 3), fill_all=st.booleans())  # fmt: skip
    def place_market(self, symbol, side, units, pieces, fill_all):
        """A market order: reported only by its fill (and the cancel of any remainder)."""
        step = self._step(symbol)
        order_id = self.exchange.place(
            symbol, side, units * step, order_type="Market", announce=False
        )
        qty = units * step if fill_all else max(step, (units // 2) * step)
        self.exchange.fill(order_id, qty, pieces=min(pieces, int(qty / step)))
        if self.exchange.current(order_id).is_open:
            self.exchange.cancel(order_id, cancel_type="UNKNOWN",
                                 reject_reason="EC_CancelForNoFullFill")  # fmt: skip
        note(f"market {order_id[:8]} {symbol} {side} {qty} of {units * step}")
        self._collect()
        return order_id

    @rule(target=orders, symbol=SYMBOL_NAMES, side=SIDES, units=st.integers(1, 20),
          ticks=st.integers(1, 30), limit=st.booleans())  # fmt: skip
    def place_conditional(self, symbol, side, units, ticks, limit):
        spec = self.exchange.specs[symbol]
        mark = self.exchange.mark(symbol)
        order_id = self.exchange.place(
            symbol,
            side,
            units * spec.qty_step,
            price=mark if limit else None,
            order_type="Limit" if limit else "Market",
            trigger_price=mark + ticks * spec.tick,
        )
        note(f"conditional {order_id[:8]} {symbol} {side}")
        self._collect()
        return order_id

    @precondition(lambda self: bool(self.exchange.open_legs()))
    @rule(target=orders, pick=st.integers(0, 10), kind=st.sampled_from(TPSL_STOP_ORDER_TYPES))
    def place_tpsl(self, pick, kind):
        legs = self.exchange.open_legs()
        symbol, idx = legs[pick % len(legs)]
        net = self.exchange.net(symbol, idx)
        spec = self.exchange.specs[symbol]
        order_id = self.exchange.place(
            symbol,
            "Sell" if net > 0 else "Buy",
            abs(net),
            order_type="Market",
            trigger_price=self.exchange.mark(symbol) + spec.tick,
            stop_order_type=kind,
        )
        note(f"{kind} {order_id[:8]} on {symbol}/{idx} for {abs(net)}")
        self._collect()
        return order_id

    @precondition(lambda self: bool(self._fillable()))
    @rule(pick=st.integers(0, 20), part=st.integers(0, 3), pieces=st.integers(1, 3),
          race=st.booleans())  # fmt: skip
    def fill(self, pick, part, pieces, race):
        """A match; if it fills the order, a cancel sent just before may lose the race."""
        ids = self._fillable()
        order_id = ids[pick % len(ids)]
        step = self._step(self.exchange.current(order_id).symbol)
        can = self.exchange.fillable(order_id)
        qty = can if part == 0 else max(step, (can / part // step) * step)
        note(f"fill {order_id[:8]} {qty} of {can} in {min(pieces, int(qty / step))} pieces")
        self.exchange.fill(order_id, qty, pieces=min(pieces, int(qty / step)))
        if race and order_id in self.exchange.echoable():
            note("  and a cancel loses the race")
            self.exchange.echo_cancel_race(order_id)
        self._collect()

    @precondition(lambda self: bool(self._open("New", "PartiallyFilled", "Untriggered")))
    @rule(pick=st.integers(0, 20), units=st.integers(1, 10), ticks=st.integers(1, 10))
    def amend(self, pick, units, ticks):
        ids = self._open("New", "PartiallyFilled", "Untriggered")
        order = self.exchange.current(ids[pick % len(ids)])
        spec = self.exchange.specs[order.symbol]
        if order.status == "Untriggered":
            assert order.trigger_price is not None
            self.exchange.amend(
                order.order_id, trigger_price=order.trigger_price + ticks * spec.tick
            )
        else:
            self.exchange.amend(order.order_id, qty=order.qty + units * spec.qty_step)
        note(f"amend {order.order_id[:8]} ({order.status})")
        self._collect()

    @precondition(lambda self: bool(self._open("New", "PartiallyFilled", "Untriggered")))
    @rule(pick=st.integers(0, 20))
    def cancel(self, pick):
        ids = self._open("New", "PartiallyFilled", "Untriggered")
        order_id = ids[pick % len(ids)]
        note(f"cancel {order_id[:8]} ({self.exchange.current(order_id).status})")
        self.exchange.cancel(order_id)
        self._collect()

    @precondition(lambda self: bool(self._open("Untriggered")))
    @rule(pick=st.integers(0, 20))
    def trigger(self, pick):
        ids = self._open("Untriggered")
        order_id = ids[pick % len(ids)]
        self.exchange.trigger(order_id)
        if self.exchange.current(order_id).order_type == "Market":
            can = self.exchange.fillable(order_id)
            if can:
                self.exchange.fill(order_id, can)
            if self.exchange.current(order_id).is_open:
                self.exchange.cancel(order_id, cancel_type="CancelByReduceOnly")
        note(f"trigger {order_id[:8]} -> {self.exchange.current(order_id).status}")
        self._collect()

    @precondition(lambda self: bool(self.exchange.echoable()))
    @rule(pick=st.integers(0, 20))
    def cancel_loses_race(self, pick):
        """A cancel that arrived after the final fill: Bybit repeats ``Filled``."""
        ids = self.exchange.echoable()
        note(f"cancel race echo for {ids[pick % len(ids)][:8]}")
        self.exchange.echo_cancel_race(ids[pick % len(ids)])
        self._collect()

    @precondition(lambda self: bool(self.exchange.open_legs()))
    @rule(pick=st.integers(0, 10))
    def funding(self, pick):
        legs = self.exchange.open_legs()
        note(f"funding on {legs[pick % len(legs)]}")
        self.exchange.funding(*legs[pick % len(legs)])
        self._collect()

    @rule(symbol=SYMBOL_NAMES, pick=st.integers(0, 1), ms=st.integers(1, 5000))
    def position_report(self, symbol, pick, ms):
        """Time passes; Bybit re-reports a leg (same seq, later time)."""
        self.exchange.advance(ms)
        legs = self.exchange.specs[symbol].legs
        self.exchange.report_position(symbol, legs[pick % len(legs)])
        note(f"position report {symbol}/{legs[pick % len(legs)]}")
        self._collect()

    # --- the link delivers ------------------------------------------------------------

    @precondition(lambda self: bool(self._window("order")))
    @rule(pick=st.integers(0, WINDOW))
    def deliver_order_update(self, pick):
        found = self._window("order")
        self._deliver(self.pending.pop(found[pick % len(found)]))

    @precondition(lambda self: bool(self._window("execution", "execution.fast")))
    @rule(pick=st.integers(0, WINDOW))
    def deliver_fill(self, pick):
        found = self._window("execution", "execution.fast")
        self._deliver(self.pending.pop(found[pick % len(found)]))

    @precondition(lambda self: bool(self._window("position")))
    @rule(pick=st.integers(0, WINDOW))
    def deliver_position_report(self, pick):
        found = self._window("position")
        self._deliver(self.pending.pop(found[pick % len(found)]))

    @precondition(lambda self: bool(self.delivered))
    @rule(back=st.integers(0, 30))
    def deliver_again(self, back):
        """A repeat, or a frame arriving very late after an earlier copy."""
        self._deliver(self.delivered[-1 - back % len(self.delivered)])

    @rule(order_id=orders)
    def deliver_for_order(self, order_id):
        """The next frame about this order if it is in reach, else its latest one again."""
        ahead = [i for i, f in enumerate(self.pending[:WINDOW]) if order_id in order_ids_in(f)]
        if ahead:
            self._deliver(self.pending.pop(ahead[0]))
            return
        seen = [f for f in self.delivered if order_id in order_ids_in(f)]
        later = [f for f in self.pending if order_id in order_ids_in(f)]
        self._deliver(seen[-1] if seen else self.pending.pop(self.pending.index(later[0])))

    @rule()
    def deliver_everything_and_settle(self):
        note(f"flush {len(self.pending)} frames, settle")
        self._flush_and_check()

    # --- checks -----------------------------------------------------------------------

    def _flush_and_check(self) -> None:
        while self.pending:
            self._deliver(self.pending.pop(0))
        self.events += self.ledger.settle(received_at=0)
        # with every frame in, the ledger holds the exchange's own state, with no alarm
        assert ledger_differences(self.ledger, self.exchange.truth) == []
        assert [e for e in self.events if isinstance(e, oms.Anomaly)] == []

    @invariant()
    def ledger_matches_model(self):
        assert ledger_differences(self.ledger, self.model) == []

    @invariant()
    def nothing_is_illegal_or_malformed(self):
        bad = (oms.IllegalTransition, oms.MalformedFrame, oms.OverFilled)
        assert [e for e in self.events if isinstance(e, bad)] == []

    @invariant()
    def open_orders_are_the_non_terminal_ones(self):
        open_ids = {o.order_id for o in self.ledger.open_orders()}
        assert open_ids == {o.order_id for o in self.ledger.orders() if o.is_open}

    def teardown(self) -> None:
        self._flush_and_check()


LedgerMachine.TestCase.settings = settings(stateful_step_count=30)
TestLedgerStateMachine = LedgerMachine.TestCase
