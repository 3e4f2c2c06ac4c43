"""What a correct consumer ends with: the exchange's own truth, and what was delivered.

``ReferenceModel`` is the state a *clean* delivery of a session must end in (every frame
delivered at least once, in any order within the reordering window). ``DeliveryModel`` is
the state after *any* delivery, including one that lost frames.

>>> from decimal import Decimal
>>> from oms.testing import SimulatedExchange
>>> ex = SimulatedExchange()
>>> order_id = ex.place("ETHUSDT", "Buy", Decimal("0.5"), price=Decimal(3400))
>>> frames = ex.fill(order_id, Decimal("0.2"))
>>> truth = ex.truth
>>> truth.orders[order_id].status, truth.orders[order_id].cum_exec_qty
('PartiallyFilled', Decimal('0.2'))
>>> truth.position("ETHUSDT"), truth.derived_position("ETHUSDT")
(Decimal('0.2'), Decimal('0.2'))
>>> lossy = DeliveryModel(ex.frames)
>>> lossy.deliver(ex.frames[0])          # only the first frame arrived
>>> lossy.order_map()[order_id].status, len(lossy.fill_map())
('New', 0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oms.sim.records import ZERO
from oms.testing.truth import FillTruth, LegId, OrderTruth, PositionTruth

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from decimal import Decimal

__all__ = ["DeliveryModel", "ReferenceModel"]


class ReferenceModel:
    """The exchange's own final state of a session: obviously correct by construction.

    A consumer that received every frame of the session (duplicates and bounded
    reordering allowed) must end holding exactly this:

    * ``orders``: each order's newest genuine report by orderId (a cancel-race echo never
      replaces it): its status, cum qty/value/fee, leaves qty, avg price, terms and times;
    * ``fills``: every execution by execId, each once, with the leg it moved;
    * ``positions``: each reported leg's newest report, keyed by (symbol, positionIdx).

    ``position(symbol)`` and ``derived_position(symbol)`` give a symbol's signed net as
    reported and as the sum of its fills (always equal here: Bybit reports every trade);
    ``ledger_differences(ledger, truth)`` compares an ``oms.Ledger`` with all of it.
    """

    def __init__(self) -> None:
        self.orders: dict[str, OrderTruth] = {}
        self.fills: dict[str, FillTruth] = {}
        self.positions: dict[LegId, PositionTruth] = {}

    def record_order(self, report: OrderTruth) -> None:
        """The exchange sent this report (an echo leaves the truth alone)."""
        if not report.is_cancel_race_echo:
            self.orders[report.order_id] = report

    def record_fill(self, fill: FillTruth) -> None:
        """The exchange sent this execution; execIds are unique."""
        if fill.exec_id in self.fills:
            raise ValueError(f"execId {fill.exec_id} sent twice")
        self.fills[fill.exec_id] = fill

    def record_position(self, report: PositionTruth) -> None:
        """The exchange sent this position report."""
        self.positions[report.symbol, report.position_idx] = report

    @property
    def exec_ids(self) -> frozenset[str]:
        """Every execId of the session."""
        return frozenset(self.fills)

    def open_order_ids(self) -> frozenset[str]:
        """Orders still working or waiting for a trigger at the end."""
        return frozenset(i for i, o in self.orders.items() if o.is_open)

    def symbols(self) -> frozenset[str]:
        """Every symbol with an order, a fill or a position report."""
        return frozenset(
            {o.symbol for o in self.orders.values()}
            | {f.symbol for f in self.fills.values()}
            | {symbol for symbol, _ in self.positions}
        )

    def order_map(self) -> Mapping[str, OrderTruth]:
        """Each order's final report, by orderId."""
        return self.orders

    def fill_map(self) -> Mapping[str, FillTruth]:
        """Every execution, by execId."""
        return self.fills

    def position_map(self) -> Mapping[LegId, PositionTruth]:
        """The newest report of every reported leg."""
        return self.positions

    def legs(self) -> frozenset[LegId]:
        """Reported legs and legs moved by a fill."""
        moved = {
            (f.symbol, f.position_idx)
            for f in self.fills.values()
            if f.changes_position and f.position_idx is not None
        }
        return frozenset(moved | set(self.positions))

    def derived_net(self, symbol: str, position_idx: int) -> Decimal:
        """Signed net of the position-changing fills of one leg."""
        return _net(
            f for f in self.fills.values() if (f.symbol, f.position_idx) == (symbol, position_idx)
        )

    def reported_net(self, symbol: str, position_idx: int) -> Decimal | None:
        """Signed net of the newest report of a leg (None if never reported)."""
        report = self.positions.get((symbol, position_idx))
        return None if report is None else report.net_qty

    def position(self, symbol: str) -> Decimal:
        """A symbol's signed net as reported: the sum of its legs' newest reports."""
        return sum((p.net_qty for (s, _), p in self.positions.items() if s == symbol), ZERO)

    def derived_position(self, symbol: str) -> Decimal:
        """A symbol's signed net as the sum of its position-changing fills (Buy +, Sell -)."""
        return _net(f for f in self.fills.values() if f.symbol == symbol)

    def booked_qty(self, order_id: str) -> Decimal:
        """Quantity of the position-changing fills of one order."""
        return _booked(self.fills.values(), order_id)


