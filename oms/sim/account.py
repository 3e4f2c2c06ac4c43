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
from oms.sim.records import ZERO, Leg, LegId, Market, Order, Terms, q8, to_tick
from oms.sim.specs import CATEGORIES, CATEGORY, DEPOSITS, T0, TPSL_STOP_ORDER_TYPES, SymbolSpec
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
        self._init_instruments(symbols)
        self.orders: dict[str, Order] = {}
        #: orderLinkId -> orderId of every order that had one (Bybit: unique forever)
        self.links: dict[str, str] = {}
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

    def _init_instruments(self, symbols: Sequence[SymbolSpec]) -> None:
        """The specs, markets and position legs of ``symbols`` (checked: some, distinct,
        each of a category the venue trades)."""
        if not symbols or len({s.key for s in symbols}) != len(symbols):
            raise VenueError("symbols must be non-empty and distinct")
        if any(s.category not in CATEGORIES for s in symbols):
            raise VenueError(f"a symbol's category is one of {', '.join(CATEGORIES)}")
        #: specs and markets by instrument key (``oms.sim.specs.instrument_key``)
        self.specs: dict[str, SymbolSpec] = {s.key: s for s in symbols}
        self.markets = {s.key: Market.of(s) for s in symbols}
        #: the position legs (linear and inverse), by (instrument key, positionIdx)
        self.legs: dict[LegId, Leg] = {
            (s.key, i): Leg(self.markets[s.key], i) for s in symbols for i in s.legs
        }
        #: per spot pair, the base coin its fills bought net of what they sold (never
        #: reported: spot has no position topic)
        self.spot_legs: dict[str, Leg] = {
            s.key: Leg(self.markets[s.key], 0) for s in symbols if s.category == "spot"
        }
        #: every coin the spot fills moved, net of their fees (the deposits excluded)
        self.spot_flows: dict[str, Decimal] = {}

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

    def leg(self, key: str, idx: int) -> Leg:
        """The position leg ``idx`` of the instrument ``key`` (the symbol, for linear)."""
        try:
            return self.legs[key, idx]
        except KeyError:
            raise VenueError(f"{key} has no leg {idx}") from None

    # --- coins --------------------------------------------------------------------------

    def balance(self, coin: str) -> Decimal:
        """A coin's wallet balance: its deposit, the PnL and fees the legs settling in it
        realised, and what the spot fills moved."""
        realised = sum(
            (leg.cum_realised for leg in self.legs.values() if leg.market.spec.settle_coin == coin),
            ZERO,
        )
        return DEPOSITS.get(coin, ZERO) + q8(realised) + self.spot_flows.get(coin, ZERO)

    def locked(self, coin: str, *, excluding: Order | None = None) -> Decimal:
        """What open spot orders hold of ``coin``: a sell its base, a buy its quote."""
        held = ZERO
        for o in (self.orders[i] for i in self.open_ids):
            spec = o.market.spec
            if spec.category != "spot" or o is excluding:
                continue
            if o.side == "Sell" and spec.base_coin == coin:
                held += o.leaves
            elif o.side == "Buy" and spec.quote_coin == coin:
                held += o.leaves * o.price
        return held

    def free(self, coin: str, *, excluding: Order | None = None) -> Decimal:
        """A coin's balance less what open spot orders hold."""
        return self.balance(coin) - self.locked(coin, excluding=excluding)

    def affordable(
        self,
        spec: SymbolSpec,
        side: str,
        qty: Decimal,
        price: Decimal,
        *,
        excluding: Order | None = None,
    ) -> bool:
        """Whether the wallet holds what a spot order of ``qty`` at ``price`` needs (a sell
        its base coin, a buy its quote); derivatives always (margin is not modelled)."""
        if spec.category != "spot":
            return True
        if side == "Sell":
            return qty <= self.free(spec.base_coin, excluding=excluding)
        return qty * price <= self.free(spec.quote_coin, excluding=excluding)

    def coins(self) -> list[str]:
        """The wallet's coins: each leg's settle coin, each spot pair's base and quote."""
        found: dict[str, None] = {}
        for spec in self.specs.values():
            if spec.category == "spot":
                found.update({spec.base_coin: None, spec.quote_coin: None})
            else:
                found[spec.settle_coin] = None
        return list(found)

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
            group.append(("wallet", [self.wallet_element()]))
        for i, (topic, data) in enumerate(group):
            frame_id = "" if topic == "execution.fast" else self.ids.frame_id()
            category = str(data[0].get("category", CATEGORY))
            self._pending.append(
                wire.Push(topic, frame_id, t + self.delay(i), tuple(data), category)
            )
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

    def _new_order(self, terms: Terms, *, funded: bool = True) -> Order:
        """A new order of ``terms``, filed open (``New``, or ``Untriggered`` with a
        trigger), after its terms (and, if ``funded``, a spot order's coins) were
        checked."""
        spec = self.specs.get(terms.key)
        if spec is None:
            raise VenueError(f"unknown {terms.category} symbol {terms.symbol}")
        market = self.markets[terms.key]
        price = _check_terms(spec, market, terms)
        if funded and not self.affordable(spec, terms.side, terms.qty, price):
            raise VenueError(f"insufficient balance for a {terms.side} of {terms.qty}")
        o = self._order_of(terms, spec, market, price)
        self.orders[o.order_id] = o
        if o.link_id:
            self.links[o.link_id] = o.order_id
        self._file(o)
        self.stats["orders"] += 1
        return o

    def _order_of(self, terms: Terms, spec: SymbolSpec, market: Market, price: Decimal) -> Order:
        """The ``Order`` of checked ``terms`` at ``price``, stamped now (not filed yet)."""
        trigger, stop = terms.trigger_price, terms.stop_order_type
        tpsl = stop in TPSL_STOP_ORDER_TYPES
        reduce_only = terms.reduce_only or tpsl
        spot = spec.category == "spot"
        leg = self.spot_legs[spec.key] if spot else self.legs[spec.key, _leg_idx(spec, terms)]
        t = self.stamp()
        link_id = self._next_link_id(tpsl=tpsl) if terms.link_id is None else terms.link_id
        o = Order(
            ordinal=self._next_ordinal(), order_id=self.ids.uuid(),
            link_id=link_id, market=market,
            leg=leg, side=terms.side, order_type=terms.order_type,
            tif=terms.time_in_force or ("GTC" if terms.order_type == "Limit" else "IOC"),
            qty=terms.qty, price=price, created=t, updated=t,
            stop_type=stop or ("Stop" if trigger is not None else ""),
            create_type="" if spot else _TPSL_CREATE_TYPES.get(stop, "CreateByUser"),
            trigger=trigger or ZERO,
            reduce_only=reduce_only, close_on_trigger=tpsl or terms.close_on_trigger,
            status="New" if trigger is None else "Untriggered",
            trigger_by=terms.trigger_by, take_profit=terms.take_profit,
            stop_loss=terms.stop_loss, tp_trigger_by=terms.tp_trigger_by,
            sl_trigger_by=terms.sl_trigger_by, tpsl_mode=terms.tpsl_mode,
            parent_link_id=terms.parent_link_id,
        )  # fmt: skip
        if trigger is not None:
            o.trigger_direction = terms.trigger_direction or (1 if trigger > market.mid else 2)
            o.last_price_on_created = wire.fmt(market.mid)
        return o

    def _next_link_id(self, *, tpsl: bool) -> str:
        """The orderLinkId of an order sent without one: the prefix and a count (a TP/SL
        order gets none and takes no number)."""
        self._links += 0 if tpsl else 1
        return "" if tpsl else f"{self.link_prefix}{self._links}"

    # --- views ------------------------------------------------------------------------

    def wallet_element(self) -> Element:
        """The unified account's ``wallet`` element, every coin of ``coins()``."""
        coins = self.coins()
        return wire.wallet_element(
            self.legs.values(),
            {c: (self.balance(c), self.locked(c), self.usd_price(c)) for c in coins},
        )

    def usd_price(self, coin: str) -> Decimal:
        """A coin's price in USD: 1 for USDT, else the mark of a market it is the base of."""
        if coin in ("USDT", "USD"):
            return Decimal(1)
        marks = [m.mark for m in self.markets.values() if m.spec.base_coin == coin]
        return marks[0] if marks else ZERO

    def truth(self) -> dict[str, Any]:
        """The exact current state: see ``oms.sim.truth.account_truth``."""
        truth = account_truth(self.orders.values(), self.executions.values(), self.legs.values())
        if any(s.category != CATEGORY for s in self.specs.values()):  # not linear alone
            truth["balances"] = {c: wire.fmt(self.balance(c)) for c in self.coins()}
        return truth


