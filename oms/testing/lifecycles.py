"""One order's whole life, by kind: hypothesis strategies of ``Lifecycle``.

Each strategy builds a fresh account, takes one order through a lifecycle of its kind and
returns every frame that caused (the order's reports, its executions, the position
reports Bybit adds, in a drawn topic order, ``execution.fast`` copies if drawn) with the
exchange's truth. ``Lifecycle.order_id`` names the order the lifecycle is about (a TP/SL
lifecycle also holds the market order that opened the position it protects).

==================================  ========================================================
strategy                            the order's statuses, as sent
==================================  ========================================================
``plain_lifecycle()``               [Created] New Filled (limit), or [New] Filled (market)
``partial_fill_lifecycle()``        [Created] New PartiallyFilled+ Filled (two+ matches)
``cancel_with_fills_lifecycle()``   ... PartiallyFilled+ Cancelled, cumExecQty > 0
``conditional_lifecycle()``         Untriggered ... Triggered [New ...], or ... Deactivated
``amend_lifecycle()``               New/Untriggered, then one to three amends (same status,
                                    new qty, price or trigger), then open, filled or cancelled
``tpsl_lifecycle()``                Untriggered (orderLinkId "", stopOrderType TakeProfit,
                                    StopLoss, PartialTakeProfit or PartialStopLoss), then
                                    Triggered Filled, Deactivated when the position closes
                                    or on cancel, or still Untriggered
``lifecycle(kinds=...)``            any of the above
==================================  ========================================================

Example::

    @given(conditional_lifecycle(triggered=False))
    def test_a_cancelled_conditional_never_fills(life):
        assert life.statuses[0] == "Untriggered"
        assert life.order.status == "Deactivated"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from hypothesis import strategies as st

from oms.testing import _choices as ch
from oms.testing.exchange import SimulatedExchange
from oms.testing.sessions import Session
from oms.testing.symbols import DEFAULT_SYMBOLS, TPSL_STOP_ORDER_TYPES

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from hypothesis.strategies import SearchStrategy

    from oms.testing.symbols import SymbolSpec
    from oms.testing.truth import OrderTruth

    _Build = Callable[[ch.Chooser, SimulatedExchange], str]

__all__ = [
    "LIFECYCLE_KINDS",
    "Lifecycle",
    "amend_lifecycle",
    "cancel_with_fills_lifecycle",
    "conditional_lifecycle",
    "lifecycle",
    "partial_fill_lifecycle",
    "plain_lifecycle",
    "tpsl_lifecycle",
]

#: The kinds of ``Lifecycle``, simplest first.
LIFECYCLE_KINDS: Final = (
    "plain", "partial_fills", "cancel_with_fills", "conditional", "amend", "tpsl",
)  # fmt: skip


@dataclass(frozen=True, slots=True, repr=False)
class Lifecycle(Session):
    """A ``Session`` about one order: ``kind`` (one of ``LIFECYCLE_KINDS``) and the
    ``order_id`` of the order it follows."""

    kind: str = field(kw_only=True)
    order_id: str = field(kw_only=True)

    def __repr__(self) -> str:
        return f"Lifecycle({self.kind}: {' -> '.join(self.statuses)}, {len(self.frames)} frames)"

    @property
    def order(self) -> OrderTruth:
        """The order's final report."""
        return self.truth.orders[self.order_id]

    @property
    def statuses(self) -> tuple[str, ...]:
        """The order's status in each of its reports, in the order sent."""
        return tuple(r.status for r in self.order_reports(self.order_id))


def _pick(c: ch.Chooser, ex: SimulatedExchange) -> tuple[str, str]:
    return c.choice(ex.symbols), c.choice(("Buy", "Sell"))


