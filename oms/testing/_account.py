"""The state behind ``SimulatedExchange``: orders, legs, marks, sequence numbers and ids,
and how one action's changes become frames and truth. Private to ``oms.testing``."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from oms.testing import _wire as w
from oms.testing.model import ReferenceModel
from oms.testing.symbols import DEFAULT_SYMBOLS, T0, TPSL_STOP_ORDER_TYPES, SymbolSpec
from oms.testing.truth import LegId, OrderTruth, PositionTruth

if TYPE_CHECKING:
    from collections.abc import Sequence

_ZERO: Final = w.ZERO
_TPSL_CREATE_TYPES: Final = {
    "TakeProfit": "CreateByTakeProfit",
    "StopLoss": "CreateByStopLoss",
    "PartialTakeProfit": "CreateByPartialTakeProfit",
    "PartialStopLoss": "CreateByPartialStopLoss",
}
_ID_MULTIPLIER: Final = 0x9E3779B97F4A7C15F39CC0605CEDC835


class Account:
    """A linear account's state and the bookkeeping every exchange action shares."""

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
        self.topic_order: tuple[str, ...] = w.TOPICS
        self.fast_executions = fast_executions
        self._orders: dict[str, w.SimOrder] = {}
        self._marks = {s.symbol: s.price for s in symbols}
        self._next_seq = {s.symbol: 4_600_000_000 + 10_000_000 * i for i, s in enumerate(symbols)}
        self._last_seq = dict.fromkeys(self.specs, -1)
        self._legs: dict[LegId, w.SimLeg] = {}
        self._counter = 0

    def net(self, symbol: str, position_idx: int) -> Decimal:
        """The signed net of one leg now."""
        leg = self._legs.get((symbol, position_idx))
        return _ZERO if leg is None else leg.net

    # --- internals --------------------------------------------------------------------

    def _order(self, order_id: str) -> w.SimOrder:
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

    def _leg(self, symbol: str, idx: int) -> w.SimLeg:
        leg = self._legs.get((symbol, idx))
        if leg is None:
            leg = self._legs[symbol, idx] = w.SimLeg(created=self.now)
        return leg

    def _capacity(self, o: w.SimOrder) -> Decimal | None:
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
    ) -> w.SimOrder:
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
        reduce_only = reduce_only or tpsl
        # hedge: Buy opens the long leg (1), Sell the short (2); reduce-only closes the other
        idx = (1 if (side == "Buy") != reduce_only else 2) if spec.hedge else 0
        t = self._stamp()
        order_id = self._uuid(0x0D)
        o = w.SimOrder(
            order_id=order_id, link_id="" if tpsl else f"oms-{self._counter}", spec=spec,
            side=side, idx=idx, order_type=order_type,
            tif=time_in_force or ("GTC" if order_type == "Limit" else "IOC"),
            stop_type=stop_order_type or ("Stop" if trigger_price is not None else ""),
            create_type=_TPSL_CREATE_TYPES.get(stop_order_type, "CreateByUser"),
            qty=qty, price=price, trigger=trigger_price or _ZERO,
            trigger_direction=0 if trigger_price is None else (1 if trigger_price > mark else 2),
            reduce_only=reduce_only, close_on_trigger=tpsl,
            status="New" if trigger_price is None else "Untriggered", created=t, updated=t,
        )  # fmt: skip
        self._orders[order_id] = o
        return o

    def _fill_price(self, o: w.SimOrder) -> Decimal:
        return o.price if o.order_type == "Limit" else self._marks[o.spec.symbol]

    def _close_orphans(self, symbol: str, idx: int, t: int, *, skip: str) -> list[w.SimOrder]:
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

    def _element(self, o: w.SimOrder) -> dict[str, Any]:
        return w.order_element(o, self._marks[o.spec.symbol])

    def _execution(self, symbol: str, t: int, seq: int, fields: dict[str, Any]) -> dict[str, Any]:
        return w.execution_element(symbol, self._marks[symbol], self._uuid(0xE4EC), t, seq, fields)

    def _send(
        self,
        *,
        orders: Sequence[w.SimOrder] = (),
        executions: Sequence[dict[str, Any]] = (),
        fast: Sequence[dict[str, Any]] = (),
        positions: Sequence[LegId] = (),
    ) -> list[str]:
        """Frame one action's updates (topics in ``topic_order``) and record the truth."""
        order_elements = [self._element(o) for o in orders]
        position_elements = [
            w.position_element(s, i, self._leg(s, i), self._marks[s], self.now, self._last_seq[s])
            for s, i in positions
        ]
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

    def _emit(self, by_topic: dict[str, list[dict[str, Any]]]) -> list[str]:
        sent = w.frame_texts(by_topic, self.topic_order, self.now, lambda: self._uuid(0xF4A3E))
        self.frames.extend(sent)
        return sent
