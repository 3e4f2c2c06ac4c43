"""Random policies that drive a ``Venue``: an account trading by itself.

``RandomPolicy.step()`` moves one symbol's market a little and makes one random request
of the venue, with the frequencies of a ``Mix``: market, limit, IOC/FOK and conditional
orders (TP/SL on held positions among them), triggers, maker fills of resting orders,
cancels (one or all of a symbol), amends, the cancel-race echo, funding rounds and idle
moments in which other accounts trade. A taker order walks the book over one to three
matches, each split over one to three executions; a match's (order, execution,
position) frames arrive in a varying order, as on the wire. ``BENCH_MIX`` is the
benchmark's capture, ``SANDBOX_MIX`` the sandbox's background trading. Every draw comes
from the policy's seeded ``random.Random``, so a seed fixes the whole run.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from oms.sim.mixes import BENCH_MIX, SANDBOX_MIX, Mix  # re-exported from here
from oms.sim.new_orders import lots, pick_terms
from oms.sim.records import WORKING, Terms, to_tick

if TYPE_CHECKING:
    import random
    from collections.abc import Callable

    from oms.sim.records import Market, Order
    from oms.sim.venue import Group, Venue

__all__ = ["BENCH_MIX", "SANDBOX_MIX", "Mix", "RandomPolicy"]

D = Decimal
#: Execution elements of one taker match (one per maker it hits).
_PARTS: Final = (1, 1, 1, 1, 1, 1, 2, 2, 3)
#: Matches a taker order needs.
_MATCHES: Final = (1, 1, 1, 1, 1, 2, 2, 3)
#: Arrival order of a match's (order, execution, position) frames, and how often each.
_LAYOUTS: Final = ((0, 1, 2), (1, 0, 2), (1, 2, 0), (0, 2, 1), (2, 1, 0))
_LAYOUT_WEIGHTS: Final = (40, 30, 15, 10, 5)
_REJECT_REASONS: Final = ("EC_ReachMaxTradeNum", "EC_ReachRiskPriceLimit", "EC_InvalidPriceScale")


class RandomPolicy:
    """Drives ``venue`` with random requests (see the module docstring)."""

    def __init__(
        self,
        venue: Venue,
        rng: random.Random,
        mix: Mix,
        *,
        leave: Callable[[str], bool] | None = None,
        market_priced: bool = False,
    ) -> None:
        """``leave(order_id)`` names orders the policy never amends, cancels, fills or
        triggers (another program's: the sandbox's order entry); ``market_priced``: a
        market (``oms.sim.market``) moves the prices and pays funding, so the policy
        moves no price and pays no funding. The defaults are the benchmark's."""
        self.venue, self.rng, self.mix = venue, rng, mix
        self.leave, self.market_priced = leave, market_priced
        self.actions: dict[str, Callable[[Market], bool]] = {
            "place_market": self.place_market, "place_limit": self.place_limit,
            "place_ioc_limit": self.place_ioc_limit,
            "place_conditional": self.place_conditional, "trigger": self.trigger,
            "maker_fill": self.maker_fill, "cancel": self.cancel, "cancel_all": self.cancel_all,
            "cancel_race": self.cancel_race, "amend": self.amend, "funding": self.funding,
            "idle": self.idle,
        }  # fmt: skip
        self._names = tuple(mix.weights)
        self._weights = tuple(mix.weights.values())
        venue.arrange = self._layout

    def step(self, name: str | None = None, symbol: str | None = None) -> bool:
        """One action (``name``, else drawn) on ``symbol`` (else drawn) after a small move
        of its market. An action with nothing to act on places a limit order instead,
        unless it was asked for by name: then it does nothing and returns False."""
        markets = self.venue.markets
        market = markets[symbol] if symbol else self.rng.choice(list(markets.values()))
        if name is None:
            self.walk(market)
            drawn = self.rng.choices(self._names, self._weights)[0]
            if not self.actions[drawn](market):
                self.place_limit(market)
            return True
        return self.actions[name](market)

    def _layout(self, group: Group) -> Group:
        if [topic for topic, _ in group] != ["order", "execution", "position"]:
            return group
        layout = self.rng.choices(_LAYOUTS, _LAYOUT_WEIGHTS)[0]
        return [group[i] for i in layout]

    # --- helpers ----------------------------------------------------------------------

    def walk(self, market: Market) -> None:
        """Move the market a little (pulled back towards the symbol's price level)."""
        if self.market_priced:
            return
        base = int(market.spec.price / market.spec.tick)
        pull = (base - market.mid_ticks) * 8 // max(base, 1)
        market.mid_ticks = max(base // 2, market.mid_ticks + self.rng.randint(-6, 6) + pull)
        market.mark_ticks = market.mid_ticks + self.rng.randint(-3, 3)
        market.index_ticks = market.mid_ticks + self.rng.randint(-5, 5)

    def _report_leg(self, o: Order) -> None:
        """Bybit's position report after an order create, amend or cancel (sometimes; never
        on spot, which has no position)."""
        if o.category == "spot":
            return
        if self.rng.random() < self.mix.position_report:
            self.venue.report_position(o.market.spec.key, o.leg.idx)

    def _split(self, market: Market, qty: Decimal, parts: int) -> list[Decimal]:
        """``qty`` cut into ``parts`` (at most one per lot) sizes of whole lots."""
        step = market.spec.qty_step
        lots = int(qty / step)
        parts = min(parts, lots)
        cuts = sorted(self.rng.sample(range(1, lots), parts - 1)) if parts > 1 else []
        return [step * (b - a) for a, b in zip([0, *cuts], [*cuts, lots], strict=True)]

    def _take(self, o: Order, qty: Decimal, *, cancel_rest: bool = False) -> None:
        """A taker match of ``qty``: it walks the book, one price per execution."""
        market, tick = o.market, o.market.spec.tick
        direction = 1 if o.side == "Buy" else -1
        price = market.ticks_away(direction * self.rng.randint(0, 2))
        parts = []
        for size in self._split(market, qty, self.rng.choice(_PARTS)):
            parts.append((size, price))
            price = max(tick, price + direction * tick * self.rng.randint(0, 3))
        self.venue.match(o.order_id, parts, maker=False, cancel_rest=cancel_rest)
        if not self.market_priced:
            market.mid_ticks = int(parts[-1][1] / tick)

    def _fill_taker(self, o: Order) -> None:
        """Fill a taker order in 1-3 matches; sometimes the book runs out (rest cancelled)."""
        step = o.market.spec.qty_step
        matches = self.rng.choice(_MATCHES)
        cut_short = o.order_type == "Market" and self.rng.random() < 0.05
        for n in range(matches):
            can = o.fillable()
            if not can:  # a reduce-only order with nothing left to close
                self.venue.cancel(
                    o.order_id, cancel_type="UNKNOWN", reject_reason="EC_NoImmediateQtyToFill"
                )
                return
            lots_left = int(can / step)
            if n < matches - 1 and lots_left >= 2:
                self._take(o, step * self.rng.randint(1, lots_left - 1))
                continue
            qty = can
            if cut_short and lots_left >= 2:
                qty = step * self.rng.randint(1, lots_left - 1)
            self._take(o, qty, cancel_rest=qty < o.leaves)
            return

    def _open(self, market: Market | None = None) -> list[Order]:
        """The open orders the policy may act on (of ``market``)."""
        found = [self.venue.orders[i] for i in self.venue.open_ids]
        leave = self.leave
        return [
            o
            for o in found
            if (market is None or o.market is market) and (leave is None or not leave(o.order_id))
        ]

    def _choose(self, orders: list[Order]) -> Order | None:
        return self.rng.choice(orders) if orders else None

    def _resting(self) -> list[Order]:
        """Working limit orders a maker fill could hit."""
        return [o for o in self._open() if o.status in WORKING and o.order_type == "Limit"]

    # --- actions ----------------------------------------------------------------------

    def place_market(self, market: Market) -> bool:
        picked = pick_terms(self.rng, self.venue, market)
        if picked is None:
            return False
        terms = replace(picked, order_type="Market")
        announce = self.rng.random() < 0.1
        o = self.venue.place(terms, announce=announce)
        if announce:
            self._report_leg(o)
        self._fill_taker(o)
        return True

    def place_limit(self, market: Market) -> bool:
        terms = pick_terms(self.rng, self.venue, market)
        if terms is None:
            return False
        away = self.rng.randint(1, 60) * (-1 if terms.side == "Buy" else 1)
        tif = "PostOnly" if self.rng.random() < 0.25 else "GTC"
        terms = replace(terms, price=market.ticks_away(away), time_in_force=tif)
        roll = self.rng.random()
        if tif == "PostOnly" and roll < 0.15:  # priced through the book: it would take
            crossing = replace(terms, price=market.ticks_away(-away))
            reason = "EC_PostOnlyWillTakeLiquidity"
            o = self.venue.reject(crossing, reason=reason, status="Cancelled")
        elif roll < 0.03:
            o = self.venue.reject(terms, reason=self.rng.choice(_REJECT_REASONS))
        else:
            o = self.venue.place(terms, created_first=roll > 0.95)
        self._report_leg(o)
        return True

    def place_ioc_limit(self, market: Market) -> bool:
        terms = pick_terms(self.rng, self.venue, market)
        if terms is None:
            return False
        tif = self.rng.choice(("IOC", "FOK"))
        direction = 1 if terms.side == "Buy" else -1
        if self.rng.random() < 0.5:  # nothing to match at that price
            away = -direction * self.rng.randint(1, 30)
            reason = "EC_NoImmediateQtyToFill" if tif == "IOC" else "EC_CancelForNoFullFill"
            missed = replace(terms, price=market.ticks_away(away), time_in_force=tif)
            self._report_leg(self.venue.reject(missed, reason=reason, status="Cancelled"))
            return True
        crossing = replace(terms, price=market.ticks_away(20 * direction), time_in_force=tif)
        o = self.venue.place(crossing, announce=False)
        can = o.fillable()
        self._take(o, can, cancel_rest=can < o.qty)
        return True

    def place_conditional(self, market: Market) -> bool:
        """A conditional order (derivatives only here: spot draws a plain order instead)."""
        spec = market.spec
        if spec.category == "spot":
            return False
        held = [leg for i in spec.legs if (leg := self.venue.legs[spec.key, i]).net]
        factor = {"Buy": D("1.03"), "Sell": D("0.97")}
        if held and self.rng.random() < 0.5:  # a partial take-profit / stop-loss
            leg = self.rng.choice(held)
            side = "Sell" if leg.net > 0 else "Buy"
            take_profit = self.rng.random() < 0.5
            up, order_type = take_profit == (leg.net > 0), "Market"
            qty = lots(self.rng, market, abs(leg.net))
            stop = "PartialTakeProfit" if take_profit else "PartialStopLoss"
        else:  # a plain conditional (stop) order that opens or adds
            picked = pick_terms(self.rng, self.venue, market)
            if picked is None:  # pragma: no cover - only spot pairs pick nothing
                return False
            side, qty = picked.side, lots(self.rng, market)
            up, stop = self.rng.random() < 0.5, ""
            order_type = self.rng.choice(("Market", "Limit"))
        away = self.rng.randint(5, 80)
        trigger = market.ticks_away(away if up else -away)
        if order_type == "Market":
            price = to_tick(trigger * factor[side], spec.tick)
        else:
            offset = spec.tick * self.rng.randint(0, 10)
            price = trigger + offset if side == "Sell" else max(spec.tick, trigger - offset)
        terms = Terms(
            spec.symbol, side, qty, price=price, order_type=order_type, trigger_price=trigger,
            stop_order_type=stop, category=spec.category,
        )  # fmt: skip
        self._report_leg(self.venue.place(terms))
        return True

    def trigger(self, _market: Market) -> bool:
        """The market reaches a conditional order's trigger: Triggered -> New (-> fills)."""
        o = self._choose([o for o in self._open() if o.status == "Untriggered"])
        if o is None:
            return False
        if o.reduce_only and o.leg.closable(o.side) < o.qty:
            self.venue.cancel(o.order_id, cancel_type="CancelByTpSlTsClear")
            self._report_leg(o)
            return True
        if not self.market_priced:
            o.market.mid_ticks = int(o.trigger / o.market.spec.tick)
        if o.order_type == "Market":
            self.venue.trigger(o.order_id, then_new=False)
            self._fill_taker(o)
        elif self.rng.random() < 0.5:  # Triggered and New in one frame, at one instant
            self.venue.trigger(o.order_id)
        else:
            self.venue.trigger(o.order_id, then_new=False)
            self.venue.activate(o.order_id)
        return True

    def maker_fill(self, _market: Market) -> bool:
        o = self._choose(self._resting())
        if o is None:
            return False
        step = o.market.spec.qty_step
        lots = int(o.fillable() / step)
        full = lots < 2 or self.rng.random() < 0.45
        qty = o.fillable() if full else step * self.rng.randint(1, lots - 1)
        self.venue.match(o.order_id, [(qty, o.price)], maker=True)
        return True

    def cancel_race(self, _market: Market) -> bool:
        """A cancel that loses the race to the last fill: Filled, then Bybit's echo."""
        o = self._choose([o for o in self._resting() if not o.reduce_only])
        if o is None:
            return False
        self.venue.match(o.order_id, [(o.leaves, o.price)], maker=True)
        self.venue.echo_cancel_race(o.order_id)
        return True

    def cancel(self, _market: Market) -> bool:
        o = self._choose(self._open())
        if o is None:
            return False
        self.venue.cancel(o.order_id, reject_reason="EC_PerCancelRequest")
        self._report_leg(o)
        return True

    def cancel_all(self, market: Market) -> bool:
        found = self._open(market)
        if len(found) < 2:
            return False
        self.venue.stats["cancel_all"] += 1
        self.venue.cancel(*(o.order_id for o in found), reject_reason="EC_PerCancelRequest")
        for o in {o.leg.key: o for o in found}.values():
            self._report_leg(o)
        return True

    def amend(self, _market: Market) -> bool:
        amendable = [
            o for o in self._open() if o.order_type == "Limit" or o.status == "Untriggered"
        ]
        o = self._choose(amendable)
        if o is None:
            return False
        spec = o.market.spec
        if o.status == "Untriggered":
            ticks = self.rng.choice((-1, 1)) * self.rng.randint(1, 20)
            trigger = max(spec.tick, o.trigger + spec.tick * ticks)
            self.venue.amend(
                o.order_id, trigger_price=trigger if trigger != o.trigger else trigger + spec.tick
            )
        elif self.rng.random() < 0.5 and not o.reduce_only and spec.category != "spot":
            qty = o.cum_qty + spec.qty_step * self.rng.randint(1, spec.max_lots)
            self.venue.amend(o.order_id, qty=qty if qty != o.qty else qty + spec.qty_step)
        else:  # spot amends its price only, and only to one the wallet pays for
            away = self.rng.randint(1, 60)
            price = o.market.ticks_away(-away if o.side == "Buy" else away)
            price = price if price != o.price else price + spec.tick
            if not self.venue.affordable(spec, o.side, o.leaves, price, excluding=o):
                return False
            self.venue.amend(o.order_id, price=price)
        self._report_leg(o)
        return True

    def funding(self, _market: Market) -> bool:
        """A funding round: a Funding execution and a position frame per open leg (not
        when a market pays funding at its interval)."""
        if self.market_priced:
            return False
        rate = D("0.0001") if self.rng.random() < 0.7 else D("-0.00005")
        held = [key for key, leg in self.venue.legs.items() if leg.net]
        for symbol, idx in held:
            self.venue.funding(symbol, idx, rate=rate)
        self.venue.stats["funding_rounds"] += bool(held)
        return bool(held)

    def idle(self, market: Market) -> bool:
        """Nothing for the account this time: other users trade, the sequence moves on."""
        market.cross_seq += self.rng.randint(1, 40)
        return True
