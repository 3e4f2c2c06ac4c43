"""Hypothesis strategies for Bybit v5 private-stream sessions, and the faults of a real link.

Test code that consumes the private stream (``oms.Ledger`` or your own) needs inputs that
look exactly like Bybit's and whose correct final state is known. This module gives both:

* ``session()`` is a hypothesis strategy of ``Session``: a valid linear-perpetual account
  session as the raw JSON text frames the stream sends (``order``, ``execution``,
  ``position`` and, if drawn, ``execution.fast`` topics), together with ``truth``, the
  exchange's own final state (a ``ReferenceModel``). ``session_from_seed(seed)`` builds
  the same kind of session deterministically, without hypothesis.
* ``reordered()``, ``duplicated()``, ``dropped()`` and ``disorder()`` turn a list of frames
  into what a client may receive: late frames (each moved at most ``window`` places),
  repeats and losses.
* ``corrupted()`` and ``garbage()`` produce malformed input: truncated frames, fields of the
  wrong JSON type, missing ``data``, arbitrary text and arbitrary JSON.
* ``DeliveryModel`` says what a correct ledger holds after any delivery of a session's
  frames (in any order, repeated, or with losses), and ``ledger_differences()`` lists how an
  ``oms.Ledger`` differs from a ``ReferenceModel`` or a ``DeliveryModel``.
* ``SimulatedExchange`` is the small exchange behind ``session()``; drive it directly to
  script a particular scenario (a hypothesis state machine can drive it rule by rule).

Sessions cover one-way symbols (positionIdx 0) and hedge-mode symbols (1 long, 2 short);
plain limit and market orders, ``Created`` before ``New``, partial fills, fills split over
several executions of one match, amends of price and quantity, cancels with and without
fills, reduce-only cancels, conditional orders (``Untriggered -> Triggered -> New ->
...`` and ``Untriggered -> Deactivated``, trigger-price amends), TP/SL orders with an empty
orderLinkId that Bybit deactivates when their position closes, rejects (including PostOnly
orders cancelled with ``EC_PostOnlyWillTakeLiquidity``), the duplicate ``Filled`` of a
cancel that lost the race to a fill, funding executions (which never move a position), and
position reports on every trade and at random order events (same seq, later time).

Every number is a ``Decimal`` on the symbol's quantity step and price tick; on the wire
numbers are strings, except positionIdx, seq, creationTime (ints) and reduceOnly,
closeOnTrigger, isMaker (bools), exactly as Bybit sends them.

Example::

    from hypothesis import given
    from oms import Ledger
    from oms.testing import ledger_differences, session

    @given(session())
    def test_replay(s):
        ledger = Ledger()
        for frame in s.frames:
            ledger.apply_frame(frame, received_at=0)
        assert ledger_differences(ledger, s.truth) == []
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from hypothesis import strategies as st

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from hypothesis.strategies import SearchStrategy

    from oms.bybit.ledger import Ledger

__all__ = [
    "CANCEL_RACE_REASON",
    "CATEGORY",
    "DEFAULT_SYMBOLS",
    "T0",
    "TERMINAL_STATUSES",
    "TPSL_STOP_ORDER_TYPES",
    "Corruption",
    "DeliveryModel",
    "Expected",
    "FillTruth",
    "LegId",
    "OrderTruth",
    "PositionTruth",
    "ReferenceModel",
    "Session",
    "SimulatedExchange",
    "SymbolSpec",
    "corrupted",
    "disorder",
    "dropped",
    "duplicated",
    "garbage",
    "ledger_differences",
    "reordered",
    "session",
    "session_from_seed",
]

#: The first exchange timestamp of a session (2024-06-01 00:00 UTC, in milliseconds).
T0: Final = 1_717_200_000_000
#: The product category of every generated frame.
CATEGORY: Final = "linear"
#: Order statuses after which an order never changes (Bybit spelling).
TERMINAL_STATUSES: Final = frozenset(
    {"Filled", "Cancelled", "Rejected", "PartiallyFilledCanceled", "Deactivated"}
)
#: stopOrderType of the TP/SL orders Bybit creates (orderLinkId "", reduce-only).
TPSL_STOP_ORDER_TYPES: Final = ("TakeProfit", "StopLoss", "PartialTakeProfit", "PartialStopLoss")
#: rejectReason of the second ``Filled`` Bybit sends when a cancel raced the final fill.
CANCEL_RACE_REASON: Final = "EC_OrigClOrdIDDoesNotExist"

_ZERO: Final = Decimal(0)
_E8: Final = Decimal("0.00000001")
_MAKER_FEE: Final = Decimal("0.0002")
_TAKER_FEE: Final = Decimal("0.00055")
_FUNDING_RATE: Final = Decimal("0.0001")
_TOPICS: Final = ("order", "execution.fast", "execution", "position")
_TOPIC_ORDERS: Final = (
    ("order", "execution", "position"),
    ("execution", "order", "position"),
    ("order", "position", "execution"),
    ("position", "execution", "order"),
    ("execution", "position", "order"),
    ("position", "order", "execution"),
)
_FILLABLE: Final = frozenset({"Created", "New", "PartiallyFilled", "Triggered"})
_TPSL_CREATE_TYPES: Final = {
    "TakeProfit": "CreateByTakeProfit",
    "StopLoss": "CreateByStopLoss",
    "PartialTakeProfit": "CreateByPartialTakeProfit",
    "PartialStopLoss": "CreateByPartialStopLoss",
}
_REJECT_REASONS: Final = (
    "EC_ReachMaxTradeNum",
    "EC_PriceGreaterThanUpperLimit",
    "EC_PriceLessThanLowerLimit",
    "EC_InvalidPriceScale",
)
_POST_ONLY_REASON: Final = "EC_PostOnlyWillTakeLiquidity"

_ID_MULTIPLIER: Final = 0x9E3779B97F4A7C15F39CC0605CEDC835
_T = TypeVar("_T")


def _fmt(value: Decimal) -> str:
    """Bybit's text for a decimal: plain notation, no trailing zeros (``"0.1"``, ``"65000"``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"", "-0"} else text


def _q8(value: Decimal) -> Decimal:
    return value.quantize(_E8, rounding=ROUND_HALF_EVEN)


def _dec(text: object) -> Decimal | None:
    """A wire decimal (``""`` is absent)."""
    if not isinstance(text, str):
        raise TypeError(f"expected decimal text, got {text!r}")
    return Decimal(text) if text else None


def _req(text: object) -> Decimal:
    value = _dec(text)
    if value is None:
        raise ValueError("missing decimal")
    return value


# --- the truth ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A linear perpetual: its name, position mode, quantity step, tick and start price."""

    symbol: str
    #: Hedge mode (legs positionIdx 1 long and 2 short) or one-way (positionIdx 0).
    hedge: bool
    qty_step: Decimal
    tick: Decimal
    #: The mark price the session starts from.
    price: Decimal

    @property
    def legs(self) -> tuple[int, ...]:
        """The positionIdx values of this symbol's legs."""
        return (1, 2) if self.hedge else (0,)


#: Two one-way and two hedge-mode symbols with Bybit's real steps and ticks.
DEFAULT_SYMBOLS: Final = (
    SymbolSpec("BTCUSDT", hedge=False, qty_step=Decimal("0.001"), tick=Decimal("0.1"),
               price=Decimal(65000)),
    SymbolSpec("ETHUSDT", hedge=True, qty_step=Decimal("0.01"), tick=Decimal("0.01"),
               price=Decimal(3400)),
    SymbolSpec("DOGEUSDT", hedge=False, qty_step=Decimal(1), tick=Decimal("0.00001"),
               price=Decimal("0.16")),
    SymbolSpec("SOLUSDT", hedge=True, qty_step=Decimal("0.1"), tick=Decimal("0.01"),
               price=Decimal(150)),
)  # fmt: skip


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
        cum = _req(e["cumExecQty"])
        avg = _dec(e["avgPrice"])
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
            qty=_req(e["qty"]),
            price=_dec(e["price"]),
            trigger_price=_dec(e["triggerPrice"]),
            cum_exec_qty=cum,
            cum_exec_value=_dec(e["cumExecValue"]),
            cum_exec_fee=_dec(e["cumExecFee"]),
            leaves_qty=_dec(e["leavesQty"]),
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
            exec_qty=_req(e["execQty"]),
            exec_price=_req(e["execPrice"]),
            exec_fee=_dec(e["execFee"]),
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
            exec_qty=_req(e["execQty"]),
            exec_price=_req(e["execPrice"]),
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
        return _ZERO

    @classmethod
    def from_wire(cls, e: Mapping[str, Any]) -> PositionTruth:
        """From one element of the ``position`` topic."""
        return cls(
            symbol=e["symbol"],
            position_idx=e["positionIdx"],
            side=e["side"],
            size=_req(e["size"]),
            seq=e["seq"],
            updated_time=int(e["updatedTime"]),
        )


