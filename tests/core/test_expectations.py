"""``ExpectationBook``: every reconciliation event, and every case that must raise none.

Each scenario is a table of steps run against one book: registrations, order reports
(real ``order`` frames applied to a real ``Ledger``, whose events and touched orders are
handed to ``observe`` exactly as ``oms.runtime.pipeline`` does), clock ticks (``due``) and position
changes. Every step names the events it must return, so "nothing" is asserted as firmly
as "something".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from oms import Ledger, Outcome
from oms.core import expectations as ex
from oms.core.expectations import (
    DEFAULT_POSITION_GRACE_MS,
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
from oms.core.states import OrderStatus
from tests.core.frames import T0, order, order_frame

if TYPE_CHECKING:
    from collections.abc import Sequence

    from oms import Event, Order

ACK = 5_000  # every scenario registers at T0 with this ack timeout
GRACE = DEFAULT_POSITION_GRACE_MS
LINK = "L1"
OID = "o-1"
SYMBOL = "BTCUSDT"

Summary = tuple[object, ...]


# --- what the events say, compactly -----------------------------------------------------


def summary(event: Event) -> Summary:  # noqa: PLR0911 - one return per event type
    """The identifying content of a reconciliation event (anything else fails)."""
    match event:
        case OrderNotAcknowledged():
            return ("not-acknowledged", event.order_link_id)
        case ExpectedOrderRejected():
            return ("rejected", event.order_link_id, event.order_id, event.reason)
        case OrderMismatched():
            return ("mismatched", event.order_link_id, event.field, event.expected, event.actual)
        case FillQtyMismatched():
            return (
                "fill-qty",
                event.order_link_id,
                event.status.value,
                event.expected_qty,
                event.filled_qty,
            )
        case UnexpectedOrderSeen():
            return ("unexpected", event.order_id, event.order_link_id)
        case PositionDiverged():
            return ("diverged", event.symbol, event.expected_net_qty, event.actual_net_qty)
        case PositionReconverged():
            return ("reconverged", event.symbol, event.net_qty)
    pytest.fail(f"not a reconciliation event: {event!r}")


NOT_ACK: Summary = ("not-acknowledged", LINK)


def rejected(reason: str, order_id: str = OID) -> Summary:
    return ("rejected", LINK, order_id, reason)


def mismatched(name: str, expected: str, actual: str) -> Summary:
    return ("mismatched", LINK, name, expected, actual)


def fill_qty(status: str, expected: str, filled: str) -> Summary:
    return ("fill-qty", LINK, status, Decimal(expected), Decimal(filled))


def unexpected(order_id: str, link_id: str) -> Summary:
    return ("unexpected", order_id, link_id)


def diverged(expected: str, actual: str, symbol: str = SYMBOL) -> Summary:
    return ("diverged", symbol, Decimal(expected), Decimal(actual))


def reconverged(net: str, symbol: str = SYMBOL) -> Summary:
    return ("reconverged", symbol, Decimal(net))


# --- the driver -------------------------------------------------------------------------


class Driver:
    """A book beside a real ledger, wired as ``oms.runtime.pipeline`` wires them."""

    def __init__(self, *, report_unexpected_orders: bool = False) -> None:
        self.book = ExpectationBook(report_unexpected_orders=report_unexpected_orders)
        self.ledger = Ledger()
        self.actual: dict[tuple[str, str], Decimal] = {}

    def position_of(self, symbol: str, category: str) -> Decimal:
        return self.actual.get((symbol, category), Decimal(0))

    def known(self, link_id: str) -> Order | None:
        found = [o for o in self.ledger.orders() if o.order_link_id == link_id]
        return max(found, key=lambda o: (o.created_time, o.updated_time), default=None)


class Step:
    """One line of a scenario: do something, and return the events it raised."""

    want: tuple[Summary, ...] = ()

    def run(self, driver: Driver) -> list[Event]:
        raise NotImplementedError


@dataclass(frozen=True)
class Register(Step):
    """``expect_order`` at ``T0 + at``; ``known`` is what the ledger already holds."""

    want: tuple[Summary, ...] = ()
    link: str = LINK
    symbol: str = SYMBOL
    side: Side = Side.BUY
    qty: str = "1"
    category: str = "linear"
    at: int = 0

    def run(self, driver: Driver) -> list[Event]:
        expected = ExpectedOrder(
            order_link_id=self.link,
            symbol=self.symbol,
            side=self.side,
            qty=Decimal(self.qty),
            category=self.category,
            deadline=T0 + self.at + ACK,
        )
        return driver.book.expect_order(expected, known=driver.known(self.link), now=T0 + self.at)


@dataclass(frozen=True)
class Report(Step):
    """An ``order`` frame received at ``T0 + at`` (also its updatedTime)."""

    at: int
    status: str = "New"
    cum: str = "0"
    want: tuple[Summary, ...] = ()
    wire: dict[str, Any] = field(default_factory=dict)

    def run(self, driver: Driver) -> list[Event]:
        fields = {
            "orderId": OID,
            "orderLinkId": LINK,
            "orderStatus": self.status,
            "cumExecQty": self.cum,
            "updatedTime": str(T0 + self.at),
        } | self.wire
        now = T0 + self.at
        result = driver.ledger.feed(order_frame(order(**fields)), received_at=now)
        assert result.outcome is Outcome.APPLIED, "the scenario's report must be applied"
        touched = [o for i in sorted(result.batch.orders) if (o := driver.ledger.order(i))]
        return driver.book.observe(result.events, touched, now)


@dataclass(frozen=True)
class Due(Step):
    """``due(T0 + at)``."""

    at: int
    want: tuple[Summary, ...] = ()

    def run(self, driver: Driver) -> list[Event]:
        return driver.book.due(T0 + self.at)


@dataclass(frozen=True)
class Forget(Step):
    """``forget_order``; ``found`` is what it must return."""

    found: bool
    link: str = LINK

    def run(self, driver: Driver) -> list[Event]:
        assert driver.book.forget_order(self.link) is self.found
        return []


@dataclass(frozen=True)
class Watching(Step):
    """The orders (link ids) and positions (symbols) the book still watches."""

    orders: tuple[str, ...] = ()
    positions: tuple[str, ...] = ()

    def run(self, driver: Driver) -> list[Event]:
        assert tuple(e.order_link_id for e in driver.book.expected_orders()) == self.orders
        assert tuple(e.symbol for e in driver.book.expected_positions()) == self.positions
        return []


@dataclass(frozen=True)
class ExpectPosition(Step):
    """``expect_position`` at ``T0 + at`` with the current actual value."""

    net: str
    at: int = 0
    symbol: str = SYMBOL

    def run(self, driver: Driver) -> list[Event]:
        category = "linear"
        expected = ExpectedPosition(symbol=self.symbol, net_qty=Decimal(self.net))
        driver.book.expect_position(
            expected, actual=driver.position_of(self.symbol, category), now=T0 + self.at
        )
        return []


@dataclass(frozen=True)
class Actual(Step):
    """The exchange's net position becomes ``net`` at ``T0 + at`` (``observe_positions``)."""

    net: str
    at: int
    symbol: str = SYMBOL

    def run(self, driver: Driver) -> list[Event]:
        driver.actual[self.symbol, "linear"] = Decimal(self.net)
        driver.book.observe_positions(driver.position_of, T0 + self.at)
        return []


