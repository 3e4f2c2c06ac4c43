"""``Exchange``: the account behind the sandbox, a simulator venue (``oms.sim``) trading by
itself, with a lock, the wall clock and a sink for its frames (no I/O, no threads).

A seeded ``RandomPolicy`` (``SANDBOX_MIX``) trades linear perpetuals, one-way (positionIdx
0) and hedge mode (1 long / 2 short), and with ``categories`` the inverse BTCUSD and the
spot BTCUSDT too (``oms.sim.specs.CATEGORY_SYMBOLS``; spot pushes no position frames):
market and limit orders, partial fills, amends, cancels with and without fills, rejects
(PostOnly orders that would take liquidity are cancelled with
``EC_PostOnlyWillTakeLiquidity``), IOC/FOK misses, conditional orders
(Untriggered -> Triggered -> New -> ..., or Deactivated), TP/SL and reduce-only orders,
flips through zero, the cancel-race echo, and funding. Every event becomes the exact
private-stream frames (``Push``) handed to ``sink`` in emission order:

- ``order`` on every status change, amend and cancel;
- ``execution`` per match (1-3 elements, unique execIds, one seq per match; the symbol's
  seq only grows), and one ``Funding`` execution per open leg and funding round;
- ``position`` of the leg on every fill and every order create/amend/cancel, with seq =
  the account's last trade seq on the symbol (-1 before the first);
- ``wallet`` after every fill and funding payment.

The (order, execution, position) frames of a match arrive in varying order, as on the
wire. ``truth()`` is the exact state; the REST views read the same records. All public
methods take ``lock`` (an ``RLock``), so any thread may call them.

The market (``oms.sim.market.Markets``, seeded from ``seed`` apart from the background
flow) moves one step per ``tick()`` and pays funding every ``funding_interval_ms`` (8 h,
Bybit's, unless told) on the exchange's clock; the background flow moves no price and
pays no funding. order entry (``oms.sim.entry.OrderEntry``) is one
method per op (``create``, ``amend``, ``cancel``, ``cancel_all``, ``trading_stop``), each
under the lock, its frames handed to ``sink`` before it returns the op's ``result`` (or
raises ``Refused``). Background trading never touches the orders placed through entry.
Public events (book, tape, tickers, liquidations) go to ``public_sink``, in order.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING, Any, TypeVar

from oms.clock import now_ms as wall_ms
from oms.sandbox.model import DEFAULT_CATEGORIES, DEFAULT_SYMBOLS
from oms.sim import wire
from oms.sim.entry import OrderEntry
from oms.sim.ids import RandomIds
from oms.sim.market import FUNDING_INTERVAL_MS, Markets
from oms.sim.policies import SANDBOX_MIX, RandomPolicy
from oms.sim.specs import CATALOGUE, CATEGORY, SymbolSpec, instrument_key, symbols_of
from oms.sim.venue import Venue

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from decimal import Decimal

    from oms.sim.market import PublicEvent
    from oms.sim.records import Order
    from oms.sim.wire import Element, Push

__all__ = ["Exchange", "resolve_symbols", "wall_ms"]

_R = TypeVar("_R")


def resolve_symbols(
    symbols: Iterable[str | SymbolSpec], categories: Iterable[str] = DEFAULT_CATEGORIES
) -> list[SymbolSpec]:
    """Specs of the symbols traded: the given linear ones (names from ``CATALOGUE`` or
    ``SymbolSpec`` instances of any category) when ``categories`` has linear, then the
    symbols of the other categories asked for (``oms.sim.specs.symbols_of``)."""
    categories = tuple(categories)
    specs = []
    for item in symbols:
        if isinstance(item, SymbolSpec):
            specs.append(item)
        elif item in CATALOGUE:
            specs.append(CATALOGUE[item])
        else:
            raise ValueError(f"unknown symbol {item!r}; known: {', '.join(CATALOGUE)}")
    specs = [s for s in specs if s.category != CATEGORY] + list(
        symbols_of(categories, [s for s in specs if s.category == CATEGORY])
    )
    if not specs or len({s.key for s in specs}) != len(specs):
        raise ValueError("symbols must be non-empty and distinct")
    return specs


class Exchange:
    """The simulated account: its orders, executions, positions, and the frames they cause."""

    def __init__(
        self,
        *,
        seed: int = 1,
        symbols: Sequence[str | SymbolSpec] = DEFAULT_SYMBOLS,
        categories: Sequence[str] = DEFAULT_CATEGORIES,
        clock: Callable[[], int] = wall_ms,
        sink: Callable[[Push], None] | None = None,
        public_sink: Callable[[PublicEvent], None] | None = None,
        funding_interval_ms: int = FUNDING_INTERVAL_MS,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, not crypto
        self.lock = threading.RLock()
        #: receives every pushed frame, in order, while ``lock`` is held
        self.sink = sink
        #: receives every public event of the market, in order, while ``lock`` is held
        self.public_sink = public_sink
        self.specs = resolve_symbols(symbols, categories)
        self.categories = tuple(dict.fromkeys(s.category for s in self.specs))
        self.venue = Venue(
            self.specs, ids=RandomIds(self.rng), clock=clock, start_ms=0,
            link_prefix=f"sbx-{seed}-", detail=True, wallet=True,
        )  # fmt: skip
        # the market draws from its own generator: the background flow stays what the
        # seed made it, however many market steps ran in between
        self.markets = Markets(
            self.venue,
            random.Random(f"market-{seed}"),  # noqa: S311 - a simulation
            funding_interval_ms=funding_interval_ms,
        )
        self.entry = OrderEntry(self.venue, self.markets)
        self.policy = RandomPolicy(
            self.venue, self.rng, SANDBOX_MIX, leave=self.entry.owns, market_priced=True
        )

    @property
    def stats(self) -> Counter[str]:
        """What the exchange did: ``steps``, ``frames``, ``frames_<topic>``, ``orders``..."""
        return self.venue.stats

    def now_ms(self) -> int:
        """The exchange's current time (never before the newest timestamp it issued)."""
        with self.lock:
            return self.venue.time()

    # --- driving ------------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Run ``n`` random account actions, pushing their frames."""
        for _ in range(n):
            with self.lock:
                try:
                    self.policy.step()
                    self.stats["steps"] += 1
                finally:
                    self._flush()

    def run(self, name: str, symbol: str | None = None) -> bool:
        """Run one named action (see ``RandomPolicy.actions``) on ``symbol`` (or a random
        symbol); False when it found nothing to act on."""
        if name not in self.policy.actions:
            raise ValueError(f"unknown action {name!r}; known: {', '.join(self.policy.actions)}")
        with self.lock:
            try:
                done = self.policy.step(name, symbol)
                self.stats["steps"] += 1
            finally:
                self._flush()
            return done

    def tick(self) -> None:
        """One market step for every symbol (see ``Markets.tick``), pushing its frames
        and public events."""
        with self.lock:
            try:
                self.markets.tick()
                self.stats["ticks"] += 1
            finally:
                self._flush()

    def _flush(self) -> None:
        pending = self.venue.take()
        if self.sink is not None:
            for frame in pending:
                self.sink(frame)
        events = self.markets.take_public()
        if self.public_sink is not None:
            for event in events:
                self.public_sink(event)

    # --- order entry --------------------------------------------------------------------

    def create(self, category: str, request: Mapping[str, object]) -> dict[str, str]:
        """``POST /v5/order/create``: the ``result``; raises ``Refused``."""
        return self._entry(self.entry.create, category, request)

    def amend(self, category: str, request: Mapping[str, object]) -> dict[str, str]:
        """``POST /v5/order/amend``: the ``result``; raises ``Refused``."""
        return self._entry(self.entry.amend, category, request)

    def cancel(self, category: str, request: Mapping[str, object]) -> dict[str, str]:
        """``POST /v5/order/cancel``: the ``result``; raises ``Refused``."""
        return self._entry(self.entry.cancel, category, request)

    def cancel_all(self, category: str, request: Mapping[str, object]) -> dict[str, object]:
        """``POST /v5/order/cancel-all``: the ``result``; raises ``Refused``."""
        return self._entry(self.entry.cancel_all, category, request)

    def trading_stop(self, category: str, request: Mapping[str, object]) -> dict[str, object]:
        """``POST /v5/position/trading-stop``: the ``result``; raises ``Refused``."""
        return self._entry(self.entry.trading_stop, category, request)

    def _entry(
        self, op: Callable[[str, Mapping[str, object]], _R], category: str,
        request: Mapping[str, object],
    ) -> _R:  # fmt: skip
        with self.lock:
            try:
                result = op(category, request)
                self.stats["entry_ops"] += 1
                return result
            finally:
                self._flush()  # the frames are out before the answer is

    def order_of(self, category: str, request: Mapping[str, object]) -> Order | None:
        """The order an amend or cancel request names (``orderId`` wins over
        ``orderLinkId``), if the exchange has it in ``category``."""
        order_id, link_id = request.get("orderId"), request.get("orderLinkId")
        with self.lock:
            if isinstance(order_id, str) and order_id:
                found = self.venue.orders.get(order_id)
            elif isinstance(link_id, str) and link_id:
                found = self.venue.orders.get(self.venue.links.get(link_id, ""))
            else:
                return None
            return found if found is not None and found.category == category else None

    def is_conditional(self, category: str, request: Mapping[str, object]) -> bool:
        """Whether the order a request names is a conditional one, not yet triggered."""
        order = self.order_of(category, request)
        return order is not None and order.status == "Untriggered"

    def created_at(self, order_id: str) -> int:
        """The createdTime of an order (ms)."""
        with self.lock:
            return self.venue.orders[order_id].created

    # --- views --------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """The exact current state, like ``sample-truth.json`` (see ``oms.sim.truth``):
        orders, executions, positions (every leg, flat ones too), status sequences and
        meta."""
        with self.lock:
            truth = self.venue.truth()
            truth["meta"] = {
                "seed": self.seed,
                "time": self.venue.time(),
                "symbols": {
                    s.key: {
                        "category": s.category,
                        "mode": "hedge" if s.hedge else "oneway",
                        "qtyStep": wire.fmt(s.qty_step),
                        "tick": wire.fmt(s.tick),
                    }
                    for s in self.specs
                },
                "stats": dict(sorted(self.stats.items())),
            }
            return truth

    def order_rows(self, scope: str, category: str = CATEGORY) -> list[tuple[int, Element]]:
        """(ordinal, REST row) of a category's orders, newest first. ``scope``: ``open``
        (New, PartiallyFilled, Untriggered), ``closed`` (the recent-closed buffer) or
        ``all``."""
        with self.lock:
            venue = self.venue
            if scope == "open":
                picked = [venue.orders[i] for i in venue.open_ids]
            elif scope == "closed":
                picked = [venue.orders[i] for i in venue.closed_ids]
            else:
                picked = list(venue.orders.values())
            picked = [o for o in picked if o.category == category]
            picked.sort(key=lambda o: o.ordinal, reverse=True)
            return [(o.ordinal, wire.order_element(o, detail=True)) for o in picked]

    def execution_rows(self, category: str = CATEGORY) -> list[tuple[int, Element]]:
        """(ordinal, element) of every execution of a category, newest first."""
        with self.lock:
            rows = [
                (e.ordinal, wire.execution_element(e, detail=True))
                for e in self.venue.executions.values()
                if e.category == category
            ]
        return rows[::-1]

    def position_rows(self, category: str = CATEGORY) -> list[tuple[int, Element]]:
        """(ordinal, REST row) of every leg of a category, in symbol order (none on spot)."""
        with self.lock:
            return [
                (n, wire.position_element(leg, rest=True))
                for n, leg in enumerate(self.venue.legs.values(), start=1)
                if leg.market.spec.category == category
            ]

    def spec(self, symbol: str, category: str = CATEGORY) -> SymbolSpec | None:
        return self.venue.specs.get(instrument_key(category, symbol))

    def specs_of(self, category: str) -> list[SymbolSpec]:
        """The specs of the symbols traded in ``category``, in the exchange's order."""
        return [s for s in self.specs if s.category == category]

    def wallet_row(self) -> Element:
        """The unified account now, every coin, as the ``wallet`` frames carry it (the
        same function renders both, so REST and stream always agree)."""
        with self.lock:
            return self.venue.wallet_element()

    def prices(self, symbol: str, category: str = CATEGORY) -> tuple[Decimal, Decimal, Decimal]:
        """(last, mark, index) price of one of the exchange's symbols now."""
        with self.lock:
            market = self.venue.markets[instrument_key(category, symbol)]
            return market.mid, market.mark, market.index
