"""The order lifecycle table, cell by cell, through ``decide``.

The expected grid is written out literally (not derived from ``TRANSITIONS``) so that an
accidental edit of the table in ``oms/core/states.py`` fails here.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms.core.orders import Order, Side, Verdict, decide
from oms.core.states import (
    ALLOWED,
    BY_WIRE_NAME,
    OPEN,
    RANK,
    TERMINAL,
    TRANSITIONS,
    OrderStatus,
    is_legal,
)

S = OrderStatus
T0 = 1_717_200_000_000

#: Row and column order of the grid (abbreviations below).
ORDERED = (
    S.CREATED,
    S.UNTRIGGERED,
    S.TRIGGERED,
    S.ACTIVE,
    S.NEW,
    S.PARTIALLY_FILLED,
    S.FILLED,
    S.CANCELLED,
    S.REJECTED,
    S.PARTIALLY_FILLED_CANCELED,
    S.DEACTIVATED,
)

# held (row) -> reported (column), the report newer by updatedTime only.
# A = APPLIED, x = ILLEGAL.
GRID = """
          Cr Un Tr Ac Ne PF Fi Ca Re PC De
Created    A  x  x  x  A  A  A  A  A  A  x
Untrig     x  A  A  A  A  A  A  A  A  A  A
Triggered  x  x  A  A  A  A  A  A  A  A  x
Active     x  x  x  A  x  x  x  x  x  x  x
New        x  x  x  x  A  A  A  A  A  A  x
PartFill   x  x  x  x  x  A  A  A  A  A  x
Filled     x  x  x  x  x  x  A  x  x  x  x
Cancelled  x  x  x  x  x  x  x  A  x  x  x
Rejected   x  x  x  x  x  x  x  x  A  x  x
PFCancel   x  x  x  x  x  x  x  x  x  A  x
Deactiv    x  x  x  x  x  x  x  x  x  x  A
"""

#: Status rank, literally: how far along the lifecycle a status is.
EXPECTED_RANK = {
    S.CREATED: 0,
    S.UNTRIGGERED: 1,
    S.TRIGGERED: 2,
    S.NEW: 4,
    S.PARTIALLY_FILLED: 5,
    S.ACTIVE: 6,
    S.FILLED: 6,
    S.CANCELLED: 6,
    S.REJECTED: 6,
    S.PARTIALLY_FILLED_CANCELED: 6,
    S.DEACTIVATED: 6,
}


def _parse_grid() -> dict[tuple[OrderStatus, OrderStatus], Verdict]:
    rows = GRID.strip().splitlines()[1:]
    assert len(rows) == len(ORDERED)
    table = {}
    for held, row in zip(ORDERED, rows, strict=True):
        cells = row.split()[1:]
        assert len(cells) == len(ORDERED), row
        for reported, cell in zip(ORDERED, cells, strict=True):
            table[held, reported] = {"A": Verdict.APPLIED, "x": Verdict.ILLEGAL}[cell]
    return table


EXPECTED = _parse_grid()
CELLS = sorted(EXPECTED, key=lambda c: (ORDERED.index(c[0]), ORDERED.index(c[1])))


def make_order(status: OrderStatus = S.NEW, **changes: object) -> Order:
    """A linear BTCUSDT limit buy with sensible defaults."""
    base = Order(
        order_id="order-1",
        order_link_id="oms-1",
        category="linear",
        symbol="BTCUSDT",
        side=Side.BUY,
        position_idx=0,
        status=status,
        order_type="Limit",
        stop_order_type="",
        qty=Decimal(1),
        price=Decimal(65000),
        trigger_price=None,
        cum_exec_qty=Decimal("0.5"),
        cum_exec_value=None,
        cum_exec_fee=None,
        leaves_qty=Decimal("0.5"),
        avg_price=None,
        reduce_only=False,
        time_in_force="GTC",
        create_type="CreateByUser",
        cancel_type="UNKNOWN",
        reject_reason="EC_NoError",
        created_time=T0,
        updated_time=T0,
    )
    return base._replace(**changes)


def _cell_id(cell: tuple[OrderStatus, OrderStatus]) -> str:
    return f"{cell[0].value}->{cell[1].value}"


def test_grid_covers_every_cell():
    assert len(EXPECTED) == 121
    assert set(ORDERED) == set(OrderStatus)


@pytest.mark.parametrize("cell", CELLS, ids=_cell_id)
def test_newer_report_follows_the_table(cell):
    held_status, reported_status = cell
    held = make_order(held_status)
    report = make_order(reported_status, updated_time=T0 + 1)
    decision = decide(held, report)
    assert decision.verdict is EXPECTED[cell]
    if decision.verdict is Verdict.ILLEGAL:
        if EXPECTED_RANK[reported_status] < EXPECTED_RANK[held_status]:
            # Newer by time, older by rank: the report contradicts itself.
            assert decision.reason.startswith("inconsistent report")
            assert "status rank" in decision.reason
        else:
            assert decision.reason == f"{held_status.value} -> {reported_status.value} not allowed"
    else:
        assert decision.reason == ""
        assert decision.status_changed is (held_status is not reported_status)
        assert not decision.cancel_rejected


@pytest.mark.parametrize("cell", CELLS, ids=_cell_id)
def test_is_legal_agrees_with_the_grid(cell):
    assert is_legal(*cell) is (EXPECTED[cell] is Verdict.APPLIED)


@pytest.mark.parametrize("cell", CELLS, ids=_cell_id)
def test_report_older_in_every_key(cell):
    """Older updatedTime, lower cumExecQty: stale unless its rank is higher (inconsistent)."""
    held_status, reported_status = cell
    held = make_order(held_status, updated_time=T0 + 10)
    report = make_order(reported_status, updated_time=T0, cum_exec_qty=Decimal("0.25"))
    decision = decide(held, report)
    if EXPECTED_RANK[reported_status] <= EXPECTED_RANK[held_status]:
        assert decision.verdict is Verdict.STALE
    else:
        assert decision.verdict is Verdict.ILLEGAL
        assert decision.reason.startswith("inconsistent report")


@pytest.mark.parametrize("cell", CELLS, ids=_cell_id)
def test_report_with_identical_keys(cell):
    """Same updatedTime and cumExecQty: a repeat, a same-instant contradiction, or a step."""
    held_status, reported_status = cell
    decision = decide(make_order(held_status), make_order(reported_status))
    held_rank, reported_rank = EXPECTED_RANK[held_status], EXPECTED_RANK[reported_status]
    if held_status is reported_status:
        assert decision.verdict is Verdict.DUPLICATE
    elif reported_rank < held_rank:
        assert decision.verdict is Verdict.STALE
    elif reported_rank == held_rank:
        assert decision.verdict is Verdict.ILLEGAL
        assert "same instant" in decision.reason
    else:
        # Higher rank alone makes it newer (Triggered -> New share one updatedTime).
        assert decision.verdict is EXPECTED[cell]


def test_rank_is_as_documented():
    assert dict(RANK) == EXPECTED_RANK


def test_first_report_is_always_applied():
    for status in OrderStatus:
        decision = decide(None, make_order(status))
        assert decision.verdict is Verdict.APPLIED
        assert decision.status_changed


def test_terminal_and_open_partition_all_statuses():
    assert (
        frozenset(
            {
                S.FILLED,
                S.CANCELLED,
                S.REJECTED,
                S.PARTIALLY_FILLED_CANCELED,
                S.DEACTIVATED,
                S.ACTIVE,
            }
        )
        == TERMINAL
    )
    assert frozenset({S.CREATED, S.UNTRIGGERED, S.TRIGGERED, S.NEW, S.PARTIALLY_FILLED}) == OPEN
    assert not (TERMINAL & OPEN)
    assert frozenset(OrderStatus) == TERMINAL | OPEN


def test_terminal_rows_allow_only_themselves():
    for held in TERMINAL:
        legal = {r for r in OrderStatus if EXPECTED[held, r] is Verdict.APPLIED}
        assert legal == {held}


def test_by_wire_name_covers_every_bybit_spelling():
    spellings = {
        "Created": S.CREATED,
        "New": S.NEW,
        "PartiallyFilled": S.PARTIALLY_FILLED,
        "Filled": S.FILLED,
        "Cancelled": S.CANCELLED,
        "Rejected": S.REJECTED,
        "PartiallyFilledCanceled": S.PARTIALLY_FILLED_CANCELED,
        "Untriggered": S.UNTRIGGERED,
        "Triggered": S.TRIGGERED,
        "Active": S.ACTIVE,
        "Deactivated": S.DEACTIVATED,
    }
    assert spellings == BY_WIRE_NAME
    for name, status in spellings.items():
        assert status.value == name
    # The wire is case-sensitive: no US spelling of "Cancelled", no lower case.
    assert "Canceled" not in BY_WIRE_NAME
    assert "new" not in BY_WIRE_NAME


def test_is_open_follows_terminal():
    for status in OrderStatus:
        assert make_order(status).is_open is (status in OPEN)


def _table_as_it_was_computed() -> dict[OrderStatus, frozenset[OrderStatus]]:
    """``TRANSITIONS`` as ``oms/core/states.py`` built it before its cells were written out
    one by one (copied from there): set algebra over the endings of a working order."""
    endings_after_work = (S.FILLED, S.CANCELLED, S.REJECTED, S.PARTIALLY_FILLED_CANCELED)
    return {
        S.CREATED: frozenset({S.CREATED, S.NEW, S.PARTIALLY_FILLED, *endings_after_work}),
        S.UNTRIGGERED: frozenset(
            {
                S.UNTRIGGERED,
                S.TRIGGERED,
                S.ACTIVE,
                S.NEW,
                S.PARTIALLY_FILLED,
                *endings_after_work,
                S.DEACTIVATED,
            }
        ),
        S.TRIGGERED: frozenset(
            {S.TRIGGERED, S.ACTIVE, S.NEW, S.PARTIALLY_FILLED, *endings_after_work}
        ),
        S.ACTIVE: frozenset({S.ACTIVE, S.NEW, S.PARTIALLY_FILLED, *endings_after_work}),
        S.NEW: frozenset({S.NEW, S.PARTIALLY_FILLED, *endings_after_work}),
        S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, *endings_after_work}),
        S.FILLED: frozenset({S.FILLED}),
        S.CANCELLED: frozenset({S.CANCELLED}),
        S.REJECTED: frozenset({S.REJECTED}),
        S.PARTIALLY_FILLED_CANCELED: frozenset({S.PARTIALLY_FILLED_CANCELED}),
        S.DEACTIVATED: frozenset({S.DEACTIVATED}),
    }


def test_the_literal_cells_are_the_table_they_replaced():
    old = _table_as_it_was_computed()
    # One deliberate change since (issue 12): Active ends a successful conditional order,
    # as the seed says, so its row allows only itself; every other cell is as it was.
    old[S.ACTIVE] = frozenset({S.ACTIVE})
    assert old == TRANSITIONS
    assert {(held, reported) for held, row in old.items() for reported in row} == ALLOWED
    assert len(ALLOWED) == 42
    assert set(TRANSITIONS) == set(OrderStatus)
