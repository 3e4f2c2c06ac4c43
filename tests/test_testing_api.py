"""``oms.testing`` as a user meets it: its public surface, that each lifecycle strategy
really produces its kind, that the disorder strategies keep their promises, and that a
ledger fed any of it ends in the reference model's state."""

from __future__ import annotations

import doctest
import importlib
import itertools
import json
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import find, given, note
from hypothesis import strategies as st

import oms
import oms.testing
from oms.core.reconcile import reconcile
from oms.testing import (
    LIFECYCLE_KINDS,
    TERMINAL_STATUSES,
    TPSL_STOP_ORDER_TYPES,
    Delivery,
    DeliveryModel,
    Lifecycle,
    amend_lifecycle,
    cancel_with_fills_lifecycle,
    conditional_lifecycle,
    deliveries,
    disorder,
    dropped,
    duplicated,
    ledger_differences,
    lifecycle,
    partial_fill_lifecycle,
    plain_lifecycle,
    reordered,
    session,
    session_from_seed,
    tpsl_lifecycle,
    venue_snapshot,
)

#: Enough frames for reordering to matter, few enough to stay quick.
SENT = st.integers(0, 40)
WINDOW = st.integers(0, 8)


def replay(frames: list[str]) -> tuple[oms.Ledger, list[oms.Event]]:
    ledger = oms.Ledger()
    events: list[oms.Event] = []
    for frame in frames:
        events += ledger.apply_frame(frame, received_at=0)
    return ledger, events


def fills_of(life: Lifecycle) -> list[dict[str, object]]:
    return [
        e
        for frame in life.frames
        if (tree := json.loads(frame))["topic"] == "execution"
        for e in tree["data"]
        if e["orderId"] == life.order_id
    ]


def check_consistent(life: Lifecycle) -> None:
    """Every lifecycle: its kind, its order in the truth, fills adding up, a clean replay
    ending exactly in the truth."""
    note(repr(life))
    assert life.order_id in life.truth.orders
    for order in life.truth.orders.values():
        assert life.truth.booked_qty(order.order_id) == order.cum_exec_qty
        assert order.leaves_qty == (order.qty - order.cum_exec_qty if order.is_open else 0)
    ledger, _ = replay(life.frames)
    assert ledger_differences(ledger, life.truth) == []


# --- the public surface ----------------------------------------------------------------


def test_every_public_name_is_exported_and_documented():
    modules = ["compare", "corruption", "disorder", "exchange", "lifecycles", "model"]
    modules += ["poison", "resync", "sessions", "symbols", "truth"]
    exported = set(oms.testing.__all__)
    for name in modules:
        module = importlib.import_module(f"oms.testing.{name}")
        assert module.__doc__, name
        assert set(module.__all__) <= exported, name
        for public in module.__all__:
            assert getattr(oms.testing, public) is getattr(module, public)
    for public in exported:
        value = getattr(oms.testing, public)
        if callable(value):
            assert value.__doc__, public


@pytest.mark.parametrize(
    "name", ["compare", "disorder", "exchange", "model", "resync", "sessions", "symbols", "truth"]
)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"oms.testing.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )


def test_importing_oms_does_not_import_hypothesis():
    done = run_python("import sys, oms; print('hypothesis' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_without_hypothesis_oms_testing_says_what_to_install():
    done = run_python(
        "import sys\n"
        "sys.modules['hypothesis'] = None  # as if not installed\n"
        "import oms\n"
        "try:\n"
        "    import oms.testing\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "pip install hypothesis" in done.stdout
    assert "oms[testing]" in done.stdout


# --- lifecycles: each strategy produces its kind -----------------------------------------


@given(plain_lifecycle())
def test_plain_lifecycle_is_one_full_match(life):
    check_consistent(life)
    assert life.kind == "plain"
    assert life.order.status == "Filled"
    assert life.order.cum_exec_qty == life.order.qty
    assert set(life.statuses) <= {"Created", "New", "Filled"}
    assert life.statuses[-1] == "Filled"
    assert len({e["seq"] for e in fills_of(life)}) == 1  # one match, maybe several pieces


@given(partial_fill_lifecycle())
def test_partial_fill_lifecycle_fills_over_several_matches(life):
    check_consistent(life)
    assert life.kind == "partial_fills"
    assert "PartiallyFilled" in life.statuses
    assert life.statuses[-1] == life.order.status == "Filled"
    assert life.statuses.index("PartiallyFilled") < life.statuses.index("Filled")
    assert len({e["seq"] for e in fills_of(life)}) >= 2


@given(cancel_with_fills_lifecycle())
def test_cancel_with_fills_lifecycle_ends_cancelled_with_fills(life):
    check_consistent(life)
    assert life.kind == "cancel_with_fills"
    assert life.order.status in {"Cancelled", "PartiallyFilledCanceled"}
    assert 0 < life.order.cum_exec_qty < life.order.qty
    assert life.truth.booked_qty(life.order_id) == life.order.cum_exec_qty
    assert life.order.leaves_qty == 0


@given(conditional_lifecycle())
def test_conditional_lifecycle_starts_untriggered(life):
    check_consistent(life)
    assert life.kind == "conditional"
    assert life.statuses[0] == "Untriggered"
    assert life.order.stop_order_type == "Stop"
    assert life.order.trigger_price is not None
    if "Triggered" in life.statuses:
        fired = life.statuses.index("Triggered")
        assert set(life.statuses[:fired]) == {"Untriggered"}
        assert "Untriggered" not in life.statuses[fired:]
        assert life.order.status != "Deactivated"
    else:
        assert life.order.status == "Deactivated"
        assert life.order.cum_exec_qty == 0
        assert set(life.statuses[:-1]) == {"Untriggered"}


@given(conditional_lifecycle(triggered=True))
def test_triggered_conditional_goes_untriggered_triggered_then_works(life):
    assert life.statuses[0] == "Untriggered"
    fired = life.statuses.index("Triggered")
    if life.order.order_type == "Limit":
        assert life.statuses[fired + 1] == "New"
    else:
        assert life.statuses[fired + 1 :] == ("Filled",)


@given(conditional_lifecycle(triggered=False))
def test_untriggered_conditional_is_deactivated(life):
    assert "Triggered" not in life.statuses
    assert life.statuses[-1] == life.order.status == "Deactivated"


@given(amend_lifecycle())
def test_amend_lifecycle_amends_at_least_once(life):
    check_consistent(life)
    assert life.kind == "amend"
    reports = life.order_reports(life.order_id)
    amends = [
        (before, after)
        for before, after in itertools.pairwise(reports)
        if before.status == after.status
        and (before.qty, before.price, before.trigger_price)
        != (after.qty, after.price, after.trigger_price)
    ]
    assert amends
    for before, after in amends:
        assert after.updated_time > before.updated_time
        assert after.qty > after.cum_exec_qty or not after.is_open
    assert life.statuses[0] in {"Created", "New", "Untriggered"}


@given(tpsl_lifecycle())
def test_tpsl_lifecycle_is_a_system_tpsl_order(life):
    check_consistent(life)
    assert life.kind == "tpsl"
    order = life.order
    assert order.order_link_id == ""
    assert order.stop_order_type in TPSL_STOP_ORDER_TYPES
    assert order.reduce_only
    assert life.statuses[0] == "Untriggered"
    if order.status == "Filled":
        assert "Triggered" in life.statuses
    if order.status == "Deactivated":
        assert order.cancel_type in {"CancelByTpSlTsClear", "CancelByUser"}
        assert order.cum_exec_qty == 0
    # the order that opened the position it protects is in the same lifecycle
    assert any(o.order_link_id for o in life.truth.orders.values())


@given(st.data())
def test_lifecycle_draws_only_the_kinds_asked_for(data):
    kinds = data.draw(st.lists(st.sampled_from(LIFECYCLE_KINDS), min_size=1, unique=True))
    life = data.draw(lifecycle(kinds=kinds))
    assert life.kind in kinds


def test_lifecycle_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="kinds are some of"):
        lifecycle(kinds=["plain", "iceberg"])


# --- disorder keeps its promises ----------------------------------------------------------


@given(st.data(), SENT, WINDOW)
def test_reordering_moves_no_frame_more_than_window_places(data, sent, window):
    got = data.draw(reordered(list(range(sent)), window=window))
    assert sorted(got) == list(range(sent))
    assert all(abs(position - index) <= window for position, index in enumerate(got))
    delivery = data.draw(deliveries(sent, window=window, duplicates=False))
    assert sorted(delivery.indices) == list(range(sent))
    assert all(abs(pos - index) <= window for pos, index in enumerate(delivery.indices))


@given(st.data(), SENT, WINDOW)
def test_reordering_after_losses_is_bounded_among_the_survivors(data, sent, window):
    delivery = data.draw(deliveries(sent, window=window, duplicates=False, drops=True))
    survivors = sorted(delivery.indices)
    assert len(survivors) == len(set(survivors))
    rank = {index: r for r, index in enumerate(survivors)}
    assert all(abs(pos - rank[index]) <= window for pos, index in enumerate(delivery.indices))


@given(st.data(), SENT, WINDOW, st.booleans())
def test_with_repeats_no_frame_is_overtaken_by_one_sent_window_later(data, sent, window, drops):
    delivery = data.draw(deliveries(sent, window=window, drops=drops))
    note(f"{delivery}")
    survivors = sorted(set(delivery.indices))
    assert set(survivors) | delivery.dropped == set(range(sent))
    rank = {index: r for r, index in enumerate(survivors)}
    first: dict[int, int] = {}
    for position, index in enumerate(delivery.indices):
        first.setdefault(index, position)
    for position, later in enumerate(delivery.indices):
        for earlier in survivors:
            if rank[later] - rank[earlier] >= max(window, 1):
                assert first[earlier] < position


@given(st.data(), SENT, st.integers(0, 5), st.integers(0, 10))
def test_copies_arrive_soon_after_their_original(data, sent, max_delay, max_copies):
    got = data.draw(duplicated(list(range(sent)), max_copies=max_copies, max_delay=max_delay))
    assert len(got) - sent <= max_copies
    firsts = list(dict.fromkeys(got))
    assert firsts == list(range(sent))  # originals keep their order, copies come after
    for position, index in enumerate(got):
        assert position >= got.index(index)
        if index + max_delay + 1 < sent:
            assert position < got.index(index + max_delay + 1)


@given(st.data(), st.integers(1, 40))
def test_drops_actually_drop(data, sent):
    frames = list(range(sent))
    some = data.draw(st.integers(1, sent))
    got = data.draw(dropped(frames, min_drops=some))
    assert len(got) <= sent - some
    assert got == sorted(got)  # what is left keeps its order
    delivery = data.draw(deliveries(sent, drops=True, min_drops=1))
    assert delivery.dropped
    assert not set(delivery.indices) & delivery.dropped
    assert len(delivery.of(frames)) == len(delivery.indices)


def test_disorder_drops_only_when_asked():
    frames = list(range(10))
    lossy = find(disorder(frames, drops=True), lambda got: set(got) != set(frames))
    assert set(lossy) < set(frames)

    @given(disorder(frames))
    def never_loses(got):
        assert set(got) == set(frames)

    never_loses()


def test_a_delivery_names_its_repeats_and_losses():
    delivery = Delivery(sent=3, indices=(2, 0, 2))
    assert delivery.of(["a", "b", "c"]) == ["c", "a", "c"]
    assert delivery.dropped == frozenset({1})
    assert delivery.repeats == 1
    with pytest.raises(ValueError, match="a delivery of 3 frames"):
        delivery.of(["a"])
    with pytest.raises(ValueError, match="cannot drop"):
        dropped([1, 2], min_drops=3)


# --- the reference model is what a ledger ends in -----------------------------------------


@given(st.data())
def test_a_disordered_lifecycle_ends_in_the_reference_state(data):
    life = data.draw(lifecycle(), label="lifecycle")
    delivered = data.draw(disorder(life.frames, window=data.draw(WINDOW)), label="delivered")
    ledger, _ = replay(delivered)
    assert ledger_differences(ledger, life.truth) == []
    order = ledger.order(life.order_id)
    assert order is not None
    assert order.status.value == life.order.status
    for symbol in life.truth.symbols():
        assert ledger.position(symbol) == life.truth.position(symbol)
        assert ledger.derived_position(symbol) == life.truth.derived_position(symbol)


@given(st.data())
def test_a_disordered_session_ends_in_the_reference_state(data):
    s = data.draw(session(), label="session")
    delivered = data.draw(disorder(s.frames, window=data.draw(WINDOW)), label="delivered")
    ledger, _ = replay(delivered)
    assert ledger_differences(ledger, s.truth) == []
    booked = Counter(f.exec_id for f in ledger.fills())
    assert set(booked) == s.truth.exec_ids
    assert set(booked.values()) <= {1}


@given(st.data())
def test_after_losses_the_ledger_holds_what_arrived_and_a_resync_restores_the_truth(data):
    s = data.draw(session(), label="session")
    delivery = data.draw(deliveries(len(s.frames), drops=True), label="delivery")
    ledger, _ = replay(delivery.of(s.frames))
    model = DeliveryModel(s.frames)
    for frame in delivery.of(s.frames):
        model.deliver(frame)
    # nothing invented: exactly what was delivered
    assert ledger_differences(ledger, model) == []
    assert {f.exec_id for f in ledger.fills()} <= s.truth.exec_ids
    reconcile(ledger, venue_snapshot(s.frames), received_at=0)
    assert ledger_differences(ledger, s.truth) == []


@given(session())
def test_a_complete_delivery_model_is_the_reference_model(s):
    model = DeliveryModel(s.frames)
    for frame in s.frames:
        model.deliver(frame)
    assert dict(model.order_map()) == s.truth.orders
    assert set(model.fill_map()) == s.truth.exec_ids
    assert dict(model.position_map()) == s.truth.positions
    assert model.legs() == s.truth.legs()
    for symbol in s.truth.symbols():
        assert model.position(symbol) == s.truth.position(symbol)
        assert model.derived_position(symbol) == s.truth.derived_position(symbol)
        # Bybit reports every trade: the reported net is the net of the fills
        assert s.truth.position(symbol) == s.truth.derived_position(symbol)


def test_terminal_statuses_are_bybits():
    assert {"Filled", "Cancelled", "Deactivated", "Rejected"} <= TERMINAL_STATUSES
    assert not {"New", "PartiallyFilled", "Untriggered", "Triggered"} & TERMINAL_STATUSES
    assert session_from_seed(1).frames == session_from_seed(1).frames


def test_corruptions_use_null_only_where_the_wire_refuses_it():
    """A field Bybit may leave empty reads JSON null as "" (oms.bybit.wire); a corruption
    that put null there would be valid data, not a corruption. And every required field
    is tried with null."""
    from oms.bybit import wire  # noqa: PLC0415 - the wire tables, only for this check
    from oms.testing.corruption import _FIELDS, _WRONG_FOR  # noqa: PLC0415

    tables = {
        "order": wire.ORDER,
        "execution": wire.EXECUTION,
        "execution.fast": wire.FAST_EXECUTION,
        "position": wire.POSITION,
    }
    for topic, fields in _FIELDS.items():
        table = tables[topic]
        for name, kind in fields.items():
            column = table.column(name)
            tries_null = None in _WRONG_FOR[kind]
            if column.may_be_empty:
                assert not tries_null, (topic, name)
            elif column.required:
                assert tries_null, (topic, name)
