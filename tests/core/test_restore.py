"""Restoring a ledger from what a store keeps of it: orders, fills, each leg's newest
report, and the announced events (``Announced``).

Restored where nothing is pending (as a replay commits), the ledger goes on exactly as the
one that was saved: the same events, in the same order, to the end. Restored in the middle
of a settle window, the window starts again at the restore. Either way, what was announced
is not announced again, and what must follow an announcement (a mismatch's resolution, a
late order's fills booked to its leg) still follows.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms import (
    CancelRejected,
    Event,
    FillBooked,
    FillForUnknownOrder,
    Ledger,
    LegKey,
    OverFilled,
    PositionMismatch,
    PositionMismatchResolved,
)
from oms.core.ledger import Announced
from tests.core.frames import (
    execution,
    execution_frame,
    ms,
    of,
    order,
    order_frame,
    position,
    position_frame,
)
from tests.core.test_ledger_fills_positions import filled_order, filler
from tests.late_and_lost import capture_lines, late_and_lost

D = Decimal
DATA = Path(__file__).resolve().parents[1] / "data"
BTC = LegKey("linear", "BTCUSDT", 0)


def restored(ledger: Ledger, announced: list[Event]) -> Ledger:
    """A fresh ledger restored from what a store keeps of ``ledger``, ``announced`` being
    every event it produced (the outbox)."""
    fresh = Ledger(settle_frames=ledger.settle_frames)
    fresh.restore(
        orders=ledger.orders(),
        fills=ledger.fills(),
        legs=[(leg.report, key) for key, leg in ledger.legs().items()],
        announced=Announced.of(announced),
        oneway=sorted({(o.category, o.symbol) for o in ledger.orders() if o.position_idx == 0}),
    )
    return fresh


def feed(ledger: Ledger, lines: list[str]) -> list[Event]:
    events: list[Event] = []
    for line in lines:
        if line:
            events += ledger.apply_frame(line, received_at=0)
    return events


# --- parity over whole captures ---------------------------------------------------------


class Capture:
    """One capture's frames, the events of one uninterrupted pass (with the final
    ``settle``), and the frame counts after which nothing was pending."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        ledger = Ledger()
        self.events: list[Event] = []
        self.quiet: list[int] = []
        self.pending: list[int] = []
        for count, line in enumerate(lines, 1):
            if line:
                self.events += ledger.apply_frame(line, received_at=0)
            (self.pending if ledger.has_pending else self.quiet).append(count)
        self.events += ledger.settle(received_at=0)
        self.order_ids = {o.order_id for o in ledger.orders()}

    def resumed(self, count: int) -> list[Event]:
        """The events of a pass restored after its first ``count`` lines."""
        first = Ledger()
        events = feed(first, self.lines[:count])
        second = restored(first, events)
        events += feed(second, self.lines[count:])
        return events + second.settle(received_at=0)


def _capture(name: str, *, derived: bool) -> Capture:
    lines = capture_lines(DATA / name)
    return Capture(late_and_lost(lines) if derived else lines)


CAPTURES = {
    "clean": lambda: _capture("sample-clean.jsonl.gz", derived=False),
    "dirty": lambda: _capture("sample-dirty.jsonl.gz", derived=False),
    "clean-late-and-lost": lambda: _capture("sample-clean.jsonl.gz", derived=True),
    "dirty-late-and-lost": lambda: _capture("sample-dirty.jsonl.gz", derived=True),
}
_LOADED: dict[str, Capture] = {}


def capture(name: str) -> Capture:
    if name not in _LOADED:
        _LOADED[name] = CAPTURES[name]()
    return _LOADED[name]


def test_derived_captures_announce_every_kind_of_cross_topic_anomaly():
    """Without these the parity below would prove nothing about announcements."""
    for name in ("clean-late-and-lost", "dirty-late-and-lost"):
        kinds = {type(e) for e in capture(name).events}
        assert {PositionMismatch, PositionMismatchResolved, FillForUnknownOrder} <= kinds, name
        assert capture(name).pending, "no frame leaves a window open"


