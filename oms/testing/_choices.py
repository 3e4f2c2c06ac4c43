"""Where the generators' choices come from (hypothesis draws or a seeded ``Random``), and
the small steps every generated order shares. Private to ``oms.testing``."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

from hypothesis import strategies as st

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from oms.testing.exchange import SimulatedExchange

_T = TypeVar("_T")
#: The orders in which one action's topics may be sent (Bybit orders no topic first).
_TOPIC_ORDERS: Final = (
    ("order", "execution", "position"),
    ("execution", "order", "position"),
    ("order", "position", "execution"),
    ("position", "execution", "order"),
    ("execution", "position", "order"),
    ("position", "order", "execution"),
)


class Chooser(Protocol):
    """A source of choices."""

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        ...

    def choice(self, options: Sequence[_T]) -> _T:
        """One of ``options``."""
        ...


class DrawChooser:
    """Choices drawn by hypothesis (so they shrink)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def choice(self, options: Sequence[_T]) -> _T:
        return self._draw(st.sampled_from(options))


class RandomChooser:
    """Choices from a seeded pseudo-random generator (deterministic)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - test data, not cryptography

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)

    def choice(self, options: Sequence[_T]) -> _T:
        return self._rng.choice(options)


def next_action(c: Chooser, ex: SimulatedExchange) -> None:
    """Before an action: time passes, a mark may move, and the order in which this
    action's topics go out is drawn."""
    ex.advance(c.integer(0, 2000))
    if c.integer(0, 3) == 0:
        ex.move_mark(c.choice(ex.symbols), c.integer(-25, 25))
    topics = list(c.choice(_TOPIC_ORDERS))
    if ex.fast_executions:
        topics.insert(c.integer(0, len(topics)), "execution.fast")
    ex.topic_order = tuple(topics)


def units(c: Chooser, step: Decimal, limit: Decimal | None = None, most: int = 60) -> Decimal:
    """A positive quantity on the step grid, at most ``limit``."""
    top = most if limit is None else min(most, int(limit / step))
    return step * c.integer(1, top)


def price_near(c: Chooser, ex: SimulatedExchange, symbol: str, *, away: bool = False) -> Decimal:
    """A price within 40 ticks of the mark (``away``: never the mark itself)."""
    spec = ex.specs[symbol]
    ticks = c.integer(1, 40) * c.choice((1, -1)) if away else c.integer(-40, 40)
    return max(ex.mark(symbol) + ticks * spec.tick, 10 * spec.tick)


def pieces(c: Chooser, step: Decimal, qty: Decimal) -> int:
    """Into how many executions one match of ``qty`` is split (1 to 3)."""
    return c.integer(1, min(3, int(qty / step)))


def side_and_reduce(c: Chooser, ex: SimulatedExchange, symbol: str) -> tuple[str, bool]:
    """A side, and (hedge mode) whether the order closes the opposite leg."""
    side = c.choice(("Buy", "Sell"))
    if not ex.specs[symbol].hedge:
        return side, False
    closes = 2 if side == "Buy" else 1
    return side, ex.net(symbol, closes) != 0 and c.integer(0, 2) == 0


def noise(c: Chooser, ex: SimulatedExchange, order_id: str) -> None:
    """Bybit sends a position report on order create, amend and cancel (sometimes kept)."""
    o = ex.current(order_id)
    if c.integer(0, 2) == 0:
        ex.report_position(o.symbol, o.position_idx)


def match(c: Chooser, ex: SimulatedExchange, order_id: str, qty: Decimal) -> None:
    """One match of ``qty``, split into 1 to 3 executions."""
    ex.fill(order_id, qty, pieces=pieces(c, ex.specs[ex.current(order_id).symbol].qty_step, qty))


def fill_some(c: Chooser, ex: SimulatedExchange, order_id: str) -> None:
    """A match of all or part of what can fill; a full fill may get a cancel-race echo."""
    can = ex.fillable(order_id)
    step = ex.specs[ex.current(order_id).symbol].qty_step
    match(c, ex, order_id, can if c.integer(0, 1) == 0 else units(c, step, can))
    if ex.current(order_id).status == "Filled" and c.integer(0, 3) == 0:
        ex.echo_cancel_race(order_id)  # a cancel sent just before the last fill lost the race


def amend_once(c: Chooser, ex: SimulatedExchange, order_id: str) -> None:
    """One amend of a working or untriggered order: its qty, limit price or trigger."""
    o = ex.current(order_id)
    spec = ex.specs[o.symbol]
    what = ["qty"]
    if o.order_type == "Limit":
        what.append("price")
    if o.status == "Untriggered":
        what.append("trigger")
    change = c.choice(what)
    if change == "qty":
        qty = o.cum_exec_qty + units(c, spec.qty_step)
        ex.amend(order_id, qty=qty if qty != o.qty else qty + spec.qty_step)
    elif change == "price":
        assert o.price is not None  # noqa: S101 - a limit order has a price
        price = max(o.price + spec.tick * c.integer(-20, 20), 10 * spec.tick)
        ex.amend(order_id, price=price if price != o.price else price + spec.tick)
    else:
        assert o.trigger_price is not None  # noqa: S101 - an untriggered order has one
        trigger = max(o.trigger_price + spec.tick * c.integer(-20, 20), 10 * spec.tick)
        trigger = trigger if trigger != o.trigger_price else trigger + spec.tick
        ex.amend(order_id, trigger_price=trigger)