@dataclass(frozen=True)
class ForgetPosition(Step):
    found: bool
    symbol: str = SYMBOL

    def run(self, driver: Driver) -> list[Event]:
        assert driver.book.forget_position(self.symbol) is self.found
        return []


def play(steps: Sequence[Step], *, report_unexpected_orders: bool = False) -> None:
    driver = Driver(report_unexpected_orders=report_unexpected_orders)
    for number, step in enumerate(steps, 1):
        got = [summary(e) for e in step.run(driver)]
        assert got == list(step.want), f"step {number}: {step}"


def tpsl(at: int, status: str, *, want: tuple[Summary, ...] = ()) -> Report:
    """A take-profit order Bybit created itself: no orderLinkId."""
    wire = {
        "orderId": "tp-1",
        "orderLinkId": "",
        "stopOrderType": "TakeProfit",
        "createType": "CreateByTakeProfit",
        "orderType": "Market",
        "triggerPrice": "70000",
        "reduceOnly": True,
        "side": "Sell",
    }
    return Report(at, status, want=want, wire=wire)


# --- orders -----------------------------------------------------------------------------

ORDER_SCENARIOS = {
    "acknowledged in time: nothing, ever": [
        Register(),
        Watching(orders=(LINK,)),
        Report(100),
        Due(ACK),
        Due(100 * ACK),
        Watching(orders=(LINK,)),
    ],
    "not acknowledged: exactly once, at the deadline and not before": [
        Register(),
        Due(0),
        Due(ACK - 1),
        Due(ACK, want=(NOT_ACK,)),
        Due(ACK + 1),
        Due(100 * ACK),
        Watching(),
    ],
    "a late report is still followed (and a late cancel judged)": [
        Register(),
        Due(ACK, want=(NOT_ACK,)),
        Report(ACK + 100),
        Watching(orders=(LINK,)),
        Due(100 * ACK),
        Report(ACK + 200, "Cancelled", want=(fill_qty("Cancelled", "1", "0"),)),
        Watching(),
    ],
    "a late report with other terms is a mismatch": [
        Register(),
        Due(ACK, want=(NOT_ACK,)),
        Report(ACK + 100, wire={"qty": "2"}, want=(mismatched("qty", "1", "2"),)),
    ],
    "rejected": [
        Register(),
        Report(
            100,
            "Rejected",
            wire={"rejectReason": "EC_PriceGreaterThanUpperLimit"},
            want=(rejected("EC_PriceGreaterThanUpperLimit"),),
        ),
        Watching(),
        Due(ACK),
    ],
    "rejected after Created": [
        Register(),
        Report(100, "Created"),
        Report(
            200,
            "Rejected",
            wire={"rejectReason": "EC_ReachMaxTradeNum"},
            want=(rejected("EC_ReachMaxTradeNum"),),
        ),
        Watching(),
    ],
    "symbol differs": [
        Register(symbol="ETHUSDT"),
        Report(100, want=(mismatched("symbol", "ETHUSDT", "BTCUSDT"),)),
    ],
    "category differs": [
        Register(category="inverse"),
        Report(100, want=(mismatched("category", "inverse", "linear"),)),
    ],
    "side differs": [
        Register(side=Side.SELL),
        Report(100, want=(mismatched("side", "Sell", "Buy"),)),
    ],
    "qty differs": [
        Register(qty="2"),
        Report(100, want=(mismatched("qty", "2", "1"),)),
    ],
    "qty equal in value but not in spelling": [
        Register(qty="1.000"),
        Report(100, wire={"qty": "1.0"}),
    ],
    "every field differs: one event per field": [
        Register(symbol="ETHUSDT", category="inverse", side=Side.SELL, qty="2"),
        Report(
            100,
            want=(
                mismatched("symbol", "ETHUSDT", "BTCUSDT"),
                mismatched("category", "inverse", "linear"),
                mismatched("side", "Sell", "Buy"),
                mismatched("qty", "2", "1"),
            ),
        ),
    ],
    "a mismatch is judged at the first report only": [
        Register(side=Side.SELL),
        Report(100, want=(mismatched("side", "Sell", "Buy"),)),
        Report(200, "PartiallyFilled", cum="0.5"),
        Report(300, "Filled", cum="1"),
    ],
    "filled more: reported at once, and once": [
        Register(),
        Report(100),
        Report(200, wire={"qty": "2"}),  # amended up: nothing filled yet
        Report(
            300,
            "PartiallyFilled",
            cum="1.5",
            wire={"qty": "2"},
            want=(fill_qty("PartiallyFilled", "1", "1.5"),),
        ),
        Report(400, "PartiallyFilled", cum="1.8", wire={"qty": "2"}),
        Report(500, "Filled", cum="2", wire={"qty": "2"}),
        Watching(),
    ],
    "ended with less: reported when it ends": [
        Register(),
        Report(100),
        Report(200, "PartiallyFilled", cum="0.4"),
        Report(300, "Cancelled", cum="0.4", want=(fill_qty("Cancelled", "1", "0.4"),)),
        Watching(),
    ],
    "amended down and filled: less than registered": [
        Register(),
        Report(100),
        Report(200, wire={"qty": "0.6"}),
        Report(
            300, "Filled", cum="0.6", wire={"qty": "0.6"}, want=(fill_qty("Filled", "1", "0.6"),)
        ),
    ],
    "filled exactly: nothing": [
        Register(),
        Report(100, "Created"),
        Report(200),
        Report(300, "PartiallyFilled", cum="0.5"),
        Report(400, "Filled", cum="1"),
        Watching(),
        Due(100 * ACK),
    ],
    "filled at once (first report Filled): nothing": [
        Register(),
        Report(100, "Filled", cum="1"),
        Watching(),
    ],
    "cancelled with nothing filled: FillQtyMismatched with filled 0 (documented)": [
        Register(),
        Report(100),
        Report(200, "Cancelled", want=(fill_qty("Cancelled", "1", "0"),)),
    ],
    "a conditional order deactivated before its trigger": [
        Register(),
        Report(100, "Untriggered", wire={"stopOrderType": "Stop", "triggerPrice": "66000"}),
        Report(
            200,
            "Deactivated",
            wire={"stopOrderType": "Stop", "triggerPrice": "66000"},
            want=(fill_qty("Deactivated", "1", "0"),),
        ),
    ],
    "another order reusing the link id is not the registered one": [
        Register(),
        Report(100),
        Report(150, "Cancelled", wire={"orderId": "o-2"}),
        Report(200, "Filled", cum="1"),
        Watching(),
    ],
    "forgotten before any report: no deadline": [
        Register(),
        Forget(found=True),
        Forget(found=False),
        Watching(),
        Due(100 * ACK),
        Report(100, "Cancelled"),
    ],
    "forgotten after its report: a cancel on purpose is not judged": [
        Register(),
        Report(100),
        Forget(found=True),
        Report(200, "Cancelled"),
    ],
    "forgotten after it timed out: its late report is not judged": [
        Register(),
        Due(ACK, want=(NOT_ACK,)),
        Forget(found=True),
        Report(ACK + 100, "Cancelled"),
    ],
    "registered after it was reported: acknowledged by what is known": [
        Report(100),
        Register(at=200),
        Watching(orders=(LINK,)),
        Due(100 * ACK),
        Report(300, "Filled", cum="1"),
        Watching(),
    ],
    "registered after it was reported, with another qty": [
        Report(100),
        Register(at=200, qty="2", want=(mismatched("qty", "2", "1"),)),
    ],
    "registered after it already filled exactly": [
        Report(100, "Filled", cum="1"),
        Register(at=200),
        Watching(),
        Due(100 * ACK),
    ],
    "registered after it was cancelled unfilled": [
        Report(100, "Cancelled"),
        Register(at=200, want=(fill_qty("Cancelled", "1", "0"),)),
        Watching(),
    ],
    "registered after it was rejected": [
        Report(100, "Rejected", wire={"rejectReason": "EC_InvalidPriceScale"}),
        Register(at=200, want=(rejected("EC_InvalidPriceScale"),)),
        Watching(),
    ],
}