LegId = tuple[str, int]
"""A position leg: (symbol, positionIdx)."""


class Expected(Protocol):
    """The state a ledger is expected to hold (a ``ReferenceModel`` or ``DeliveryModel``)."""

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


class ReferenceModel:
    """The exchange's own final state of a session: obviously correct by construction.

    The simulator records every report it sends: each order's newest genuine report (a
    cancel-race echo never replaces it), every execution with the leg it moved, and each
    leg's newest position report. ``derived_net`` sums the fills of a leg.
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
        return sum(
            (
                f.signed_qty
                for f in self.fills.values()
                if f.changes_position and (f.symbol, f.position_idx) == (symbol, position_idx)
            ),
            _ZERO,
        )

    def reported_net(self, symbol: str, position_idx: int) -> Decimal | None:
        """Signed net of the newest report of a leg (None if never reported)."""
        report = self.positions.get((symbol, position_idx))
        return None if report is None else report.net_qty

    def booked_qty(self, order_id: str) -> Decimal:
        """Quantity of the position-changing fills of one order."""
        return sum(
            (
                f.exec_qty
                for f in self.fills.values()
                if f.order_id == order_id and f.changes_position
            ),
            _ZERO,
        )


@dataclass(frozen=True, slots=True)
class Session:
    """A generated session: its frames in exchange order, and the exchange's final state."""

    frames: list[str]
    truth: ReferenceModel
    symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS

    def __repr__(self) -> str:
        return (
            f"Session({len(self.frames)} frames, {len(self.truth.orders)} orders, "
            f"{len(self.truth.fills)} fills, {len(self.truth.positions)} legs reported)"
        )


# --- the exchange -------------------------------------------------------------------------


@dataclass(slots=True)
class _Order:
    order_id: str
    link_id: str
    spec: SymbolSpec
    side: str
    idx: int
    order_type: str
    tif: str
    stop_type: str
    create_type: str
    qty: Decimal
    price: Decimal
    trigger: Decimal
    trigger_direction: int
    reduce_only: bool
    close_on_trigger: bool
    status: str
    created: int
    updated: int
    cum_qty: Decimal = _ZERO
    cum_value: Decimal = _ZERO
    cum_fee: Decimal = _ZERO
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    echoed: bool = False

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES


@dataclass(slots=True)
class _Leg:
    created: int
    net: Decimal = _ZERO
    entry: Decimal = _ZERO
    realised: Decimal = _ZERO


