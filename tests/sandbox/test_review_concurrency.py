"""Concurrency (issue 13 review): 20 threads place and cancel at once, half over REST and
half over the trade socket, while the market ticks and background trading runs, and an
``oms.Account`` follows. Nothing is logged at ERROR, every answer is Bybit-shaped, every
leg's net is the signed sum of its fills, and the account ends equal to the truth."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from oms.sandbox import Sandbox
from oms.sim.truth import position_key
from tests.clients.following import ends_equal, followed
from tests.sandbox.client import KEY, SECRET
from tests.sandbox.entry_client import limit_order, post, trade, trade_socket

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

THREADS = 20
ROUNDS = 8
#: codes a racing client may be answered with (0, or a cancel of an order already filled)
EXPECTED = {0, 110001}


@pytest.fixture
def busy() -> Iterator[Sandbox]:
    limits = dict.fromkeys(("order/create", "order/cancel"), 100000)
    with Sandbox(KEY, SECRET, seed=13, tick_ms=10, latency_ms=0, rate_limits=limits) as box:
        yield box


def one_client(sandbox: Sandbox, n: int, codes: list[int]) -> None:
    """Place ROUNDS orders (some marketable) and cancel each, over REST or the socket."""
    ws = trade_socket(sandbox) if n % 2 else None
    for r in range(ROUNDS):
        body: dict[str, Any] = limit_order(sandbox, f"t{n}-{r}", side="Sell" if r % 2 else "Buy")
        if r % 3 == 0:
            body = {k: v for k, v in body.items() if k != "price"} | {"orderType": "Market"}
        cancel = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": f"t{n}-{r}"}
        for op, route, args in (
            ("order.create", "create", body),
            ("order.cancel", "cancel", cancel),
        ):
            if ws is not None:
                codes.append(trade(ws, op, [args])["retCode"])
            else:
                codes.append(post(sandbox.rest_url, f"/v5/order/{route}", args)["retCode"])


def legs_from_fills(truth: dict[str, Any]) -> dict[str, Decimal]:
    """Each leg's net as the signed sum of its trade fills."""
    nets: dict[str, Decimal] = defaultdict(Decimal)
    for e in truth["executions"].values():
        order = truth["orders"][e["orderId"]]
        if e["execType"] != "Trade" or e["category"] == "spot":
            continue
        key = position_key(e["category"], e["symbol"], order["positionIdx"])
        qty = Decimal(e["execQty"])
        nets[key] += qty if e["side"] == "Buy" else -qty
    return nets


def test_twenty_clients_race_over_rest_and_ws_and_the_books_stay_consistent(
    busy, caplog, tmp_path: Path
):
    db = f"sqlite:///{tmp_path / 'oms.db'}"
    codes: list[int] = []
    with caplog.at_level(logging.ERROR), followed(busy, db) as account:
        busy.start_trading(20.0)
        threads = [
            threading.Thread(target=one_client, args=(busy, n, codes)) for n in range(THREADS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        ends_equal(account, db, busy)
    assert len(codes) == THREADS * ROUNDS * 2
    assert set(codes) <= EXPECTED, sorted(set(codes))
    assert busy.failure is None
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    truth = busy.truth()
    nets = legs_from_fills(truth)
    for key, leg in truth["positions"].items():
        assert Decimal(leg["signedSize"]) == nets.pop(key, Decimal(0)), key
    assert not [k for k, v in nets.items() if v], nets