#: Scenarios in which an order is first reported while nobody watches it: with
#: ``report_unexpected_orders`` those raise ``UnexpectedOrderSeen`` too (see below).
FIRST_SEEN_UNWATCHED = frozenset(
    name
    for name, steps in ORDER_SCENARIOS.items()
    if isinstance(steps[0], Report) or name.startswith(("forgotten before", "forgotten after it"))
)


@pytest.mark.parametrize("steps", ORDER_SCENARIOS.values(), ids=ORDER_SCENARIOS.keys())
def test_registered_orders(steps):
    play(steps)


@pytest.mark.parametrize(
    "steps",
    [s for name, s in ORDER_SCENARIOS.items() if name not in FIRST_SEEN_UNWATCHED],
    ids=[name for name in ORDER_SCENARIOS if name not in FIRST_SEEN_UNWATCHED],
)
def test_registered_orders_are_never_unexpected(steps):
    play(steps, report_unexpected_orders=True)


UNEXPECTED_SCENARIOS = {
    "TP/SL order with no orderLinkId: once, when first seen": [
        tpsl(100, "Untriggered", want=(unexpected("tp-1", ""),)),
        tpsl(200, "Deactivated"),
    ],
    "unregistered orderLinkId: once": [
        Report(100, wire={"orderLinkId": "someone-else"}, want=(unexpected(OID, "someone-else"),)),
        Report(200, "Filled", cum="1", wire={"orderLinkId": "someone-else"}),
    ],
    "first seen already ended: still reported": [
        Report(100, "Filled", cum="1", wire={"orderLinkId": "ui"}, want=(unexpected(OID, "ui"),)),
    ],
    "a registered order is not unexpected, an unregistered one beside it is": [
        Register(),
        Report(100),
        Report(150, wire={"orderId": "o-9", "orderLinkId": "L9"}, want=(unexpected("o-9", "L9"),)),
    ],
    "a timed-out order reported late is not unexpected": [
        Register(),
        Due(ACK, want=(NOT_ACK,)),
        Report(ACK + 100),
        Report(ACK + 200, "Filled", cum="1"),
    ],
    "reported before its registration: unexpected then, judged when registered": [
        Report(100, want=(unexpected(OID, LINK),)),
        Register(at=200, qty="3", want=(mismatched("qty", "3", "1"),)),
    ],
    "a forgotten order first reported afterwards is nobody's": [
        Register(),
        Forget(found=True),
        Report(100, want=(unexpected(OID, LINK),)),
    ],
}