class SimulatedExchange:
    """A small, strict Bybit linear account that emits the frames of what happens to it.

    Every action stamps a new exchange time (at least 1 ms after the previous one), appends
    the frames it caused to ``frames`` and records them in ``truth``; actions return the
    frames they emitted. Invalid requests (filling more than is left, amending a closed
    order, ...) raise ``ValueError``: the exchange never emits an impossible lifecycle.
    ``topic_order`` is the order in which the topics of one action are sent (Bybit gives no
    ordering between topics). With ``fast_executions`` every trade is also sent on
    ``execution.fast`` (no fee; orderLinkId ``""`` for maker fills, as Bybit does), right
    before ``execution`` unless ``topic_order`` places it.
    """

    def __init__(
        self,
        symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
        *,
        start_ms: int = T0,
        fast_executions: bool = False,
    ) -> None:
        if not symbols:
            raise ValueError("at least one symbol")
        self.specs: dict[str, SymbolSpec] = {s.symbol: s for s in symbols}
        self.now = start_ms
        self.frames: list[str] = []
        self.truth = ReferenceModel()
        self.topic_order: tuple[str, ...] = _TOPICS
        self.fast_executions = fast_executions
        self._orders: dict[str, _Order] = {}
        self._marks = {s.symbol: s.price for s in symbols}
        self._next_seq = {s.symbol: 4_600_000_000 + 10_000_000 * i for i, s in enumerate(symbols)}
        self._last_seq = dict.fromkeys(self.specs, -1)
        self._legs: dict[LegId, _Leg] = {}
        self._counter = 0

    # --- queries ----------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols traded."""
        return tuple(self.specs)

    def mark(self, symbol: str) -> Decimal:
        """The current mark price of a symbol."""
        return self._marks[symbol]

    def net(self, symbol: str, position_idx: int) -> Decimal:
        """The signed net of one leg now."""
        leg = self._legs.get((symbol, position_idx))
        return _ZERO if leg is None else leg.net

    def open_legs(self) -> list[LegId]:
        """Legs holding a position."""
        return [k for k, leg in self._legs.items() if leg.net != 0]

    def order_ids(self, *statuses: str) -> list[str]:
        """Orders (with one of ``statuses``, if given), oldest first."""
        return [i for i, o in self._orders.items() if not statuses or o.status in statuses]

    def current(self, order_id: str) -> OrderTruth:
        """The order's state now (what its next report would say)."""
        return OrderTruth.from_wire(self._element(self._order(order_id)))

    def fillable(self, order_id: str) -> Decimal:
        """How much of the order can fill now (reduce-only orders: at most the position)."""
        o = self._order(order_id)
        if o.status not in _FILLABLE:
            return _ZERO
        left = o.qty - o.cum_qty
        cap = self._capacity(o)
        return left if cap is None else min(left, cap)

    def echoable(self) -> list[str]:
        """Filled orders that have not had a cancel-race echo yet."""
        return [i for i, o in self._orders.items() if o.status == "Filled" and not o.echoed]

    # --- time and prices --------------------------------------------------------------

    def advance(self, ms: int) -> None:
        """Let ``ms`` milliseconds pass."""
        if ms < 0:
            raise ValueError("time only moves forward")
        self.now += ms

    def move_mark(self, symbol: str, ticks: int) -> None:
        """Move a mark price by whole ticks (never below 100 ticks)."""
        spec = self.specs[symbol]
        self._marks[symbol] = max(self._marks[symbol] + ticks * spec.tick, 100 * spec.tick)

    # --- actions ----------------------------------------------------------------------

    def place(  # noqa: PLR0913 - the order request's fields
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        *,
        price: Decimal | None = None,
        order_type: str = "Limit",
        time_in_force: str | None = None,
        trigger_price: Decimal | None = None,
        stop_order_type: str = "",
        reduce_only: bool = False,
        announce: bool = True,
        created_first: bool = False,
    ) -> str:
        """Accept an order and return its orderId.

        ``trigger_price`` makes it conditional (born ``Untriggered``); a TP/SL
        ``stop_order_type`` makes it a reduce-only TP/SL with an empty orderLinkId. In
        hedge mode the leg follows from side and reduce_only. ``announce=False`` sends no
        report yet (a market order whose first report is its fill); ``created_first``
        sends ``Created`` before ``New``.
        """
        o = self._new_order(
            symbol,
            side,
            qty,
            price=price,
            order_type=order_type,
            time_in_force=time_in_force,
            trigger_price=trigger_price,
            stop_order_type=stop_order_type,
            reduce_only=reduce_only,
        )
        if announce:
            if created_first and o.status == "New":
                o.status = "Created"
                self._send(orders=[o])
                o.status = "New"
            self._send(orders=[o])
        return o.order_id

    def place_rejected(
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        price: Decimal,
        *,
        reason: str = "EC_ReachMaxTradeNum",
        status: str = "Rejected",
        time_in_force: str = "GTC",
    ) -> str:
        """An order refused at once: ``Rejected``, or ``Cancelled`` as Bybit does for a
        PostOnly order that would take liquidity (``EC_PostOnlyWillTakeLiquidity``)."""
        if status not in {"Rejected", "Cancelled"}:
            raise ValueError("a refused order is Rejected or Cancelled")
        o = self._new_order(symbol, side, qty, price=price, time_in_force=time_in_force)
        o.status = status
        o.reject_reason = reason
        self._send(orders=[o])
        return o.order_id

    def fill(
        self, order_id: str, qty: Decimal, *, pieces: int = 1, price: Decimal | None = None
    ) -> list[str]:
        """One match of ``qty``, booked as ``pieces`` executions sharing one seq.

        Sends the order report, the executions and the leg's position report (at the
        trade's seq). TP/SL and reduce-only orders that the new position leaves nothing to
        reduce are deactivated or cancelled in the same order frame, as Bybit does.
        """
        o = self._order(order_id)
        step = o.spec.qty_step
        if qty <= 0 or qty % step or qty > self.fillable(order_id):
            raise ValueError(f"cannot fill {qty} of {order_id} ({o.status})")
        units = int(qty / step)
        if not 1 <= pieces <= units:
            raise ValueError("each piece needs at least one qty step")
        t = self._stamp()
        seq = self._take_seq(o.spec.symbol)
        px = price if price is not None else self._fill_price(o)
        rate = _MAKER_FEE if o.order_type == "Limit" else _TAKER_FEE
        leg = self._leg(o.spec.symbol, o.idx)
        sizes = [step * (units // pieces)] * pieces
        sizes[0] += step * (units % pieces)
        executions = []
        fills = []
        for size in sizes:
            value = size * px
            fee = _q8(value * rate)
            o.cum_qty += size
            o.cum_value += value
            o.cum_fee += fee
            closed = self._trade(leg, o.side, size, px, fee)
            execution = self._execution(
                o.spec.symbol,
                t,
                seq,
                {
                    "closedSize": _fmt(closed),
                    "execFee": _fmt(fee),
                    "execPrice": _fmt(px),
                    "execQty": _fmt(size),
                    "execValue": _fmt(value),
                    "feeRate": _fmt(rate),
                    "leavesQty": _fmt(o.qty - o.cum_qty),
                    "orderId": o.order_id,
                    "orderLinkId": o.link_id,
                    "orderPrice": _fmt(o.price),
                    "orderQty": _fmt(o.qty),
                    "orderType": o.order_type,
                    "stopOrderType": o.stop_type or "UNKNOWN",
                    "side": o.side,
                    "isMaker": o.order_type == "Limit",
                    "createType": o.create_type,
                },
            )
            executions.append(execution)
            fills.append(FillTruth.from_wire(execution, o.idx))
        o.status = "Filled" if o.cum_qty == o.qty else "PartiallyFilled"
        o.updated = t
        if o.is_open and self._capacity(o) == _ZERO:
            o.status, o.cancel_type = "Cancelled", "CancelByReduceOnly"
        changed = [o, *self._close_orphans(o.spec.symbol, o.idx, t, skip=o.order_id)]
        for f in fills:
            self.truth.record_fill(f)
        fast = [_fast_element(e) for e in executions] if self.fast_executions else []
        return self._send(
            orders=changed,
            executions=executions,
            fast=fast,
            positions=[(o.spec.symbol, o.idx)],
        )

    def amend(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> list[str]:
        """Amend a working (or untriggered) order: same status, new terms, later time."""
        o = self._order(order_id)
        if o.status not in {"New", "PartiallyFilled", "Untriggered"}:
            raise ValueError(f"cannot amend a {o.status} order")
        new_qty = o.qty if qty is None else qty
        new_price = o.price if price is None else price
        new_trigger = o.trigger if trigger_price is None else trigger_price
        if (new_qty, new_price, new_trigger) == (o.qty, o.price, o.trigger):
            raise ValueError("an amend changes something")
        if new_qty <= o.cum_qty or new_qty % o.spec.qty_step:
            raise ValueError("amended qty must exceed cumExecQty, on the qty step")
        if price is not None and (o.order_type != "Limit" or price <= 0 or price % o.spec.tick):
            raise ValueError("only a limit price on the tick grid can be amended")
        if trigger_price is not None and (o.status != "Untriggered" or trigger_price <= 0):
            raise ValueError("only an untriggered order's trigger price can be amended")
        o.qty, o.price, o.trigger = new_qty, new_price, new_trigger
        o.updated = self._stamp()
        return self._send(orders=[o])

    def cancel(
        self, order_id: str, *, cancel_type: str = "CancelByUser", reject_reason: str = "EC_NoError"
    ) -> list[str]:
        """Cancel an open order: ``Deactivated`` before its trigger, else ``Cancelled``
        (keeping whatever it filled)."""
        o = self._order(order_id)
        if not o.is_open:
            raise ValueError(f"cannot cancel a {o.status} order")
        o.status = "Deactivated" if o.status == "Untriggered" else "Cancelled"
        o.cancel_type, o.reject_reason = cancel_type, reject_reason
        o.updated = self._stamp()
        return self._send(orders=[o])

    def trigger(self, order_id: str, *, then_new: bool = True) -> list[str]:
        """Fire a conditional order's trigger: ``Triggered``, and for a limit order
        ``New`` in the same frame at the same time (``then_new``). A market order is then
        filled by the caller."""
        o = self._order(order_id)
        if o.status != "Untriggered":
            raise ValueError(f"cannot trigger a {o.status} order")
        o.updated = self._stamp()
        o.status = "Triggered"
        elements = [self._element(o)]
        self.truth.record_order(OrderTruth.from_wire(elements[0]))
        if then_new and o.order_type == "Limit":
            o.status = "New"
            elements.append(self._element(o))
            self.truth.record_order(OrderTruth.from_wire(elements[1]))
        return self._emit({"order": elements})

    def echo_cancel_race(self, order_id: str) -> list[str]:
        """The second ``Filled`` Bybit sends when a cancel arrived after the final fill
        (``EC_OrigClOrdIDDoesNotExist``). The order's state does not change."""
        o = self._order(order_id)
        if o.status != "Filled" or o.echoed:
            raise ValueError("only a filled order echoes a lost cancel, once")
        o.echoed = True
        element = self._element(o)
        element.update(
            cancelType="CancelByUser",
            rejectReason=CANCEL_RACE_REASON,
            updatedTime=str(self._stamp()),
        )
        return self._emit({"order": [element]})

    def funding(self, symbol: str, position_idx: int) -> list[str]:
        """A funding execution on an open leg (it never moves the position), then the
        leg's position report at the funding's seq."""
        leg = self._legs.get((symbol, position_idx))
        if leg is None or leg.net == 0:
            raise ValueError("funding is paid on an open position")
        t = self._stamp()
        seq = self._take_seq(symbol)
        mark = self._marks[symbol]
        size = abs(leg.net)
        value = size * mark
        fee = _q8(value * _FUNDING_RATE)
        self._counter += 1
        execution = self._execution(
            symbol,
            t,
            seq,
            {
                "execFee": _fmt(fee),
                "execQty": _fmt(size),
                "execType": "Funding",
                "execValue": _fmt(value),
                "feeRate": _fmt(_FUNDING_RATE),
                "orderId": f"{t // 1000}-{self._counter}-382053-1-{position_idx}",
                "side": "Buy" if leg.net > 0 else "Sell",
            },
        )
        leg.realised -= fee
        self.truth.record_fill(FillTruth.from_wire(execution, position_idx))
        return self._send(executions=[execution], positions=[(symbol, position_idx)])

    def report_position(self, symbol: str, position_idx: int) -> list[str]:
        """A position report that changes nothing (Bybit sends one on every order create,
        amend or cancel): the symbol's last seq, a later updatedTime."""
        if position_idx not in self.specs[symbol].legs:
            raise ValueError(f"{symbol} has no leg {position_idx}")
        self._stamp()
        return self._send(positions=[(symbol, position_idx)])

    # --- internals --------------------------------------------------------------------

    def _order(self, order_id: str) -> _Order:
        try:
            return self._orders[order_id]
        except KeyError:
            raise ValueError(f"unknown order {order_id}") from None

    def _stamp(self) -> int:
        self.now += 1
        return self.now

    def _uuid(self, kind: int) -> str:
        self._counter += 1
        # an odd multiplier is a bijection mod 2**128: distinct counters, distinct ids
        mixed = (self._counter * _ID_MULTIPLIER + kind) % (1 << 128)
        return str(uuid.UUID(int=mixed))

    def _take_seq(self, symbol: str) -> int:
        self._next_seq[symbol] += 1 + self._counter % 7
        self._last_seq[symbol] = self._next_seq[symbol]
        return self._next_seq[symbol]

    def _leg(self, symbol: str, idx: int) -> _Leg:
        leg = self._legs.get((symbol, idx))
        if leg is None:
            leg = self._legs[symbol, idx] = _Leg(created=self.now)
        return leg

    def _capacity(self, o: _Order) -> Decimal | None:
        """What a reduce-only order may still fill: the part of the position its side
        reduces. None for an order that may open or add."""
        if not o.reduce_only:
            return None
        net = self.net(o.spec.symbol, o.idx)
        return max(net, _ZERO) if o.side == "Sell" else max(-net, _ZERO)

    def _new_order(  # noqa: PLR0913 - the order request's fields
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        *,
        price: Decimal | None = None,
        order_type: str = "Limit",
        time_in_force: str | None = None,
        trigger_price: Decimal | None = None,
        stop_order_type: str = "",
        reduce_only: bool = False,
    ) -> _Order:
        spec = self.specs.get(symbol)
        if spec is None:
            raise ValueError(f"unknown symbol {symbol}")
        if side not in {"Buy", "Sell"} or order_type not in {"Limit", "Market"}:
            raise ValueError("side is Buy or Sell, orderType Limit or Market")
        if qty <= 0 or qty % spec.qty_step:
            raise ValueError(f"qty {qty} is not a positive multiple of {spec.qty_step}")
        tpsl = stop_order_type in TPSL_STOP_ORDER_TYPES
        if tpsl and trigger_price is None:
            raise ValueError("a TP/SL order needs a trigger price")
        reduce_only = reduce_only or tpsl
        mark = self._marks[symbol]
        if price is None:
            if order_type == "Limit":
                raise ValueError("a limit order needs a price")
            protect = Decimal("1.03") if side == "Buy" else Decimal("0.97")
            price = (mark * protect / spec.tick).to_integral_value() * spec.tick
        if price <= 0 or price % spec.tick:
            raise ValueError(f"price {price} is not on the tick {spec.tick}")
        if trigger_price is not None and (trigger_price <= 0 or trigger_price % spec.tick):
            raise ValueError(f"trigger price {trigger_price} is not on the tick {spec.tick}")
        # hedge: Buy opens the long leg (1), Sell the short (2); reduce-only closes the other
        idx = (1 if (side == "Buy") != reduce_only else 2) if spec.hedge else 0
        t = self._stamp()
        order_id = self._uuid(0x0D)
        o = _Order(
            order_id=order_id,
            link_id="" if tpsl else f"oms-{self._counter}",
            spec=spec,
            side=side,
            idx=idx,
            order_type=order_type,
            tif=time_in_force or ("GTC" if order_type == "Limit" else "IOC"),
            stop_type=stop_order_type or ("Stop" if trigger_price is not None else ""),
            create_type=_TPSL_CREATE_TYPES.get(stop_order_type, "CreateByUser"),
            qty=qty,
            price=price,
            trigger=trigger_price or _ZERO,
            trigger_direction=0 if trigger_price is None else (1 if trigger_price > mark else 2),
            reduce_only=reduce_only,
            close_on_trigger=tpsl,
            status="New" if trigger_price is None else "Untriggered",
            created=t,
            updated=t,
        )
        self._orders[order_id] = o
        return o

    def _fill_price(self, o: _Order) -> Decimal:
        return o.price if o.order_type == "Limit" else self._marks[o.spec.symbol]

    def _trade(self, leg: _Leg, side: str, size: Decimal, price: Decimal, fee: Decimal) -> Decimal:
        """Move a leg by one fill; return the size it closed."""
        signed = size if side == "Buy" else -size
        before, after = leg.net, leg.net + signed
        closed = min(size, abs(before)) if before * signed < 0 else _ZERO
        if closed:
            leg.realised += _q8((price - leg.entry) * closed * (1 if before > 0 else -1))
        if after == 0:
            leg.entry = _ZERO
        elif before == 0 or (before > 0) != (after > 0):
            leg.entry = price
        elif abs(after) > abs(before):
            leg.entry = _q8((leg.entry * abs(before) + price * size) / abs(after))
        leg.net = after
        leg.realised -= fee
        return closed

    def _close_orphans(self, symbol: str, idx: int, t: int, *, skip: str) -> list[_Order]:
        """Reduce-only orders the leg left nothing to reduce: TP/SL are deactivated
        (``CancelByTpSlTsClear``), working reduce-only orders cancelled."""
        closed = []
        for o in self._orders.values():
            if o.order_id == skip or not o.is_open or (o.spec.symbol, o.idx) != (symbol, idx):
                continue
            if self._capacity(o) != _ZERO:
                continue
            if o.status == "Untriggered":
                o.status = "Deactivated"
                tpsl = o.stop_type in TPSL_STOP_ORDER_TYPES
                o.cancel_type = "CancelByTpSlTsClear" if tpsl else "CancelByReduceOnly"
            else:
                o.status, o.cancel_type = "Cancelled", "CancelByReduceOnly"
            o.updated = t
            closed.append(o)
        return closed

    def _element(self, o: _Order) -> dict[str, Any]:
        leaves = o.qty - o.cum_qty if o.is_open else _ZERO
        avg = _fmt(_q8(o.cum_value / o.cum_qty)) if o.cum_qty else ""
        return {
            "category": CATEGORY,
            "symbol": o.spec.symbol,
            "orderId": o.order_id,
            "orderLinkId": o.link_id,
            "blockTradeId": "",
            "side": o.side,
            "positionIdx": o.idx,
            "orderStatus": o.status,
            "cancelType": o.cancel_type,
            "rejectReason": o.reject_reason,
            "avgPrice": avg,
            "leavesQty": _fmt(leaves),
            "leavesValue": _fmt(_q8(leaves * o.price)),
            "cumExecQty": _fmt(o.cum_qty),
            "cumExecValue": _fmt(o.cum_value),
            "cumExecFee": _fmt(o.cum_fee),
            "closedPnl": "0",
            "feeCurrency": "",
            "timeInForce": o.tif,
            "orderType": o.order_type,
            "stopOrderType": o.stop_type,
            "orderIv": "",
            "marketUnit": "",
            "triggerPrice": _fmt(o.trigger),
            "takeProfit": "0",
            "stopLoss": "0",
            "tpslMode": "Partial" if o.stop_type.startswith("Partial") else "",
            "tpLimitPrice": "0",
            "slLimitPrice": "0",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": o.trigger_direction,
            "triggerBy": "LastPrice" if o.trigger else "",
            "lastPriceOnCreated": _fmt(self._marks[o.spec.symbol]) if o.trigger else "",
            "reduceOnly": o.reduce_only,
            "closeOnTrigger": o.close_on_trigger,
            "placeType": "",
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "isLeverage": "",
            "createType": o.create_type,
            "createdTime": str(o.created),
            "updatedTime": str(o.updated),
            "price": _fmt(o.price),
            "qty": _fmt(o.qty),
        }

    def _execution(self, symbol: str, t: int, seq: int, fields: dict[str, Any]) -> dict[str, Any]:
        """One ``execution`` element: the shared wire fields, then ``fields``."""
        mark = _fmt(self._marks[symbol])
        element: dict[str, Any] = {
            "category": CATEGORY,
            "symbol": symbol,
            "closedSize": "0",
            "execFee": "0",
            "execId": self._uuid(0xE4EC),
            "execPrice": mark,
            "execQty": "0",
            "execType": "Trade",
            "execValue": "0",
            "feeRate": "0",
            "tradeIv": "",
            "markIv": "",
            "blockTradeId": "",
            "markPrice": mark,
            "indexPrice": mark,
            "underlyingPrice": "",
            "leavesQty": "0",
            "orderId": "",
            "orderLinkId": "",
            "orderPrice": "0",
            "orderQty": "0",
            "orderType": "UNKNOWN",
            "stopOrderType": "UNKNOWN",
            "side": "Buy",
            "execTime": str(t),
            "isLeverage": "0",
            "isMaker": False,
            "seq": seq,
            "marketUnit": "",
            "createType": "",
        }
        element.update(fields)
        return element

    def _position_element(self, symbol: str, idx: int) -> dict[str, Any]:
        leg = self._leg(symbol, idx)
        mark = self._marks[symbol]
        size = abs(leg.net)
        side = "Buy" if leg.net > 0 else "Sell" if leg.net < 0 else ""
        value = _q8(size * leg.entry)
        return {
            "category": CATEGORY,
            "symbol": symbol,
            "side": side,
            "size": _fmt(size),
            "positionIdx": idx,
            "tradeMode": 0,
            "positionValue": _fmt(value),
            "riskId": 1,
            "riskLimitValue": "2000000",
            "entryPrice": _fmt(leg.entry),
            "markPrice": _fmt(mark),
            "leverage": "10",
            "positionBalance": _fmt(_q8(value / 10)),
            "autoAddMargin": 0,
            "positionMM": _fmt(_q8(value / 200)),
            "positionIM": _fmt(_q8(value / 10)),
            "liqPrice": "",
            "bustPrice": "",
            "tpslMode": "Full",
            "takeProfit": "0",
            "stopLoss": "0",
            "trailingStop": "0",
            "unrealisedPnl": _fmt(_q8((mark - leg.entry) * leg.net)),
            "curRealisedPnl": _fmt(leg.realised),
            "cumRealisedPnl": _fmt(leg.realised),
            "sessionAvgPrice": "",
            "createdTime": str(leg.created),
            "updatedTime": str(self.now),
            "positionStatus": "Normal",
            "adlRankIndicator": 2 if size else 0,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "seq": self._last_seq[symbol],
        }

    def _send(
        self,
        *,
        orders: Sequence[_Order] = (),
        executions: Sequence[dict[str, Any]] = (),
        fast: Sequence[dict[str, Any]] = (),
        positions: Sequence[LegId] = (),
    ) -> list[str]:
        """Frame one action's updates (topics in ``topic_order``) and record the truth."""
        order_elements = [self._element(o) for o in orders]
        position_elements = [self._position_element(s, i) for s, i in positions]
        for e in order_elements:
            self.truth.record_order(OrderTruth.from_wire(e))
        for e in position_elements:
            self.truth.record_position(PositionTruth.from_wire(e))
        return self._emit(
            {
                "order": order_elements,
                "execution.fast": list(fast),
                "execution": list(executions),
                "position": position_elements,
            }
        )

    def _emit(self, by_topic: Mapping[str, list[dict[str, Any]]]) -> list[str]:
        order = [t for t in self.topic_order if t in _TOPICS]
        if "execution.fast" not in order:
            order.insert(order.index("execution") if "execution" in order else 0, "execution.fast")
        order += [t for t in _TOPICS if t not in order]
        sent = []
        for offset, topic in enumerate(order):
            elements = by_topic.get(topic)
            if not elements:
                continue
            envelope: dict[str, Any] = {
                "id": self._uuid(0xF4A3E),
                "topic": topic,
                "creationTime": self.now + 1 + offset,
                "data": elements,
            }
            if topic == "execution.fast":
                del envelope["id"]  # execution.fast frames carry no id
            sent.append(json.dumps(envelope, separators=(",", ":")))
        self.frames.extend(sent)
        return sent


def _fast_element(e: Mapping[str, Any]) -> dict[str, Any]:
    """The ``execution.fast`` copy of a trade (maker fills lose their orderLinkId)."""
    return {
        "category": e["category"],
        "symbol": e["symbol"],
        "orderId": e["orderId"],
        "isMaker": e["isMaker"],
        "orderLinkId": "" if e["isMaker"] else e["orderLinkId"],
        "execId": e["execId"],
        "execPrice": e["execPrice"],
        "execQty": e["execQty"],
        "side": e["side"],
        "execTime": e["execTime"],
        "seq": e["seq"],
    }


# --- the session generator ----------------------------------------------------------------


class _Chooser(Protocol):
    def integer(self, low: int, high: int) -> int: ...

    def choice(self, options: Sequence[_T]) -> _T: ...


class _DrawChooser:
    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def choice(self, options: Sequence[_T]) -> _T:
        return self._draw(st.sampled_from(options))


class _RandomChooser:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - test data, not cryptography

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)

    def choice(self, options: Sequence[_T]) -> _T:
        return self._rng.choice(options)


def _units(c: _Chooser, step: Decimal, limit: Decimal | None = None, most: int = 60) -> Decimal:
    """A positive quantity on the step grid, at most ``limit``."""
    top = most if limit is None else min(most, int(limit / step))
    return step * c.integer(1, top)


def _price_near(c: _Chooser, ex: SimulatedExchange, symbol: str, *, away: bool = False) -> Decimal:
    spec = ex.specs[symbol]
    ticks = c.integer(1, 40) * c.choice((1, -1)) if away else c.integer(-40, 40)
    return max(ex.mark(symbol) + ticks * spec.tick, 10 * spec.tick)


def _pieces(c: _Chooser, step: Decimal, qty: Decimal) -> int:
    return c.integer(1, min(3, int(qty / step)))


def _side_and_reduce(c: _Chooser, ex: SimulatedExchange, symbol: str) -> tuple[str, bool]:
    """A side, and (hedge mode) whether the order closes the opposite leg."""
    side = c.choice(("Buy", "Sell"))
    if not ex.specs[symbol].hedge:
        return side, False
    closes = 2 if side == "Buy" else 1
    return side, ex.net(symbol, closes) != 0 and c.integer(0, 2) == 0


def _noise(c: _Chooser, ex: SimulatedExchange, order_id: str) -> None:
    """Bybit sends a position report on order create, amend and cancel (sometimes kept)."""
    o = ex.current(order_id)
    if c.integer(0, 2) == 0:
        ex.report_position(o.symbol, o.position_idx)


def _fill_some(c: _Chooser, ex: SimulatedExchange, order_id: str) -> None:
    can = ex.fillable(order_id)
    step = ex.specs[ex.current(order_id).symbol].qty_step
    qty = can if c.integer(0, 1) == 0 else _units(c, step, can)
    ex.fill(order_id, qty, pieces=_pieces(c, step, qty))
    if ex.current(order_id).status == "Filled" and c.integer(0, 3) == 0:
        ex.echo_cancel_race(order_id)  # a cancel sent just before the last fill lost the race


def _act_limit(c: _Chooser, ex: SimulatedExchange) -> None:
    symbol = c.choice(ex.symbols)
    side, reduce = _side_and_reduce(c, ex, symbol)
    oid = ex.place(
        symbol,
        side,
        _units(c, ex.specs[symbol].qty_step),
        price=_price_near(c, ex, symbol),
        time_in_force=c.choice(("GTC", "GTC", "PostOnly")),
        reduce_only=reduce,
        created_first=c.integer(0, 4) == 0,
    )
    _noise(c, ex, oid)


def _act_market(c: _Chooser, ex: SimulatedExchange) -> None:
    symbol = c.choice(ex.symbols)
    side, reduce = _side_and_reduce(c, ex, symbol)
    oid = ex.place(
        symbol,
        side,
        _units(c, ex.specs[symbol].qty_step),
        order_type="Market",
        reduce_only=reduce,
        announce=c.integer(0, 3) == 0,
    )
    for _ in range(c.integer(1, 3)):
        if ex.fillable(oid) == 0:
            break
        _fill_some(c, ex, oid)
    o = ex.current(oid)
    if o.is_open:
        reason = "EC_CancelForNoFullFill" if o.cum_exec_qty else "EC_NoImmediateQtyToFill"
        ex.cancel(oid, cancel_type="UNKNOWN", reject_reason=reason)


def _act_conditional(c: _Chooser, ex: SimulatedExchange) -> None:
    symbol = c.choice(ex.symbols)
    order_type = c.choice(("Limit", "Market"))
    oid = ex.place(
        symbol,
        c.choice(("Buy", "Sell")),
        _units(c, ex.specs[symbol].qty_step),
        price=_price_near(c, ex, symbol) if order_type == "Limit" else None,
        order_type=order_type,
        trigger_price=_price_near(c, ex, symbol, away=True),
    )
    _noise(c, ex, oid)


def _act_tpsl(c: _Chooser, ex: SimulatedExchange) -> None:
    symbol, idx = c.choice(ex.open_legs())
    net = ex.net(symbol, idx)
    ex.place(
        symbol,
        "Sell" if net > 0 else "Buy",
        _units(c, ex.specs[symbol].qty_step, abs(net)),
        order_type="Market",
        trigger_price=_price_near(c, ex, symbol, away=True),
        stop_order_type=c.choice(TPSL_STOP_ORDER_TYPES),
    )


def _act_reject(c: _Chooser, ex: SimulatedExchange) -> None:
    symbol = c.choice(ex.symbols)
    side = c.choice(("Buy", "Sell"))
    qty = _units(c, ex.specs[symbol].qty_step)
    price = _price_near(c, ex, symbol)
    if c.integer(0, 1) == 0:
        ex.place_rejected(symbol, side, qty, price, reason=c.choice(_REJECT_REASONS))
    else:
        status = c.choice(("Cancelled", "Rejected"))
        ex.place_rejected(
            symbol, side, qty, price, reason=_POST_ONLY_REASON, status=status,
            time_in_force="PostOnly",
        )  # fmt: skip


def _fillable_ids(ex: SimulatedExchange) -> list[str]:
    return [i for i in ex.order_ids("Created", "New", "PartiallyFilled") if ex.fillable(i) > 0]


def _act_fill(c: _Chooser, ex: SimulatedExchange) -> None:
    _fill_some(c, ex, c.choice(_fillable_ids(ex)))


def _act_amend(c: _Chooser, ex: SimulatedExchange) -> None:
    oid = c.choice(ex.order_ids("New", "PartiallyFilled", "Untriggered"))
    o = ex.current(oid)
    spec = ex.specs[o.symbol]
    what = ["qty"]
    if o.order_type == "Limit":
        what.append("price")
    if o.status == "Untriggered":
        what.append("trigger")
    match c.choice(what):
        case "qty":
            qty = o.cum_exec_qty + _units(c, spec.qty_step)
            ex.amend(oid, qty=qty if qty != o.qty else qty + spec.qty_step)
        case "price":
            assert o.price is not None  # noqa: S101 - a limit order has a price
            price = max(o.price + spec.tick * c.integer(-20, 20), 10 * spec.tick)
            ex.amend(oid, price=price if price != o.price else price + spec.tick)
        case _:
            assert o.trigger_price is not None  # noqa: S101 - an untriggered order has one
            trigger = max(o.trigger_price + spec.tick * c.integer(-20, 20), 10 * spec.tick)
            ex.amend(
                oid, trigger_price=trigger if trigger != o.trigger_price else trigger + spec.tick
            )
    _noise(c, ex, oid)


def _act_cancel(c: _Chooser, ex: SimulatedExchange) -> None:
    oid = c.choice(ex.order_ids("Created", "New", "PartiallyFilled", "Untriggered"))
    ex.cancel(oid)
    _noise(c, ex, oid)


def _act_trigger(c: _Chooser, ex: SimulatedExchange) -> None:
    oid = c.choice(ex.order_ids("Untriggered"))
    ex.trigger(oid)
    if ex.current(oid).order_type == "Limit":
        return
    can = ex.fillable(oid)
    if can:
        step = ex.specs[ex.current(oid).symbol].qty_step
        ex.fill(oid, can, pieces=_pieces(c, step, can))
    if ex.current(oid).is_open:
        ex.cancel(oid, cancel_type="CancelByReduceOnly")


def _act_funding(c: _Chooser, ex: SimulatedExchange) -> None:
    ex.funding(*c.choice(ex.open_legs()))


def _act_echo(c: _Chooser, ex: SimulatedExchange) -> None:
    ex.echo_cancel_race(c.choice(ex.echoable()))


def _act_noise(c: _Chooser, ex: SimulatedExchange) -> None:
    symbol = c.choice(ex.symbols)
    ex.report_position(symbol, c.choice(ex.specs[symbol].legs))


def _always(_ex: SimulatedExchange) -> bool:
    return True


_Action = tuple[
    str, Callable[[SimulatedExchange], bool], Callable[[_Chooser, SimulatedExchange], None]
]
_ACTIONS: Final[tuple[_Action, ...]] = (
    # (name, is it possible now?, do it); simplest first, so shrinking heads there
    ("limit", _always, _act_limit),
    ("fill", lambda ex: bool(_fillable_ids(ex)), _act_fill),
    ("cancel", lambda ex: bool(ex.order_ids("Created", "New", "PartiallyFilled", "Untriggered")),
     _act_cancel),
    ("market", _always, _act_market),
    ("amend", lambda ex: bool(ex.order_ids("New", "PartiallyFilled", "Untriggered")), _act_amend),
    ("conditional", _always, _act_conditional),
    ("trigger", lambda ex: bool(ex.order_ids("Untriggered")), _act_trigger),
    ("tpsl", lambda ex: bool(ex.open_legs()), _act_tpsl),
    ("reject", _always, _act_reject),
    ("funding", lambda ex: bool(ex.open_legs()), _act_funding),
    ("position", _always, _act_noise),
    ("echo", lambda ex: bool(ex.echoable()), _act_echo),
)  # fmt: skip


def _play(c: _Chooser, ex: SimulatedExchange, actions: int) -> None:
    for _ in range(actions):
        ex.advance(c.integer(0, 2000))
        if c.integer(0, 3) == 0:
            ex.move_mark(c.choice(ex.symbols), c.integer(-25, 25))
        topics = list(c.choice(_TOPIC_ORDERS))
        if ex.fast_executions:
            topics.insert(c.integer(0, len(topics)), "execution.fast")
        ex.topic_order = tuple(topics)
        possible = [(name, act) for name, can, act in _ACTIONS if can(ex)]
        _, act = c.choice(possible)
        act(c, ex)


@st.composite
def session(
    draw: st.DrawFn,
    *,
    symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
    min_actions: int = 1,
    max_actions: int = 25,
    fast_executions: bool | None = None,
) -> Session:
    """A valid session of ``min_actions`` to ``max_actions`` exchange actions.

    Each action is one thing happening on the account (an order placed, a match, an
    amend, a cancel, a trigger, a funding payment, a position report...) and emits one to
    four frames. Trades are also sent on ``execution.fast`` if ``fast_executions`` (None:
    drawn). Shrinks towards few, plain limit orders.
    """
    if fast_executions is None:
        fast_executions = draw(st.booleans())
    ex = SimulatedExchange(symbols, fast_executions=fast_executions)
    _play(_DrawChooser(draw), ex, draw(st.integers(min_actions, max_actions)))
    return Session(frames=list(ex.frames), truth=ex.truth, symbols=tuple(symbols))


def session_from_seed(
    seed: int,
    *,
    actions: int = 25,
    symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
    fast_executions: bool = False,
) -> Session:
    """The same kind of session as ``session()``, built deterministically from a seed."""
    ex = SimulatedExchange(symbols, fast_executions=fast_executions)
    _play(_RandomChooser(seed), ex, actions)
    return Session(frames=list(ex.frames), truth=ex.truth, symbols=tuple(symbols))


# --- delivery faults ----------------------------------------------------------------------


def _shifted(frames: Sequence[str], delays: Sequence[int]) -> list[str]:
    keyed = sorted(range(len(frames)), key=lambda i: (i + delays[i], i))
    return [frames[i] for i in keyed]


def reordered(frames: Sequence[str], *, window: int = 5) -> SearchStrategy[list[str]]:
    """The frames with bounded reordering: each frame ends at most ``window`` places from
    where it was. (Frame i is delivered as if sent at i + d with 0 <= d <= window.)"""
    if window < 0:
        raise ValueError("window >= 0")
    frames = list(frames)
    delays = st.lists(st.integers(0, window), min_size=len(frames), max_size=len(frames))
    return delays.map(lambda d: _shifted(frames, d))


def duplicated(
    frames: Sequence[str], *, max_copies: int | None = None, max_delay: int = 5
) -> SearchStrategy[list[str]]:
    """The frames with some delivered again, each copy at most ``max_delay`` frames after
    its original (with ``max_delay=0``, right after it)."""
    frames = list(frames)
    if not frames:
        return st.just([])
    limit = len(frames) if max_copies is None else max_copies
    copies = st.lists(
        st.tuples(st.integers(0, len(frames) - 1), st.integers(0, max_delay)), max_size=limit
    )

    def insert(picked: list[tuple[int, int]]) -> list[str]:
        slots: list[list[str]] = [[f] for f in frames]
        for index, delay in picked:
            slots[min(index + delay, len(frames) - 1)].append(frames[index])
        return [f for slot in slots for f in slot]

    return copies.map(insert)


def dropped(frames: Sequence[str], *, max_drops: int | None = None) -> SearchStrategy[list[str]]:
    """The frames with some lost (the rest in their original order)."""
    frames = list(frames)
    if not frames:
        return st.just([])
    limit = len(frames) if max_drops is None else max_drops
    lost = st.sets(st.integers(0, len(frames) - 1), max_size=limit)
    return lost.map(lambda gone: [f for i, f in enumerate(frames) if i not in gone])


def disorder(
    frames: Sequence[str],
    *,
    window: int = 5,
    duplicates: bool = True,
    drops: bool = False,
    max_copies: int | None = None,
) -> SearchStrategy[list[str]]:
    """What a client may receive: losses (if ``drops``), repeats (if ``duplicates``; at
    most ``max_copies``, each within ``window`` frames of its original), then bounded
    reordering (each frame moved at most ``window`` places)."""
    base: SearchStrategy[list[str]] = st.just(list(frames))
    if drops:
        base = base.flatmap(dropped)
    if duplicates:
        base = base.flatmap(lambda f: duplicated(f, max_copies=max_copies, max_delay=window))
    return base.flatmap(lambda f: reordered(f, window=window))


# --- malformed input ----------------------------------------------------------------------

_NAN: Final = "__oms_testing_nan__"
_WRONG_ANY: Final[tuple[object, ...]] = ([], {}, [1, "2"], {"a": "1"})
_WRONG_FOR: Final[dict[str, tuple[object, ...]]] = {
    # exact decimal text: no JSON numbers, no NaN/Infinity, no words, not null
    "decimal": ("abc", "NaN", "Infinity", "-Infinity", "1.2.3", "0x10", "1,5", 1.5, 7, True,
                None, _NAN),
    "required decimal": ("", "abc", "NaN", "Infinity", 1.5, 7, True, None, _NAN),
    # strings: not numbers, booleans or null
    "string": (None, 5, 1.5, True, _NAN),
    # strings Bybit spells from a fixed set
    "enum": ("abc", "", "buy", None, 5, 1.5, _NAN),
    "position side": ("abc", "buy", "Long", None, 5, 1.5, _NAN),
    # JSON ints: not words, fractions or null
    "int": ("abc", 1.5, "1.5", None, _NAN),
    "optional int": ("abc", 1.5, "1.5", _NAN),
    # JSON bools
    "bool": ("abc", 1.5, 5, None, _NAN),
    "optional bool": ("abc", 1.5, 5, _NAN),
    # milliseconds: digits as a string or a JSON int
    "millis": ("abc", "1.5", 1.5, None, _NAN),
}  # fmt: skip
_FIELDS: Final[dict[str, dict[str, str]]] = {
    "order": {
        "category": "string", "symbol": "string", "orderId": "string", "orderLinkId": "string",
        "side": "enum", "positionIdx": "int", "orderStatus": "enum", "orderType": "string",
        "stopOrderType": "string", "qty": "required decimal", "price": "decimal",
        "triggerPrice": "decimal", "cumExecQty": "required decimal", "cumExecValue": "decimal",
        "cumExecFee": "decimal", "leavesQty": "decimal", "avgPrice": "decimal",
        "reduceOnly": "bool", "timeInForce": "string", "createType": "string",
        "cancelType": "string", "rejectReason": "string", "createdTime": "millis",
        "updatedTime": "millis",
    },
    "execution": {
        "category": "string", "symbol": "string", "execId": "string", "orderId": "string",
        "orderLinkId": "string", "side": "enum", "execType": "string",
        "execQty": "required decimal", "execPrice": "required decimal", "execValue": "decimal",
        "execFee": "decimal", "feeRate": "decimal", "isMaker": "optional bool",
        "closedSize": "decimal", "leavesQty": "decimal", "execTime": "millis",
        "seq": "optional int",
    },
    "execution.fast": {
        "category": "string", "symbol": "string", "execId": "string", "orderId": "string",
        "orderLinkId": "string", "side": "enum", "execQty": "required decimal",
        "execPrice": "required decimal", "isMaker": "optional bool", "execTime": "millis",
        "seq": "optional int",
    },
    "position": {
        "category": "string", "symbol": "string", "positionIdx": "int",
        "side": "position side", "size": "required decimal", "entryPrice": "decimal",
        "markPrice": "decimal",
        "unrealisedPnl": "decimal", "cumRealisedPnl": "decimal", "seq": "int",
        "updatedTime": "millis",
    },
}  # fmt: skip
#: Fields whose absence makes an element invalid.
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "order": ("category", "symbol", "orderId", "side", "orderStatus", "qty", "cumExecQty",
              "updatedTime"),
    "execution": ("category", "symbol", "execId", "side", "execType", "execQty", "execPrice",
                  "execTime"),
    "execution.fast": ("category", "symbol", "execId", "side", "execQty", "execPrice",
                       "execTime"),
    "position": ("symbol", "side", "size"),
}  # fmt: skip


class _Remove:
    def __repr__(self) -> str:
        return "<removed>"


_REMOVE: Final = _Remove()


@dataclass(frozen=True, slots=True)
class Corruption:
    """A malformed copy of a valid data frame.

    ``bad_elements`` names the elements of ``data`` that are invalid (their valid siblings
    may still be applied); None means the whole frame is unusable.
    """

    text: str
    how: str
    bad_elements: frozenset[int] | None = None

    def valid_part(self, original: str) -> str | None:
        """The original frame without its bad elements (None if nothing of it is usable)."""
        if self.bad_elements is None:
            return None
        tree = json.loads(original)
        tree["data"] = [e for i, e in enumerate(tree["data"]) if i not in self.bad_elements]
        return json.dumps(tree, separators=(",", ":"))


def _dump(tree: object) -> str:
    return json.dumps(tree, separators=(",", ":")).replace(f'"{_NAN}"', "NaN")


def corrupted(frame: str) -> SearchStrategy[Corruption]:
    """Malformed copies of one valid ``order``, ``execution``, ``execution.fast`` or
    ``position`` frame:
    truncated text, a field of one element replaced by a value of the wrong JSON type
    (``"abc"`` for a number, null, a list, NaN, a float...), a required field removed, an
    element that is not an object, ``data`` missing or not a list, a bad envelope."""
    tree = json.loads(frame)
    topic = tree["topic"]
    data = tree["data"]
    if topic not in _FIELDS or not data:
        raise ValueError("corrupted() takes a non-empty data frame of a tracked topic")

    def with_element(index: int, element: object) -> str:
        copy = json.loads(frame)
        copy["data"][index] = element
        return _dump(copy)

    def wrong_field(index: int) -> SearchStrategy[Corruption]:
        kinds = _FIELDS[topic]
        names = sorted(k for k in data[index] if k in kinds)

        def build(name: str, value: object) -> Corruption:
            element = dict(data[index])
            element[name] = value
            return Corruption(with_element(index, element), f"{name}={value!r}", frozenset({index}))

        return st.sampled_from(names).flatmap(
            lambda name: st.sampled_from(_WRONG_FOR[kinds[name]] + _WRONG_ANY).map(
                lambda value: build(name, value)
            )
        )

    def missing_field(index: int) -> SearchStrategy[Corruption]:
        def build(name: str) -> Corruption:
            element = {k: v for k, v in data[index].items() if k != name}
            return Corruption(with_element(index, element), f"no {name}", frozenset({index}))

        return st.sampled_from(_REQUIRED[topic]).map(build)

    def not_an_object(index: int) -> SearchStrategy[Corruption]:
        return st.sampled_from((None, 5, "x", [], [data[index]], True)).map(
            lambda v: Corruption(with_element(index, v), f"element {v!r}", frozenset({index}))
        )

    def envelope(key: str, value: object, how: str) -> Corruption:
        copy = json.loads(frame)
        if value is _REMOVE:
            del copy[key]
        else:
            copy[key] = value
        return Corruption(_dump(copy), how)

    element_level = st.integers(0, len(data) - 1).flatmap(
        lambda i: st.one_of(wrong_field(i), missing_field(i), not_an_object(i))
    )
    truncated = st.integers(1, len(frame) - 1).map(
        lambda n: Corruption(frame[:n], f"truncated at {n}")
    )
    bad_envelope = st.one_of(
        st.sampled_from((_REMOVE, None, {}, "x", 5, {"0": data[0]})).map(
            lambda v: envelope("data", v, f"data={v!r}")
        ),
        st.sampled_from(("abc", 1.5, [], None)).map(
            lambda v: envelope("creationTime", v, f"creationTime={v!r}")
        ),
        st.sampled_from((5, [], None)).map(lambda v: envelope("id", v, f"id={v!r}")),
        st.sampled_from((5, [], None, _REMOVE)).map(lambda v: envelope("topic", v, f"topic={v!r}")),
    )
    return st.one_of(element_level, truncated, bad_envelope)


_FRAME_KEYS: Final = ("topic", "data", "op", "id", "creationTime", "success", "ret_msg")
_TOPIC_NAMES: Final = ("order", "execution", "position", "wallet", "greeks", "order.linear", "x")


def _json_values() -> SearchStrategy[object]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(_TOPIC_NAMES),
    )
    keys = st.one_of(st.sampled_from(_FRAME_KEYS), st.text(max_size=8))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)
        ),
        max_leaves=20,
    )


