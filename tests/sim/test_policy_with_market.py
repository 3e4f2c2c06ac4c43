"""The background trading beside order entry (the sandbox): ``RandomPolicy`` with
``leave=entry.owns`` and ``market_priced`` never touches entry's orders, never moves a
price and pays no funding; the market does."""

from __future__ import annotations

import random

from oms.sim import SANDBOX_MIX, RandomPolicy
from oms.sim.entry import Refused
from tests.sim.entry_kit import desk


def owned_view(d, ids):
    orders = d.venue.orders
    return {i: (orders[i].status, orders[i].qty, orders[i].price, orders[i].cum_qty,
                orders[i].updated, orders[i].trigger) for i in ids}  # fmt: skip


def test_the_policy_leaves_entrys_orders_and_the_prices_alone():
    d = desk(seed=11)
    policy = RandomPolicy(
        d.venue, random.Random(12), SANDBOX_MIX, leave=d.entry.owns, market_priced=True
    )
    rng = random.Random(13)
    owned: list[str] = []
    for step in range(400):
        if step % 4 == 0:
            bid, ask = d.best()
            side = rng.choice(("Buy", "Sell"))
            price = bid - rng.randint(0, 30) if side == "Buy" else ask + rng.randint(0, 30)
            try:
                ack = d.create(symbol="BTCUSDT", side=side, orderType="Limit", qty="0.002",
                               price=str(price))  # fmt: skip
            except Refused:
                continue
            owned.append(ack["orderId"])
        before = owned_view(d, owned)
        prices = {k: (m.mid_ticks, m.mark_ticks, m.index_ticks) for k, m in d.venue.markets.items()}
        fundings = d.venue.stats["exec_Funding"]
        policy.step()
        assert owned_view(d, owned) == before
        assert prices == {
            k: (m.mid_ticks, m.mark_ticks, m.index_ticks) for k, m in d.venue.markets.items()
        }
        assert d.venue.stats["exec_Funding"] == fundings
        d.tick()
    assert owned
    assert d.venue.stats["orders"] > len(owned)  # the policy traded too
    statuses = {d.venue.orders[i].status for i in owned}
    assert statuses & {"Filled", "PartiallyFilled"}  # the market filled some of entry's