@pytest.mark.parametrize("steps", UNEXPECTED_SCENARIOS.values(), ids=UNEXPECTED_SCENARIOS.keys())
def test_unexpected_orders_when_asked_for(steps):
    play(steps, report_unexpected_orders=True)


@pytest.mark.parametrize("steps", UNEXPECTED_SCENARIOS.values(), ids=UNEXPECTED_SCENARIOS.keys())
def test_report_unexpected_orders_false_silences_them(steps):
    quiet = [
        replace(step, want=tuple(w for w in step.want if w[0] != "unexpected"))
        if isinstance(step, Register | Report | Due)
        else step
        for step in steps
    ]
    play(quiet, report_unexpected_orders=False)


# --- positions --------------------------------------------------------------------------

POSITION_SCENARIOS = {
    "agrees: nothing": [
        Actual("1", 0),
        ExpectPosition("1"),
        Watching(positions=(SYMBOL,)),
        Due(0),
        Due(100 * GRACE),
    ],
    "differs from the start: announced after the grace, once": [
        ExpectPosition("1"),
        Due(0),
        Due(GRACE - 1),
        Due(GRACE, want=(diverged("1", "0"),)),
        Due(GRACE + 1),
        Due(100 * GRACE),
    ],
    "starts differing later: its own grace": [
        Actual("1", 0),
        ExpectPosition("1"),
        Actual("0", 1_000),
        Due(1_000 + GRACE - 1),
        Due(1_000 + GRACE, want=(diverged("1", "0"),)),
    ],
    "a disagreement shorter than the grace: nothing, no reconvergence either": [
        Actual("1", 0),
        ExpectPosition("1"),
        Actual("0.5", 100),
        Due(1_000),
        Actual("1", 1_500),
        Due(100 + GRACE),
        Due(100 * GRACE),
    ],
    "reconverged only after an announced divergence": [
        ExpectPosition("1"),
        Due(GRACE, want=(diverged("1", "0"),)),
        Actual("1", GRACE + 10),
        Due(GRACE + 10, want=(reconverged("1"),)),
        Due(100 * GRACE),
    ],
    "a second, different wrong value is announced again after its grace": [
        ExpectPosition("1"),
        Due(GRACE, want=(diverged("1", "0"),)),
        Actual("0.5", 3_000),
        Due(3_000),
        Due(3_000 + GRACE - 1),
        Due(3_000 + GRACE, want=(diverged("1", "0.5"),)),
        Due(100 * GRACE),
    ],
    "diverging again after a reconvergence": [
        ExpectPosition("1"),
        Due(GRACE, want=(diverged("1", "0"),)),
        Actual("1", GRACE + 1),
        Due(GRACE + 1, want=(reconverged("1"),)),
        Actual("0", GRACE + 2),
        Due(2 * GRACE + 1),
        Due(2 * GRACE + 2, want=(diverged("1", "0"),)),
    ],
    "symbols are judged apart": [
        Actual("2", 0, symbol="ETHUSDT"),
        ExpectPosition("1"),
        ExpectPosition("2", symbol="ETHUSDT"),
        Watching(positions=(SYMBOL, "ETHUSDT")),
        Actual("1", 10, symbol="ETHUSDT"),
        Due(10 + GRACE, want=(diverged("1", "0"), diverged("2", "1", symbol="ETHUSDT"))),
    ],
    "re-registered to the actual value: the announced divergence is resolved": [
        ExpectPosition("1"),
        Due(GRACE, want=(diverged("1", "0"),)),
        ExpectPosition("0", at=GRACE + 1),
        Due(GRACE + 1, want=(reconverged("0"),)),
        Watching(positions=(SYMBOL,)),
    ],
    "forgotten: no divergence": [
        ExpectPosition("1"),
        ForgetPosition(found=True),
        ForgetPosition(found=False),
        Watching(),
        Due(100 * GRACE),
    ],
    "forgotten after a divergence: no reconvergence": [
        ExpectPosition("1"),
        Due(GRACE, want=(diverged("1", "0"),)),
        ForgetPosition(found=True),
        Actual("1", GRACE + 1),
        Due(100 * GRACE),
    ],
}