def _limit(c: ch.Chooser, ex: SimulatedExchange, symbol: str, side: str, min_units: int) -> str:
    """A limit order placed (perhaps ``Created`` first) and its position noise."""
    step = ex.specs[symbol].qty_step
    ch.next_action(c, ex)
    oid = ex.place(
        symbol, side, step * c.integer(min_units, 60), price=ch.price_near(c, ex, symbol),
        time_in_force=c.choice(("GTC", "PostOnly")), created_first=c.integer(0, 4) == 0,
    )  # fmt: skip
    ch.noise(c, ex, oid)
    return oid


def _part(c: ch.Chooser, ex: SimulatedExchange, oid: str) -> bool:
    """A match of part of what is left, leaving at least one step (False: nothing to do)."""
    step = ex.specs[ex.current(oid).symbol].qty_step
    left = ex.fillable(oid)
    if left <= step:
        return False
    ch.next_action(c, ex)
    ch.match(c, ex, oid, ch.units(c, step, left - step))
    return True


def _rest(c: ch.Chooser, ex: SimulatedExchange, oid: str) -> None:
    """A match of everything left."""
    ch.next_action(c, ex)
    ch.match(c, ex, oid, ex.fillable(oid))


def _plain(c: ch.Chooser, ex: SimulatedExchange) -> str:
    symbol, side = _pick(c, ex)
    if c.integer(0, 1) == 0:
        oid = _limit(c, ex, symbol, side, 1)
    else:
        ch.next_action(c, ex)
        qty = ch.units(c, ex.specs[symbol].qty_step)
        oid = ex.place(symbol, side, qty, order_type="Market", announce=c.integer(0, 1) == 0)
    _rest(c, ex, oid)
    return oid


def _partial_fills(c: ch.Chooser, ex: SimulatedExchange) -> str:
    oid = _limit(c, ex, *_pick(c, ex), 2)
    for _ in range(c.integer(1, 3)):
        if not _part(c, ex, oid):
            break
    _rest(c, ex, oid)
    return oid


def _cancel_with_fills(c: ch.Chooser, ex: SimulatedExchange) -> str:
    symbol, side = _pick(c, ex)
    if c.integer(0, 1) == 0:
        oid = _limit(c, ex, symbol, side, 2)
        for _ in range(c.integer(1, 3)):
            if not _part(c, ex, oid):
                break
        ch.next_action(c, ex)
        ex.cancel(oid)
        ch.noise(c, ex, oid)
        return oid
    # a market (IOC) order: part fills, the exchange cancels the rest in the same action
    step = ex.specs[symbol].qty_step
    ch.next_action(c, ex)
    qty = step * c.integer(2, 60)
    oid = ex.place(symbol, side, qty, order_type="Market", announce=c.integer(0, 1) == 0)
    ch.match(c, ex, oid, ch.units(c, step, qty - step))
    ex.cancel(oid, cancel_type="UNKNOWN", reject_reason="EC_CancelForNoFullFill")
    return oid


def _conditional(c: ch.Chooser, ex: SimulatedExchange, triggered: bool | None) -> str:
    symbol, side = _pick(c, ex)
    order_type = c.choice(("Limit", "Market"))
    ch.next_action(c, ex)
    oid = ex.place(
        symbol, side, ch.units(c, ex.specs[symbol].qty_step), order_type=order_type,
        price=ch.price_near(c, ex, symbol) if order_type == "Limit" else None,
        trigger_price=ch.price_near(c, ex, symbol, away=True),
    )  # fmt: skip
    ch.noise(c, ex, oid)
    if c.integer(0, 2) == 0:
        ch.next_action(c, ex)
        ch.amend_once(c, ex, oid)
    fire = c.integer(0, 1) == 0 if triggered is None else triggered
    ch.next_action(c, ex)
    if not fire:
        ex.cancel(oid)  # before its trigger: Deactivated
        ch.noise(c, ex, oid)
        return oid
    ex.trigger(oid)
    if order_type == "Market":
        ch.match(c, ex, oid, ex.fillable(oid))  # Triggered, then filled at once
        return oid
    match c.integer(0, 2):  # now a working limit order
        case 0:
            pass
        case 1:
            _rest(c, ex, oid)
        case _:
            _part(c, ex, oid)
            ch.next_action(c, ex)
            ex.cancel(oid)
    return oid