def garbage() -> SearchStrategy[str | bytes]:
    """Input that is not a usable data frame: arbitrary text and bytes, and arbitrary JSON
    (objects biased towards frame-like keys such as ``topic``, ``data`` and ``op``).

    A few of these are acceptable control frames (``{"op": ...}``), frames of topics the
    ledger ignores, or data frames whose ``data`` is empty; none carries a valid element.
    """
    return st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        _json_values().map(json.dumps),
    )


# --- what a ledger should hold ------------------------------------------------------------


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
      position report with positionIdx 0 was delivered before it); funding moves nothing.
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
        if held is None or (report.seq, report.updated_time) > (held.seq, held.updated_time):
            self._positions[key] = report
        if report.position_idx == 0:
            self._oneway.add(report.symbol)

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
        """Signed net of the delivered fills attributed to one leg."""
        return sum(
            (
                f.signed_qty
                for f in self._fills.values()
                if self._leg_of(f) == (symbol, position_idx)
            ),
            _ZERO,
        )

    def booked_qty(self, order_id: str) -> Decimal:
        """Quantity of the delivered position-changing fills of one order."""
        return sum(
            (
                f.exec_qty
                for f in self._fills.values()
                if f.order_id == order_id and f.changes_position
            ),
            _ZERO,
        )


