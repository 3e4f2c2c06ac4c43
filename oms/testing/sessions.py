"""Whole account sessions: several orders, their executions and position reports, as the
raw text frames Bybit sends, with the exchange's own final state.

>>> s = session_from_seed(3, actions=6)
>>> s
Session(9 frames, 4 orders, 1 fills, 4 legs reported)
>>> {json.loads(frame)["topic"] for frame in s.frames} == {"order", "execution", "position"}
True
>>> s.frames == session_from_seed(3, actions=6).frames
True
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from hypothesis import strategies as st

from oms.testing import _choices as ch
from oms.testing.exchange import SimulatedExchange
from oms.testing.symbols import DEFAULT_SYMBOLS, TPSL_STOP_ORDER_TYPES
from oms.testing.truth import OrderTruth

if TYPE_CHECKING:
    from collections.abc import Sequence

    from oms.testing.model import ReferenceModel
    from oms.testing.symbols import SymbolSpec

__all__ = ["Session", "session", "session_from_seed"]

_REJECT_REASONS: Final = (
    "EC_ReachMaxTradeNum",
    "EC_PriceGreaterThanUpperLimit",
    "EC_PriceLessThanLowerLimit",
    "EC_InvalidPriceScale",
)
_POST_ONLY_REASON: Final = "EC_PostOnlyWillTakeLiquidity"


@dataclass(frozen=True, slots=True)
class Session:
    """A generated session: its frames in exchange order, and the exchange's final state.

    ``frames`` are the exact text frames (``order``, ``execution``, ``position`` and
    perhaps ``execution.fast``) in the order the exchange sent them; ``truth`` is the
    ``ReferenceModel`` a consumer must end in after receiving all of them.
    """

    frames: list[str]
    truth: ReferenceModel
    symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS

    def __repr__(self) -> str:
        return (
            f"Session({len(self.frames)} frames, {len(self.truth.orders)} orders, "
            f"{len(self.truth.fills)} fills, {len(self.truth.positions)} legs reported)"
        )

    def order_reports(self, order_id: str) -> list[OrderTruth]:
        """Every report of one order, in the order sent (cancel-race echoes included)."""
        return [
            OrderTruth.from_wire(e)
            for frame in self.frames
            if (tree := json.loads(frame))["topic"] == "order"
            for e in tree["data"]
            if e["orderId"] == order_id
        ]


# --- one random action each ---------------------------------------------------------------


def _act_limit(c: ch.Chooser, ex: SimulatedExchange) -> None:
    symbol = c.choice(ex.symbols)
    side, reduce = ch.side_and_reduce(c, ex, symbol)
    oid = ex.place(
        symbol, side, ch.units(c, ex.specs[symbol].qty_step),
        price=ch.price_near(c, ex, symbol), time_in_force=c.choice(("GTC", "GTC", "PostOnly")),
        reduce_only=reduce, created_first=c.integer(0, 4) == 0,
    )  # fmt: skip
    ch.noise(c, ex, oid)


def _act_market(c: ch.Chooser, ex: SimulatedExchange) -> None:
    symbol = c.choice(ex.symbols)
    side, reduce = ch.side_and_reduce(c, ex, symbol)
    oid = ex.place(
        symbol, side, ch.units(c, ex.specs[symbol].qty_step), order_type="Market",
        reduce_only=reduce, announce=c.integer(0, 3) == 0,
    )  # fmt: skip
    for _ in range(c.integer(1, 3)):
        if ex.fillable(oid) == 0:
            break
        ch.fill_some(c, ex, oid)
    o = ex.current(oid)
    if o.is_open:
        reason = "EC_CancelForNoFullFill" if o.cum_exec_qty else "EC_NoImmediateQtyToFill"
        ex.cancel(oid, cancel_type="UNKNOWN", reject_reason=reason)


def _act_conditional(c: ch.Chooser, ex: SimulatedExchange) -> None:
    symbol = c.choice(ex.symbols)
    order_type = c.choice(("Limit", "Market"))
    oid = ex.place(
        symbol, c.choice(("Buy", "Sell")), ch.units(c, ex.specs[symbol].qty_step),
        price=ch.price_near(c, ex, symbol) if order_type == "Limit" else None,
        order_type=order_type, trigger_price=ch.price_near(c, ex, symbol, away=True),
    )  # fmt: skip
    ch.noise(c, ex, oid)


def _act_tpsl(c: ch.Chooser, ex: SimulatedExchange) -> None:
    symbol, idx = c.choice(ex.open_legs())
    net = ex.net(symbol, idx)
    ex.place(
        symbol, "Sell" if net > 0 else "Buy", ch.units(c, ex.specs[symbol].qty_step, abs(net)),
        order_type="Market", trigger_price=ch.price_near(c, ex, symbol, away=True),
        stop_order_type=c.choice(TPSL_STOP_ORDER_TYPES),
    )  # fmt: skip


def _act_reject(c: ch.Chooser, ex: SimulatedExchange) -> None:
    symbol = c.choice(ex.symbols)
    side = c.choice(("Buy", "Sell"))
    qty = ch.units(c, ex.specs[symbol].qty_step)
    price = ch.price_near(c, ex, symbol)
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


def _act_fill(c: ch.Chooser, ex: SimulatedExchange) -> None:
    ch.fill_some(c, ex, c.choice(_fillable_ids(ex)))


def _act_amend(c: ch.Chooser, ex: SimulatedExchange) -> None:
    oid = c.choice(ex.order_ids("New", "PartiallyFilled", "Untriggered"))
    ch.amend_once(c, ex, oid)
    ch.noise(c, ex, oid)


def _act_cancel(c: ch.Chooser, ex: SimulatedExchange) -> None:
    oid = c.choice(ex.order_ids("Created", "New", "PartiallyFilled", "Untriggered"))
    ex.cancel(oid)
    ch.noise(c, ex, oid)


def _act_trigger(c: ch.Chooser, ex: SimulatedExchange) -> None:
    oid = c.choice(ex.order_ids("Untriggered"))
    ex.trigger(oid)
    if ex.current(oid).order_type == "Limit":
        return
    can = ex.fillable(oid)
    if can:
        ch.match(c, ex, oid, can)
    if ex.current(oid).is_open:
        ex.cancel(oid, cancel_type="CancelByReduceOnly")


def _act_funding(c: ch.Chooser, ex: SimulatedExchange) -> None:
    ex.funding(*c.choice(ex.open_legs()))


def _act_echo(c: ch.Chooser, ex: SimulatedExchange) -> None:
    ex.echo_cancel_race(c.choice(ex.echoable()))


def _act_noise(c: ch.Chooser, ex: SimulatedExchange) -> None:
    symbol = c.choice(ex.symbols)
    ex.report_position(symbol, c.choice(ex.specs[symbol].legs))


def _always(_ex: SimulatedExchange) -> bool:
    return True


_Action = tuple[
    str, Callable[[SimulatedExchange], bool], Callable[[ch.Chooser, SimulatedExchange], None]
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


def _play(c: ch.Chooser, ex: SimulatedExchange, actions: int) -> None:
    for _ in range(actions):
        ch.next_action(c, ex)
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
    """A hypothesis strategy of ``Session``: a valid account session of ``min_actions`` to
    ``max_actions`` exchange actions on ``symbols``.

    Each action is one thing happening on the account and emits one to four frames: a
    limit or market order placed (perhaps ``Created`` first, perhaps reduce-only), a
    match (split over up to three executions sharing a seq), an amend, a cancel, a
    conditional or TP/SL order, a trigger, a reject (PostOnly ones ``Cancelled`` with
    ``EC_PostOnlyWillTakeLiquidity``), a funding payment, a position report that changes
    nothing, or the cancel-race echo of a filled order. The topics of one action go out
    in a drawn order. Trades are also sent on ``execution.fast`` if ``fast_executions``
    (None: drawn). Shrinks towards few, plain limit orders.

    Example::

        @given(session())
        def test_replay(s):
            ledger = Ledger()
            for frame in s.frames:
                ledger.apply_frame(frame)
            assert ledger_differences(ledger, s.truth) == []
    """
    if fast_executions is None:
        fast_executions = draw(st.booleans())
    ex = SimulatedExchange(symbols, fast_executions=fast_executions)
    _play(ch.DrawChooser(draw), ex, draw(st.integers(min_actions, max_actions)))
    return Session(frames=list(ex.frames), truth=ex.truth, symbols=tuple(symbols))


def session_from_seed(
    seed: int,
    *,
    actions: int = 25,
    symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
    fast_executions: bool = False,
) -> Session:
    """The same kind of session as ``session()``, built deterministically from a seed
    (no hypothesis needed at run time: fixtures, benchmarks, reproducing a report)."""
    ex = SimulatedExchange(symbols, fast_executions=fast_executions)
    _play(ch.RandomChooser(seed), ex, actions)
    return Session(frames=list(ex.frames), truth=ex.truth, symbols=tuple(symbols))