def _amend(c: ch.Chooser, ex: SimulatedExchange) -> str:
    symbol, side = _pick(c, ex)
    conditional = c.integer(0, 2) == 0
    if conditional:
        ch.next_action(c, ex)
        oid = ex.place(
            symbol, side, ch.units(c, ex.specs[symbol].qty_step),
            price=ch.price_near(c, ex, symbol),
            trigger_price=ch.price_near(c, ex, symbol, away=True),
        )  # fmt: skip
        ch.noise(c, ex, oid)
    else:
        oid = _limit(c, ex, symbol, side, 1)
    for _ in range(c.integer(1, 3)):
        if not conditional and c.integer(0, 2) == 0:
            _part(c, ex, oid)
        ch.next_action(c, ex)
        ch.amend_once(c, ex, oid)
        ch.noise(c, ex, oid)
    match c.integer(0, 2):
        case 0:
            pass
        case 1:
            if conditional:
                ch.next_action(c, ex)
                ex.trigger(oid)
            _rest(c, ex, oid)
        case _:
            ch.next_action(c, ex)
            ex.cancel(oid)
    return oid


def _tpsl(c: ch.Chooser, ex: SimulatedExchange) -> str:
    symbol, side = _pick(c, ex)
    step = ex.specs[symbol].qty_step
    ch.next_action(c, ex)
    opener = ex.place(
        symbol, side, ch.units(c, step), order_type="Market", announce=c.integer(0, 1) == 0
    )
    _rest(c, ex, opener)
    net = ex.net(symbol, ex.current(opener).position_idx)
    closing_side = "Sell" if net > 0 else "Buy"
    ch.next_action(c, ex)
    oid = ex.place(
        symbol, closing_side, ch.units(c, step, abs(net)), order_type="Market",
        trigger_price=ch.price_near(c, ex, symbol, away=True),
        stop_order_type=c.choice(TPSL_STOP_ORDER_TYPES),
    )  # fmt: skip
    ch.noise(c, ex, oid)
    if c.integer(0, 3) == 0:
        _move_trigger(c, ex, oid, symbol)
    match c.integer(0, 3):
        case 0:  # the trigger fires and the TP/SL closes (part of) the position
            ch.next_action(c, ex)
            ex.trigger(oid)
            ch.match(c, ex, oid, ex.fillable(oid))
        case 1:  # another order closes the position: Bybit deactivates the TP/SL
            ch.next_action(c, ex)
            closer = ex.place(
                symbol, closing_side, abs(net), order_type="Market", reduce_only=True,
                announce=c.integer(0, 1) == 0,
            )  # fmt: skip
            ch.match(c, ex, closer, abs(net))
        case 2:
            ch.next_action(c, ex)
            ex.cancel(oid)
        case _:
            pass
    return oid


def _move_trigger(c: ch.Chooser, ex: SimulatedExchange, oid: str, symbol: str) -> None:
    """Amend a conditional order's trigger price to another one near the market."""
    ch.next_action(c, ex)
    trigger = ch.price_near(c, ex, symbol, away=True)
    if trigger == ex.current(oid).trigger_price:
        trigger += ex.specs[symbol].tick
    ex.amend(oid, trigger_price=trigger)


@st.composite
def _lifecycle(
    draw: st.DrawFn,
    kind: str,
    build: _Build,
    symbols: Sequence[SymbolSpec],
    fast_executions: bool | None,
) -> Lifecycle:
    fast = draw(st.booleans()) if fast_executions is None else fast_executions
    ex = SimulatedExchange(symbols, fast_executions=fast)
    order_id = build(ch.DrawChooser(draw), ex)
    return Lifecycle(
        frames=list(ex.frames), truth=ex.truth, symbols=tuple(symbols), kind=kind,
        order_id=order_id,
    )  # fmt: skip


