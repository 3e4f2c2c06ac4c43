"""``oms.sim.market.Markets``: the price path, the book that follows it, the tape, the
tickers, liquidations and funding; seeded and reproducible."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal

import pytest

from oms.sim import DEFAULT_SYMBOLS, Terms, Venue
from oms.sim.market import Book, Markets
from oms.sim.specs import T0, symbols_of

D = Decimal
ALL = symbols_of(("linear", "inverse", "spot"), DEFAULT_SYMBOLS)


class Clock:
    """A venue clock the test moves."""

    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def markets(seed: int = 7, depth: int = 40, clock: Clock | None = None, **kw: int) -> Markets:
    venue = Venue(ALL, detail=True, wallet=True, clock=clock, start_ms=T0)
    return Markets(venue, random.Random(seed), depth=depth, **kw)


def assert_sane(book: Book, markets_: Markets, depth: int) -> None:
    spec = markets_.venue.specs[book.key]
    assert len(book.bids) >= depth
    assert len(book.asks) >= depth
    assert book.bids[0].price < book.asks[0].price  # a spread of at least one tick
    assert [lv.price for lv in book.bids] == sorted((lv.price for lv in book.bids), reverse=True)
    assert [lv.price for lv in book.asks] == sorted(lv.price for lv in book.asks)
    for level in book.bids + book.asks:
        assert level.price > 0
        assert level.price % spec.tick == 0
        assert level.size > 0
        assert level.size % spec.qty_step == 0


def test_every_book_has_depth_on_the_grid_before_and_after_ticks():
    m = markets()
    for _ in range(30):
        for key in m.symbols:
            assert_sane(m.book(key), m, 40)
        m.tick()


def test_the_same_seed_gives_the_same_market_and_another_seed_another():
    def run(seed: int) -> list[object]:
        m = markets(seed)
        for _ in range(25):
            m.tick()
        return [m.take_public(), [m.book(k) for k in m.symbols], m.venue.take()]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_prices_stay_near_the_symbols_level_and_mark_and_index_near_last():
    m = markets(depth=5)
    for _ in range(400):
        m.tick()
    for s in m.symbols.values():
        market, base = s.market, s.base
        assert base * 8 // 10 <= market.mid_ticks <= base * 12 // 10
        assert abs(market.mark_ticks - market.mid_ticks) <= 2 * s.scale
        assert abs(market.index_ticks - market.mid_ticks) <= 3 * s.scale


def test_public_events_come_in_order_and_take_public_clears():
    m = markets()
    m.tick()
    events = m.take_public()
    assert m.take_public() == []
    kinds = {kind for kind, _, _ in events}
    assert (
        {"orderbook", "tickers"} <= kinds <= {"orderbook", "publicTrade", "tickers", "liquidation"}
    )
    for key in m.symbols:  # per symbol: its book first, its ticker last
        mine = [kind for kind, k, _ in events if k == key]
        assert mine[0] == "orderbook"
        assert mine[-1] == "tickers"


def test_the_books_update_id_grows_by_one_per_change_and_its_seq_never_falls():
    m = markets()
    seen: dict[str, list[Book]] = {}
    for _ in range(30):
        m.tick()
        for kind, key, payload in m.take_public():
            if kind == "orderbook":
                assert isinstance(payload, Book)
                seen.setdefault(key, []).append(payload)
    for books in seen.values():
        ids = [b.update_id for b in books]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
        assert all(b.seq <= c.seq for b, c in itertools.pairwise(books))


def test_the_tape_is_newest_first_with_tick_directions_and_unique_ids():
    m = markets()
    printed = []
    for _ in range(60):
        m.tick()
        printed += [t for kind, _, ts in m.take_public() if kind == "publicTrade" for t in ts]
    key = "BTCUSDT"
    mine = [t for t in printed if t.key == key]
    assert mine, "sixty steps print trades"
    recent = m.recent_trades(key, 5)
    assert recent == mine[::-1][:5]
    assert len({t.trade_id for t in printed}) == len(printed)
    for before, after in itertools.pairwise(mine):
        expected = (
            ("PlusTick",) if after.price > before.price
            else ("MinusTick",) if after.price < before.price
            else ("ZeroPlusTick", "ZeroMinusTick")
        )  # fmt: skip
        assert after.tick_direction in expected
        assert after.side in ("Buy", "Sell")


def test_the_ticker_sums_the_tape_and_spot_has_no_funding():
    m = markets()
    for _ in range(40):
        m.tick()
    trades = m.recent_trades("BTCUSDT", 1000)
    ticker = m.ticker("BTCUSDT")
    assert ticker.volume24h == sum(t.qty for t in trades)
    assert ticker.turnover24h == sum(t.qty * t.price for t in trades)
    assert ticker.low24h <= ticker.last <= ticker.high24h
    assert ticker.bid1 == m.book("BTCUSDT").bids[0]
    assert ticker.ask1 == m.book("BTCUSDT").asks[0]
    assert ticker.funding_rate is not None
    assert ticker.next_funding_time == T0 + 8 * 3_600_000
    assert ticker.open_interest is not None
    assert ticker.open_interest > 0
    inverse = m.ticker("inverse:BTCUSD")
    assert inverse.turnover24h == sum(
        (t.qty / t.price).quantize(D("1e-8")) for t in m.recent_trades("inverse:BTCUSD", 1000)
    )
    spot = m.ticker("spot:BTCUSDT")
    assert (spot.funding_rate, spot.next_funding_time, spot.open_interest) == (None, None, None)


def test_liquidations_are_published_for_derivatives_only():
    m = markets(depth=5)
    found = []
    for _ in range(300):
        m.tick()
        found += [p for kind, _, p in m.take_public() if kind == "liquidation"]
    assert found
    assert {liq.category for liq in found} <= {"linear", "inverse"}
    assert {liq.side for liq in found} <= {"Buy", "Sell"}
    assert all(liq.qty > 0 and liq.price > 0 for liq in found)


def test_taken_liquidity_is_gone_until_the_next_step_refills_the_book():
    m = markets()
    s = m.state("BTCUSDT")
    asks = m.book("BTCUSDT").asks
    want = asks[0].size + asks[1].size + asks[2].size
    parts = m.take(s, "Buy", want, None)
    assert parts == [(lv.size, lv.price) for lv in asks[:3]]
    after = m.book("BTCUSDT")
    assert after.asks[0] == asks[3]
    assert after.update_id == m.book("BTCUSDT").update_id
    m.tick()
    assert len(m.book("BTCUSDT").asks) >= 40


def test_a_taker_walk_stops_at_its_limit():
    m = markets()
    s = m.state("BTCUSDT")
    asks = m.book("BTCUSDT").asks
    parts = m.take(s, "Buy", D(1000), asks[1].price)
    assert parts == [(asks[0].size, asks[0].price), (asks[1].size, asks[1].price)]


@pytest.mark.parametrize("key", ["BTCUSDT", "inverse:BTCUSD"])
def test_funding_is_paid_on_open_legs_at_the_interval(key):
    clock = Clock()
    m = markets(clock=clock, funding_interval_ms=60_000)
    venue = m.venue
    spec = venue.specs[key]
    order = venue.place(Terms(spec.symbol, "Buy", spec.qty_step * 10, price=venue.markets[key].mid,
                              category=spec.category))  # fmt: skip
    venue.match(order.order_id, [(spec.qty_step * 10, order.price)])
    venue.take()
    clock.now = T0 + 59_999
    m.tick()
    assert not [e for e in venue.executions.values() if e.exec_type == "Funding"]
    clock.now = T0 + 60_000
    m.tick()
    funding = [e for e in venue.executions.values() if e.exec_type == "Funding"]
    assert len(funding) == 1
    assert funding[0].symbol == spec.symbol
    assert funding[0].fee_rate == m.state(key).funding_rate  # the rate of that moment
    assert m.ticker(key).next_funding_time == T0 + 120_000
    topics = [p.topic for p in venue.take()]
    assert topics.count("execution") == 1
    assert "position" in topics
