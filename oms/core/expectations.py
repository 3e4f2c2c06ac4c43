"""What the user's own system believes, checked against what the exchange says.

A trading system registers the orders it sends (by orderLinkId, with symbol, side and
quantity) and the positions it thinks it holds. The ``ExpectationBook`` compares them
with the ledger's state as frames are applied and turns every disagreement into a
reconciliation event (all subclass ``Reconciliation``):

- ``OrderNotAcknowledged``: no report of a registered order within its deadline;
- ``ExpectedOrderRejected``: the exchange rejected a registered order;
- ``OrderMismatched``: the exchange's order differs in symbol, side or quantity;
- ``FillQtyMismatched``: a registered order filled more than registered (reported at
  once), or ended having filled less or more (reported when it ends);
- ``UnexpectedOrderSeen``: an order nobody registered (TP/SL, liquidation, UI, another
  program), when the book is told to report them;
- ``PositionDiverged`` / ``PositionReconverged``: the net position of a symbol differs
  from the registered one for longer than the grace period, and later agrees again.

Sans-IO like the rest of ``oms.core``: the shell passes the clock (``now``, epoch ms) and
the ledger's state in, and records the events it gets back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from oms.core import events as ev
from oms.core.expectation_events import (  # the registrations and events are re-exported from here
    ExpectedOrder,
    ExpectedOrderRejected,
    ExpectedPosition,
    FillQtyMismatched,
    OrderMismatched,
    OrderNotAcknowledged,
    PositionDiverged,
    PositionReconverged,
    Reconciliation,
    UnexpectedOrderSeen,
)
from oms.core.states import TERMINAL, OrderStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from decimal import Decimal

    from oms.core.orders import Order

#: How long a registered order may go unreported before ``OrderNotAcknowledged``.
DEFAULT_ACK_TIMEOUT_MS: Final = 5_000
#: How long a position may differ from the registered one before ``PositionDiverged``:
#: a fill takes a moment to reach the stream after the order is sent.
DEFAULT_POSITION_GRACE_MS: Final = 2_000
#: Orders announced as not acknowledged that are still recognised if they turn up late.
MAX_LATE_ORDERS: Final = 10_000

__all__ = [
    "DEFAULT_ACK_TIMEOUT_MS",
    "DEFAULT_POSITION_GRACE_MS",
    "MAX_LATE_ORDERS",
    "ExpectationBook",
    "ExpectedOrder",
    "ExpectedOrderRejected",
    "ExpectedPosition",
    "FillQtyMismatched",
    "OrderMismatched",
    "OrderNotAcknowledged",
    "PositionDiverged",
    "PositionReconverged",
    "Reconciliation",
    "UnexpectedOrderSeen",
]


# --- the book ---------------------------------------------------------------------------


@dataclass(slots=True)
class _OrderWatch:
    expected: ExpectedOrder
    order_id: str | None = None
    overfill_reported: bool = False


@dataclass(slots=True)
class _PositionWatch:
    expected: ExpectedPosition
    actual: Decimal
    #: When the current disagreement began (epoch ms), None while they agree.
    since: int | None = None
    #: The actual value of the outstanding ``PositionDiverged``, None if there is none.
    announced: Decimal | None = None


class ExpectationBook:
    """Registered orders and positions, and the events their disagreements raise."""

    def __init__(
        self,
        *,
        report_unexpected_orders: bool = False,
        position_grace_ms: int = DEFAULT_POSITION_GRACE_MS,
    ) -> None:
        self.report_unexpected_orders = report_unexpected_orders
        self.position_grace_ms = position_grace_ms
        self._orders: dict[str, _OrderWatch] = {}
        self._positions: dict[tuple[str, str], _PositionWatch] = {}
        #: orders announced as not acknowledged, oldest first (see ``MAX_LATE_ORDERS``)
        self._late: dict[str, _OrderWatch] = {}

    # --- registering --------------------------------------------------------------------

    def expect_order(
        self, expected: ExpectedOrder, *, known: Order | None = None, now: int = 0
    ) -> list[ev.Event]:
        """Watch an order; ``known`` is the ledger's order with that orderLinkId if the
        exchange reported it before the registration (a fast venue beats a slow caller)."""
        if not expected.order_link_id:
            raise ValueError("an expected order needs an orderLinkId")
        watch = _OrderWatch(expected)
        self._orders[expected.order_link_id] = watch
        if known is None:
            return []
        return self._acknowledge(watch, known, now) + self._follow(watch, known, now)

    def expect_position(self, expected: ExpectedPosition, *, actual: Decimal, now: int) -> None:
        """Watch a symbol's net position (replaces an earlier registration for it)."""
        key = (expected.category, expected.symbol)
        old = self._positions.get(key)
        watch = _PositionWatch(expected, actual)
        watch.announced = old.announced if old is not None else None
        if actual != expected.net_qty:
            watch.since = now
        self._positions[key] = watch

    def forget_order(self, order_link_id: str) -> bool:
        """Stop watching an order; True if it was watched."""
        # A timed-out order is still watched for its late report (``_late``): forget it too.
        late = self._late.pop(order_link_id, None) is not None
        return self._orders.pop(order_link_id, None) is not None or late

    def forget_position(self, symbol: str, category: str = "linear") -> bool:
        """Stop watching a position; True if it was watched."""
        return self._positions.pop((category, symbol), None) is not None

    def expected_orders(self) -> list[ExpectedOrder]:
        """Orders still watched (not yet ended), in registration order."""
        return [w.expected for w in self._orders.values()]

    def expected_positions(self) -> list[ExpectedPosition]:
        """Positions watched."""
        return [w.expected for w in self._positions.values()]

    # --- observing ----------------------------------------------------------------------

    def observe(
        self, events: Iterable[ev.Event], orders: Iterable[Order], now: int
    ) -> list[ev.Event]:
        """Judge what one applied frame (or snapshot) did: its events, and the current
        state of every order it touched."""
        out: list[ev.Event] = []
        first_seen = {
            e.order_id
            for e in events
            if isinstance(e, ev.OrderStatusChanged) and e.previous is None
        }
        for order in orders:
            link_id = order.order_link_id
            watch = self._orders.get(link_id) if link_id else None
            if watch is None and link_id in self._late:
                watch = self._orders[link_id] = self._late.pop(link_id)
            if watch is None:
                if self.report_unexpected_orders and order.order_id in first_seen:
                    out.append(_unexpected(order, now))
                continue
            if watch.order_id is None:
                out += self._acknowledge(watch, order, now)
            elif watch.order_id != order.order_id:
                continue  # an older order that reused the link id; not the one registered
            out += self._follow(watch, order, now)
        return out

    def observe_positions(self, position_of: Callable[[str, str], Decimal], now: int) -> None:
        """Refresh every watched position's actual value (call after state changed)."""
        for (category, symbol), watch in self._positions.items():
            actual = position_of(symbol, category)
            if actual == watch.actual:
                continue
            watch.actual = actual
            if actual != watch.expected.net_qty:
                # A new disagreement gets its own grace period and, if it lasts, its own
                # announcement (with the new actual value).
                watch.since = now

    def due(self, now: int) -> list[ev.Event]:
        """Events whose time has come: missed acknowledgements, lasting divergences and
        positions that agree again."""
        return self._due_orders(now) + self._due_positions(now)

    def _due_orders(self, now: int) -> list[ev.Event]:
        out: list[ev.Event] = []
        for link_id, watch in list(self._orders.items()):
            e = watch.expected
            if watch.order_id is None and now >= e.deadline:
                # Kept aside (bounded) rather than forgotten: a late report still gets
                # followed, and is not mistaken for an order nobody registered.
                del self._orders[link_id]
                self._late[link_id] = watch
                while len(self._late) > MAX_LATE_ORDERS:
                    del self._late[next(iter(self._late))]
                out.append(
                    OrderNotAcknowledged(
                        venue_time=0,
                        received_at=now,
                        reason=f"no report of {link_id} within its deadline",
                        order_link_id=link_id,
                        symbol=e.symbol,
                        side=e.side,
                        qty=e.qty,
                        deadline=e.deadline,
                    )
                )
        return out

    def _due_positions(self, now: int) -> list[ev.Event]:
        out: list[ev.Event] = []
        for (category, symbol), watch in self._positions.items():
            expected = watch.expected.net_qty
            if watch.actual == expected:
                watch.since = None
                if watch.announced is not None:
                    watch.announced = None
                    out.append(
                        PositionReconverged(
                            venue_time=0,
                            received_at=now,
                            reason="the position agrees with the registered one again",
                            category=category,
                            symbol=symbol,
                            net_qty=expected,
                        )
                    )
            elif watch.announced != watch.actual and (
                watch.since is None or watch.since + self.position_grace_ms <= now
            ):
                watch.announced = watch.actual
                out.append(
                    PositionDiverged(
                        venue_time=0,
                        received_at=now,
                        reason=f"expected {expected}, the exchange has {watch.actual}",
                        category=category,
                        symbol=symbol,
                        expected_net_qty=expected,
                        actual_net_qty=watch.actual,
                    )
                )
        return out

    # --- judging one order --------------------------------------------------------------

    def _acknowledge(self, watch: _OrderWatch, order: Order, now: int) -> list[ev.Event]:
        watch.order_id = order.order_id
        e = watch.expected
        out: list[ev.Event] = []
        for name, expected, actual in (
            ("symbol", e.symbol, order.symbol),
            ("category", e.category, order.category),
            ("side", e.side.value, order.side.value),
            ("qty", str(e.qty), str(order.qty)),
        ):
            same = e.qty == order.qty if name == "qty" else expected == actual
            if not same:
                out.append(
                    OrderMismatched(
                        venue_time=order.updated_time,
                        received_at=now,
                        reason=f"{name}: registered {expected}, the exchange has {actual}",
                        order_link_id=e.order_link_id,
                        order_id=order.order_id,
                        symbol=order.symbol,
                        field=name,
                        expected=expected,
                        actual=actual,
                    )
                )
        return out

    def _follow(self, watch: _OrderWatch, order: Order, now: int) -> list[ev.Event]:
        e = watch.expected
        out: list[ev.Event] = []
        if order.status is OrderStatus.REJECTED:
            out.append(
                ExpectedOrderRejected(
                    venue_time=order.updated_time,
                    received_at=now,
                    reason=order.reject_reason or "rejected",
                    order_link_id=e.order_link_id,
                    order_id=order.order_id,
                    symbol=order.symbol,
                )
            )
        over = order.cum_exec_qty > e.qty
        ended = order.status in TERMINAL
        wrong_at_end = ended and order.status is not OrderStatus.REJECTED
        wrong_at_end = wrong_at_end and order.cum_exec_qty != e.qty
        if (over and not watch.overfill_reported) or (wrong_at_end and not over):
            watch.overfill_reported = watch.overfill_reported or over
            word = "more" if over else "less"
            out.append(
                FillQtyMismatched(
                    venue_time=order.updated_time,
                    received_at=now,
                    reason=f"filled {order.cum_exec_qty}, {word} than the registered {e.qty}",
                    order_link_id=e.order_link_id,
                    order_id=order.order_id,
                    symbol=order.symbol,
                    status=order.status,
                    expected_qty=e.qty,
                    filled_qty=order.cum_exec_qty,
                )
            )
        if ended:
            self._orders.pop(e.order_link_id, None)
        return out


def _unexpected(order: Order, now: int) -> UnexpectedOrderSeen:
    who = (
        f"no orderLinkId ({order.stop_order_type or order.create_type or 'manual'})"
        if order.is_external
        else f"orderLinkId {order.order_link_id} was not registered"
    )
    return UnexpectedOrderSeen(
        venue_time=order.updated_time,
        received_at=now,
        reason=f"order nobody registered: {who}",
        order_id=order.order_id,
        order_link_id=order.order_link_id,
        symbol=order.symbol,
        side=order.side,
        qty=order.qty,
        status=order.status,
        stop_order_type=order.stop_order_type,
    )
