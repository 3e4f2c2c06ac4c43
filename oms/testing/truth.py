"""Reports as values: what one element of the ``order``, ``execution``/``execution.fast``
and ``position`` topics says, parsed with ``Decimal`` (``""`` is ``None``).

>>> report = PositionTruth.from_wire({"symbol": "ETHUSDT", "positionIdx": 2, "side": "Sell",
...                                   "size": "0.25", "seq": 7, "updatedTime": "1717200000001"})
>>> report.net_qty
Decimal('-0.25')
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from oms.sim.records import ZERO, LegId
from oms.testing.symbols import CANCEL_RACE_REASON, TERMINAL_STATUSES

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Expected", "FillTruth", "LegId", "OrderTruth", "PositionTruth"]


def dec(text: object) -> Decimal | None:
    """A wire decimal (``""`` is absent)."""
    if not isinstance(text, str):
        raise TypeError(f"expected decimal text, got {text!r}")
    return Decimal(text) if text else None


def req(text: object) -> Decimal:
    """A wire decimal that must be present."""
    value = dec(text)
    if value is None:
        raise ValueError("missing decimal")
    return value


@dataclass(frozen=True, slots=True)
class OrderTruth:
    """One order report, as values. Absent wire values (``""``) are ``None``."""

    order_id: str
    order_link_id: str
    symbol: str
    side: str
    position_idx: int
    status: str
    order_type: str
    stop_order_type: str
    time_in_force: str
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    cum_exec_qty: Decimal
    cum_exec_value: Decimal | None
    cum_exec_fee: Decimal | None
    leaves_qty: Decimal | None
    #: None before any fill (Bybit sends ``""``).
    avg_price: Decimal | None
    reduce_only: bool
    cancel_type: str
    reject_reason: str
    created_time: int
    updated_time: int

    @property
    def is_open(self) -> bool:
        """Still working or waiting for its trigger."""
        return self.status not in TERMINAL_STATUSES

    @property
    def is_cancel_race_echo(self) -> bool:
        """The second terminal report of an order whose cancel lost the race to a fill."""
        return self.reject_reason == CANCEL_RACE_REASON and not self.is_open

    @classmethod
    def from_wire(cls, e: Mapping[str, Any]) -> OrderTruth:
        """From one element of the ``order`` topic."""
        cum = req(e["cumExecQty"])
        avg = dec(e["avgPrice"])
        return cls(
            order_id=e["orderId"],
            order_link_id=e["orderLinkId"],
            symbol=e["symbol"],
            side=e["side"],
            position_idx=e["positionIdx"],
            status=e["orderStatus"],
            order_type=e["orderType"],
            stop_order_type=e["stopOrderType"],
            time_in_force=e["timeInForce"],
            qty=req(e["qty"]),
            price=dec(e["price"]),
            trigger_price=dec(e["triggerPrice"]),
            cum_exec_qty=cum,
            cum_exec_value=dec(e["cumExecValue"]),
            cum_exec_fee=dec(e["cumExecFee"]),
            leaves_qty=dec(e["leavesQty"]),
            avg_price=avg if avg and cum else None,
            reduce_only=e["reduceOnly"],
            cancel_type=e["cancelType"],
            reject_reason=e["rejectReason"],
            created_time=int(e["createdTime"]),
            updated_time=int(e["updatedTime"]),
        )


@dataclass(frozen=True, slots=True)
class FillTruth:
    """One execution, as values. ``position_idx`` is the leg it moved (None if unknown)."""

    exec_id: str
    order_id: str
    symbol: str
    side: str
    exec_type: str
    exec_qty: Decimal
    exec_price: Decimal
    exec_fee: Decimal | None
    exec_time: int
    seq: int
    position_idx: int | None = None

    @property
    def changes_position(self) -> bool:
        """Everything but funding moves the position."""
        return self.exec_type != "Funding"

    @property
    def signed_qty(self) -> Decimal:
        """Buy adds, Sell subtracts."""
        return self.exec_qty if self.side == "Buy" else -self.exec_qty

    @classmethod
    def from_wire(cls, e: Mapping[str, Any], position_idx: int | None = None) -> FillTruth:
        """From one element of the ``execution`` topic."""
        return cls(
            exec_id=e["execId"],
            order_id=e["orderId"],
            symbol=e["symbol"],
            side=e["side"],
            exec_type=e["execType"],
            exec_qty=req(e["execQty"]),
            exec_price=req(e["execPrice"]),
            exec_fee=dec(e["execFee"]),
            exec_time=int(e["execTime"]),
            seq=e["seq"],
            position_idx=position_idx,
        )

    @classmethod
    def from_fast_wire(cls, e: Mapping[str, Any], position_idx: int | None = None) -> FillTruth:
        """From one element of ``execution.fast`` (a trade; no fee)."""
        return cls(
            exec_id=e["execId"],
            order_id=e["orderId"],
            symbol=e["symbol"],
            side=e["side"],
            exec_type="Trade",
            exec_qty=req(e["execQty"]),
            exec_price=req(e["execPrice"]),
            exec_fee=None,
            exec_time=int(e["execTime"]),
            seq=e["seq"],
            position_idx=position_idx,
        )


@dataclass(frozen=True, slots=True)
class PositionTruth:
    """One leg as a ``position`` report gave it."""

    symbol: str
    position_idx: int
    #: "Buy", "Sell" or "" (flat).
    side: str
    size: Decimal
    seq: int
    updated_time: int

    @property
    def net_qty(self) -> Decimal:
        """+size long, -size short, 0 flat."""
        if self.side == "Buy":
            return self.size
        if self.side == "Sell":
            return -self.size
        return ZERO

    @classmethod
    def from_wire(cls, e: Mapping[str, Any]) -> PositionTruth:
        """From one element of the ``position`` topic."""
        return cls(
            symbol=e["symbol"],
            position_idx=e["positionIdx"],
            side=e["side"],
            size=req(e["size"]),
            seq=e["seq"],
            updated_time=int(e["updatedTime"]),
        )


class Expected(Protocol):
    """The state a ledger is expected to hold (a ``ReferenceModel`` or ``DeliveryModel``);
    what ``ledger_differences`` compares a ledger with."""

    def order_map(self) -> Mapping[str, OrderTruth]:
        """Each order's expected held report, by orderId."""
        ...

    def fill_map(self) -> Mapping[str, FillTruth]:
        """Every expected booked execution, by execId."""
        ...

    def position_map(self) -> Mapping[LegId, PositionTruth]:
        """The expected held report of every reported leg."""
        ...

    def legs(self) -> frozenset[LegId]:
        """Every leg the ledger should know: reported, or moved by an attributed fill."""
        ...

    def derived_net(self, symbol: str, position_idx: int) -> Decimal:
        """Net of the position-changing fills attributed to a leg."""
        ...

    def booked_qty(self, order_id: str) -> Decimal:
        """Quantity of position-changing fills booked against an order."""
        ...
