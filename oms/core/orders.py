"""One order's state: the ``Order`` value and its ``Side``.

Bybit reports an order's whole state on every update, so an ``Order`` is both the report
and the state we hold: the held state is simply the newest acceptable report. The rule
that decides which report that is (``decide``) lives with the rest of the lifecycle in
``oms.core.states``; it is importable from here too, as it always was.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, NamedTuple

from oms.core.states import (
    CANCEL_RACE_REASON,
    IDENTITY,
    TERMINAL,
    TERMS,
    Decision,
    OrderStatus,
    Verdict,
    decide,
)

if TYPE_CHECKING:
    from decimal import Decimal

__all__ = [
    "CANCEL_RACE_REASON",
    "IDENTITY",
    "TERMS",
    "Decision",
    "Order",
    "Side",
    "Verdict",
    "decide",
]


class Side(Enum):
    """Order, fill or position side as Bybit spells it."""

    # Members are singletons and compare by identity, so the C-level identity hash is
    # correct and avoids Enum's Python-level __hash__ on every dict/set lookup.
    __hash__ = object.__hash__

    #: Buy: adds to a one-way position, opens/extends the long leg in hedge mode.
    BUY = "Buy"
    #: Sell: subtracts from a one-way position, opens/extends the short leg in hedge mode.
    SELL = "Sell"


class Order(NamedTuple):
    """An order as the venue last reported it. Absent wire values (``""``) are ``None``.

    An immutable value. A NamedTuple rather than a frozen dataclass: one is built for
    every order report, and a frozen dataclass's constructor costs four times more."""

    order_id: str
    order_link_id: str
    category: str
    symbol: str
    side: Side
    position_idx: int
    status: OrderStatus
    order_type: str
    stop_order_type: str
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    cum_exec_qty: Decimal
    cum_exec_value: Decimal | None
    cum_exec_fee: Decimal | None
    leaves_qty: Decimal | None
    avg_price: Decimal | None
    reduce_only: bool
    time_in_force: str
    create_type: str
    cancel_type: str
    reject_reason: str
    created_time: int
    updated_time: int

    @property
    def is_open(self) -> bool:
        """Still working or waiting for a trigger."""
        return self.status not in TERMINAL

    @property
    def is_external(self) -> bool:
        """Not placed with a client id: TP/SL, liquidation, ADL, UI or bot orders."""
        return self.order_link_id == ""

    @property
    def is_cancel_race_echo(self) -> bool:
        """The second terminal report Bybit sends when a cancel lost the race to a fill."""
        return self.reject_reason == CANCEL_RACE_REASON and self.status in TERMINAL