@pytest.mark.parametrize("steps", POSITION_SCENARIOS.values(), ids=POSITION_SCENARIOS.keys())
def test_positions(steps):
    play(steps)


# --- the events' own fields -------------------------------------------------------------


def test_events_carry_their_times_and_registered_terms():
    book = ExpectationBook()
    registered = ExpectedOrder(
        order_link_id="late", symbol="ETHUSDT", side=Side.SELL, qty=Decimal("0.25"), deadline=T0
    )
    book.expect_order(registered)
    [missed] = book.due(T0 + 7)
    assert missed == OrderNotAcknowledged(
        venue_time=0,
        received_at=T0 + 7,
        reason="no report of late within its deadline",
        order_link_id="late",
        symbol="ETHUSDT",
        side=Side.SELL,
        qty=Decimal("0.25"),
        deadline=T0,
    )

    ledger = Ledger()
    book.expect_order(
        ExpectedOrder(
            order_link_id=LINK, symbol=SYMBOL, side=Side.BUY, qty=Decimal(2), deadline=T0 + ACK
        )
    )
    result = ledger.feed(
        order_frame(order(orderId=OID, orderLinkId=LINK, updatedTime=str(T0 + 3))),
        received_at=T0 + 9,
    )
    [mismatch] = book.observe(result.events, [ledger.order(OID)], T0 + 9)
    assert isinstance(mismatch, OrderMismatched)
    assert (mismatch.venue_time, mismatch.received_at, mismatch.order_id) == (T0 + 3, T0 + 9, OID)
    assert mismatch.symbol == SYMBOL

    book.expect_position(
        ExpectedPosition(symbol=SYMBOL, net_qty=Decimal(1)), actual=Decimal(0), now=T0
    )
    [divergence] = book.due(T0 + GRACE)
    assert divergence == PositionDiverged(
        venue_time=0,
        received_at=T0 + GRACE,
        reason="expected 1, the exchange has 0",
        category="linear",
        symbol=SYMBOL,
        expected_net_qty=Decimal(1),
        actual_net_qty=Decimal(0),
    )


