"""``Account``: the state behind a ``Venue`` (markets, legs, orders, executions, time and
ids) and the bookkeeping its actions share: filing orders as open or closed, stamping
times, and queueing one action's frames. ``VenueError`` is what a refused request
raises."""

from __future__ import annotations

from collections import Counter, deque
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from oms.sim import wire
from oms.sim.ids import CountingIds, Ids
from oms.sim.records import ZERO, Leg, LegId, Market, Order, Terms
from oms.sim.specs import DEPOSIT, T0, TPSL_STOP_ORDER_TYPES, SymbolSpec
from oms.sim.truth import account_truth

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from oms.sim.records import Execution
    from oms.sim.wire import Element

__all__ = ["Account", "Group", "VenueError"]

#: One action's frames before they are stamped: (topic, elements) in emission order.
Group = list[tuple[str, list["Element"]]]
_TPSL_CREATE_TYPES: Final = {t: f"CreateBy{t}" for t in TPSL_STOP_ORDER_TYPES}
#: The REST closed-order buffer (``openOnly=1``) keeps this many orders.
CLOSED_BUFFER: Final = 500


class VenueError(ValueError):
    """A request the venue refuses; nothing changed."""


def _as_given(group: Group) -> Group:
    return group


class Account:
    """The simulated account's state and the bookkeeping every venue action shares.

    ``ids`` gives orderIds, execIds, frame ids and sequence steps; ``clock`` a lower
    bound for venue time (default: logical time only, from ``start_ms``);
    ``link_prefix`` starts every orderLinkId; ``detail`` adds Bybit's newer fields;
    ``wallet`` pushes the wallet after every trade and funding; ``fast_frames`` pushes
    trades on ``execution.fast`` too (as separate frames). ``arrange`` orders the frames of
    one action (Bybit orders no topic first), ``delay(i)`` is how long after the action
    its i-th frame is created.
    """

    def __init__(
        self,
        symbols: Sequence[SymbolSpec],
        *,
        ids: Ids | None = None,
        clock: Callable[[], int] | None = None,
        start_ms: int = T0,
        link_prefix: str = "oms-",
        detail: bool = False,
        wallet: bool = False,
        fast_frames: bool = False,
    ) -> None:
        if not symbols or len({s.symbol for s in symbols}) != len(symbols):
            raise VenueError("symbols must be non-empty and distinct")
        self.specs: dict[str, SymbolSpec] = {s.symbol: s for s in symbols}
        self.markets = {s.symbol: Market.of(s) for s in symbols}
        self.legs: dict[LegId, Leg] = {
            (s.symbol, i): Leg(self.markets[s.symbol], i) for s in symbols for i in s.legs
        }
        self.orders: dict[str, Order] = {}
        #: open orders as an ordered set, oldest first
        self.open_ids: dict[str, None] = {}
        #: the most recently closed orders, oldest first
        self.closed_ids: deque[str] = deque(maxlen=CLOSED_BUFFER)
        self.executions: dict[str, Execution] = {}
        self.stats: Counter[str] = Counter()
        self.ids: Ids = ids or CountingIds()
        self.now = start_ms
        self.detail, self.wallet, self.fast_frames = detail, wallet, fast_frames
        self.link_prefix = link_prefix
        self.arrange: Callable[[Group], Group] = _as_given
        self.delay: Callable[[int], int] = lambda _i: 0
        self._clock = clock or (lambda: 0)
        self._pending: list[wire.Push] = []
        self._ordinal = self._links = self._fundings = 0

    # --- time, lookups, frames --------------------------------------------------------

    def stamp(self) -> int:
        """A fresh venue time: strictly after every one issued, never before the clock."""
        self.now = max(self._clock(), self.now + 1)
        return self.now

    def time(self) -> int:
        """The venue's time now (never before the newest timestamp it issued)."""
        return max(self._clock(), self.now)

    def order(self, order_id: str) -> Order:
        try:
            return self.orders[order_id]
        except KeyError:
            raise VenueError(f"unknown order {order_id}") from None

    def leg(self, symbol: str, idx: int) -> Leg:
        try:
            return self.legs[symbol, idx]
        except KeyError:
            raise VenueError(f"{symbol} has no leg {idx}") from None

    def take(self) -> list[wire.Push]:
        """The frames pushed since the last call, in the order sent."""
        pending, self._pending = self._pending, []
        return pending

    def _next_ordinal(self) -> int:
        self._ordinal += 1
        return self._ordinal

    def _send(self, t: int, group: Group, *, wallet: bool = False) -> None:
        group = self.arrange([(topic, data) for topic, data in group if data])
        if wallet and self.wallet:
            group.append(("wallet", [wire.wallet_element(self.legs.values(), DEPOSIT)]))
        for i, (topic, data) in enumerate(group):
            frame_id = "" if topic == "execution.fast" else self.ids.frame_id()
            self._pending.append(wire.Push(topic, frame_id, t + self.delay(i), tuple(data)))
            self.stats["frames"] += 1
            self.stats[f"frames_{topic}"] += 1

    def _reported(self, orders: Sequence[Order]) -> list[Element]:
        for o in orders:
            o.history.append(o.status)
        return [wire.order_element(o, detail=self.detail) for o in orders]

    def _file(self, o: Order) -> None:
        """File an order under open or closed after its status changed (an order closes
        once: a terminal status is final)."""
        if o.is_open:
            self.open_ids[o.order_id] = None
            return
        self.open_ids.pop(o.order_id, None)
        self.closed_ids.append(o.order_id)
        self.stats[f"closed_{o.status}"] += 1

    def _close(self, o: Order, status: str, t: int, cancel_type: str = "UNKNOWN") -> None:
        o.status, o.cancel_type, o.updated = status, cancel_type, t
        self._file(o)

    def _new_order(self, terms: Terms) -> Order:
        """A new order of ``terms``, filed open (``New``, or ``Untriggered`` with a
        trigger), after its terms were checked."""
        spec = self.specs.get(terms.symbol)
        if spec is None:
            raise VenueError(f"unknown symbol {terms.symbol}")
        market = self.markets[terms.symbol]
        price = _check_terms(spec, market, terms)
        trigger, stop = terms.trigger_price, terms.stop_order_type
        tpsl = stop in TPSL_STOP_ORDER_TYPES
        reduce_only = terms.reduce_only or tpsl
        # hedge: Buy opens the long leg (1), Sell the short (2); reduce-only closes the other
        idx = (1 if (terms.side == "Buy") != reduce_only else 2) if spec.hedge else 0
        t = self.stamp()
        self._links += 0 if tpsl else 1
        o = Order(
            ordinal=self._next_ordinal(), order_id=self.ids.uuid(),
            link_id="" if tpsl else f"{self.link_prefix}{self._links}", market=market,
            leg=self.legs[terms.symbol, idx], side=terms.side, order_type=terms.order_type,
            tif=terms.time_in_force or ("GTC" if terms.order_type == "Limit" else "IOC"),
            qty=terms.qty, price=price, created=t, updated=t,
            stop_type=stop or ("Stop" if trigger is not None else ""),
            create_type=_TPSL_CREATE_TYPES.get(stop, "CreateByUser"), trigger=trigger or ZERO,
            reduce_only=reduce_only, close_on_trigger=tpsl,
            status="New" if trigger is None else "Untriggered",
        )  # fmt: skip
        if trigger is not None:
            o.trigger_direction = 1 if trigger > market.mid else 2
            o.last_price_on_created = wire.fmt(market.mid)
        self.orders[o.order_id] = o
        self._file(o)
        self.stats["orders"] += 1
        return o

    # --- views ------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """The exact current state: see ``oms.sim.truth.account_truth``."""
        return account_truth(self.orders.values(), self.executions.values(), self.legs.values())


def _check_terms(spec: SymbolSpec, market: Market, terms: Terms) -> Decimal:
    """The order's price once its terms are checked (a market order's protection price)."""
    side, qty, price, trigger = terms.side, terms.qty, terms.price, terms.trigger_price
    if side not in {"Buy", "Sell"} or terms.order_type not in {"Limit", "Market"}:
        raise VenueError("side is Buy or Sell, orderType Limit or Market")
    if qty <= 0 or qty % spec.qty_step:
        raise VenueError(f"qty {qty} is not a positive multiple of {spec.qty_step}")
    if price is None:
        if terms.order_type == "Limit":
            raise VenueError("a limit order needs a price")
        protect = Decimal("1.03") if side == "Buy" else Decimal("0.97")
        price = (market.mid * protect).quantize(spec.tick)
    if price <= 0 or price % spec.tick:
        raise VenueError(f"price {price} is not on the tick {spec.tick}")
    if trigger is not None and (trigger <= 0 or trigger % spec.tick):
        raise VenueError(f"trigger price {trigger} is not on the tick {spec.tick}")
    if terms.stop_order_type in TPSL_STOP_ORDER_TYPES and trigger is None:
        raise VenueError("a TP/SL order needs a trigger price")
    return price
