"""What a core ledger holds (orders, fills, legs, and what waits on what) and the few
moves on it that applying, restoring and recalling all make.

``Holdings`` is the base of ``CoreLedger`` rather than a component of it: the apply path
(``oms.core.ledger``) and the memory of terminal orders (``oms.core.memory``) both work on
this state, and ``self._orders`` costs less than ``self._state.orders`` on every report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from oms.core.exact import EXACT, ZERO
from oms.core.fills import EXCHANGE_INITIATED_EXEC_TYPES, FillBook
from oms.core.orders import Side
from oms.core.positions import Leg, LegKey
from oms.core.settling import SettleClock
from oms.core.states import TERMINAL
from oms.errors import AmbiguousSymbolError

if TYPE_CHECKING:
    from decimal import Decimal

    from oms.core.fills import Fill
    from oms.core.orders import Order

#: execTypes whose fills are not expected to have an order report.
ORDERLESS_EXEC_TYPES: Final = EXCHANGE_INITIATED_EXEC_TYPES - {"AdlTrade", "BustTrade"}


class Holdings:
    """Orders, fills and legs of one account, and the primitive moves on them."""

    def __init__(self, settle_frames: int) -> None:
        self._orders: dict[str, Order] = {}
        #: ids of the held orders not terminal yet
        self._open: set[str] = set()
        self._fills = FillBook()
        self._legs: dict[LegKey, Leg] = {}
        #: (category, symbol) pairs known to be in one-way mode (a positionIdx 0 was seen)
        self._oneway: set[tuple[str, str]] = set()
        #: fills booked before their order was known, by orderId: (execId, leg booked?)
        self._awaiting_order: dict[str, list[tuple[str, bool]]] = {}
        #: orders whose ``OverFilled`` has been announced (so a repeat is silent)
        self._overfilled: set[str] = set()
        #: orders whose cancel-race echo has been announced (so a repeat is silent)
        self._cancel_rejected: set[str] = set()
        self._settle = SettleClock(settle_frames, self._legs, self._fills)
        #: per spot symbol, the signed qty of its trades (Buy +, Sell -): spot has no
        #: position topic, so this fills-derived net of its base coin is its position
        self._spot_nets: dict[str, Decimal] = {}

    def _hold_order(self, order: Order) -> None:
        """Make ``order`` the held state of its orderId."""
        order_id = order.order_id
        self._orders[order_id] = order
        if order.status in TERMINAL:
            self._open.discard(order_id)
        else:
            self._open.add(order_id)
        if order.position_idx == 0:
            self._oneway.add((order.category, order.symbol))

    def _leg_of(self, category: str, symbol: str, position_idx: int) -> Leg:
        """The leg with this key, made if new. A plain tuple finds a ``LegKey`` (equal,
        same hash) and costs less to make; the ``LegKey`` is made only for a new leg."""
        parts = (category, symbol, position_idx)
        leg: Leg | None = self._legs.get(parts)  # type: ignore[call-overload]  # see above
        if leg is None:
            key = LegKey(category, symbol, position_idx)
            leg = self._legs[key] = Leg(key)
        return leg

    def _fill_leg(self, fill: Fill, order: Order | None) -> Leg | None:
        """The leg a position-moving fill moves: its order's; idx 0 on a known one-way
        symbol; else unknown (None).

        Executions carry no positionIdx, so in hedge mode only the order can tell whether
        a Buy opens the long leg or closes the short one."""
        if order is not None:
            return self._leg_of(order.category, order.symbol, order.position_idx)
        if (fill.category, fill.symbol) in self._oneway:
            return self._leg_of(fill.category, fill.symbol, 0)
        return None

    def _await_order(self, fill: Fill, leg: Leg | None, moves: bool, *, watch: bool) -> None:
        """A fill booked before its order is known: it waits for the order if that order
        is expected to come (then, with ``watch``, on the settle clock too) or if only the
        order can tell its leg (``moves`` but no ``leg``)."""
        expects_order = fill.exec_type not in ORDERLESS_EXEC_TYPES
        if expects_order or (moves and leg is None):
            waiting = self._awaiting_order.setdefault(fill.order_id, [])
            waiting.append((fill.exec_id, leg is not None or not moves))
        if expects_order and watch:
            settle = self._settle
            settle.pending_fills[fill.exec_id] = settle.tick

    def _awaits_leg(self, category: str, symbol: str) -> bool:
        """Whether a fill of this symbol is held that waits for its order to tell its leg
        (so a first report of one of its legs is not an opening balance: a fill is held).
        A scan, but made only at the first report of a leg."""
        fills = self._fills
        for waiting in self._awaiting_order.values():
            for exec_id, attributed in waiting:
                fill = fills.get(exec_id)
                if not attributed and fill is not None and fill[3:5] == (category, symbol):
                    return True
        return False

    def _book_spot(self, symbol: str, side: Side, qty: Decimal) -> None:
        """Move a spot symbol's net by one position-changing fill (exactly)."""
        held = self._spot_nets.get(symbol, ZERO)
        self._spot_nets[symbol] = EXACT.add(held, qty if side is Side.BUY else qty.copy_negate())

    def _category_of(self, symbol: str, category: str | None) -> str | None:
        """The category a position query means: ``category`` if given; else the one
        category holding a position in ``symbol`` (a leg, or spot fills), None if none
        does. Two or more is an error: nets of different categories are not summed."""
        if category is not None:
            return category
        held = {key.category for key in self._legs if key.symbol == symbol}
        if symbol in self._spot_nets:
            held.add("spot")
        if len(held) > 1:
            raise AmbiguousSymbolError(
                f"{symbol} has positions in {len(held)} categories "
                f"({', '.join(sorted(held))}): pass category= to say which"
            )
        return next(iter(held), None)
