"""Every category first-class: positions keyed by category, spot's position from its
fills, and a symbol held in two categories never summed without ``category=``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from oms import AmbiguousSymbolError, Ledger, LegKey, LocalError, OrderStatus, PositionMismatch
from tests.core.frames import (
    execution,
    execution_frame,
    order,
    order_frame,
    position,
    position_frame,
)

D = Decimal
REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "frames.jsonl"


def _real(line: int) -> str:
    return REAL.read_text(encoding="utf-8").splitlines()[line - 1]


def _spot_fill(exec_id: str, side: str, qty: str, seq: int) -> str:
    return execution_frame(
        execution(
            category="spot",
            symbol="BTCUSDT",
            orderId=f"spot-{exec_id}",
            execId=exec_id,
            side=side,
            execQty=qty,
            seq=seq,
            closedSize="",
        )
    )


def test_a_spot_symbols_position_is_the_net_of_its_trades():
    ledger = Ledger()
    ledger.apply_frame(_spot_fill("s1", "Buy", "0.5", 1))
    ledger.apply_frame(_spot_fill("s2", "Sell", "0.2", 2))
    ledger.apply_frame(_spot_fill("s1", "Buy", "0.5", 1))  # a duplicate moves nothing
    assert ledger.position("BTCUSDT") == D("0.3")
    assert ledger.position("BTCUSDT", "spot") == D("0.3")
    assert ledger.derived_position("BTCUSDT", "spot") == D("0.3")
    assert ledger.legs() == {}  # spot holds balances, not legs


def test_the_real_spot_execution_from_bybits_stream_moves_its_symbol():
    ledger = Ledger()
    ledger.apply_frame(_real(12))  # a live spot Buy of 0.001 BTCUSDT
    assert ledger.position("BTCUSDT", "spot") == D("0.001")
    assert ledger.position("BTCUSDT", "linear") == 0


def test_a_symbol_in_two_categories_needs_category():
    ledger = Ledger()
    ledger.apply_frame(_spot_fill("s1", "Buy", "2", 1))
    ledger.apply_frame(position_frame(position(side="Sell", size="0.7", seq=10)))
    with pytest.raises(AmbiguousSymbolError, match=r"BTCUSDT .*linear, spot.*category="):
        ledger.position("BTCUSDT")
    with pytest.raises(AmbiguousSymbolError):
        ledger.derived_position("BTCUSDT")
    assert issubclass(AmbiguousSymbolError, LocalError)
    assert ledger.position("BTCUSDT", "spot") == D(2)
    assert ledger.position("BTCUSDT", "linear") == D("-0.7")
    assert ledger.position("ETHUSDT") == 0  # a symbol held nowhere is flat, not an error


def test_inverse_and_linear_legs_of_one_symbol_name_stay_apart():
    ledger = Ledger()
    inverse = {"category": "inverse", "symbol": "BTCUSD"}
    ledger.apply_frame(position_frame(position(**inverse, side="Buy", size="100", seq=5)))
    ledger.apply_frame(
        position_frame(position(category="linear", symbol="BTCUSD", size="1", seq=5))
    )
    assert set(ledger.legs()) == {
        LegKey("inverse", "BTCUSD", 0),
        LegKey("linear", "BTCUSD", 0),
    }
    assert ledger.position("BTCUSD", "inverse") == D(100)  # contracts (USD)
    with pytest.raises(AmbiguousSymbolError):
        ledger.position("BTCUSD")


def test_an_inverse_fill_moves_its_inverse_leg_in_contracts():
    ledger = Ledger(settle_frames=2)
    inverse = {"category": "inverse", "symbol": "BTCUSD"}
    ledger.apply_frame(
        order_frame(order(**inverse, orderStatus="Filled", qty="300", cumExecQty="300"))
    )
    ledger.apply_frame(execution_frame(execution(**inverse, execQty="300", seq=9)))
    ledger.apply_frame(position_frame(position(**inverse, size="300", seq=9)))
    assert ledger.position("BTCUSD") == D(300)
    assert ledger.derived_position("BTCUSD") == D(300)
    assert [e for e in ledger.settle(received_at=0) if isinstance(e, PositionMismatch)] == []


def test_spot_partially_filled_canceled_is_terminal_and_its_fills_count():
    ledger = Ledger()
    spot = {"category": "spot", "symbol": "ETHUSDT", "orderId": "sp-1", "positionIdx": 0}
    ledger.apply_frame(order_frame(order(**spot, qty="2", orderStatus="New")))
    ledger.apply_frame(
        execution_frame(
            execution(**spot, execId="x1", execQty="0.5", seq=3, closedSize="", side="Buy")
        )
    )
    ledger.apply_frame(
        order_frame(order(**spot, qty="2", cumExecQty="0.5", orderStatus="PartiallyFilledCanceled"))
    )
    held = ledger.order("sp-1")
    assert held is not None
    assert held.status is OrderStatus.PARTIALLY_FILLED_CANCELED
    assert ledger.open_orders() == []
    assert ledger.position("ETHUSDT") == D("0.5")


def test_the_real_option_and_spot_order_frames_are_applied():
    ledger = Ledger()
    ledger.apply_frame(_real(6))  # option, Filled
    ledger.apply_frame(_real(7))  # spot, Cancelled
    statuses = {o.category: o.status for o in ledger.orders()}
    assert statuses == {"option": OrderStatus.FILLED, "spot": OrderStatus.CANCELLED}