def plain_lifecycle(
    *, symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS, fast_executions: bool | None = None
) -> SearchStrategy[Lifecycle]:
    """A limit order (perhaps ``Created`` first) filled in one match, or a market order
    filled at once (its first report may be ``Filled``). The match may be split over up
    to three executions sharing one seq. ``fast_executions``: None draws it."""
    return _lifecycle("plain", _plain, symbols, fast_executions)


def partial_fill_lifecycle(
    *, symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS, fast_executions: bool | None = None
) -> SearchStrategy[Lifecycle]:
    """A limit order filled over two to four matches: ``PartiallyFilled`` at least once,
    then ``Filled``."""
    return _lifecycle("partial_fills", _partial_fills, symbols, fast_executions)


def cancel_with_fills_lifecycle(
    *, symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS, fast_executions: bool | None = None
) -> SearchStrategy[Lifecycle]:
    """An order partly filled, then cancelled: a limit order cancelled by the user, or a
    market order whose unfilled rest the exchange cancels (``EC_CancelForNoFullFill``).
    It ends ``Cancelled`` (derivatives never send the spot-only
    ``PartiallyFilledCanceled``) with ``0 < cumExecQty < qty``."""
    return _lifecycle("cancel_with_fills", _cancel_with_fills, symbols, fast_executions)


def conditional_lifecycle(
    *,
    triggered: bool | None = None,
    symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
    fast_executions: bool | None = None,
) -> SearchStrategy[Lifecycle]:
    """A conditional order (stopOrderType ``Stop``), born ``Untriggered``, perhaps amended.
    Triggered (``triggered``; None draws it): ``Triggered`` then, for a limit order,
    ``New`` in the same frame and then left working, filled, or partly filled and
    cancelled; a market order is filled at once. Not triggered: cancelled, which Bybit
    reports as ``Deactivated``."""
    return _lifecycle(
        "conditional", lambda c, ex: _conditional(c, ex, triggered), symbols, fast_executions
    )


def amend_lifecycle(
    *, symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS, fast_executions: bool | None = None
) -> SearchStrategy[Lifecycle]:
    """A limit order (``New``, perhaps partly filled between amends) or an untriggered
    conditional one, amended one to three times (qty, price, or trigger price: same
    status, new terms, later updatedTime), then left open, filled, or cancelled."""
    return _lifecycle("amend", _amend, symbols, fast_executions)


def tpsl_lifecycle(
    *, symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS, fast_executions: bool | None = None
) -> SearchStrategy[Lifecycle]:
    """A position opened by a market order, then a TP/SL order on it: orderLinkId ``""``,
    reduce-only, close-on-trigger, stopOrderType one of ``TPSL_STOP_ORDER_TYPES``, born
    ``Untriggered``, perhaps with its trigger amended. Then it triggers and fills, or
    another order closes the position and Bybit deactivates it
    (``CancelByTpSlTsClear``), or it is cancelled (``Deactivated``), or it waits."""
    return _lifecycle("tpsl", _tpsl, symbols, fast_executions)


_BY_KIND: Final = {
    "plain": plain_lifecycle,
    "partial_fills": partial_fill_lifecycle,
    "cancel_with_fills": cancel_with_fills_lifecycle,
    "conditional": conditional_lifecycle,
    "amend": amend_lifecycle,
    "tpsl": tpsl_lifecycle,
}


def lifecycle(
    *,
    kinds: Sequence[str] = LIFECYCLE_KINDS,
    symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
    fast_executions: bool | None = None,
) -> SearchStrategy[Lifecycle]:
    """A lifecycle of any of ``kinds`` (shrinking towards the first)."""
    unknown = set(kinds) - set(_BY_KIND)
    if unknown or not kinds:
        raise ValueError(f"kinds are some of {LIFECYCLE_KINDS}, not {sorted(unknown)}")
    return st.one_of([_BY_KIND[k](symbols=symbols, fast_executions=fast_executions) for k in kinds])