def _order_differences(ledger: Ledger, want_orders: Mapping[str, OrderTruth]) -> list[str]:
    out: list[str] = []
    got_orders = {o.order_id: o for o in ledger.orders()}
    if set(got_orders) != set(want_orders):
        extra, missing = set(got_orders) - set(want_orders), set(want_orders) - set(got_orders)
        out.append(f"order ids: extra {sorted(extra)}, missing {sorted(missing)}")
    for order_id, want in want_orders.items():
        got = got_orders.get(order_id)
        if got is None:
            continue
        pairs = {
            "status": (got.status.value, want.status),
            "cum_exec_qty": (got.cum_exec_qty, want.cum_exec_qty),
            "leaves_qty": (got.leaves_qty, want.leaves_qty),
            "avg_price": (got.avg_price, want.avg_price),
            "qty": (got.qty, want.qty),
            "price": (got.price, want.price),
            "trigger_price": (got.trigger_price, want.trigger_price),
            "updated_time": (got.updated_time, want.updated_time),
            "created_time": (got.created_time, want.created_time),
            "side": (got.side.value, want.side),
            "position_idx": (got.position_idx, want.position_idx),
            "order_link_id": (got.order_link_id, want.order_link_id),
            "reject_reason": (got.reject_reason, want.reject_reason),
        }
        out.extend(
            f"order {order_id} {name}: got {g!r}, want {w!r}"
            for name, (g, w) in pairs.items()
            if g != w
        )
    got_open = {o.order_id for o in ledger.open_orders()}
    want_open = {i for i, o in want_orders.items() if o.is_open}
    if got_open != want_open:
        out.append(f"open orders: got {sorted(got_open)}, want {sorted(want_open)}")
    return out


