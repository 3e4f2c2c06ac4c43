"""The vocabulary of reconciliation: what a user registers (``ExpectedOrder``,
``ExpectedPosition``) and the events raised when the exchange disagrees (all subclass
``Reconciliation``). ``oms.core.expectations.ExpectationBook`` does the comparing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from oms.core import events as ev

if TYPE_CHECKING:
    from decimal import Decimal

    from oms.core.orders import Side
    from oms.core.states import OrderStatus


# --- what a user registers --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedOrder:
    """An order the user's system sent (or is about to send)."""

    order_link_id: str
    symbol: str
    side: Side
    qty: Decimal
    category: str = "linear"
    #: Epoch ms by which the exchange must have reported the order.
    deadline: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedPosition:
    """The signed net position the user's system believes it holds in a symbol."""

    symbol: str
    net_qty: Decimal
    category: str = "linear"


# --- the events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciliation(ev.Event):
    """Base of the events raised when the exchange disagrees with a registration."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderNotAcknowledged(Reconciliation):
    """A registered order was not reported by the exchange before its deadline."""

    order_link_id: str
    symbol: str
    side: Side
    qty: Decimal
    deadline: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedOrderRejected(Reconciliation):
    """The exchange rejected a registered order (``reason`` carries its rejectReason)."""

    order_link_id: str
    order_id: str
    symbol: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderMismatched(Reconciliation):
    """The exchange's order differs from the registered one in ``field``."""

    order_link_id: str
    order_id: str
    symbol: str
    field: str
    expected: str
    actual: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FillQtyMismatched(Reconciliation):
    """A registered order filled more than its registered quantity, or ended (``status``)
    having filled a different quantity."""

    order_link_id: str
    order_id: str
    symbol: str
    status: OrderStatus
    expected_qty: Decimal
    filled_qty: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class UnexpectedOrderSeen(Reconciliation):
    """An order nobody registered appeared: TP/SL, liquidation, UI or another program."""

    order_id: str
    order_link_id: str
    symbol: str
    side: Side
    qty: Decimal
    status: OrderStatus
    stop_order_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionDiverged(Reconciliation):
    """A symbol's net position has differed from the registered one for the grace period."""

    category: str
    symbol: str
    expected_net_qty: Decimal
    actual_net_qty: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionReconverged(Reconciliation):
    """A position announced as diverged agrees with the registered one again."""

    category: str
    symbol: str
    net_qty: Decimal