def _leg_idx(spec: SymbolSpec, terms: Terms) -> int:
    """The leg an order works on: the one asked for, else in hedge mode Buy opens the long
    leg (1) and Sell the short (2), a reduce-only order closing the other; one-way 0."""
    if terms.position_idx is not None:
        if terms.position_idx not in spec.legs:
            raise VenueError(f"{spec.key} has no leg {terms.position_idx}")
        return terms.position_idx
    reduce_only = terms.reduce_only or terms.stop_order_type in TPSL_STOP_ORDER_TYPES
    return (1 if (terms.side == "Buy") != reduce_only else 2) if spec.hedge else 0


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
        price = to_tick(market.mid * protect, spec.tick)
    if price <= 0 or price % spec.tick:
        raise VenueError(f"price {price} is not on the tick {spec.tick}")
    if trigger is not None and (trigger <= 0 or trigger % spec.tick):
        raise VenueError(f"trigger price {trigger} is not on the tick {spec.tick}")
    if terms.stop_order_type in TPSL_STOP_ORDER_TYPES and trigger is None:
        raise VenueError("a TP/SL order needs a trigger price")
    if spec.category == "spot" and (
        terms.reduce_only or trigger is not None or terms.stop_order_type
    ):
        raise VenueError("a spot order here is a plain order: no reduce-only, no trigger")
    return price
