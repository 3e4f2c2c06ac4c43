"""Property: a system that registers exactly what it sent hears only what really happened.

Every order of a generated session (``oms.testing``) is registered with the terms it was
placed with (its first report: symbol, side, qty) before the frames are fed, through a
``Ledger`` and an ``ExpectationBook`` wired as ``oms.runtime.pipeline`` wires them. The
reconciliation events that must come out are derived from the generator's own truth: a
rejection for every rejected order, a fill-quantity mismatch for every order that filled
more than it was placed with or ended having filled another quantity (amended, cancelled,
deactivated), an unexpected order for every TP/SL order (no orderLinkId), and nothing
else: no missed acknowledgement, no mismatch.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from hypothesis import event, given, note
from hypothesis import strategies as st

from oms import Ledger
from oms.core.expectations import (
    ExpectationBook,
    ExpectedOrder,
    ExpectedOrderRejected,
    ExpectedPosition,
    FillQtyMismatched,
    OrderMismatched,
    OrderNotAcknowledged,
    PositionDiverged,
    PositionReconverged,
    UnexpectedOrderSeen,
)
from oms.core.orders import Side
from oms.testing import CATEGORY, T0, TERMINAL_STATUSES, lifecycle, session

if TYPE_CHECKING:
    from oms import Event
    from oms.testing import Session

#: Far beyond any generated timestamp: every deadline has passed, every grace expired.
FAR = T0 + 10**12


@dataclass(frozen=True, slots=True)
class Placed:
    """What the user's system sent: the order's terms as its first frame reported them."""

    order_id: str
    link_id: str
    symbol: str
    side: str
    qty: Decimal


def placed_orders(frames: list[str]) -> dict[str, Placed]:
    """Each order's terms after the first frame that reports it, in first-seen order
    (what the book judges at acknowledgement)."""
    placed: dict[str, Placed] = {}
    for frame in frames:
        tree = json.loads(frame)
        if tree.get("topic") != "order":
            continue
        new: dict[str, Placed] = {}
        for e in tree["data"]:
            if e["orderId"] not in placed:  # the frame's last element of the order wins
                new[e["orderId"]] = Placed(
                    e["orderId"], e["orderLinkId"], e["symbol"], e["side"], Decimal(e["qty"])
                )
        placed |= new
    return placed


def summary(event: Event) -> tuple[object, ...]:
    """Reconciliation events, compactly; anything else is a failure."""
    if isinstance(event, ExpectedOrderRejected):
        return ("rejected", event.order_link_id, event.reason)
    if isinstance(event, FillQtyMismatched):
        if event.filled_qty > event.expected_qty:  # reported at once: the qty at that moment
            return ("filled-more", event.order_link_id)
        return (
            "fill-qty",
            event.order_link_id,
            event.status.value,
            event.expected_qty,
            event.filled_qty,
        )
    if isinstance(event, UnexpectedOrderSeen):
        return ("unexpected", event.order_id)
    if isinstance(event, PositionDiverged):
        return ("diverged", event.symbol, event.expected_net_qty, event.actual_net_qty)
    if isinstance(event, OrderNotAcknowledged | OrderMismatched | PositionReconverged):
        return ("never", type(event).__name__, event)
    raise AssertionError(f"not a reconciliation event: {event!r}")


def events_the_truth_explains(s: Session, placed: dict[str, Placed]) -> Counter[tuple[object, ...]]:
    want: Counter[tuple[object, ...]] = Counter()
    for order_id, final in s.truth.orders.items():
        sent = placed[order_id]
        if not final.order_link_id:
            want["unexpected", order_id] += 1
            continue
        if final.status == "Rejected":
            want["rejected", final.order_link_id, final.reject_reason] += 1
        if final.cum_exec_qty > sent.qty:
            want["filled-more", final.order_link_id] += 1
        elif (
            final.status in TERMINAL_STATUSES
            and final.status != "Rejected"
            and final.cum_exec_qty != sent.qty
        ):
            key = ("fill-qty", final.order_link_id, final.status, sent.qty, final.cum_exec_qty)
            want[key] += 1
    return want


def net_of(s: Session, symbol: str) -> Decimal:
    """The symbol's final net as the exchange last reported its legs (0 if never)."""
    return sum(
        (p.net_qty for (sym, _idx), p in s.truth.positions.items() if sym == symbol),
        Decimal(0),
    )


@given(st.one_of(session(min_actions=5, max_actions=60), lifecycle()), st.data())
def test_registering_what_was_sent_raises_only_what_the_lifecycle_explains(s, data):
    note(repr(s))
    placed = placed_orders(s.frames)
    assert set(placed) == set(s.truth.orders)
    registered = [p for p in placed.values() if p.link_id]
    assert len({p.link_id for p in registered}) == len(registered), "link ids are unique"

    book = ExpectationBook(report_unexpected_orders=True)
    for p in registered:
        expected = ExpectedOrder(
            order_link_id=p.link_id,
            symbol=p.symbol,
            side=Side(p.side),
            qty=p.qty,
            category=CATEGORY,
            deadline=FAR,
        )
        assert book.expect_order(expected, now=T0) == []
    # Every symbol's true final net, and one symbol registered one step off it.
    wrong = data.draw(st.sampled_from(s.symbols), label="wrongly registered symbol")
    for spec in s.symbols:
        net = net_of(s, spec.symbol) + (spec.qty_step if spec is wrong else 0)
        registration = ExpectedPosition(symbol=spec.symbol, net_qty=net, category=CATEGORY)
        book.expect_position(registration, actual=Decimal(0), now=T0)

    ledger = Ledger()
    raised: list[Event] = []
    for i, frame in enumerate(s.frames):
        at = T0 + i
        result = ledger.feed(frame, received_at=at)
        touched = [o for oid in sorted(result.batch.orders) if (o := ledger.order(oid))]
        raised += book.observe(result.events, touched, at)
        book.observe_positions(ledger.position, at)
    raised += book.due(FAR)

    want = events_the_truth_explains(s, placed)
    true_net = net_of(s, wrong.symbol)
    want["diverged", wrong.symbol, true_net + wrong.qty_step, true_net] += 1
    for kind in sorted({str(key[0]) for key in want}):
        event(kind)
    assert Counter(summary(e) for e in raised) == want
    # Still watched: exactly the registered orders that are still open, in order.
    still_open = [p.link_id for p in registered if s.truth.orders[p.order_id].is_open]
    assert [e.order_link_id for e in book.expected_orders()] == still_open
    assert book.due(FAR + 1) == []
