"""The rows of ``oms replay --json`` (``oms.cli.views``) hold each field by its name.

``order_row`` and ``fill_row`` unpack their value by position (cheaper than reading each
field by name); these hold them to a reference that reads every field by name, on every
order and execution of the recorded sample session, and on values whose decimals print
with an exponent."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from oms import Ledger
from oms.cli.views import dec, fill_row, order_row

if TYPE_CHECKING:
    from oms.core.fills import Fill
    from oms.core.orders import Order

SAMPLE = Path(__file__).parent / "data" / "sample-dirty.jsonl.gz"


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _reference_order(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "order_link_id": o.order_link_id,
        "category": o.category,
        "symbol": o.symbol,
        "side": o.side.value,
        "position_idx": o.position_idx,
        "status": o.status.value,
        "order_type": o.order_type,
        "stop_order_type": o.stop_order_type,
        "qty": _plain(o.qty),
        "price": _plain(o.price),
        "cum_exec_qty": _plain(o.cum_exec_qty),
        "cum_exec_value": _plain(o.cum_exec_value),
        "cum_exec_fee": _plain(o.cum_exec_fee),
        "leaves_qty": _plain(o.leaves_qty),
        "avg_price": _plain(o.avg_price),
        "created_time": o.created_time,
        "updated_time": o.updated_time,
    }


def _reference_fill(f: Fill) -> dict[str, Any]:
    return {
        "exec_id": f.exec_id,
        "order_id": f.order_id,
        "symbol": f.symbol,
        "side": f.side.value,
        "exec_type": f.exec_type,
        "exec_qty": _plain(f.exec_qty),
        "exec_price": _plain(f.exec_price),
        "exec_fee": _plain(f.exec_fee),
        "exec_time": f.exec_time,
        "seq": f.seq,
    }


@pytest.fixture(scope="module")
def sample() -> Ledger:
    ledger = Ledger()
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                ledger.apply_frame(line.rstrip("\n"))
    return ledger


def test_every_order_row_holds_its_fields_by_name(sample: Ledger) -> None:
    orders = sample.orders()
    assert len(orders) > 10
    for order in orders:
        assert order_row(order) == _reference_order(order)


def test_every_fill_row_holds_its_fields_by_name(sample: Ledger) -> None:
    fills = sample.fills()
    assert len(fills) > 10
    for fill in fills:
        assert fill_row(fill) == _reference_fill(fill)


def test_rows_spell_exponent_decimals_plainly(sample: Ledger) -> None:
    order = sample.orders()[0]._replace(
        qty=Decimal("1E-8"), price=Decimal("2E+3"), cum_exec_fee=Decimal("-0E-10")
    )
    row = order_row(order)
    assert (row["qty"], row["price"], row["cum_exec_fee"]) == (
        "0.00000001",
        "2000",
        "-0.0000000000",
    )
    assert row == _reference_order(order)
    fill = sample.fills()[0]._replace(exec_fee=Decimal("5e-9"))
    assert fill_row(fill)["exec_fee"] == "0.000000005"
    assert fill_row(fill) == _reference_fill(fill)


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, None), (Decimal("1.50"), "1.50"), (Decimal("1E-8"), "0.00000001"), (Decimal(7), "7")],
)
def test_dec_is_plain_notation(value: Decimal | None, text: str | None) -> None:
    assert dec(value) == text