def test_unexpected_tpsl_names_its_kind():
    book = ExpectationBook(report_unexpected_orders=True)
    ledger = Ledger()
    wire = {"orderLinkId": "", "stopOrderType": "StopLoss", "orderStatus": "Untriggered"}
    result = ledger.feed(order_frame(order(orderId="sl-1", **wire)), received_at=T0)
    [seen] = book.observe(result.events, [ledger.order("sl-1")], T0)
    assert isinstance(seen, UnexpectedOrderSeen)
    assert seen.stop_order_type == "StopLoss"
    assert seen.status is OrderStatus.UNTRIGGERED
    assert (seen.side, seen.qty) == (Side.BUY, Decimal(1))
    assert "StopLoss" in seen.reason


def test_an_order_needs_a_link_id():
    book = ExpectationBook()
    with pytest.raises(ValueError, match="orderLinkId"):
        book.expect_order(
            ExpectedOrder(
                order_link_id="", symbol=SYMBOL, side=Side.BUY, qty=Decimal(1), deadline=T0
            )
        )
    assert book.expected_orders() == []


def test_late_orders_are_remembered_within_a_bound(monkeypatch):
    monkeypatch.setattr(ex, "MAX_LATE_ORDERS", 2)
    driver = Driver(report_unexpected_orders=True)
    for link in ("a", "b", "c"):
        Register(link=link).run(driver)
    assert [summary(e) for e in driver.book.due(T0 + ACK)] == [
        ("not-acknowledged", link) for link in ("a", "b", "c")
    ]
    # "a" was pushed out of the bounded memory: a late report of it is nobody's; "c" is
    # still recognised (and judged).
    late_a = Report(ACK + 1, wire={"orderId": "o-a", "orderLinkId": "a"})
    late_c = Report(ACK + 2, wire={"orderId": "o-c", "orderLinkId": "c", "qty": "5"})
    assert [summary(e) for e in late_a.run(driver)] == [unexpected("o-a", "a")]
    assert [summary(e) for e in late_c.run(driver)] == [("mismatched", "c", "qty", "1", "5")]
