"""The user's own bookkeeping checked against the exchange: ``Account``'s expectations.

Register the orders you send (``expect_order``) and the positions you believe you hold
(``expect_position``); the account raises reconciliation events
(``oms.core.expectations``) whenever the exchange disagrees. The book is changed on the
worker thread (registrations queue behind the frames already received) and under the
pipeline's lock; the pipeline's watcher hook checks it against every applied frame, in
the same commit.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from oms.clock import now_ms
from oms.core.expectations import (
    DEFAULT_ACK_TIMEOUT_MS,
    ExpectationBook,
    ExpectedOrder,
    ExpectedPosition,
)
from oms.core.orders import Side
from oms.errors import LocalError

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.core.events import Event
    from oms.core.orders import Order
    from oms.runtime.pipeline import Pipeline
    from oms.runtime.worker import Worker


class Expecting:
    """``Account``'s expectation methods (a mixin: ``Account`` provides the parts below)."""

    _service: Pipeline
    _runner: Worker
    _book: ExpectationBook

    def start(self) -> object:
        """Start the account (``Account.start``)."""
        raise NotImplementedError

    def order_by_link_id(self, order_link_id: str) -> Order | None:
        """The order with this orderLinkId (``Account.order_by_link_id``)."""
        raise NotImplementedError

    def _watch_expectations(
        self, *, report_unexpected_orders: bool, position_grace_ms: int
    ) -> None:
        self._book = ExpectationBook(
            report_unexpected_orders=report_unexpected_orders,
            position_grace_ms=position_grace_ms,
        )
        self._service.watchers.append(_BookWatcher(self._book, self._service))

    def expect_order(
        self,
        order_link_id: str,
        *,
        symbol: str,
        side: Side | str,
        qty: Decimal | str,
        category: str = "linear",
        ack_timeout_ms: int = DEFAULT_ACK_TIMEOUT_MS,
    ) -> None:
        """Register an order your system sent (call it before sending). The account
        raises ``OrderNotAcknowledged`` if the exchange does not report it within
        ``ack_timeout_ms``, and ``ExpectedOrderRejected``, ``OrderMismatched`` or
        ``FillQtyMismatched`` when it disagrees."""
        expected = ExpectedOrder(
            order_link_id=_required(order_link_id, "order_link_id"),
            symbol=_required(symbol, "symbol"),
            side=_side(side),
            qty=_decimal(qty, "qty"),
            category=category,
            deadline=now_ms() + ack_timeout_ms,
        )
        self._in_worker(lambda: self._register_order(expected))

    def expect_position(
        self, symbol: str, net_qty: Decimal | str, category: str = "linear"
    ) -> None:
        """Register the signed net position you believe you hold in ``symbol``. The
        account raises ``PositionDiverged`` when the exchange's differs for longer than
        the grace period, and ``PositionReconverged`` when it agrees again."""
        expected = ExpectedPosition(
            symbol=_required(symbol, "symbol"),
            net_qty=_decimal(net_qty, "net_qty"),
            category=category,
        )
        self._in_worker(lambda: self._register_position(expected))

    def forget_order(self, order_link_id: str) -> None:
        """Stop checking a registered order (e.g. you cancelled it on purpose)."""
        self._in_worker(lambda: self._locked(self._book.forget_order, order_link_id))

    def forget_position(self, symbol: str, category: str = "linear") -> None:
        """Stop checking a registered position."""
        self._in_worker(lambda: self._locked(self._book.forget_position, symbol, category))

    def expected_orders(self) -> list[ExpectedOrder]:
        """Registered orders not yet ended or timed out."""
        with self._service.lock:
            return self._book.expected_orders()

    def expected_positions(self) -> list[ExpectedPosition]:
        """Registered positions."""
        with self._service.lock:
            return self._book.expected_positions()

    def _locked(self, action: Callable[..., object], *args: str) -> None:
        # The book is read under the lock from any thread (expected_orders): every
        # change to it takes the lock too.
        with self._service.lock:
            action(*args)

    def _in_worker(self, action: Callable[[], object]) -> None:
        # Registrations queue behind the frames already received, so an order's own
        # frames (queued after its registration) always find it registered.
        self.start()
        self._runner.call(action)

    def _register_order(self, expected: ExpectedOrder) -> None:
        known = self.order_by_link_id(expected.order_link_id)
        now = now_ms()
        with self._service.lock:
            events = self._book.expect_order(expected, known=known, now=now)
        self._service.record(events)

    def _register_position(self, expected: ExpectedPosition) -> None:
        now = now_ms()
        with self._service.lock:
            actual = net_position(self._service, expected.symbol, expected.category)
            self._book.expect_position(expected, actual=actual, now=now)
        self._service.tick()


class _BookWatcher:
    """Connects the expectation book to the service (see ``oms.runtime.pipeline.Watcher``)."""

    def __init__(self, book: ExpectationBook, service: Pipeline) -> None:
        self.book = book
        self.service = service

    def after_apply(self, events: list[Event], orders: list[Order], at: int) -> list[Event]:
        found = self.book.observe(events, orders, at)
        # A disagreement's grace runs on the clock ``due`` is asked with (the wall clock),
        # not on the receipt time the caller gave the frame (a replay gives old ones).
        now = now_ms()
        self.book.observe_positions(lambda s, c: net_position(self.service, s, c), now)
        return found

    def due(self, now: int) -> list[Event]:
        return self.book.due(now)


def net_position(service: Pipeline, symbol: str, category: str | None) -> Decimal:
    """Signed net of a symbol as reported (hedge: long minus short); from the fills
    while no report has arrived. Call it under the pipeline's lock."""
    ledger = service.ledger
    if ledger.reported(symbol, category):  # raises for a symbol held in two categories
        return ledger.position(symbol, category)
    return ledger.derived_position(symbol, category)


def _required(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise LocalError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _side(value: Side | str) -> Side:
    if isinstance(value, Side):
        return value
    try:
        return Side(value)
    except ValueError:
        raise LocalError(f"side must be 'Buy' or 'Sell', not {value!r}") from None


def _decimal(value: Decimal | str, name: str) -> Decimal:
    if isinstance(value, float):
        raise LocalError(f"{name} must be a Decimal or a decimal string, never a float")
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise LocalError(f"{name} is not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise LocalError(f"{name} must be finite: {value!r}")
    return number
