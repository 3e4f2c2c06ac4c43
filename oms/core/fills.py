"""Fills (executions): one per execId, whichever topic or REST page brought it.

``execution.fast`` delivers a trade first with fewer fields; ``execution`` (or a REST
backfill) later delivers the same execId with fee, execType and closedSize. The second
copy enriches the booked fill and is never counted twice.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Final, NamedTuple

from oms.core.exact import EXACT
from oms.core.orders import Side

if TYPE_CHECKING:
    from collections.abc import Container


class FillSource(Enum):
    """Where a fill was learnt from; richer sources enrich poorer ones."""

    # Members are singletons and compare by identity, so the C-level identity hash is
    # correct and avoids Enum's Python-level __hash__ on every dict/set lookup.
    __hash__ = object.__hash__

    #: The low-latency topic: Trade only, no fee, no closedSize, no execType.
    FAST = "execution.fast"
    #: The full execution topic.
    STREAM = "execution"
    #: A REST backfill (``/v5/execution/list``) after a gap.
    REST = "rest"


#: execTypes that never change a position: funding is a cash flow on a held position.
POSITION_NEUTRAL_EXEC_TYPES: Final[frozenset[str]] = frozenset({"Funding"})

#: execTypes that are not fills of an order this account placed (exchange-initiated).
EXCHANGE_INITIATED_EXEC_TYPES: Final[frozenset[str]] = frozenset(
    {
        "Funding",
        "AdlTrade",
        "BustTrade",
        "Delivery",
        "Settle",
        "MovePosition",
        "CorporateAction",
    }
)


def changes_position(exec_type: str) -> bool:
    """Whether a fill of this execType moves the position.

    Trades, ADL, bust/liquidation, delivery, settlement, block trades, position moves,
    spread legs and corporate actions all change the quantity held; only funding does not.
    Unknown types (e.g. ``UNKNOWN`` on classic accounts) are treated as trades: missing a
    real position change is worse than flagging a mismatch.
    """
    return exec_type not in POSITION_NEUTRAL_EXEC_TYPES


class Fill(NamedTuple):
    """One execution. Absent wire values are ``None``. An immutable value (a NamedTuple
    for the same reason as ``Order``)."""

    exec_id: str
    order_id: str
    order_link_id: str
    category: str
    symbol: str
    side: Side
    exec_type: str
    exec_qty: Decimal
    exec_price: Decimal
    exec_value: Decimal | None
    exec_fee: Decimal | None
    fee_rate: Decimal | None
    is_maker: bool | None
    closed_size: Decimal | None
    leaves_qty: Decimal | None
    exec_time: int
    seq: int | None
    source: FillSource

    @property
    def changes_position(self) -> bool:
        """Whether this fill moves the position (everything but funding)."""
        return changes_position(self.exec_type)

    @property
    def signed_qty(self) -> Decimal:
        """Position delta of this fill: Buy adds, Sell subtracts (on either hedge leg)."""
        return self.exec_qty if self.side is Side.BUY else self.exec_qty.copy_negate()


_ZERO: Final = Decimal(0)
#: ``exact.add`` without the wrapper call: booking adds once per fill.
_add: Final = EXACT.add


def enriches(held: Fill, report: Fill) -> bool:
    """Whether ``report`` (same execId) carries fields the held copy lacked."""
    return held.source is FillSource.FAST and report.source is not FillSource.FAST


class FillBook:
    """Booked fills by execId, with the quantity booked per order."""

    __slots__ = ("_by_exec_id", "booked")

    def __init__(self) -> None:
        self._by_exec_id: dict[str, Fill] = {}
        #: quantity booked per orderId (read it, change it only through this class)
        self.booked: dict[str, Decimal] = {}

    def __len__(self) -> int:
        return len(self._by_exec_id)

    def __contains__(self, exec_id: object) -> bool:
        return exec_id in self._by_exec_id

    def get(self, exec_id: str) -> Fill | None:
        """The booked fill with this execId, if any."""
        return self._by_exec_id.get(exec_id)

    def all(self) -> list[Fill]:
        """Every booked fill, in booking order."""
        return list(self._by_exec_id.values())

    def book(self, fill: Fill) -> None:
        """Record a new fill (the caller checked it is not booked yet)."""
        self.add(fill)

    def forget(
        self, order_ids: set[str], *, held: Container[str], keep: Container[str]
    ) -> list[str]:
        """Drop every fill whose order is not ``held`` (the fills of the evicted
        ``order_ids``, and funding and other fills of no order), except the execIds in
        ``keep``; return the execIds dropped. Rebuilding is cheaper than an index kept up
        on every booking."""
        kept: dict[str, Fill] = {}
        dropped: list[str] = []
        for exec_id, fill in self._by_exec_id.items():
            if fill.order_id in held or exec_id in keep:
                kept[exec_id] = fill
            else:
                dropped.append(exec_id)
        self._by_exec_id = kept
        for order_id in order_ids:
            self.booked.pop(order_id, None)
        return dropped

    def add(self, fill: Fill) -> Fill | None:
        """Book ``fill`` unless its execId is booked already; return the booked copy then.

        One call for the lookup and the booking, which the ledger does on every fill."""
        by_exec_id = self._by_exec_id
        exec_id = fill.exec_id
        held = by_exec_id.get(exec_id)
        if held is None:
            order_id = fill.order_id
            if order_id and fill.exec_type not in POSITION_NEUTRAL_EXEC_TYPES:
                booked = self.booked
                # The sum first: an exact add that traps changes nothing (no half-booking).
                booked_qty = _add(booked.get(order_id, _ZERO), fill.exec_qty)
                by_exec_id[exec_id] = fill
                booked[order_id] = booked_qty
            else:
                by_exec_id[exec_id] = fill
        return held

    def replace(self, fill: Fill) -> None:
        """Swap in a richer copy of an already booked fill; quantities are unchanged."""
        self._by_exec_id[fill.exec_id] = fill

    def booked_qty(self, order_id: str) -> Decimal:
        """Quantity booked against an order so far."""
        return self.booked.get(order_id, _ZERO)
