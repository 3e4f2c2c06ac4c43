"""``Account``'s queries: orders, fills and positions, from memory or the database.

Every query may be made from any thread at any time: it reads the ledger under the
pipeline's lock (one consistent moment), and what has left memory (eviction, see
``keep_terminal_orders``) from the database on a connection of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oms.runtime.expecting import net_position
from oms.runtime.health import Position

if TYPE_CHECKING:
    from decimal import Decimal

    from oms.core.fills import Fill
    from oms.core.orders import Order
    from oms.runtime.pipeline import Pipeline


class Queries:
    """``Account``'s read-only queries (a mixin: ``Account`` provides the parts below)."""

    _service: Pipeline

    def _raise_if_failed(self) -> None:
        """Raise the account's failure, if it failed (``Account._raise_if_failed``)."""
        raise NotImplementedError

    def order(self, order_id: str) -> Order | None:
        """An order by Bybit's orderId (from the database if it has left memory)."""
        self._raise_if_failed()
        with self._service.lock:
            held = self._service.ledger.order(order_id)
        return held if held is not None else self._service.stored_order(order_id)

    def order_by_link_id(self, order_link_id: str) -> Order | None:
        """The newest order carrying this orderLinkId (your client order id)."""
        self._raise_if_failed()
        if not order_link_id:
            return None
        with self._service.lock:
            found = [o for o in self._service.ledger.orders() if o.order_link_id == order_link_id]
        if found:
            return max(found, key=lambda o: (o.created_time, o.updated_time))
        return self._service.stored_order_by_link_id(order_link_id)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders still working or waiting for a trigger, oldest first."""
        self._raise_if_failed()
        with self._service.lock:
            return self._service.ledger.open_orders(symbol)

    def fills(self, order_id: str | None = None) -> list[Fill]:
        """Booked fills (unique by execId) held in memory, in booking order; with
        ``order_id``, that order's fills (from the database if it has left memory)."""
        self._raise_if_failed()
        with self._service.lock:
            held = self._service.ledger.fills(order_id)
            in_memory = order_id is None or self._service.ledger.order(order_id) is not None
        return held if in_memory or held else self._service.stored_fills(order_id or "")

    def positions(self) -> list[Position]:
        """Every leg known from position reports or fills, sorted."""
        self._raise_if_failed()
        out = []
        # Legs are mutable: read them under the lock, so the list is one consistent moment.
        with self._service.lock:
            for key, leg in sorted(self._service.ledger.legs().items()):
                report = leg.report
                out.append(
                    Position(
                        category=key.category,
                        symbol=key.symbol,
                        position_idx=key.position_idx,
                        side=report.side if report else None,
                        size=report.size if report else None,
                        net_qty=report.net_qty if report else None,
                        fills_net_qty=leg.derived_net,
                        seq=report.seq if report else None,
                        updated_time=report.updated_time if report else None,
                    )
                )
        return out

    def net_position(self, symbol: str, category: str | None = None) -> Decimal:
        """Signed net position of a symbol (hedge mode: long leg minus short leg), as the
        exchange reported it; from the fills if no report has arrived."""
        self._raise_if_failed()
        with self._service.lock:
            return net_position(self._service, symbol, category)
