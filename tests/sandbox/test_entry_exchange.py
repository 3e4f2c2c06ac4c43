"""The wiring of order entry into the sandbox's ``Exchange``: each op's frames are out
before its result, the market steps on its own clock whether or not anyone trades, a seed
fixes the market and the background flow, public events reach ``public_sink``, and the
background trading never touches an order placed through entry."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from oms.sandbox import Exchange, Sandbox
from oms.sim.entry import Refused
from tests.sandbox.client import KEY, SECRET, assert_ledger_matches, replay, wait_for

if TYPE_CHECKING:
    from oms.sandbox.model import Push


def _fixed_clock() -> int:
    return 1_717_200_000_000


def _resting(exchange: Exchange, link: str, side: str = "Buy") -> dict[str, object]:
    last, _, _ = exchange.prices("BTCUSDT")
    price = (last * (Decimal("0.9") if side == "Buy" else Decimal("1.1"))).quantize(Decimal(1))
    body = {"symbol": "BTCUSDT", "side": side, "orderType": "Limit", "qty": "0.002"}
    return body | {"price": str(price), "orderLinkId": link}


def test_an_ops_frames_are_pushed_before_it_returns():
    pushed: list[Push] = []
    exchange = Exchange(seed=1, sink=pushed.append)
    result = exchange.create("linear", _resting(exchange, "first"))
    assert any(result["orderId"] in p.text and p.topic == "order" for p in pushed)
    assert exchange.stats["entry_ops"] == 1
    frames = len(pushed)
    with pytest.raises(Refused) as caught:
        exchange.create("linear", _resting(exchange, "first"))
    assert caught.value.code == 110072
    assert len(pushed) == frames  # a refusal pushes nothing
    assert exchange.stats["entry_ops"] == 1


def test_a_seed_fixes_the_market_the_background_flow_and_the_entry_results():
    def run() -> tuple[list[str], list[object], dict[str, object]]:
        pushed: list[Push] = []
        public: list[object] = []
        exchange = Exchange(
            seed=9, clock=_fixed_clock, sink=pushed.append, public_sink=public.append
        )
        for n in range(60):
            exchange.tick()
            exchange.step(3)
            if n % 10 == 0:
                exchange.create("linear", _resting(exchange, f"seeded-{n}"))
            if n % 10 == 5:
                market = {"symbol": "BTCUSDT", "side": "Sell", "orderType": "Market"}
                exchange.create("linear", market | {"qty": "0.001", "orderLinkId": f"m-{n}"})
        return [p.text for p in pushed], public, exchange.truth()

    first, second = run(), run()
    assert first[0] == second[0]
    assert first[1] == second[1]
    assert first[2] == second[2]
    kinds = {kind for kind, _key, _payload in first[1]}  # type: ignore[misc]
    assert {"orderbook", "tickers", "publicTrade"} <= kinds


def test_background_trading_never_touches_an_order_placed_through_entry():
    exchange = Exchange(seed=4)
    placed = {
        exchange.create("linear", _resting(exchange, f"mine-{n}", side))["orderId"]
        for n, side in enumerate(("Buy", "Sell", "Buy", "Sell"))
    }
    before = {i: exchange.truth()["orders"][i] for i in placed}
    exchange.step(1500)  # cancels, cancel-alls, amends, fills of the background's own
    after = exchange.truth()
    assert {i: after["orders"][i] for i in placed} == before
    assert {tuple(after["status_sequences"][i]) for i in placed} == {("New",)}
    assert exchange.stats["steps"] == 1500


def test_the_sandbox_market_steps_on_its_clock_without_background_trading():
    with Sandbox(KEY, SECRET, seed=2, tick_ms=10) as sandbox:
        wait_for(lambda: sandbox.stats()["ticks"] >= 5, what="market steps")
        assert sandbox.stats()["steps"] == 0


def test_resting_entry_orders_fill_when_the_market_crosses_them_and_replay_cleanly():
    pushed: list[Push] = []
    exchange = Exchange(seed=6, sink=pushed.append)
    last, _, _ = exchange.prices("BTCUSDT")
    near = {"symbol": "BTCUSDT", "orderType": "Limit", "qty": "0.001"}
    for n, side in enumerate(("Buy", "Sell") * 3):
        price = last + (Decimal(-1) if side == "Buy" else Decimal(1)) * Decimal("0.5") * (n + 1)
        exchange.create(
            "linear", near | {"side": side, "price": str(price), "orderLinkId": f"near-{n}"}
        )
    for _ in range(400):
        exchange.tick()
    truth = exchange.truth()
    mine = [o for o in truth["orders"].values() if o["orderLinkId"].startswith("near-")]
    assert any(o["status"] in ("Filled", "PartiallyFilled") for o in mine)
    ledger, anomalies = replay([p.text for p in pushed])
    assert anomalies == []
    assert_ledger_matches(ledger, truth)