def _net(fills: Iterable[FillTruth]) -> Decimal:
    return sum((f.signed_qty for f in fills if f.changes_position), ZERO)


def _booked(fills: Iterable[FillTruth], order_id: str) -> Decimal:
    return sum((f.exec_qty for f in fills if f.order_id == order_id and f.changes_position), ZERO)


@dataclass(slots=True)
class _Known:
    """What the model knows of one frame of a session: its elements, parsed."""

    orders: list[tuple[int, OrderTruth]] = field(default_factory=list)
    fills: list[FillTruth] = field(default_factory=list)
    fast_fills: list[FillTruth] = field(default_factory=list)
    positions: list[PositionTruth] = field(default_factory=list)


class DeliveryModel:
    """What a correct ledger holds after some delivery of a session's frames.

    ``register`` each frame in the order the exchange sent it (or pass them all to the
    constructor), then ``deliver`` frames in any order, any number of times, or never.
    The rules are the obvious ones:

    * an order's held report is the newest one delivered, where newest is the order in
      which the exchange sent them; a cancel-race echo never replaces the genuine terminal
      report it repeats;
    * fills are a set by execId; the quantity booked per order is the sum of its fills;
      an ``execution`` copy replaces an ``execution.fast`` copy, never the reverse;
    * a leg's held report is the delivered one with the largest (seq, updatedTime);
    * a fill moves the leg of its order once any report of that order has been delivered,
      or leg 0 at once if, when it arrives, the symbol is known to be one-way (an order or
      position report with positionIdx 0 was delivered before it); funding moves nothing;
    * a leg's first delivered report, when no delivered fill moves that leg or waits to
      know its leg on that symbol, is the leg's opening balance: the derived net starts at
      its net, and only fills with a larger seq move it on.

    With every frame delivered it equals the session's ``ReferenceModel``. With frames
    lost it holds only what was delivered: nothing is invented, and a lost report or fill
    is simply missing until a resync (see ``venue_snapshot``) brings it back.
    """

    def __init__(self, frames: Iterable[str] = ()) -> None:
        self._frames: dict[str, _Known] = {}
        self._sent_reports: dict[str, int] = {}
        self._delivered_orders: dict[str, list[tuple[int, OrderTruth]]] = {}
        self._fills: dict[str, FillTruth] = {}
        #: execIds held only as their execution.fast copy (no fee yet)
        self._fast: set[str] = set()
        #: execIds attributed to leg 0 on arrival (one-way symbol known then)
        self._oneway_on_arrival: set[str] = set()
        self._oneway: set[str] = set()
        self._positions: dict[LegId, PositionTruth] = {}
        #: (net, seq) of each leg whose first report came before any of its fills
        self._openings: dict[LegId, tuple[Decimal, int]] = {}
        for frame in frames:
            self.register(frame)

    def register(self, frame: str) -> None:
        """The exchange sent this frame (after every frame registered before it)."""
        if frame in self._frames:
            raise ValueError("frame registered twice")
        tree = json.loads(frame)
        known = _Known()
        for e in tree["data"]:
            if tree["topic"] == "order":
                version = self._sent_reports.get(e["orderId"], 0)
                self._sent_reports[e["orderId"]] = version + 1
                known.orders.append((version, OrderTruth.from_wire(e)))
            elif tree["topic"] == "execution":
                known.fills.append(FillTruth.from_wire(e))
            elif tree["topic"] == "execution.fast":
                known.fast_fills.append(FillTruth.from_fast_wire(e))
            else:
                known.positions.append(PositionTruth.from_wire(e))
        self._frames[frame] = known

    def deliver(self, frame: str) -> None:
        """The ledger received this (registered) frame."""
        known = self._frames.get(frame)
        if known is None:
            raise ValueError("deliver() takes a registered frame")
        for version, report in known.orders:
            self._delivered_orders.setdefault(report.order_id, []).append((version, report))
            if report.position_idx == 0:
                self._oneway.add(report.symbol)
        for fill in known.fast_fills:
            if fill.exec_id not in self._fills:
                self._fast.add(fill.exec_id)
                self._book(fill)
        for fill in known.fills:
            if fill.exec_id in self._fast:
                self._fast.discard(fill.exec_id)  # the full copy enriches the fast one
                self._fills[fill.exec_id] = fill
            elif fill.exec_id not in self._fills:
                self._book(fill)
        for position in known.positions:
            self._hold_position(position)

    def _hold_position(self, report: PositionTruth) -> None:
        key = (report.symbol, report.position_idx)
        held = self._positions.get(key)
        if held is None and not self._holds_fill_for(key):
            self._openings[key] = (report.net_qty, report.seq)
        if held is None or (report.seq, report.updated_time) > (held.seq, held.updated_time):
            self._positions[key] = report
        if report.position_idx == 0:
            self._oneway.add(report.symbol)

    def _holds_fill_for(self, leg: LegId) -> bool:
        """Whether a delivered position-changing fill moves ``leg``, or waits for its order
        to tell its leg on the leg's symbol."""
        return any(
            f.changes_position and f.symbol == leg[0] and self._leg_of(f) in (leg, None)
            for f in self._fills.values()
        )

    def _book(self, fill: FillTruth) -> None:
        self._fills[fill.exec_id] = fill
        if fill.symbol in self._oneway:
            self._oneway_on_arrival.add(fill.exec_id)

    def order_map(self) -> Mapping[str, OrderTruth]:
        """Each delivered order's held report."""
        held = {}
        for order_id, reports in self._delivered_orders.items():
            _, best = max(reports, key=lambda r: r[0])
            if best.is_cancel_race_echo:
                genuine = [
                    r
                    for r in reports
                    if r[1].status == best.status and not r[1].is_cancel_race_echo
                ]
                if genuine:
                    _, best = max(genuine, key=lambda r: r[0])
            held[order_id] = best
        return held

    def fill_map(self) -> Mapping[str, FillTruth]:
        """Every delivered execution, by execId."""
        return self._fills

    def position_map(self) -> Mapping[LegId, PositionTruth]:
        """Each reported leg's held report."""
        return self._positions

    def _leg_of(self, fill: FillTruth) -> LegId | None:
        if not fill.changes_position:
            return None
        reports = self._delivered_orders.get(fill.order_id)
        if reports:
            return (fill.symbol, reports[0][1].position_idx)
        if fill.exec_id in self._oneway_on_arrival:
            return (fill.symbol, 0)
        return None

    def legs(self) -> frozenset[LegId]:
        """Reported legs and legs an attributed fill moved."""
        moved = {self._leg_of(f) for f in self._fills.values()}
        return frozenset({leg for leg in moved if leg is not None} | set(self._positions))

    def derived_net(self, symbol: str, position_idx: int) -> Decimal:
        """Signed net of the delivered fills attributed to one leg, from its opening
        balance if it has one (then only the fills after the opening count)."""
        leg = (symbol, position_idx)
        opening = self._openings.get(leg)
        start, after = (ZERO, None) if opening is None else opening
        return start + _net(
            f
            for f in self._fills.values()
            if self._leg_of(f) == leg and (after is None or f.seq > after)
        )

    def position(self, symbol: str) -> Decimal:
        """A symbol's signed net as the delivered reports give it (newest per leg)."""
        return sum((p.net_qty for (s, _), p in self._positions.items() if s == symbol), ZERO)

    def derived_position(self, symbol: str) -> Decimal:
        """Signed net of every delivered position-changing fill of a symbol, attributed to
        a leg or not. (``Ledger.derived_position`` counts only fills whose leg is known, so
        it can be less while a fill's order report is missing.)"""
        return _net(f for f in self._fills.values() if f.symbol == symbol)

    def booked_qty(self, order_id: str) -> Decimal:
        """Quantity of the delivered position-changing fills of one order."""
        return _booked(self._fills.values(), order_id)
