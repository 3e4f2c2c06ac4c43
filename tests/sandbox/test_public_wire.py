"""The public channel's protocol from plain values (``oms.sandbox.public_wire``) and the
topics' state (``oms.sandbox.public_topics``): topics, numbers, acks and pongs, and book
deltas that rebuild the market's book exactly, for any sequence of books."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from oms.sandbox.public_topics import BookTopic, Scales, TickerTopic
from oms.sandbox.public_wire import (
    Topic,
    ack,
    book_changes,
    liquidation_messages,
    parse_topic,
    pong,
    text,
    ticker_delta,
    trade_messages,
)
from oms.sim.market import Level

D = Decimal
LINEAR = {"BTCUSDT", "ETHUSDT"}


@dataclass
class FakeBook:
    """A book as ``oms.sim.market.Book`` shapes it (only what the topic reads)."""

    bids: list[Level]
    asks: list[Level]
    update_id: int
    seq: int = 7
    time: int = 1_700_000_000_000
    key: str = "BTCUSDT"


def apply(book: dict[str, dict[str, str]], message: dict[str, object]) -> None:
    """What a client does with an order book message (a snapshot replaces the book)."""
    data = message["data"]
    assert isinstance(data, dict)
    if message["type"] == "snapshot":
        book["b"], book["a"] = {}, {}
    for side in ("b", "a"):
        for price, size in data[side]:
            if size == "0":
                assert price in book[side], "a delete of a level the client does not hold"
                del book[side][price]
            else:
                book[side][price] = size


def window(book: FakeBook, depth: int) -> dict[str, dict[str, str]]:
    def side(levels: list[Level]) -> dict[str, str]:
        return {text(lv.price, 1): text(lv.size, 3) for lv in levels[:depth]}

    return {"b": side(book.bids), "a": side(book.asks)}


def random_book(rng: random.Random, update_id: int) -> FakeBook:
    mid = rng.randint(1000, 1010)
    bids = sorted(rng.sample(range(mid - 40, mid), rng.randint(0, 30)), reverse=True)
    asks = sorted(rng.sample(range(mid + 1, mid + 41), rng.randint(0, 30)))

    def levels(ticks: list[int]) -> list[Level]:
        return [Level(D(t) / 10, D(rng.randint(1, 5000)) / 1000) for t in ticks]

    return FakeBook(levels(bids), levels(asks), update_id)


def test_topics_the_channel_serves_and_those_it_answers_handler_not_found():
    assert parse_topic("orderbook.1000.ETHUSDT", "linear", LINEAR) == Topic(
        "orderbook.1000.ETHUSDT", "orderbook", "ETHUSDT", 1000
    )
    assert parse_topic("publicTrade.BTCUSDT", "linear", LINEAR) == Topic(
        "publicTrade.BTCUSDT", "publicTrade", "BTCUSDT"
    )
    assert parse_topic("allLiquidation.BTCUSDT", "inverse", {"BTCUSDT"}) is not None
    refused = [
        ("orderbook.30.BTCUSDT", "linear"),  # no such depth
        ("orderbook.500.BTCUSDT", "linear"),  # removed by Bybit in 2025
        ("orderbook.50.btcusdt", "linear"),  # symbols are case sensitive
        ("orderbook.50.NOPEUSDT", "linear"),
        ("kline.1.BTCUSDT", "linear"),
        ("order", "linear"),  # a private topic
        ("liquidation.BTCUSDT", "spot"),  # the liquidation feeds cover contracts only
        ("allLiquidation.BTCUSDT", "spot"),
        ("tickers.BTCUSDT.x", "linear"),
    ]
    for name, category in refused:
        assert parse_topic(name, category, LINEAR) is None, name


def test_numbers_print_with_the_symbols_decimals_and_never_lose_digits():
    assert text(D("65000"), 1) == "65000.0"
    assert text(D("0.1"), 3) == "0.100"
    assert text(D("7"), 0) == "7"
    assert text(D("1.23456"), 2) == "1.23456"  # finer than the tick: kept, not rounded


def test_acks_and_pongs_in_the_public_shapes_of_each_category():
    assert ack("linear", "subscribe", "", "c-1", "r1") == {
        "success": True, "ret_msg": "", "conn_id": "c-1", "req_id": "r1", "op": "subscribe",
    }  # fmt: skip
    assert ack("spot", "subscribe", "", "c-1", "r1")["ret_msg"] == "subscribe"
    refused = ack("spot", "subscribe", "error:handler not found,topic:x", "c-1", None)
    assert refused == {
        "success": False, "ret_msg": "error:handler not found,topic:x", "conn_id": "c-1",
        "op": "subscribe",
    }  # fmt: skip
    assert pong("linear", "c-2", None) == {
        "success": True, "ret_msg": "pong", "conn_id": "c-2", "req_id": "", "op": "ping",
    }  # fmt: skip
    assert pong("spot", "c-2", None) == {
        "success": True, "ret_msg": "pong", "conn_id": "c-2", "op": "ping",
    }  # fmt: skip
    assert pong("inverse", "c-2", "p1")["req_id"] == "p1"


def test_a_delta_lists_new_and_changed_levels_and_zero_for_the_gone_in_book_order():
    old = (("101.0", "1"), ("100.0", "2"), ("99.0", "3"))
    new = (("102.0", "5"), ("100.0", "4"), ("99.0", "3"))
    assert book_changes(old, new, descending=True) == [
        ["102.0", "5"],
        ["101.0", "0"],
        ["100.0", "4"],
    ]
    assert book_changes(new, new, descending=True) == []


@given(st.integers(0, 2**32), st.sampled_from([1, 5, 50]))
def test_snapshot_then_deltas_rebuild_every_book_of_any_sequence(seed: int, depth: int):
    rng = random.Random(seed)
    first = random_book(rng, 1)
    topic = BookTopic(Topic(f"orderbook.{depth}.BTCUSDT", "orderbook", "BTCUSDT", depth),
                      Scales("linear", 1, 3), first)  # fmt: skip
    local: dict[str, dict[str, str]] = {}
    apply(local, topic.snapshot(0))
    assert local == window(first, depth)
    u = topic.u
    for n in range(2, 30):
        book = random_book(rng, n)
        message = topic.advance(book, 0)
        if message is None:
            assert window(book, depth) == local
            continue
        u += 1
        data = message["data"]
        assert isinstance(data, dict)
        assert data["u"] == u, "u grows by one per message"
        assert message["type"] == ("snapshot" if depth == 1 else "delta")
        assert [Decimal(p) for p, _ in data["b"]] == sorted(
            (Decimal(p) for p, _ in data["b"]), reverse=True
        )
        apply(local, message)
        assert local == window(book, depth)
        assert all(len(local[s]) <= depth for s in "ba")


def test_a_rebuilt_book_is_a_snapshot_with_u_1():
    rng = random.Random(3)
    topic = BookTopic(Topic("orderbook.50.BTCUSDT", "orderbook", "BTCUSDT", 50),
                      Scales("linear", 1, 3), random_book(rng, 40))  # fmt: skip
    assert topic.advance(random_book(rng, 41), 0) is not None
    rebuilt = topic.advance(random_book(rng, 1), 0)
    assert rebuilt is not None
    assert rebuilt["type"] == "snapshot"
    assert rebuilt["data"]["u"] == 1  # type: ignore[index]
    nxt = topic.advance(random_book(rng, 2), 0)
    assert nxt is not None
    assert nxt["data"]["u"] == 2  # type: ignore[index]


def test_ticker_deltas_carry_the_changed_fields_and_spot_prints_snapshots():
    old = {"symbol": "BTCUSDT", "lastPrice": "1", "markPrice": "2"}
    assert ticker_delta(old, {**old, "markPrice": "3"}) == {"symbol": "BTCUSDT", "markPrice": "3"}
    assert ticker_delta(old, dict(old)) is None
    linear = TickerTopic(Topic("tickers.BTCUSDT", "tickers", "BTCUSDT"), dict(old), 5)
    delta = linear.advance({**old, "lastPrice": "9"}, 6, 100)
    data = {"symbol": "BTCUSDT", "lastPrice": "9"}
    assert delta == {"topic": "tickers.BTCUSDT", "type": "delta", "data": data, "cs": 6, "ts": 100}
    spot_fields = {"symbol": "BTCUSDT", "lastPrice": "1", "usdIndexPrice": "1"}
    spot = TickerTopic(
        Topic("tickers.BTCUSDT", "tickers", "BTCUSDT"), spot_fields, 5, snapshots_only=True
    )
    snap = spot.advance({**spot_fields, "lastPrice": "2"}, 6, 100)
    assert snap is not None
    assert snap["type"] == "snapshot"
    assert snap["data"] == {**spot_fields, "lastPrice": "2"}


def test_trades_split_at_1024_a_message_and_liquidations_go_to_both_feeds():
    items: list[dict[str, object]] = [{"i": str(n)} for n in range(2050)]
    messages = trade_messages("publicTrade.BTCUSDT", items, 5)
    assert [len(m["data"]) for m in messages] == [1024, 1024, 2]  # type: ignore[arg-type]
    assert [i for m in messages for i in m["data"]] == items  # type: ignore[attr-defined]
    both = liquidation_messages("BTCUSDT", 10, "Buy", "0.5", "65000.0", 11)
    assert both["allLiquidation"]["data"] == [
        {"T": 10, "s": "BTCUSDT", "S": "Buy", "v": "0.5", "p": "65000.0"}
    ]
    assert both["liquidation"]["data"] == {
        "price": "65000.0", "side": "Buy", "size": "0.5", "symbol": "BTCUSDT", "updatedTime": 10,
    }  # fmt: skip
