"""Real, unchanged ccxt ``bybit`` trading against the sandbox, only its URLs changed:
``create_order``, ``edit_order``, ``cancel_order``, ``fetch_order`` and ``create_orders``
on linear and spot, while an ``oms.Account`` follows the account over the private stream
and background trading runs as another program on it. At the end the account's orders,
fills and positions equal the sandbox's truth."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import ccxt
import pytest

from oms.sandbox import Sandbox
from tests.clients.conftest import ccxt_for
from tests.clients.following import BACKGROUND_RATE, away, by_link, ends_equal, followed
from tests.sandbox.client import KEY, SECRET

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: ccxt's fetchOrder asks its caller to confirm it knows Bybit's 500-order window
ACK = {"acknowledged": True}


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'oms.db'}"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(KEY, SECRET, seed=42, categories=("linear", "spot")) as box:
        yield box


def _price(sandbox: Sandbox, symbol: str, side: str, share: str = "0.05") -> float:
    # ccxt takes floats (it turns them into strings on the grid before it sends them)
    return float(Decimal(away(sandbox, symbol, side, share)))


def test_ccxt_creates_edits_fetches_cancels_and_batches_while_oms_follows(sandbox, db):
    exchange = ccxt_for(sandbox.rest_url)
    exchange.load_markets()
    with followed(sandbox, db) as account:
        sandbox.start_trading(BACKGROUND_RATE)
        limit = exchange.create_order(
            "BTC/USDT:USDT", "limit", "buy", 0.002, _price(sandbox, "BTCUSDT", "Buy"),
            {"clientOrderId": "cx-limit"},
        )  # fmt: skip
        assert limit["clientOrderId"] == "cx-limit"
        fetched = exchange.fetch_order(limit["id"], "BTC/USDT:USDT", ACK)
        assert (fetched["status"], fetched["amount"]) == ("open", 0.002)
        new_price = _price(sandbox, "BTCUSDT", "Buy", "0.06")
        edited = exchange.edit_order(limit["id"], "BTC/USDT:USDT", "limit", "buy", 0.003, new_price)
        assert edited["id"] == limit["id"]
        fetched = exchange.fetch_order(limit["id"], "BTC/USDT:USDT", ACK)
        assert (fetched["amount"], fetched["price"]) == (0.003, new_price)
        market = exchange.create_order(
            "ETH/USDT:USDT", "market", "sell", 0.05, None,
            {"positionIdx": 2, "clientOrderId": "cx-market"},
        )  # fmt: skip
        filled = exchange.fetch_order(market["id"], "ETH/USDT:USDT", ACK)
        assert (filled["status"], filled["filled"]) == ("closed", 0.05)
        batch = exchange.create_orders(
            [
                {"symbol": "BTC/USDT:USDT", "type": "limit", "side": "sell", "amount": 0.001,
                 "price": _price(sandbox, "BTCUSDT", "Sell"),
                 "params": {"clientOrderId": "cx-batch-1"}},
                {"symbol": "BTC/USDT:USDT", "type": "limit", "side": "buy", "amount": 0.001,
                 "price": _price(sandbox, "BTCUSDT", "Buy"),
                 "params": {"clientOrderId": "cx-batch-2"}},
            ]
        )  # fmt: skip
        assert [o["clientOrderId"] for o in batch] == ["cx-batch-1", "cx-batch-2"]
        spot = exchange.create_order(
            "BTC/USDT", "limit", "buy", 0.0002, _price(sandbox, "BTCUSDT", "Buy"),
            {"clientOrderId": "cx-spot"},
        )  # fmt: skip
        assert exchange.fetch_order(spot["id"], "BTC/USDT", ACK)["status"] == "open"
        with pytest.raises(ccxt.InvalidOrder, match="110072"):
            exchange.create_order(
                "BTC/USDT:USDT", "limit", "buy", 0.002, _price(sandbox, "BTCUSDT", "Buy"),
                {"clientOrderId": "cx-limit"},
            )  # fmt: skip
        cancelled = exchange.cancel_order(limit["id"], "BTC/USDT:USDT")
        assert cancelled["id"] == limit["id"]
        assert exchange.fetch_order(limit["id"], "BTC/USDT:USDT", ACK)["status"] == "canceled"
        exchange.cancel_order(spot["id"], "BTC/USDT")
        exchange.cancel_order(batch[1]["id"], "BTC/USDT:USDT")
        ends_equal(account, db, sandbox)
    assert by_link(sandbox, "cx-limit")["status"] == "Cancelled"
    assert by_link(sandbox, "cx-market")["status"] == "Filled"
    assert by_link(sandbox, "cx-batch-1")["status"] == "New"
    assert by_link(sandbox, "cx-spot")["status"] == "Cancelled"
