"""Wire elements -> core values: real frames translate to the right orders, fills and
position reports, with exact ``Decimal`` numbers and ``None`` for absent values."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from oms import (
    AmbiguousSymbolError,
    Fill,
    FillBooked,
    FillForUnknownOrder,
    FillSource,
    Ledger,
    LegKey,
    MalformedFrame,
    Outcome,
    PositionChanged,
    Side,
)
from oms.bybit.decode import DataFrame, decode
from oms.bybit.messages import ExecutionMsg, FastExecutionMsg, OrderMsg, PositionMsg
from oms.bybit.translate import fast_fill_from, fill_from, order_from, position_from
from oms.core.states import OrderStatus
from tests.conftest import DATA

REAL = DATA / "real"
FRAMES = "frames.jsonl"
FIXTURES = "frames_fixtures_edited.jsonl"


def real(name: str, line: int) -> str:
    """One line (1-based) of a real-frames file."""
    return (REAL / name).read_text(encoding="utf-8").splitlines()[line - 1]


def element(name: str, line: int) -> Any:
    """The decoded first element of one real frame: its core value."""
    decoded = decode(real(name, line))
    assert isinstance(decoded, DataFrame)
    assert decoded.errors == []
    return decoded.elements[0]


def exact(value: object, text: str) -> None:
    """``value`` is a Decimal spelling exactly ``text`` (digits and exponent)."""
    assert type(value) is Decimal
    assert value == Decimal(text)
    assert value.as_tuple() == Decimal(text).as_tuple()


# --- orders -----------------------------------------------------------------------------


def test_option_order_docs_example():
    order = element(FRAMES, 6)
    assert order.order_id == "5cf98598-39a7-459e-97bf-76ca765ee020"
    assert order.order_link_id == ""
    assert order.is_external
    assert order.category == "option"
    assert order.symbol == "ETH-30DEC22-1400-C"
    assert order.side is Side.SELL
    assert order.position_idx == 0
    assert order.status is OrderStatus.FILLED
    assert not order.is_open
    assert order.order_type == "Market"
    assert order.stop_order_type == ""
    exact(order.qty, "1")
    exact(order.price, "72.5")
    assert order.trigger_price is None  # "" on the wire
    exact(order.cum_exec_qty, "1")
    exact(order.cum_exec_value, "75")
    exact(order.cum_exec_fee, "0.358635")
    assert order.leaves_qty is None  # leavesQty "" on options
    exact(order.avg_price, "75")
    assert order.reduce_only is False
    assert order.time_in_force == "IOC"
    assert order.cancel_type == "UNKNOWN"
    assert order.reject_reason == "EC_NoError"
    assert order.created_time == 1672364262444
    assert order.updated_time == 1672364262457


def test_spot_cancelled_order_live_frame():
    order = element(FRAMES, 7)
    assert order.category == "spot"
    assert order.symbol == "DOGEUSDT"
    assert order.status is OrderStatus.CANCELLED
    assert not order.is_open
    assert order.cancel_type == "CancelByUser"
    assert order.reject_reason == "EC_PerCancelRequest"
    exact(order.qty, "10.0")
    exact(order.price, "0.09284")
    exact(order.cum_exec_qty, "0.0")
    exact(order.cum_exec_value, "0.000000")
    exact(order.leaves_qty, "10.0")
    exact(order.trigger_price, "0.00000")
    assert order.avg_price is None  # avgPrice "" and nothing filled
    assert order.order_link_id == "e491105d-a404-11ee-b73a-5cc336e5d1af"
    assert not order.is_external
    assert order.created_time == 1703605141261
    assert order.updated_time == 1703606238157


def test_cancelled_order_with_avg_price_zero_has_no_avg_price():
    order = element(FIXTURES, 6)
    assert order.status is OrderStatus.CANCELLED
    assert order.stop_order_type == "StopLoss"
    exact(order.cum_exec_qty, "0")
    assert order.avg_price is None  # avgPrice "0" before any fill means "none"
    exact(order.leaves_qty, "0.010")


def test_untriggered_stop_market_order():
    order = element(FIXTURES, 7)
    assert order.status is OrderStatus.UNTRIGGERED
    assert order.is_open
    assert order.stop_order_type == "Stop"
    assert order.price is None  # price "" on a conditional market order
    exact(order.trigger_price, "55000.00")
    assert order.avg_price is None


def test_rejected_order_with_fills():
    order = element(FIXTURES, 9)
    assert order.status is OrderStatus.REJECTED
    assert not order.is_open
    assert order.category == "spot"
    assert order.reject_reason == "UNKNOWN"
    exact(order.qty, "100.0")
    exact(order.cum_exec_qty, "50.0")
    exact(order.leaves_qty, "50.0")
    exact(order.avg_price, "1.500")
    exact(order.cum_exec_fee, "0.0413")


def test_rejected_order_with_fills_in_the_ledger():
    ledger = Ledger()
    result = ledger.feed(real(FIXTURES, 9), received_at=1)
    assert result.outcome is Outcome.APPLIED
    held = ledger.order("5cf98598-39a7-459e-97bf-76ca765ee021")
    assert held is not None
    assert held.status is OrderStatus.REJECTED
    assert held.cum_exec_qty == Decimal("50.0")
    assert ledger.open_orders() == []


def test_spot_order_with_tpsl_mode_null():
    order = element(FIXTURES, 10)
    assert order.status is OrderStatus.FILLED
    assert order.category == "spot"
    assert order.stop_order_type == "UNKNOWN"
    exact(order.avg_price, "50000.00")
    exact(order.cum_exec_qty, "0.005")
    exact(order.leaves_qty, "0")
    exact(order.trigger_price, "0")


def test_linear_filled_fixture():
    order = element(FIXTURES, 8)
    assert order.status is OrderStatus.FILLED
    exact(order.price, "30000.50")
    exact(order.cum_exec_value, "3000.05")
    exact(order.avg_price, "30000.50")
    exact(order.trigger_price, "29500.00")


_ORDER: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "orderId": "o-1",
    "orderLinkId": "c-1",
    "side": "Buy",
    "positionIdx": 0,
    "orderStatus": "New",
    "orderType": "Limit",
    "stopOrderType": "",
    "qty": "1",
    "price": "100",
    "triggerPrice": "",
    "cumExecQty": "0",
    "cumExecValue": "0",
    "cumExecFee": "0",
    "leavesQty": "1",
    "avgPrice": "",
    "createdTime": "1000",
    "updatedTime": "1001",
}


@pytest.mark.parametrize("status", list(OrderStatus), ids=[s.value for s in OrderStatus])
def test_every_wire_status_translates(status):
    order = order_from(OrderMsg.model_validate({**_ORDER, "orderStatus": status.value}))
    assert order.status is status


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"orderStatus": "Exploded"}, "orderStatus"),
        ({"orderStatus": "filled"}, "orderStatus"),
        ({"orderStatus": ""}, "orderStatus"),
        ({"side": "Long"}, "side"),
        ({"side": "buy"}, "side"),
        ({"side": ""}, "side"),
    ],
)
def test_order_with_unknown_enum_is_refused(override, field):
    with pytest.raises(ValueError, match=field) as info:
        order_from(OrderMsg.model_validate({**_ORDER, **override}))
    assert repr(next(iter(override.values()))) in str(info.value)


@pytest.mark.parametrize("value", ["0.00000001", "123456789.123456789", "1E+2", "0.10"])
def test_order_numbers_are_exact_decimals(value):
    order = order_from(
        OrderMsg.model_validate(
            {
                **_ORDER,
                "qty": value,
                "price": value,
                "triggerPrice": value,
                "cumExecQty": value,
                "cumExecValue": value,
                "cumExecFee": value,
                "leavesQty": value,
                "avgPrice": value,
            }
        )
    )
    for got in (
        order.qty,
        order.price,
        order.trigger_price,
        order.cum_exec_qty,
        order.cum_exec_value,
        order.cum_exec_fee,
        order.leaves_qty,
        order.avg_price,
    ):
        exact(got, value)


def test_order_empty_optional_numbers_are_none():
    order = order_from(
        OrderMsg.model_validate(
            {
                **_ORDER,
                "price": "",
                "triggerPrice": "",
                "cumExecValue": "",
                "cumExecFee": "",
                "leavesQty": "",
                "avgPrice": "",
            }
        )
    )
    assert order.price is None
    assert order.trigger_price is None
    assert order.cum_exec_value is None
    assert order.cum_exec_fee is None
    assert order.leaves_qty is None
    assert order.avg_price is None


def test_order_times_and_defaults():
    msg = OrderMsg.model_validate(
        {k: v for k, v in _ORDER.items() if k not in ("createdTime", "orderLinkId")}
    )
    order = order_from(msg)
    assert order.created_time == 0  # unknown
    assert order.updated_time == 1001
    assert order.order_link_id == ""
    assert order_from(OrderMsg.model_validate({**_ORDER, "createdTime": ""})).created_time == 0
    assert order_from(OrderMsg.model_validate({**_ORDER, "updatedTime": 5})).updated_time == 5


# --- fills ------------------------------------------------------------------------------


def test_linear_trade_execution_docs_example():
    fill = element(FRAMES, 8)
    assert fill.exec_id == "7e2ae69c-4edf-5800-a352-893d52b446aa"
    assert fill.order_id == "f6e324ff-99c2-4e89-9739-3086e47f9381"
    assert fill.category == "linear"
    assert fill.symbol == "XRPUSDT"
    assert fill.side is Side.SELL
    assert fill.exec_type == "Trade"
    assert fill.changes_position
    exact(fill.exec_qty, "25")
    exact(fill.exec_price, "0.3374")
    exact(fill.exec_value, "8.435")
    exact(fill.exec_fee, "0.005061")
    exact(fill.fee_rate, "0.0006")
    exact(fill.leaves_qty, "0")
    assert fill.closed_size is None  # not sent
    assert fill.is_maker is False
    assert fill.exec_time == 1672364174443
    assert fill.seq is None  # this docs revision has no seq
    assert fill.source is FillSource.STREAM
    exact(-fill.signed_qty, "25")


def test_execution_with_seq_and_empty_closed_size():
    fill = element(FRAMES, 9)
    assert fill.seq == 4688002127
    assert fill.closed_size is None  # closedSize ""


def test_partial_take_profit_execution():
    fill = element(FRAMES, 11)
    exact(fill.closed_size, "50")
    exact(fill.exec_fee, "0.00363275")
    assert fill.seq == 116080561182
    assert fill.order_link_id == ""


def test_dated_future_buy_execution():
    fill = element(FRAMES, 13)
    assert fill.symbol == "BTC-27SEP24"
    assert fill.side is Side.BUY
    exact(fill.signed_qty, "0.001")
    exact(fill.exec_fee, "0.03804625")


def test_spot_execution_moves_no_leg_only_its_symbols_spot_net():
    ledger = Ledger()
    result = ledger.feed(real(FRAMES, 12), received_at=1)
    assert result.outcome is Outcome.APPLIED
    (booked,) = [e for e in result.events if isinstance(e, FillBooked)]
    assert booked.exec_id == "2100000000079525951"
    assert booked.position_idx is None
    exact(booked.exec_qty, "0.001000")
    exact(booked.exec_fee, "0.000001")
    # spot has no position topic and no legs: its position is the net of its trades
    assert ledger.legs() == {}
    exact(ledger.derived_position("BTCUSDT"), "0.001000")
    assert ledger.position("BTCUSDT", "linear") == 0


def test_funding_execution_is_booked_but_moves_nothing():
    fill = element(FRAMES, 14)
    assert fill.exec_type == "Funding"
    assert not fill.changes_position
    assert fill.side is Side.SELL
    exact(fill.exec_fee, "-8.0758617716")
    exact(fill.exec_qty, "3.00238")

    ledger = Ledger()
    result = ledger.feed(real(FRAMES, 14), received_at=1)
    assert result.outcome is Outcome.APPLIED
    (booked,) = result.events
    assert isinstance(booked, FillBooked)
    assert booked.changes_position is False
    assert booked.position_idx is None
    assert ledger.fill("d93e7b3c-8319-4c3e-9d2f-1d3c8a369d56") is not None
    assert ledger.booked_qty("16791") == 0
    assert ledger.derived_position("BTCUSDT") == 0
    # funding belongs to no order: no alarm for the missing order report
    assert not any(isinstance(e, FillForUnknownOrder) for e in ledger.settle(received_at=2))


def test_funding_on_a_held_position_leaves_it_unchanged():
    position = {
        "id": "p",
        "topic": "position",
        "creationTime": 1679183999000,
        "data": [
            {
                "category": "linear",
                "symbol": "BTCUSDT",
                "positionIdx": 0,
                "side": "Buy",
                "size": "3.00238",
                "seq": 7,
                "updatedTime": "1679183999000",
            }
        ],
    }
    ledger = Ledger()
    ledger.feed(json.dumps(position), received_at=1)
    before = (ledger.position("BTCUSDT"), ledger.derived_position("BTCUSDT"))
    assert ledger.feed(real(FRAMES, 14), received_at=2).outcome is Outcome.APPLIED
    assert (ledger.position("BTCUSDT"), ledger.derived_position("BTCUSDT")) == before
    assert ledger.fill("d93e7b3c-8319-4c3e-9d2f-1d3c8a369d56") is not None


def test_fixture_funding_and_adl_exec_types():
    funding = element(FIXTURES, 3)
    adl = element(FIXTURES, 2)
    assert funding.exec_type == "Funding"
    assert not funding.changes_position
    assert adl.exec_type == "AdlTrade"
    assert adl.changes_position
    exact(adl.exec_fee, "0")


def test_fast_execution_docs_example():
    fill = element(FRAMES, 15)
    assert isinstance(fill, Fill)
    assert fill.source is FillSource.FAST
    assert fill.exec_type == "Trade"
    assert fill.changes_position
    assert fill.exec_fee is None
    assert fill.fee_rate is None
    assert fill.exec_value is None
    assert fill.closed_size is None
    assert fill.leaves_qty is None
    assert fill.is_maker is None  # not sent in this example
    assert fill.exec_id == "3510f361-0add-5c7b-a2e7-9679810944fc"
    assert fill.order_link_id == "test-00001"
    exact(fill.exec_qty, "3000")
    exact(fill.exec_price, "12.015")
    assert fill.seq == 34771365464
    assert fill.exec_time == 1716800399334
    assert element(FIXTURES, 5).is_maker is False


def _full_copy_of_fast(line: str) -> str:
    """The ``execution`` frame carrying the same execId as a fast frame, with the fee."""
    fast = json.loads(line)["data"][0]
    full = {**fast, "execType": "Trade", "execFee": "0.5", "feeRate": "0.0002"}
    return json.dumps({"id": "full", "topic": "execution", "creationTime": 1, "data": [full]})


def test_fast_fill_is_enriched_by_the_full_execution_and_never_counted_twice():
    fast_line = real(FRAMES, 15)
    ledger = Ledger()
    assert ledger.feed(fast_line, received_at=1).outcome is Outcome.APPLIED
    exec_id = "3510f361-0add-5c7b-a2e7-9679810944fc"
    held = ledger.fill(exec_id)
    assert held is not None
    assert held.exec_fee is None
    assert ledger.feed(_full_copy_of_fast(fast_line), received_at=2).outcome is Outcome.APPLIED
    held = ledger.fill(exec_id)
    assert held is not None
    assert held.source is FillSource.STREAM
    exact(held.exec_fee, "0.5")
    assert len(ledger.fills()) == 1
    assert ledger.booked_qty("443d63fa-b4c3-4297-b7b1-23bca88b04dc") == Decimal(3000)
    # a late fast copy changes nothing
    assert ledger.feed(fast_line, received_at=3).outcome is Outcome.DUPLICATE
    assert ledger.fill(exec_id) == held


_EXECUTION: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "execId": "e-1",
    "orderId": "o-1",
    "side": "Buy",
    "execType": "Trade",
    "execQty": "1",
    "execPrice": "100",
    "execTime": "1500",
}


@pytest.mark.parametrize("value", ["0.00000001", "123456789.123456789", "1E+2"])
def test_fill_numbers_are_exact_decimals(value):
    fill = fill_from(
        ExecutionMsg.model_validate(
            {
                **_EXECUTION,
                "execQty": value,
                "execPrice": value,
                "execValue": value,
                "execFee": value,
                "feeRate": value,
                "closedSize": value,
                "leavesQty": value,
            }
        )
    )
    for got in (
        fill.exec_qty,
        fill.exec_price,
        fill.exec_value,
        fill.exec_fee,
        fill.fee_rate,
        fill.closed_size,
        fill.leaves_qty,
    ):
        exact(got, value)
    fast = fast_fill_from(
        FastExecutionMsg.model_validate({**_EXECUTION, "execQty": value, "execPrice": value})
    )
    exact(fast.exec_qty, value)
    exact(fast.exec_price, value)


def test_fill_empty_optional_numbers_are_none():
    fill = fill_from(
        ExecutionMsg.model_validate(
            {
                **_EXECUTION,
                "execValue": "",
                "execFee": "",
                "feeRate": "",
                "closedSize": "",
                "leavesQty": "",
            }
        )
    )
    assert fill.exec_value is None
    assert fill.exec_fee is None
    assert fill.fee_rate is None
    assert fill.closed_size is None
    assert fill.leaves_qty is None


@pytest.mark.parametrize("side", ["Long", "Short", "", "None", "BUY"])
def test_fill_with_unknown_side_is_refused(side):
    with pytest.raises(ValueError, match="side"):
        fill_from(ExecutionMsg.model_validate({**_EXECUTION, "side": side}))
    with pytest.raises(ValueError, match="side"):
        fast_fill_from(FastExecutionMsg.model_validate({**_EXECUTION, "side": side}))


# --- positions --------------------------------------------------------------------------


def test_flat_hedge_leg_docs_example():
    report = element(FRAMES, 16)
    assert report.category == "linear"
    assert report.symbol == "BTCUSDT"
    assert report.position_idx == 2
    assert report.side is None  # side ""
    exact(report.size, "0")
    assert report.net_qty == 0
    assert report.key == LegKey("linear", "BTCUSDT", 2)
    exact(report.entry_price, "0")
    exact(report.mark_price, "28184.5")
    exact(report.cum_realised_pnl, "-25.06579337")
    assert report.seq == 8327597863
    assert report.updated_time == 1697682317038


def test_flat_hedge_leg_in_the_ledger():
    ledger = Ledger()
    result = ledger.feed(real(FRAMES, 16), received_at=1)
    assert result.outcome is Outcome.APPLIED
    # a flat leg may or may not be announced, but never as a non-zero position
    changes = [e for e in result.events if isinstance(e, PositionChanged)]
    assert all(e.net_qty == 0 and e.side is None for e in changes)
    assert not any(isinstance(e, MalformedFrame) for e in result.events)
    assert ledger.position("BTCUSDT") == 0
    held = ledger.position_report(LegKey("linear", "BTCUSDT", 2))
    assert held is not None
    assert held.net_qty == 0


def test_one_way_short_leg_live_frame():
    report = element(FRAMES, 17)
    assert report.side is Side.SELL
    assert report.position_idx == 0
    exact(report.size, "2000")
    exact(report.net_qty, "-2000")
    exact(report.unrealised_pnl, "-0.006")
    ledger = Ledger()
    ledger.feed(real(FRAMES, 17), received_at=1)
    assert ledger.position("DGBUSDT") == Decimal(-2000)


def test_position_fixture_without_category():
    """Fixture line 12 has no ``category``; the README says it must still be accepted."""
    ledger = Ledger()
    result = ledger.feed(real(FIXTURES, 12), received_at=1)
    assert [e.reason for e in result.events if isinstance(e, MalformedFrame)] == []
    assert result.outcome is Outcome.APPLIED
    (report,) = ledger.position_reports()
    assert (report.symbol, report.position_idx, report.size) == ("BTCUSDT", 2, Decimal("0.15"))


_POSITION: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "positionIdx": 1,
    "side": "Buy",
    "size": "1",
    "seq": 5,
    "updatedTime": "1",
}


@pytest.mark.parametrize(
    ("side", "size", "net"),
    [
        ("Buy", "2.5", "2.5"),
        ("Sell", "2.5", "-2.5"),
        ("", "0", "0"),
        ("None", "0", "0"),
        ("", "0.000", "0"),
    ],
)
def test_position_sides(side, size, net):
    report = position_from(PositionMsg.model_validate({**_POSITION, "side": side, "size": size}))
    assert report.net_qty == Decimal(net)
    exact(report.size, size)


@pytest.mark.parametrize(
    ("side", "size", "field"),
    [
        ("", "1", "size"),  # an empty side with a size
        ("None", "0.1", "size"),
        ("Buy", "-1", "size"),  # negative size
        ("Sell", "-0.5", "size"),
        ("", "-1", "size"),
        ("Long", "1", "side"),  # unknown side
        ("buy", "1", "side"),
    ],
)
def test_position_inconsistent_side_or_size_is_refused(side, size, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        position_from(PositionMsg.model_validate({**_POSITION, "side": side, "size": size}))


def test_position_numbers_and_defaults():
    report = position_from(
        PositionMsg.model_validate(
            {
                "category": "inverse",
                "symbol": "BTCUSD",
                "side": "Buy",
                "size": "123456789.123456789",
                "entryPrice": "1E+2",
                "markPrice": "",
                "unrealisedPnl": "0.00000001",
            }
        )
    )
    exact(report.size, "123456789.123456789")
    exact(report.entry_price, "1E+2")
    assert report.mark_price is None
    exact(report.unrealised_pnl, "0.00000001")
    assert report.cum_realised_pnl is None
    assert report.position_idx == 0
    assert report.seq == -1  # never traded
    assert report.updated_time == 0


# --- wallet -----------------------------------------------------------------------------


def _dec(value: object) -> Decimal:
    assert not isinstance(value, float)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def test_wallet_docs_example():
    ledger = Ledger()
    assert ledger.feed(real(FRAMES, 18), received_at=1).outcome is Outcome.APPLIED
    wallet = ledger.wallet()
    assert set(wallet) == {"UNIFIED"}
    account = wallet["UNIFIED"]
    assert _dec(account.totalEquity) == Decimal("19620.93864593")
    assert _dec(account.totalWalletBalance) == Decimal("18331.93856433")
    assert _dec(account.totalAvailableBalance) == Decimal("9511.52641225")
    assert _dec(account.totalInitialMargin) == Decimal("8719.30610327")
    assert _dec(account.totalMaintenanceMargin) == Decimal("277.05763376")
    coins = {c.coin: c for c in account.coin}
    assert set(coins) == {"USDC", "BTC", "USDT"}
    assert _dec(coins["USDT"].walletBalance) == Decimal("106.03036732")
    assert _dec(coins["USDT"].equity) == Decimal("4.93036732")
    assert _dec(coins["USDT"].unrealisedPnl) == Decimal("-101.1")
    assert _dec(coins["USDC"].cumRealisedPnl) == Decimal("-1100.6552094")


def test_newer_wallet_replaces_older_and_older_is_stale():
    ledger = Ledger()
    ledger.feed(real(FRAMES, 18), received_at=1)
    assert ledger.feed(real(FRAMES, 19), received_at=2).outcome is Outcome.APPLIED
    account = ledger.wallet()["UNIFIED"]
    assert _dec(account.totalEquity) == Decimal("10262.91335023")
    assert [c.coin for c in account.coin] == ["BTC"]
    assert _dec(account.coin[0].cumRealisedPnl) == Decimal("-0.00000973")
    # the older report arriving late changes nothing
    assert ledger.feed(real(FRAMES, 18), received_at=3).outcome is Outcome.STALE
    assert _dec(ledger.wallet()["UNIFIED"].totalEquity) == Decimal("10262.91335023")
    assert ledger.stats["stale"] == 1


def test_wallet_is_a_copy():
    ledger = Ledger()
    ledger.feed(real(FRAMES, 18), received_at=1)
    ledger.wallet().clear()
    assert set(ledger.wallet()) == {"UNIFIED"}


def test_wallet_fixture_without_account_type():
    """Fixture line 13 has no ``accountType``; the README says it must still be accepted."""
    ledger = Ledger()
    result = ledger.feed(real(FIXTURES, 13), received_at=1)
    assert [e.reason for e in result.events if isinstance(e, MalformedFrame)] == []
    assert result.outcome is Outcome.APPLIED
    assert len(ledger.wallet()) == 1
    (account,) = ledger.wallet().values()
    assert _dec(account.totalEquity) == Decimal("10262.91335023")


# --- whole files through one ledger -----------------------------------------------------


def test_frames_file_builds_the_expected_state():
    ledger = Ledger()
    for line in (REAL / FRAMES).read_text(encoding="utf-8").splitlines():
        ledger.feed(line, received_at=1)
    assert {o.order_id for o in ledger.orders()} == {
        "5cf98598-39a7-459e-97bf-76ca765ee020",
        "1584349189335418625",
    }
    # lines 8 and 9 carry the same execId: booked once
    assert len(ledger.fills()) == 7
    assert ledger.position("DGBUSDT") == Decimal(-2000)
    # BTCUSDT trades in linear (lines 8-11) and spot (line 12): a query must say which
    with pytest.raises(AmbiguousSymbolError):
        ledger.position("BTCUSDT")
    assert ledger.position("BTCUSDT", "linear") == 0
    assert ledger.position("BTCUSDT", "spot") == Decimal("0.001")
    assert ledger.stats == {
        "frames": 19,
        "applied": 13,
        "duplicate": 1,
        "stale": 0,
        "illegal": 0,
        "malformed": 0,
        "control": 5,
        "ignored": 0,
    }
