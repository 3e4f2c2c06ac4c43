"""The public channels over real sockets (``PublicStreams`` on 127.0.0.1, a real market
stepped by the test): acks, pongs, refusals, unsubscribe, order books whose snapshot and
deltas rebuild ``Markets.book`` exactly, tickers, trades, liquidations, two clients, and a
client that does not read (cut, while the others and the exchange go on)."""

from __future__ import annotations

import contextlib
import socket
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
import websocket

from oms.sandbox.public_wire import decimals, text
from tests.sandbox.client import TIMEOUT, read_until_closed, wait_for
from tests.sandbox.public_harness import PublicHarness, public, recv, send, subscribe, until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from oms.sim.market import Book


@pytest.fixture
def harness() -> Iterator[PublicHarness]:
    with PublicHarness() as running:
        yield running


def apply(book: dict[str, dict[str, str]], message: dict[str, Any]) -> None:
    data = message["data"]
    if message["type"] == "snapshot":
        book["b"], book["a"] = {}, {}
    for side in ("b", "a"):
        for price, size in data[side]:
            if size == "0":
                del book[side][price]
            else:
                book[side][price] = size


def window(book: Book, depth: int, places: tuple[int, int]) -> dict[str, dict[str, str]]:
    def side(levels: list[Any]) -> dict[str, str]:
        return {text(lv.price, places[0]): text(lv.size, places[1]) for lv in levels[:depth]}

    return {"b": side(book.bids), "a": side(book.asks)}


def test_acks_and_pongs_in_the_public_shape_of_each_category(harness: PublicHarness):
    linear, spot = public(harness.url("linear")), public(harness.url("spot"))
    send(linear, {"op": "ping"})
    pong = recv(linear)
    assert pong == {"success": True, "ret_msg": "pong", "conn_id": pong["conn_id"],
                    "req_id": "", "op": "ping"}  # fmt: skip
    send(spot, {"op": "ping"})
    assert set(recv(spot)) == {"success", "ret_msg", "conn_id", "op"}  # no req_id on spot
    send(linear, {"op": "subscribe", "req_id": "a1", "args": ["publicTrade.BTCUSDT"]})
    assert recv(linear) == {"success": True, "ret_msg": "", "conn_id": pong["conn_id"],
                            "req_id": "a1", "op": "subscribe"}  # fmt: skip
    send(spot, {"op": "subscribe", "req_id": "a2", "args": ["publicTrade.BTCUSDT"]})
    ack = recv(spot)
    assert (ack["success"], ack["ret_msg"], ack["req_id"]) == (True, "subscribe", "a2")