def _fill_differences(ledger: Ledger, expected: Expected) -> list[str]:
    out: list[str] = []
    want_fills = expected.fill_map()
    got_fills = {f.exec_id: f for f in ledger.fills()}
    if len(got_fills) != len(ledger.fills()):
        out.append("an execId is booked twice")
    if set(got_fills) != set(want_fills):
        extra, missing = set(got_fills) - set(want_fills), set(want_fills) - set(got_fills)
        out.append(f"exec ids: extra {sorted(extra)}, missing {sorted(missing)}")
    for exec_id, w in want_fills.items():
        g = got_fills.get(exec_id)
        if g is None:
            continue
        got_row = (g.order_id, g.side.value, g.exec_type, g.exec_qty, g.exec_price, g.exec_fee,
                   g.exec_time, g.seq)  # fmt: skip
        want_row = (w.order_id, w.side, w.exec_type, w.exec_qty, w.exec_price, w.exec_fee,
                    w.exec_time, w.seq)  # fmt: skip
        if got_row != want_row:
            out.append(f"fill {exec_id}: got {got_row}, want {want_row}")
    order_ids = set(expected.order_map()) | {f.order_id for f in want_fills.values()}
    out.extend(
        f"booked qty of {i}: got {ledger.booked_qty(i)}, want {expected.booked_qty(i)}"
        for i in sorted(order_ids)
        if ledger.booked_qty(i) != expected.booked_qty(i)
    )
    return out


