"""``Exchange``: the pure account simulation behind the sandbox (no I/O, no threads).

A seeded ``random.Random`` account trades linear perpetuals, one-way (positionIdx 0) and
hedge mode (1 long / 2 short): market and limit orders, partial fills, amends, cancels with
and without fills, rejects (PostOnly orders that would take liquidity are cancelled with
``EC_PostOnlyWillTakeLiquidity``), IOC/FOK misses, conditional orders (Untriggered ->
Triggered -> New -> ..., or Deactivated), reduce-only orders, flips through zero, the
cancel-race echo, and funding. Every event becomes the exact private-stream frames
(``Push``) handed to ``sink`` in emission order:

- ``order`` on every status change, amend and cancel;
- ``execution`` per match (1-3 elements, unique execIds, one seq per match; the symbol's
  seq only grows), and one ``Funding`` execution per open leg and funding round;
- ``position`` of the leg on every fill and every order create/amend/cancel, with seq =
  the account's last trade seq on the symbol (-1 before the first);
- ``wallet`` after every fill and funding round.

The (order, execution, position) frames of a match arrive in varying order, as on the
wire. ``truth()`` is the exact state; the REST views read the same state. Decimal only.
All public methods take ``lock`` (an ``RLock``), so any thread may call them.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, deque
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from oms.sandbox.actions import ACTIONS, random_action
from oms.sandbox.model import (
    CATALOGUE,
    DEFAULT_SYMBOLS,
    OPEN_STATUSES,
    ZERO,
    Book,
    Element,
    Leg,
    Push,
    SimOrder,
    SymbolSpec,
    fmt,
    order_element,
    position_element,
    wallet_element,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

#: The REST closed-order buffer (``openOnly=1``) keeps this many orders.
CLOSED_BUFFER: Final = 500
DEPOSIT: Final = Decimal(100_000)


def wall_ms() -> int:
    """Wall-clock milliseconds."""
    return time.time_ns() // 1_000_000


def resolve_symbols(symbols: Iterable[str | SymbolSpec]) -> list[SymbolSpec]:
    """Specs of the given symbols: names from ``CATALOGUE`` or ``SymbolSpec`` instances."""
    specs = []
    for item in symbols:
        if isinstance(item, SymbolSpec):
            specs.append(item)
        elif item in CATALOGUE:
            specs.append(CATALOGUE[item])
        else:
            raise ValueError(f"unknown symbol {item!r}; known: {', '.join(CATALOGUE)}")
    if not specs or len({s.name for s in specs}) != len(specs):
        raise ValueError("symbols must be non-empty and distinct")
    return specs


class Exchange:
    """The simulated account: its orders, executions, positions, and the frames they cause."""

    def __init__(
        self,
        *,
        seed: int = 1,
        symbols: Sequence[str | SymbolSpec] = DEFAULT_SYMBOLS,
        clock: Callable[[], int] = wall_ms,
        sink: Callable[[Push], None] | None = None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, not crypto
        self.lock = threading.RLock()
        #: receives every pushed frame, in order, while ``lock`` is held
        self.sink = sink
        self.specs = resolve_symbols(symbols)
        self.books: list[Book] = []
        self.legs: dict[str, Leg] = {}
        for spec in self.specs:
            ticks = int(spec.price / spec.tick)
            book = Book(spec, ticks, ticks, ticks, spec.seq_base)
            self.books.append(book)
            for idx in spec.indices:
                leg = Leg(book, idx)
                self.legs[leg.key] = leg
        self.orders: dict[str, SimOrder] = {}
        #: open orders (New, PartiallyFilled, Untriggered) as an ordered set
        self.open_ids: dict[str, None] = {}
        #: the most recently closed orders, oldest first
        self.closed_ids: deque[str] = deque(maxlen=CLOSED_BUFFER)
        #: execId -> (ordinal, element), in execution order
        self.executions: dict[str, tuple[int, Element]] = {}
        self.stats: Counter[str] = Counter()
        self._clock = clock
        self._last_ms = 0
        self._ordinal = 0
        self._links = 0
        self._pending: list[Push] = []

    # --- time, ids ------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The exchange's current time (never before the newest timestamp it issued)."""
        with self.lock:
            return max(self._clock(), self._last_ms)

    def tick(self) -> int:
        """A fresh timestamp, strictly after every one issued before."""
        self._last_ms = max(self._clock(), self._last_ms + 1)
        return self._last_ms

    def next_ordinal(self) -> int:
        self._ordinal += 1
        return self._ordinal

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_link_id(self) -> str:
        self._links += 1
        return f"sbx-{self.seed}-{self._links}"

    def _frame_id(self) -> str:
        r = self.rng.getrandbits
        return f"{r(56):014x}-{r(16):04x}-{r(16):04x}-{r(16):04x}-{r(48):012x}"

    # --- frames -----------------------------------------------------------------------------

    def push(self, topic: str, t: int, data: list[Element]) -> None:
        """Queue one frame; ``_flush`` hands the queue to the sink at the end of the action."""
        self._pending.append(Push(topic, self._frame_id(), t, tuple(data)))
        self.stats[f"frames_{topic}"] += 1
        self.stats["frames"] += 1

    def push_orders(self, orders: list[SimOrder], t: int) -> None:
        for o in orders:
            o.history.append(o.status)
        self.push("order", t, [order_element(o) for o in orders])

    def push_position(self, leg: Leg, t: int) -> None:
        leg.updated = t
        self.push("position", t, [position_element(leg)])

    def push_wallet(self, t: int) -> None:
        self.push("wallet", t, [wallet_element(list(self.legs.values()), DEPOSIT)])

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if self.sink is not None:
            for frame in pending:
                self.sink(frame)

    # --- order book-keeping -------------------------------------------------------------

    def track(self, o: SimOrder) -> None:
        """File an order under open or closed after its status changed."""
        self.orders[o.order_id] = o
        if o.status in OPEN_STATUSES:
            self.open_ids[o.order_id] = None
        else:  # an order reaches a terminal status exactly once
            self.open_ids.pop(o.order_id, None)
            self.closed_ids.append(o.order_id)
            self.stats[f"closed_{o.status}"] += 1

    def finish(self, o: SimOrder, status: str, t: int, cancel_type: str = "UNKNOWN") -> None:
        o.status = status
        o.cancel_type = cancel_type
        o.updated = t
        self.track(o)

    def record_execution(self, element: Element) -> None:
        self.executions[str(element["execId"])] = (self.next_ordinal(), element)
        self.stats[f"exec_{element['execType']}"] += 1

    # --- driving ------------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Run ``n`` random account actions, pushing their frames."""
        for _ in range(n):
            with self.lock:
                try:
                    random_action(self)
                    self.stats["steps"] += 1
                finally:
                    self._flush()

    def run(self, name: str, symbol: str | None = None) -> bool:
        """Run one named action (see ``oms.sandbox.actions.ACTIONS``) on ``symbol`` (or a
        random symbol); False when it found nothing to act on."""
        if name not in ACTIONS:
            raise ValueError(f"unknown action {name!r}; known: {', '.join(ACTIONS)}")
        with self.lock:
            book = self.book(symbol) if symbol else self.rng.choice(self.books)
            try:
                done = ACTIONS[name](self, book)
                self.stats["steps"] += 1
            finally:
                self._flush()
            return done

    def book(self, symbol: str) -> Book:
        for book in self.books:
            if book.spec.name == symbol:
                return book
        raise KeyError(symbol)

    # --- views --------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """The exact current state, like ``sample-truth.json``: orders, executions,
        positions (every leg, flat ones too), status sequences and meta."""
        with self.lock:
            orders = {
                o.order_id: {
                    "status": o.status,
                    "cumExecQty": fmt(o.cum_qty),
                    "leavesQty": fmt(o.leaves if o.status in OPEN_STATUSES else ZERO),
                    "avgPrice": o.avg_price,
                    "cumExecFee": fmt(o.cum_fee),
                    "cumExecValue": fmt(o.cum_value),
                    "symbol": o.book.spec.name,
                    "side": o.side,
                    "positionIdx": o.leg.idx,
                    "qty": fmt(o.qty),
                    "price": fmt(o.price),
                    "triggerPrice": fmt(o.trigger),
                    "orderType": o.order_type,
                    "stopOrderType": o.stop_type,
                    "timeInForce": o.tif,
                    "orderLinkId": o.link_id,
                    "createdTime": str(o.created),
                    "updatedTime": str(o.updated),
                    "reduceOnly": o.reduce_only,
                    "cancelType": o.cancel_type,
                    "rejectReason": o.reject_reason,
                }
                for o in self.orders.values()
            }
            fields = ("orderId", "orderLinkId", "execQty", "execPrice", "execType", "execFee")
            more = ("execTime", "seq", "side", "symbol", "isMaker", "closedSize")
            executions = {
                exec_id: {k: e[k] for k in (*fields, *more)}
                for exec_id, (_, e) in self.executions.items()
            }
            positions = {
                key: {
                    "symbol": leg.book.spec.name,
                    "positionIdx": leg.idx,
                    "signedSize": fmt(leg.net),
                    "side": "" if not leg.net else ("Buy" if leg.net > 0 else "Sell"),
                    "size": fmt(abs(leg.net)),
                    "entryPrice": fmt(leg.entry),
                    "seq": leg.book.last_seq,
                }
                for key, leg in self.legs.items()
            }
            return {
                "orders": orders,
                "executions": executions,
                "exec_ids": sorted(executions),
                "positions": positions,
                "status_sequences": {o.order_id: list(o.history) for o in self.orders.values()},
                "meta": {
                    "seed": self.seed,
                    "time": self.now_ms(),
                    "symbols": {
                        s.name: {
                            "mode": "hedge" if s.hedge else "oneway",
                            "qtyStep": fmt(s.step),
                            "tick": fmt(s.tick),
                        }
                        for s in self.specs
                    },
                    "stats": dict(sorted(self.stats.items())),
                },
            }

    def order_rows(self, scope: str) -> list[tuple[int, Element]]:
        """(ordinal, REST row) of orders, newest first by createdTime. ``scope``: ``open``
        (New, PartiallyFilled, Untriggered), ``closed`` (the recent-closed buffer) or
        ``all``."""
        with self.lock:
            if scope == "open":
                picked = [self.orders[i] for i in self.open_ids]
            elif scope == "closed":
                picked = [self.orders[i] for i in self.closed_ids]
            else:
                picked = list(self.orders.values())
            picked.sort(key=lambda o: o.ordinal, reverse=True)
            return [(o.ordinal, order_element(o)) for o in picked]

    def execution_rows(self) -> list[tuple[int, Element]]:
        """(ordinal, element) of every execution, newest first."""
        with self.lock:
            return sorted(self.executions.values(), key=lambda r: r[0], reverse=True)

    def position_rows(self) -> list[tuple[int, Element]]:
        """(ordinal, REST row) of every leg, in symbol order."""
        with self.lock:
            return [
                (n, position_element(leg, rest=True))
                for n, leg in enumerate(self.legs.values(), start=1)
            ]

    def spec(self, symbol: str) -> SymbolSpec | None:
        return next((s for s in self.specs if s.name == symbol), None)
