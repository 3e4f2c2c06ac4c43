"""Order reports through ``Ledger.apply_frame``: lifecycle, amends, races, anomalies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms import (
    CancelRejected,
    Event,
    IllegalTransition,
    Ledger,
    Order,
    OrderAmended,
    OrderStatus,
    OrderStatusChanged,
    Outcome,
)
from oms.core.orders import Verdict
from tests.core.frames import ms, of, order, order_frame

S = OrderStatus
OID = "9aac161b-8ed6-450d-9cab-c5cc67c21784"
RECEIVED = 1_717_200_999_000


def current(ledger: Ledger, order_id: str = OID) -> Order:
    """The held state of an order that must be known."""
    held = ledger.order(order_id)
    assert held is not None
    return held


def conditional(status: str, at: int, **fields: Any) -> dict[str, Any]:
    """A conditional (stop) limit buy that keeps its orderId through the trigger."""
    wire = {
        "orderStatus": status,
        "orderLinkId": "oms-stop-1",
        "stopOrderType": "Stop",
        "triggerPrice": "66000",
        "triggerDirection": 1,
        "triggerBy": "LastPrice",
        "createType": "CreateByStopOrder",
        "updatedTime": ms(at),
    }
    return order(**{**wire, **fields})


def status_events(events: list[Event]) -> list[tuple[OrderStatus | None, OrderStatus]]:
    """(previous, status) of each event; every event must be an OrderStatusChanged."""
    changes = of(OrderStatusChanged, events)
    assert len(changes) == len(events), events
    return [(e.previous, e.status) for e in changes]


def outcomes(ledger: Ledger) -> dict[str, int]:
    return {k: v for k, v in ledger.stats.items() if v}


# --- conditional orders -----------------------------------------------------------------


def test_trigger_then_new_in_one_frame_with_equal_updated_time():
    ledger = Ledger()
    ledger.apply_frame(order_frame(conditional("Untriggered", 0)))
    events = ledger.apply_frame(
        order_frame(conditional("Triggered", 5), conditional("New", 5)), received_at=RECEIVED
    )
    assert status_events(events) == [(S.UNTRIGGERED, S.TRIGGERED), (S.TRIGGERED, S.NEW)]
    assert all(e.venue_time == int(ms(5)) and e.received_at == RECEIVED for e in events)
    assert current(ledger).status is S.NEW
    assert outcomes(ledger) == {"frames": 2, "applied": 2}


def test_untriggered_triggered_new_all_in_one_frame():
    ledger = Ledger()
    frame = order_frame(
        conditional("Untriggered", 5), conditional("Triggered", 5), conditional("New", 5)
    )
    result = ledger.feed(frame)
    assert result.outcome is Outcome.APPLIED
    assert result.batch.verdicts == [Verdict.APPLIED] * 3
    assert status_events(result.events) == [
        (None, S.UNTRIGGERED),
        (S.UNTRIGGERED, S.TRIGGERED),
        (S.TRIGGERED, S.NEW),
    ]
    held = current(ledger)
    assert held.status is S.NEW
    assert held.trigger_price == Decimal(66000)
    assert [o.order_id for o in ledger.open_orders("BTCUSDT")] == [OID]


def test_trigger_sequence_in_reverse_frames_ends_new():
    ledger = Ledger()
    first = ledger.apply_frame(order_frame(conditional("New", 5)))
    assert status_events(first) == [(None, S.NEW)]
    assert ledger.apply_frame(order_frame(conditional("Triggered", 5))) == []
    assert ledger.apply_frame(order_frame(conditional("Untriggered", 0))) == []
    assert current(ledger).status is S.NEW
    assert outcomes(ledger) == {"frames": 3, "applied": 1, "stale": 2}


def test_untriggered_to_deactivated():
    ledger = Ledger()
    ledger.apply_frame(order_frame(conditional("Untriggered", 0)))
    events = ledger.apply_frame(
        order_frame(conditional("Deactivated", 9, cancelType="CancelByUser"))
    )
    assert status_events(events) == [(S.UNTRIGGERED, S.DEACTIVATED)]
    held = current(ledger)
    assert held.status is S.DEACTIVATED
    assert held.cancel_type == "CancelByUser"
    assert ledger.open_orders() == []


def test_active_ends_a_successful_conditional_order():
    """The seed's lifecycle: Untriggered -> Triggered -> Active. Active is terminal: the
    order leaves open_orders(), and a later report on its orderId is an anomaly."""
    ledger = Ledger()
    ledger.apply_frame(order_frame(conditional("Untriggered", 0)))
    ledger.apply_frame(order_frame(conditional("Triggered", 5)))
    events = ledger.apply_frame(order_frame(conditional("Active", 6)))
    assert status_events(events) == [(S.TRIGGERED, S.ACTIVE)]
    assert current(ledger).status is S.ACTIVE
    assert ledger.open_orders() == []
    before = current(ledger)
    for status in ("New", "PartiallyFilled", "Filled", "Cancelled", "Deactivated"):
        cum = "0.001" if status in ("PartiallyFilled", "Filled") else "0"
        result = ledger.feed(order_frame(conditional(status, 9, cumExecQty=cum)))
        assert result.outcome is Outcome.ILLEGAL, status
        (event,) = result.events
        assert isinstance(event, IllegalTransition)
        assert event.held is S.ACTIVE
        assert event.reported.value == status
    assert current(ledger) is before
    # A redelivery of the Active report itself is a duplicate, not an anomaly.
    assert ledger.feed(order_frame(conditional("Active", 6))).outcome is Outcome.DUPLICATE


def test_active_straight_from_untriggered_when_the_triggered_frame_was_lost():
    ledger = Ledger()
    ledger.apply_frame(order_frame(conditional("Untriggered", 0)))
    events = ledger.apply_frame(order_frame(conditional("Active", 6)))
    assert status_events(events) == [(S.UNTRIGGERED, S.ACTIVE)]
    assert ledger.open_orders() == []


# --- terminal quirks --------------------------------------------------------------------


def test_cancelled_with_fills_keeps_cum_exec_qty():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order(qty="1")))
    ledger.apply_frame(
        order_frame(order(orderStatus="PartiallyFilled", cumExecQty="0.4", updatedTime=ms(3)))
    )
    events = ledger.apply_frame(
        order_frame(
            order(
                orderStatus="Cancelled",
                cumExecQty="0.4",
                cancelType="CancelByUser",
                updatedTime=ms(7),
            )
        )
    )
    assert status_events(events) == [(S.PARTIALLY_FILLED, S.CANCELLED)]
    (event,) = of(OrderStatusChanged, events)
    assert event.cum_exec_qty == Decimal("0.4")
    assert isinstance(event.cum_exec_qty, Decimal)
    assert event.leaves_qty == Decimal(0)
    held = current(ledger)
    assert held.status is S.CANCELLED
    assert held.cum_exec_qty == Decimal("0.4")
    assert held.avg_price == Decimal(65000)
    assert not held.is_open
    assert outcomes(ledger) == {"frames": 3, "applied": 3}


def test_post_only_cancelled_as_first_and_only_report():
    ledger = Ledger()
    events = ledger.apply_frame(
        order_frame(
            order(
                orderStatus="Cancelled",
                timeInForce="PostOnly",
                rejectReason="EC_PostOnlyWillTakeLiquidity",
            )
        )
    )
    assert status_events(events) == [(None, S.CANCELLED)]
    held = current(ledger)
    assert held.status is S.CANCELLED
    assert held.reject_reason == "EC_PostOnlyWillTakeLiquidity"
    assert held.cum_exec_qty == Decimal(0)
    assert held.avg_price is None
    assert ledger.open_orders() == []
    assert outcomes(ledger) == {"frames": 1, "applied": 1}


def _genuine_filled() -> dict[str, Any]:
    return order(orderStatus="Filled", cumExecQty="1", updatedTime=ms(10))


def _cancel_race_echo() -> dict[str, Any]:
    return order(
        orderStatus="Filled",
        cumExecQty="1",
        cancelType="CancelByUser",
        rejectReason="EC_OrigClOrdIDDoesNotExist",
        updatedTime=ms(12),
    )


def test_cancel_race_echo_after_fill_is_a_rejected_cancel():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order()))
    ledger.apply_frame(order_frame(_genuine_filled()))
    result = ledger.feed(order_frame(_cancel_race_echo()), received_at=RECEIVED)
    assert result.outcome is Outcome.DUPLICATE
    (event,) = result.events
    assert isinstance(event, CancelRejected)
    assert (event.order_id, event.symbol, event.status) == (OID, "BTCUSDT", S.FILLED)
    assert (event.venue_time, event.received_at) == (int(ms(12)), RECEIVED)
    held = current(ledger)
    assert held.status is S.FILLED
    assert held.reject_reason == "EC_NoError"
    assert held.cancel_type == "UNKNOWN"
    assert held.updated_time == int(ms(10))
    assert outcomes(ledger) == {"frames": 3, "applied": 2, "duplicate": 1}


def test_cancel_race_echo_first_ends_in_the_same_state():
    in_order, reverse = Ledger(), Ledger()
    for ledger, frames in (
        (in_order, [order(), _genuine_filled(), _cancel_race_echo()]),
        (reverse, [order(), _cancel_race_echo(), _genuine_filled()]),
    ):
        for element in frames:
            ledger.apply_frame(order_frame(element))
    assert current(reverse) == current(in_order)
    assert current(reverse).reject_reason == "EC_NoError"
    assert current(reverse).updated_time == int(ms(10))


def test_cancel_race_echo_redelivered_emits_no_second_event():
    """A repeated delivery of the same frame must cause no events (idempotence)."""
    ledger = Ledger()
    ledger.apply_frame(order_frame(_genuine_filled()))
    echo = order_frame(_cancel_race_echo())
    assert [type(e) for e in ledger.apply_frame(echo)] == [CancelRejected]
    assert ledger.apply_frame(echo) == []


# --- amends -----------------------------------------------------------------------------


def test_amend_of_new_order():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order(price="65000", qty="1")))
    events = ledger.apply_frame(order_frame(order(price="64500", qty="2", updatedTime=ms(4))))
    (event,) = events
    assert isinstance(event, OrderAmended)
    assert event.status is S.NEW
    assert (event.old_qty, event.qty) == (Decimal(1), Decimal(2))
    assert (event.old_price, event.price) == (Decimal(65000), Decimal(64500))
    assert event.old_trigger_price == event.trigger_price == Decimal(0)
    assert all(isinstance(v, Decimal) for v in (event.qty, event.old_qty, event.price))
    held = current(ledger)
    assert (held.qty, held.price, held.leaves_qty) == (Decimal(2), Decimal(64500), Decimal(2))


def test_amend_of_partially_filled_order():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order(orderStatus="PartiallyFilled", cumExecQty="0.3")))
    events = ledger.apply_frame(
        order_frame(
            order(orderStatus="PartiallyFilled", cumExecQty="0.3", price="64900", updatedTime=ms(2))
        )
    )
    (event,) = events
    assert isinstance(event, OrderAmended)
    assert event.status is S.PARTIALLY_FILLED
    assert (event.old_price, event.price) == (Decimal(65000), Decimal(64900))
    assert event.old_qty == event.qty == Decimal(1)
    assert current(ledger).leaves_qty == Decimal("0.7")


def test_trigger_price_amend_of_untriggered_order():
    ledger = Ledger()
    ledger.apply_frame(order_frame(conditional("Untriggered", 0)))
    events = ledger.apply_frame(order_frame(conditional("Untriggered", 6, triggerPrice="66500")))
    (event,) = events
    assert isinstance(event, OrderAmended)
    assert event.status is S.UNTRIGGERED
    assert (event.old_trigger_price, event.trigger_price) == (Decimal(66000), Decimal(66500))
    assert event.old_price == event.price
    assert current(ledger).trigger_price == Decimal(66500)


def test_repeat_with_later_time_and_same_terms_is_quiet():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order()))
    assert ledger.apply_frame(order_frame(order(updatedTime=ms(1)))) == []
    assert current(ledger).updated_time == int(ms(1))


# --- orders nobody placed ---------------------------------------------------------------


def test_take_profit_and_liquidation_orders_are_tracked_by_order_id():
    ledger = Ledger()
    tp = order(
        orderId="tp-1",
        orderLinkId="",
        side="Sell",
        orderStatus="Untriggered",
        orderType="Market",
        stopOrderType="TakeProfit",
        createType="CreateByTakeProfit",
        triggerPrice="70000",
        reduceOnly=True,
    )
    liq = order(
        orderId="liq-1",
        orderLinkId="",
        side="Sell",
        orderStatus="Filled",
        orderType="Limit",
        timeInForce="IOC",
        createType="CreateByLiq",
        cumExecQty="1",
    )
    events = ledger.apply_frame(order_frame(tp, liq))
    assert len(of(OrderStatusChanged, events)) == len(events)
    assert [(e.order_id, e.order_link_id, e.external) for e in of(OrderStatusChanged, events)] == [
        ("tp-1", "", True),
        ("liq-1", "", True),
    ]
    assert current(ledger, "tp-1").create_type == "CreateByTakeProfit"
    assert current(ledger, "liq-1").status is S.FILLED
    assert [o.order_id for o in ledger.open_orders("BTCUSDT")] == ["tp-1"]
    mine = ledger.apply_frame(order_frame(order(orderId="mine")))
    assert [e.external for e in of(OrderStatusChanged, mine)] == [False]
    assert len(mine) == 1


# --- anomalies --------------------------------------------------------------------------


def test_new_after_filled_is_illegal_and_changes_nothing():
    ledger = Ledger()
    ledger.apply_frame(order_frame(_genuine_filled()))
    before = current(ledger)
    result = ledger.feed(order_frame(order(updatedTime=ms(20))), received_at=RECEIVED)
    assert result.outcome is Outcome.ILLEGAL
    (event,) = result.events
    assert isinstance(event, IllegalTransition)
    assert (event.held, event.reported, event.order_id) == (S.FILLED, S.NEW, OID)
    assert event.reason
    assert event.received_at == RECEIVED
    assert current(ledger) is before
    assert ledger.open_orders() == []
    assert ledger.stats["illegal"] == 1


def test_filled_after_cancelled_at_the_same_instant_is_illegal():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order(orderStatus="Cancelled", updatedTime=ms(5))))
    events = ledger.apply_frame(
        order_frame(order(orderStatus="Filled", cumExecQty="1", updatedTime=ms(5)))
    )
    (event,) = events
    assert isinstance(event, IllegalTransition)
    assert (event.held, event.reported) == (S.CANCELLED, S.FILLED)
    assert current(ledger).status is S.CANCELLED
    # Same instant and same cumExecQty: a pure contradiction.
    same = ledger.apply_frame(order_frame(order(orderStatus="Filled", updatedTime=ms(5))))
    assert [type(e) for e in same] == [IllegalTransition]
    assert "same instant" in of(IllegalTransition, same)[0].reason
    assert ledger.stats["illegal"] == 2


def test_decreasing_cum_exec_qty_with_newer_time_is_inconsistent():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order(orderStatus="PartiallyFilled", cumExecQty="0.5")))
    events = ledger.apply_frame(
        order_frame(order(orderStatus="PartiallyFilled", cumExecQty="0.3", updatedTime=ms(1)))
    )
    (event,) = events
    assert isinstance(event, IllegalTransition)
    assert "inconsistent" in event.reason
    assert current(ledger).cum_exec_qty == Decimal("0.5")
    assert ledger.stats["illegal"] == 1


def test_duplicate_frame_is_duplicate_with_no_events():
    ledger = Ledger()
    text = order_frame(order())
    assert len(ledger.apply_frame(text)) == 1
    result = ledger.feed(text)
    assert result.outcome is Outcome.DUPLICATE
    assert result.events == []
    assert outcomes(ledger) == {"frames": 2, "applied": 1, "duplicate": 1}


def test_redelivered_trigger_frame_is_duplicate():
    """A byte-identical repeat of an already applied frame is a duplicate, not stale."""
    ledger = Ledger()
    text = order_frame(conditional("Triggered", 5), conditional("New", 5))
    ledger.apply_frame(order_frame(conditional("Untriggered", 0)))
    ledger.apply_frame(text)
    result = ledger.feed(text)
    assert result.events == []
    assert current(ledger).status is S.NEW
    assert result.outcome is Outcome.DUPLICATE


def test_older_report_is_stale_with_no_events():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order(price="64000", updatedTime=ms(10))))
    result = ledger.feed(order_frame(order(price="65000", updatedTime=ms(5))))
    assert result.outcome is Outcome.STALE
    assert result.events == []
    assert current(ledger).price == Decimal(64000)
    assert ledger.stats["stale"] == 1


def test_identity_change_is_illegal():
    ledger = Ledger()
    ledger.apply_frame(order_frame(order()))
    events = ledger.apply_frame(order_frame(order(symbol="ETHUSDT", updatedTime=ms(1))))
    (event,) = events
    assert isinstance(event, IllegalTransition)
    assert "symbol" in event.reason
    assert current(ledger).symbol == "BTCUSDT"
    assert ledger.stats["illegal"] == 1
    assert ledger.open_orders("ETHUSDT") == []


def test_open_orders_through_a_lifecycle():
    ledger = Ledger()
    a = order(orderId="a", createdTime=ms(1), updatedTime=ms(1))
    b = conditional("Untriggered", 2, orderId="b", createdTime=ms(2))
    c = order(orderId="c", symbol="ETHUSDT", price="3400", createdTime=ms(0), updatedTime=ms(0))
    ledger.apply_frame(order_frame(b, a, c))

    def ids(symbol: str | None = None) -> list[str]:
        return [o.order_id for o in ledger.open_orders(symbol)]

    assert ids("BTCUSDT") == ["a", "b"]  # by createdTime, not arrival
    assert ids("ETHUSDT") == ["c"]
    assert ids() == ["c", "a", "b"]
    ledger.apply_frame(
        order_frame(
            order(orderId="a", orderStatus="PartiallyFilled", cumExecQty="0.5", updatedTime=ms(3))
        )
    )
    assert ids("BTCUSDT") == ["a", "b"]
    ledger.apply_frame(
        order_frame(order(orderId="a", orderStatus="Filled", cumExecQty="1", updatedTime=ms(4)))
    )
    assert ids("BTCUSDT") == ["b"]
    # An illegal report does not reopen it.
    ledger.apply_frame(order_frame(order(orderId="a", updatedTime=ms(9))))
    assert ids("BTCUSDT") == ["b"]
    ledger.apply_frame(order_frame(conditional("Deactivated", 5, orderId="b", createdTime=ms(2))))
    assert ids("BTCUSDT") == []
    assert ids() == ["c"]
    assert {o.order_id for o in ledger.orders()} == {"a", "b", "c"}