def test_refusals_name_the_topic_and_subscribe_nothing(harness: PublicHarness):
    ws = public(harness.url("linear"))
    cases = [
        (["orderbook.50.NOPEUSDT"], "error:handler not found,topic:orderbook.50.NOPEUSDT"),
        (["orderbook.30.BTCUSDT"], "error:handler not found,topic:orderbook.30.BTCUSDT"),
        (["tickers.BTCUSDT", "order"], "error:handler not found,topic:order"),
        ([], "Params Error"),
    ]
    for args, reason in cases:
        send(ws, {"op": "subscribe", "req_id": "r", "args": args})
        answer = recv(ws)
        assert (answer["success"], answer["ret_msg"], answer["op"]) == (False, reason, "subscribe")
    subscribe(ws, ["publicTrade.ETHUSDT"])
    send(ws, {"op": "subscribe", "req_id": "again", "args": ["publicTrade.ETHUSDT"]})
    assert recv(ws)["ret_msg"] == "error:already subscribed,topic:publicTrade.ETHUSDT"
    send(ws, {"op": "nope", "req_id": "x"})
    assert recv(ws)["ret_msg"] == "error:invalid op"
    ws.send("hello")
    assert recv(ws)["ret_msg"].startswith("Failed to decode incoming data")
    harness.tick(3)
    assert {m["topic"] for m in until(ws, "end")} <= {"publicTrade.ETHUSDT"}  # tickers refused
    spot = public(harness.url("spot"))
    send(spot, {"op": "subscribe", "args": [f"publicTrade.X{n}" for n in range(11)]})
    assert recv(spot)["ret_msg"] == "args size >10"
    send(spot, {"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]})
    assert recv(spot)["ret_msg"] == "error:handler not found,topic:allLiquidation.BTCUSDT"


def test_a_category_the_sandbox_does_not_trade_is_refused_at_the_handshake():
    with PublicHarness(categories=("linear",)) as harness:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            public(harness.url("spot"))
        assert refused.value.status_code == 404
        with pytest.raises(websocket.WebSocketBadStatusException):
            public(harness.url("option"))


@pytest.mark.parametrize(("category", "symbol"), [("linear", "ETHUSDT"), ("inverse", "BTCUSD"),
                                                  ("spot", "BTCUSDT")])  # fmt: skip
def test_snapshot_then_deltas_rebuild_the_markets_book_at_every_depth(
    harness: PublicHarness, category: str, symbol: str
):
    ws = public(harness.url(category))
    depths = (1, 50, 200, 1000)
    snapshots = subscribe(ws, [f"orderbook.{d}.{symbol}" for d in depths])
    key = symbol if category == "linear" else f"{category}:{symbol}"
    spec = harness.exchange.venue.specs[key]
    places = (decimals(spec.tick), decimals(spec.qty_step))
    books = {m["topic"]: {} for m in snapshots}
    last_u = {}
    for message in snapshots:
        assert message["type"] == "snapshot"
        apply(books[message["topic"]], message)
        last_u[message["topic"]] = message["data"]["u"]
    for _ in range(6):
        harness.tick(5)
        for message in until(ws, "t"):
            topic = message["topic"]
            assert message["data"]["u"] == last_u[topic] + 1, "u grows by one per message"
            assert message["data"]["s"] == symbol
            assert message["cts"] <= message["ts"]
            if topic.startswith("orderbook.1."):
                assert message["type"] == "snapshot"
            last_u[topic] = message["data"]["u"]
            apply(books[topic], message)
        now = harness.book(key)
        for depth in depths:
            assert books[f"orderbook.{depth}.{symbol}"] == window(now, depth, places)
    assert len(books[f"orderbook.200.{symbol}"]["b"]) == 200


def test_a_quiet_level_1_book_prints_its_snapshot_again_with_the_same_u():
    with PublicHarness(quiet_s=0.2) as harness:
        ws = public(harness.url("linear"))
        (first,) = subscribe(ws, ["orderbook.1.BTCUSDT"])
        again = recv(ws)  # nothing changed: the same snapshot after the quiet period
        assert again["type"] == "snapshot"
        assert again["data"] == first["data"]
        harness.tick()
        while (changed := recv(ws))["data"] == first["data"]:
            pass  # a repeat that was due before the step
        assert changed["data"]["u"] == first["data"]["u"] + 1


def test_unsubscribe_stops_the_topic_and_only_it(harness: PublicHarness):
    ws = public(harness.url("linear"))
    subscribe(ws, ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"])
    send(ws, {"op": "unsubscribe", "req_id": "u1", "args": ["orderbook.50.BTCUSDT"]})
    answer = recv(ws)
    assert (answer["success"], answer["op"], answer["req_id"]) == (True, "unsubscribe", "u1")
    harness.tick(20)
    topics = {m["topic"] for m in until(ws, "t")}
    assert topics == {"publicTrade.BTCUSDT"}
    subscribe(ws, ["orderbook.50.BTCUSDT"])  # a fresh snapshot: a new subscription


def test_trades_arrive_in_order_with_bybits_fields(harness: PublicHarness):
    linear, spot = public(harness.url("linear")), public(harness.url("spot"))
    subscribe(linear, ["publicTrade.BTCUSDT"])
    subscribe(spot, ["publicTrade.BTCUSDT"])
    harness.tick(30)
    got = [t for m in until(linear, "t") for t in m["data"]]
    tape = harness.markets.recent_trades("BTCUSDT", 1000)[::-1]
    assert [t["i"] for t in got] == [t.trade_id for t in tape][-len(got) :]
    assert got, "30 steps print trades"
    first = got[0]
    assert set(first) == {"T", "s", "S", "v", "p", "L", "i", "BT", "RPI", "seq"}
    assert first["S"] in ("Buy", "Sell")
    assert first["BT"] is False
    assert Decimal(first["v"]) > 0
    assert Decimal(first["p"]) > 0
    assert [t["seq"] for t in got] == sorted(t["seq"] for t in got)
    spot_trades = [t for m in until(spot, "t") for t in m["data"]]
    assert spot_trades
    assert "L" not in spot_trades[0]


def test_tickers_snapshot_then_deltas_on_linear_and_snapshots_on_spot(harness: PublicHarness):
    linear, spot = public(harness.url("linear")), public(harness.url("spot"))
    (snap,) = subscribe(linear, ["tickers.BTCUSDT"])
    assert snap["type"] == "snapshot"
    fields = dict(snap["data"])
    wanted = ("lastPrice", "markPrice", "indexPrice", "bid1Price", "ask1Price", "fundingRate",
              "nextFundingTime", "openInterest", "volume24h", "price24hPcnt")  # fmt: skip
    for name in wanted:
        assert name in fields, name
    (spot_snap,) = subscribe(spot, ["tickers.BTCUSDT"])
    assert "markPrice" not in spot_snap["data"]
    assert "usdIndexPrice" in spot_snap["data"]
    harness.tick(10)
    deltas = until(linear, "t")
    assert deltas
    assert all(m["type"] == "delta" for m in deltas)
    for message in deltas:
        assert message["data"]["symbol"] == "BTCUSDT"
        fields.update(message["data"])
    now = harness.markets.ticker("BTCUSDT")
    assert Decimal(fields["lastPrice"]) == now.last
    assert Decimal(fields["markPrice"]) == now.mark
    assert Decimal(fields["bid1Price"]) == now.bid1.price
    assert all(m["type"] == "snapshot" for m in until(spot, "t"))


def test_liquidations_on_both_feeds(harness: PublicHarness):
    ws = public(harness.url("linear"))
    symbols = [s.symbol for s in harness.exchange.specs_of("linear")]
    subscribe(ws, [f"allLiquidation.{s}" for s in symbols] + [f"liquidation.{s}" for s in symbols])
    seen: list[dict[str, Any]] = []
    for _ in range(100):  # about one liquidation per 33 steps and symbol
        harness.tick(5)
        seen += until(ws, "t")
        if seen:
            break
    assert seen, "no liquidation in 500 steps"
    by_kind = {m["topic"].partition(".")[0]: m for m in seen}
    new, old = by_kind["allLiquidation"], by_kind["liquidation"]
    (item,) = new["data"]
    assert set(item) == {"T", "s", "S", "v", "p"}
    assert item["S"] in ("Buy", "Sell")
    assert old["data"] == {"price": item["p"], "side": item["S"], "size": item["v"],
                           "symbol": item["s"], "updatedTime": item["T"]}  # fmt: skip


def test_two_clients_get_the_same_messages_after_they_subscribed(harness: PublicHarness):
    one = public(harness.url("linear"))
    subscribe(one, ["orderbook.50.SOLUSDT", "publicTrade.SOLUSDT"])
    harness.tick(5)
    early = until(one, "t")
    two = public(harness.url("linear"))
    (snapshot,) = subscribe(two, ["orderbook.50.SOLUSDT", "publicTrade.SOLUSDT"])
    last_u = [m["data"]["u"] for m in early if m["topic"].startswith("orderbook.")]
    assert snapshot["data"]["u"] == last_u[-1]  # where the first client's book stands
    harness.tick(10)
    assert until(one, "t") == until(two, "t")


def test_a_client_that_does_not_read_is_cut_and_the_others_go_on():
    with PublicHarness(queue_limit=20, latency_ms=0) as harness:
        fast = public(harness.url("linear"))
        symbols = [s.symbol for s in harness.exchange.specs_of("linear")]
        topics = [f"orderbook.1000.{s}" for s in symbols]
        books: dict[str, dict[str, dict[str, str]]] = {}
        for message in subscribe(fast, topics):
            apply(books.setdefault(message["topic"], {}), message)
        slow = _silent_subscriber(harness.port, topics)
        try:
            for _ in range(400):  # bounded: each round asks for 60 KB of snapshots
                _resubscribe(slow, topics)
                _tick_or_fail(harness)  # the exchange never waits for a client
                for message in until(fast, "t"):  # the fast client keeps up
                    apply(books[message["topic"]], message)
                if harness.streams.stats["public_cut"]:
                    break
            assert harness.streams.stats["public_cut"] == 1
            assert read_until_closed(slow)[1] == "lost"  # cut: no close frame
            wait_for(lambda: harness.sandbox.stats()["connections"] == 1, what="the fast one left")
        finally:
            slow.shutdown()
        harness.tick(3)
        for message in until(fast, "t"):
            apply(books[message["topic"]], message)
        for symbol in symbols:
            spec = harness.exchange.venue.specs[symbol]
            want = window(
                harness.book(symbol), 1000, (decimals(spec.tick), decimals(spec.qty_step))
            )
            assert books[f"orderbook.1000.{symbol}"] == want


def _tick_or_fail(harness: PublicHarness) -> None:
    """One market step on a worker thread; a step that hangs fails the test."""
    worker = threading.Thread(target=harness.tick, daemon=True)
    worker.start()
    worker.join(TIMEOUT)
    assert not worker.is_alive(), "a market step hung on a client"


def _resubscribe(ws: websocket.WebSocket, topics: list[str]) -> None:
    """Ask again for the topics (their snapshots), reading nothing."""
    with contextlib.suppress(OSError, websocket.WebSocketException):  # once cut
        send(ws, {"op": "unsubscribe", "args": topics})
        send(ws, {"op": "subscribe", "args": topics})


def _silent_subscriber(port: int, topics: list[str]) -> websocket.WebSocket:
    """A raw TCP WebSocket client that subscribes and then never reads (tiny buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    ws = websocket.WebSocket()
    ws.sock_opt.timeout = TIMEOUT
    ws.connect(f"ws://127.0.0.1:{port}/v5/public/linear", socket=sock)
    send(ws, {"op": "subscribe", "args": topics})
    return ws  # never read from here on
