"""What a ledger answers: the read side of ``CoreLedger``, apart from what it applies.

``Queries`` sits between ``Memory`` (restore, evict, recall) and ``CoreLedger`` (apply):
one class per concern, one chain of single inheritance, so the compiled ledger keeps one
object layout. Every method reads; none changes the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oms.core.exact import ZERO, total
from oms.core.memory import Memory

if TYPE_CHECKING:
    from decimal import Decimal

    from oms.core.fills import Fill
    from oms.core.orders import Order
    from oms.core.positions import Leg, LegKey, PositionReport

__all__ = ["Queries"]


class Queries(Memory):
    """The queries of one account's ledger (see ``oms.core.ledger.CoreLedger``)."""

    @property
    def settle_frames(self) -> int:
        """Frames a cross-topic disagreement may last before it is reported."""
        return self._settle.frames

    @settle_frames.setter
    def settle_frames(self, frames: int) -> None:
        self._settle.frames = frames

    # --- queries ------------------------------------------------------------------------

    def order(self, order_id: str) -> Order | None:
        """The held state of an order, or None if never seen."""
        return self._orders.get(order_id)

    def orders(self) -> list[Order]:
        """Every order seen, in first-seen order."""
        return list(self._orders.values())

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders still working or waiting for a trigger, optionally for one symbol."""
        found = (self._orders[i] for i in self._open)
        picked = [o for o in found if symbol is None or o.symbol == symbol]
        picked.sort(key=lambda o: (o.created_time, o.order_id))
        return picked

    def fill(self, exec_id: str) -> Fill | None:
        """A booked fill by execId."""
        return self._fills.get(exec_id)

    def fills(self, order_id: str | None = None) -> list[Fill]:
        """Booked fills, all or of one order, in booking order."""
        every = self._fills.all()
        return every if order_id is None else [f for f in every if f.order_id == order_id]

    def counts(self) -> tuple[int, int]:
        """(open orders, fills held): what ``len(open_orders())`` and ``len(fills())``
        say, without building either list."""
        return len(self._open), len(self._fills)

    def booked_qty(self, order_id: str) -> Decimal:
        """Fill quantity booked against an order."""
        return self._fills.booked_qty(order_id)

    def fill_gaps(self) -> list[tuple[Order, Decimal]]:
        """Orders whose booked fills differ from their cumExecQty: (order, booked qty).

        While the stream runs this is normal (fills and orders race); after a resync it
        names what is really missing."""
        booked_qty = self._fills.booked_qty
        pairs = ((order, booked_qty(order.order_id)) for order in self._orders.values())
        return [(order, booked) for order, booked in pairs if booked != order.cum_exec_qty]

    def position_report(self, key: LegKey) -> PositionReport | None:
        """The newest report of one leg."""
        leg = self._legs.get(key)
        return None if leg is None else leg.report

    def position_reports(self) -> list[PositionReport]:
        """The newest report of every reported leg, sorted by key."""
        return [leg.report for _, leg in sorted(self._legs.items()) if leg.report is not None]

    def position(self, symbol: str, category: str | None = None) -> Decimal:
        """Signed net position of a symbol as reported: long leg minus short leg. Spot
        has no position topic: a spot symbol's position is the fills-derived net of its
        base coin (its trades, Buy +, Sell -). Without ``category``, a symbol held in two
        categories raises ``AmbiguousSymbolError``."""
        category = self._category_of(symbol, category)
        if category == "spot":
            return self._spot_nets.get(symbol, ZERO)
        return total(
            leg.report.net_qty
            for key, leg in self._legs.items()
            if key.symbol == symbol and key.category == category and leg.report is not None
        )

    def derived_position(self, symbol: str, category: str | None = None) -> Decimal:
        """Signed net position of a symbol as derived from booked fills (from the legs'
        opening balances, where they have one); ``category`` as for ``position``."""
        category = self._category_of(symbol, category)
        if category == "spot":
            return self._spot_nets.get(symbol, ZERO)
        return total(
            leg.derived_net
            for key, leg in self._legs.items()
            if key.symbol == symbol and key.category == category
        )

    def reported(self, symbol: str, category: str | None = None) -> bool:
        """Whether a leg of the symbol has a report (never, for spot); ``category`` as
        for ``position``."""
        category = self._category_of(symbol, category)
        return any(
            leg.report is not None
            for key, leg in self._legs.items()
            if key.symbol == symbol and key.category == category
        )

    def legs(self) -> dict[LegKey, Leg]:
        """Every leg known from reports or fills (read-only use)."""
        return dict(self._legs)

    @property
    def has_pending(self) -> bool:
        """Whether a cross-topic disagreement is waiting for late frames."""
        return self._settle.pending
