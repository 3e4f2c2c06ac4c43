"""What the random policy's next new order asks for (``oms.sim.policies.RandomPolicy``):
its side and size, and whether it only reduces: open or add, sometimes close, and lean
towards closing a leg grown large; on spot, only what the wallet can pay for. Every draw
comes from the policy's generator, in the order it always made them (a seed fixes the
benchmark's capture)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from oms.sim.records import Terms

if TYPE_CHECKING:
    import random

    from oms.sim.records import Market
    from oms.sim.venue import Venue

__all__ = ["lots", "pick_terms"]


def lots(rng: random.Random, market: Market, cap: Decimal | None = None) -> Decimal:
    """A random size in whole lots (at most ``cap``): mostly up to the symbol's largest,
    else a few lots."""
    step, top = market.spec.qty_step, market.spec.max_lots
    if cap is not None:
        top = max(1, min(top, int(cap / step)))
    count = rng.randint(1, top) if rng.random() < 0.7 else rng.randint(1, 5)
    return step * min(count, top)


def pick_terms(rng: random.Random, venue: Venue, market: Market) -> Terms | None:
    """Symbol, side, qty and reduce_only of a new order: open or add, sometimes close
    (spot: what the wallet can pay for; None when it can pay for nothing)."""
    spec, legs = market.spec, venue.legs
    if spec.category == "spot":
        return _pick_spot(rng, venue, market)
    cap = spec.qty_step * spec.max_lots * 3  # beyond this, lean towards closing
    if not spec.hedge:
        net = legs[spec.key, 0].net
        side = rng.choice(("Buy", "Sell"))
        if abs(net) > cap and rng.random() < 0.6:
            side = "Sell" if net > 0 else "Buy"
        closable = legs[spec.key, 0].closable(side)
        reduce = bool(closable) and rng.random() < 0.2
        qty = lots(rng, market, closable if reduce else None)
        return Terms(spec.symbol, side, qty, reduce_only=reduce, category=spec.category)
    long_net, short_net = legs[spec.key, 1].net, -legs[spec.key, 2].net
    roll = rng.random()
    if (long_net > cap and roll < 0.3) or (roll < 0.2 and long_net > 0):
        qty = lots(rng, market, long_net)
        return Terms(spec.symbol, "Sell", qty, reduce_only=True, category=spec.category)
    if (short_net > cap and roll > 0.7) or (roll < 0.4 and short_net > 0):
        qty = lots(rng, market, short_net)
        return Terms(spec.symbol, "Buy", qty, reduce_only=True, category=spec.category)
    side = "Buy" if roll < 0.7 else "Sell"
    return Terms(spec.symbol, side, lots(rng, market), category=spec.category)


def _pick_spot(rng: random.Random, venue: Venue, market: Market) -> Terms | None:
    """A spot order the wallet can pay for: a sell of free base coin, a buy of what the
    free quote coin buys at a price up to 5% above the mid (a market order's 3%
    protection price fits). The other side when one cannot be paid for."""
    spec = market.spec
    caps = {
        "Sell": venue.free(spec.base_coin),
        "Buy": venue.free(spec.quote_coin) / (market.mid * Decimal("1.05")),
    }
    side = rng.choice(("Buy", "Sell"))
    if caps[side] < spec.qty_step:
        side = "Sell" if side == "Buy" else "Buy"
    if caps[side] < spec.qty_step:
        return None
    return Terms(spec.symbol, side, lots(rng, market, caps[side]), category="spot")