def _position_differences(ledger: Ledger, expected: Expected) -> list[str]:
    out: list[str] = []
    want_positions = expected.position_map()
    got_positions = {(p.symbol, p.position_idx): p for p in ledger.position_reports()}
    if set(got_positions) != set(want_positions):
        out.append(f"reported legs: got {sorted(got_positions)}, want {sorted(want_positions)}")
    for key, w in want_positions.items():
        g = got_positions.get(key)
        if g is None:
            continue
        got_row = (g.net_qty, g.size, g.side.value if g.side else "", g.seq, g.updated_time)
        want_row = (w.net_qty, w.size, w.side, w.seq, w.updated_time)
        if got_row != want_row:
            out.append(f"position {key}: got {got_row}, want {want_row}")
    got_legs = {(k.symbol, k.position_idx): leg for k, leg in ledger.legs().items()}
    if set(got_legs) != set(expected.legs()):
        out.append(f"legs: got {sorted(got_legs)}, want {sorted(expected.legs())}")
    out.extend(
        f"derived net {key}: got {leg.derived_net}, want {expected.derived_net(*key)}"
        for key, leg in sorted(got_legs.items())
        if leg.derived_net != expected.derived_net(*key)
    )
    return out


def ledger_differences(ledger: Ledger, expected: Expected) -> list[str]:
    """How ``ledger`` differs from ``expected`` (empty when it holds exactly that state):
    every order's report and the open-order set, every fill and the quantity booked per
    order, each leg's report, the legs known and their fills-derived nets."""
    return [
        *_order_differences(ledger, expected.order_map()),
        *_fill_differences(ledger, expected),
        *_position_differences(ledger, expected),
    ]