@pytest.mark.parametrize("name", list(CAPTURES))
def test_restored_at_the_first_and_last_quiet_frame_goes_on_identically(name):
    found = capture(name)
    for count in (found.quiet[0], found.quiet[len(found.quiet) // 2], found.quiet[-1]):
        assert found.resumed(count) == found.events, count


@settings(max_examples=40)
@given(data=st.data())
def test_restored_at_any_quiet_frame_goes_on_identically(data):
    name = data.draw(st.sampled_from(sorted(CAPTURES)), label="capture")
    found = capture(name)
    count = data.draw(st.sampled_from(found.quiet), label="lines before the restore")
    assert found.resumed(count) == found.events


def test_restored_with_windows_open_announces_nothing_twice_and_loses_no_fill():
    """Mid-window, the window starts again at the restore, so an anomaly may come later
    than it would have (or not at all, if what it waited for arrives meanwhile). What
    holds: no mismatch is announced while one is open on its leg, no resolution comes
    without its mismatch, and every fill whose order never arrives is announced once."""
    found = capture("dirty-late-and-lost")
    never_arrive = {
        e.exec_id
        for e in found.events
        if isinstance(e, FillForUnknownOrder) and e.order_id not in found.order_ids
    }
    assert never_arrive, "no fill of an order that never arrives"
    for count in found.pending[:: max(1, len(found.pending) // 8)]:
        events = found.resumed(count)
        _assert_mismatches_alternate(events)
        unknown = [e.exec_id for e in events if isinstance(e, FillForUnknownOrder)]
        assert len(unknown) == len(set(unknown)), count
        assert never_arrive <= set(unknown), count


def _assert_mismatches_alternate(events: list[Event]) -> None:
    """Per leg: mismatch, resolution, mismatch, ... never two of a kind in a row."""
    open_legs: set[tuple[str, str, int]] = set()
    for event in events:
        if isinstance(event, PositionMismatch | PositionMismatchResolved):
            leg = (event.category, event.symbol, event.position_idx)
            opens = isinstance(event, PositionMismatch)
            assert (leg in open_legs) is not opens, event
            (open_legs.add if opens else open_legs.discard)(leg)


# --- what was announced stays announced -------------------------------------------------


def test_an_open_mismatch_is_not_announced_again_and_its_resolution_follows():
    ledger = Ledger(settle_frames=3)
    events = ledger.apply_frame(order_frame(filled_order(qty="2", cumExecQty="2")))
    events += ledger.apply_frame(execution_frame(execution(seq=100)))
    events += ledger.apply_frame(position_frame(position(size="2", seq=100)))
    events += filler(ledger, 3)
    assert len(of(PositionMismatch, events)) == 1
    again = restored(ledger, events)
    assert again.legs()[BTC].mismatch_open
    assert filler(again, 5) == []
    assert again.settle(received_at=0) == []
    late = again.apply_frame(execution_frame(execution(execId="late", seq=100)))
    (resolved,) = of(PositionMismatchResolved, late)
    assert (resolved.symbol, resolved.net_qty, resolved.seq) == ("BTCUSDT", D(2), 100)


def test_a_resolved_mismatch_is_a_closed_one():
    announced = Announced()
    announced.mismatch(BTC, resolved=False)
    announced.mismatch(BTC, resolved=True)
    assert announced.open_mismatches == set()
    announced.mismatch(BTC, resolved=False)
    assert announced.open_mismatches == {BTC}


def test_a_fill_announced_for_an_unknown_order_is_not_announced_again():
    ledger = Ledger(settle_frames=3)
    events = ledger.apply_frame(execution_frame(execution(execId="x", orderId="late")))
    events += filler(ledger, 3)
    assert [e.exec_id for e in of(FillForUnknownOrder, events)] == ["x"]
    again = restored(ledger, events)
    assert filler(again, 5) == []
    assert again.settle(received_at=0) == []
    # its order arrives after all: the fill is booked to the order's leg, silently
    arrived = again.apply_frame(order_frame(filled_order(orderId="late")))
    assert of(FillForUnknownOrder, arrived) == []
    assert again.derived_position("BTCUSDT") == D(1)


def test_a_fill_waiting_in_its_window_at_the_restore_is_announced_after_a_new_window():
    ledger = Ledger(settle_frames=3)
    events = ledger.apply_frame(execution_frame(execution(execId="x", orderId="ghost")))
    events += filler(ledger, 1)
    assert ledger.has_pending
    again = restored(ledger, events)
    assert again.has_pending
    assert filler(again, 2) == []
    (unknown,) = of(FillForUnknownOrder, filler(again, 1))
    assert (unknown.exec_id, unknown.order_id) == ("x", "ghost")


def test_a_fill_waiting_for_its_order_is_still_cleared_by_it_after_the_restore():
    """On a one-way symbol the fill moves the leg at once; its order must still end the
    window (else it would be announced as a fill of an unknown order)."""
    ledger = Ledger(settle_frames=3)
    events = ledger.apply_frame(order_frame(filled_order(orderId="known")))
    events += ledger.apply_frame(execution_frame(execution(execId="x", orderId="later")))
    again = restored(ledger, events)
    assert again.has_pending
    again.apply_frame(order_frame(filled_order(orderId="later")))
    assert not again.has_pending
    assert filler(again, 5) == []
    assert again.settle(received_at=0) == []


def test_a_reported_cancel_race_stays_silent_when_echoed_again():
    ledger = Ledger()
    events = ledger.apply_frame(order_frame(filled_order(updatedTime=ms(10))))
    echo = order_frame(
        order(
            orderStatus="Filled",
            cumExecQty="1",
            cancelType="CancelByUser",
            rejectReason="EC_OrigClOrdIDDoesNotExist",
            updatedTime=ms(12),
        )
    )
    events += ledger.apply_frame(echo)
    assert len(of(CancelRejected, events)) == 1
    assert restored(ledger, events).apply_frame(echo) == []


def test_a_reported_over_fill_is_not_reported_again():
    ledger = Ledger()
    events = ledger.apply_frame(order_frame(filled_order()))
    events += ledger.apply_frame(execution_frame(execution(execId="a", execQty="0.6")))
    events += ledger.apply_frame(execution_frame(execution(execId="b", execQty="0.6")))
    assert len(of(OverFilled, events)) == 1
    again = restored(ledger, events)
    assert of(OverFilled, again.apply_frame(execution_frame(execution(execId="c")))) == []
    assert of(OverFilled, again.apply_frame(order_frame(filled_order(updatedTime=ms(5))))) == []


def test_a_symbol_shown_one_way_by_an_order_not_held_books_unknown_orders_fills_to_idx_0():
    fresh = Ledger()
    fresh.restore(orders=[], fills=[], legs=[], oneway=[("linear", "BTCUSDT")])
    (booked,) = of(FillBooked, fresh.apply_frame(execution_frame(execution(orderId="gone"))))
    assert booked.position_idx == 0
    assert fresh.derived_position("BTCUSDT") == D(1)


def test_announced_takes_every_kind_it_remembers_from_events():
    ledger = Ledger(settle_frames=1)
    events = ledger.apply_frame(execution_frame(execution(execId="x", orderId="ghost")))
    events += filler(ledger, 1)
    announced = Announced.of(events)
    assert announced.unknown_order_fills == {"x"}
    assert (announced.cancel_races, announced.overfilled) == (set(), set())


def test_a_fill_booked_to_no_leg_stays_so_when_the_symbol_became_one_way_since():
    """A fill of an unknown order on a symbol not yet known to be one-way waits for its
    order, even after a report shows the symbol one-way; restored, it must still wait (its
    ``FillBooked`` said: no leg), or the restored leg would count a fill the saved one did
    not, and resolve a mismatch that still holds."""
    ledger = Ledger(settle_frames=2)
    xrp = {"symbol": "XRPUSDT", "orderId": "o1", "execId": "x", "seq": 7}
    events = ledger.apply_frame(execution_frame(execution(**xrp)))
    (booked,) = of(FillBooked, events)
    assert booked.position_idx is None
    events += ledger.apply_frame(position_frame(position(symbol="XRPUSDT", seq=7)))
    events += filler(ledger, 2)
    assert {type(e) for e in events} >= {PositionMismatch, FillForUnknownOrder}
    again = restored(ledger, events)
    assert again.derived_position("XRPUSDT") == ledger.derived_position("XRPUSDT") == D(0)
    later = filler(again, 3) + again.apply_frame(
        position_frame(position(symbol="XRPUSDT", seq=7, updatedTime=ms(5)))
    )
    assert of(PositionMismatchResolved, later) == []
    # its order arrives: now the fill moves the leg, and the mismatch is resolved
    arrived = again.apply_frame(order_frame(filled_order(symbol="XRPUSDT", orderId="o1")))
    assert [e.symbol for e in of(PositionMismatchResolved, arrived)] == ["XRPUSDT"]
