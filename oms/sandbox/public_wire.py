"""The public channel's protocol from plain values: the topics, acks, pongs and messages of
``/v5/public/{linear,inverse,spot}`` as Bybit shapes them (no I/O, no state).

Shapes (Bybit v5 docs, and frames captured from the live public stream):

- subscribe / unsubscribe ack ``{"success", "ret_msg", "conn_id", "req_id", "op"}``:
  ``ret_msg`` is ``""`` on linear/inverse and the op's name on spot when it succeeded;
  ``"error:handler not found,topic:<t>"`` for a topic or symbol the channel does not
  serve, ``"error:already subscribed,topic:<t>"`` for a second subscribe of a topic;
  spot takes at most 10 topics a request (``"args size >10"``).
- pong: ``{"success": true, "ret_msg": "pong", "conn_id", "req_id", "op": "ping"}``;
  without a request ``req_id`` linear/inverse send ``"req_id": ""`` and spot none.
- ``orderbook.{1,50,200,1000}.{symbol}``: ``{"topic", "type", "ts", "data": {"s", "b",
  "a", "u", "seq"}, "cts"}``; ``b`` bids best (highest) first, ``a`` asks best (lowest)
  first, levels ``[price, size]`` as strings, size ``"0"`` deletes a level in a delta.
- ``publicTrade.{symbol}``: ``type`` snapshot, ``data`` a list (at most 1024 a message)
  of ``{"T", "s", "S", "v", "p", "L", "i", "BT", "RPI", "seq"}`` (no ``L`` on spot).
- ``tickers.{symbol}``: ``{"topic", "type", "data", "cs", "ts"}``.
- ``allLiquidation.{symbol}``: ``data`` a list of ``{"T", "s", "S", "v", "p"}``;
  ``liquidation.{symbol}`` (deprecated): ``data`` one ``{"price", "side", "size",
  "symbol", "updatedTime"}``. Both on linear and inverse only.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final, Protocol

from oms.sim.wire import fmt

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence

__all__ = [
    "BOOK_DEPTHS",
    "PUBLIC_CATEGORIES",
    "SPOT_MAX_ARGS",
    "TRADES_PER_MESSAGE",
    "BookView",
    "PriceLevel",
    "Topic",
    "ack",
    "book_changes",
    "book_view",
    "decimals",
    "liquidation_messages",
    "orderbook_message",
    "parse_topic",
    "pong",
    "text",
    "ticker_delta",
    "ticker_message",
    "trade_messages",
]

#: the categories whose public stream the sandbox can serve
PUBLIC_CATEGORIES: Final = ("linear", "inverse", "spot")
#: the order book depths Bybit streams per category (500 was removed for futures on
#: 2025-09-11, 1000 added for spot and futures on 2025-08-14)
BOOK_DEPTHS: Final[Mapping[str, tuple[int, ...]]] = {
    "linear": (1, 50, 200, 1000),
    "inverse": (1, 50, 200, 1000),
    "spot": (1, 50, 200, 1000),
}
#: Bybit spot takes at most this many topics in one subscribe request
SPOT_MAX_ARGS: Final = 10
#: a public trade message carries at most this many trades (Bybit splits longer batches)
TRADES_PER_MESSAGE: Final = 1024
_SYMBOL: Final = r"(?P<symbol>[A-Z0-9]+)"
_FORMS: Final = (
    ("orderbook", re.compile(rf"orderbook\.(?P<depth>[1-9][0-9]*)\.{_SYMBOL}")),
    ("publicTrade", re.compile(rf"publicTrade\.{_SYMBOL}")),
    ("tickers", re.compile(rf"tickers\.{_SYMBOL}")),
    ("liquidation", re.compile(rf"liquidation\.{_SYMBOL}")),
    ("allLiquidation", re.compile(rf"allLiquidation\.{_SYMBOL}")),
)
#: the liquidation feeds cover contracts only (Bybit: USDT, USDC and inverse contracts)
_LIQUIDATION_CATEGORIES: Final = frozenset({"linear", "inverse"})


class PriceLevel(Protocol):
    """One level of a book: ``oms.sim.market.Level`` or anything shaped like it."""

    @property
    def price(self) -> Decimal: ...
    @property
    def size(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic a public connection may subscribe: its name as sent, what it streams, the
    symbol, and the book depth (0 for the others)."""

    name: str
    kind: str
    symbol: str
    depth: int = 0


def parse_topic(name: str, category: str, symbols: Collection[str]) -> Topic | None:
    """The topic ``name`` names on the ``category`` channel trading ``symbols``, or None
    when Bybit answers "handler not found" (unknown form or depth, a symbol the channel
    does not list: symbols are case sensitive, a liquidation feed on spot).

    >>> parse_topic("orderbook.50.BTCUSDT", "linear", {"BTCUSDT"})
    Topic(name='orderbook.50.BTCUSDT', kind='orderbook', symbol='BTCUSDT', depth=50)
    >>> parse_topic("orderbook.30.BTCUSDT", "linear", {"BTCUSDT"}) is None
    True
    """
    for kind, form in _FORMS:
        match = form.fullmatch(name)
        if match is None:
            continue
        symbol = match.group("symbol")
        depth = int(match.group("depth")) if kind == "orderbook" else 0
        if symbol not in symbols:
            return None
        if kind == "orderbook" and depth not in BOOK_DEPTHS[category]:
            return None
        if "iquidation" in kind and category not in _LIQUIDATION_CATEGORIES:
            return None
        return Topic(name, kind, symbol, depth)
    return None


# --- numbers -------------------------------------------------------------------------------


def decimals(step: Decimal) -> int:
    """The decimal places of a tick or qty step: ``Decimal("0.10")`` -> 1, ``1`` -> 0."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@functools.lru_cache(maxsize=1 << 16)  # a book prints the same few thousand numbers again
def text(value: Decimal, places: int) -> str:
    """``value`` with exactly ``places`` decimals, as Bybit prints prices and sizes of a
    symbol ("65000.10", "0.100"); a value finer than that keeps its digits (never
    rounded: the text is the number).

    >>> text(Decimal("65000.1"), 2), text(Decimal("0.1"), 3), text(Decimal("1.2345"), 2)
    ('65000.10', '0.100', '1.2345')
    """
    scaled = value.quantize(Decimal(1).scaleb(-places))
    return format(scaled, "f") if scaled == value else fmt(value)


# --- order book ----------------------------------------------------------------------------

Side = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class BookView:
    """The top levels of a book as the stream prints them: (price, size) texts, bids best
    (highest) first, asks best (lowest) first."""

    bids: Side
    asks: Side


def book_view(
    bids: Iterable[PriceLevel], asks: Iterable[PriceLevel], depth: int, price: int, size: int
) -> BookView:
    """The first ``depth`` levels of each side, ``price`` and ``size`` decimals."""

    def side(levels: Iterable[PriceLevel]) -> Side:
        shown = [lv for lv in levels if lv.size > 0][:depth]
        return tuple((text(lv.price, price), text(lv.size, size)) for lv in shown)

    return BookView(side(bids), side(asks))


def book_changes(old: Side, new: Side, *, descending: bool) -> list[list[str]]:
    """The delta from ``old`` to ``new`` of one side: every level of ``new`` that is new
    or changed size, and ``[price, "0"]`` for every level of ``old`` gone from ``new``
    (out of the window or emptied), in book order (bids descending, asks ascending)."""
    before, after = dict(old), dict(new)
    changed = [[p, s] for p, s in new if before.get(p) != s]
    gone = [[p, "0"] for p, _ in old if p not in after]
    return sorted(changed + gone, key=lambda lv: Decimal(lv[0]), reverse=descending)


def orderbook_message(
    topic: str,
    kind: str,
    symbol: str,
    levels: tuple[Sequence[Sequence[str]], Sequence[Sequence[str]]],
    ids: tuple[int, int],
    times: tuple[int, int],
) -> dict[str, object]:
    """An order book message: ``kind`` snapshot or delta, ``levels`` (bids, asks),
    ``ids`` (u, seq), ``times`` (ts, cts)."""
    bids, asks = levels
    data: dict[str, object] = {"s": symbol}
    data |= {"b": [list(lv) for lv in bids], "a": [list(lv) for lv in asks]}
    data |= {"u": ids[0], "seq": ids[1]}
    return {"topic": topic, "type": kind, "ts": times[0], "data": data, "cts": times[1]}


# --- trades, tickers, liquidations ----------------------------------------------------------


def trade_messages(
    topic: str, items: Sequence[dict[str, object]], ts: int
) -> list[dict[str, object]]:
    """The messages of a batch of trades (oldest first), 1024 trades at most each."""
    step = TRADES_PER_MESSAGE
    return [
        {"topic": topic, "type": "snapshot", "ts": ts, "data": list(items[i : i + step])}
        for i in range(0, len(items), step)
    ]


def ticker_message(
    topic: str, kind: str, data: Mapping[str, str], cs: int, ts: int
) -> dict[str, object]:
    """A ticker message: ``kind`` snapshot or delta, ``cs`` the cross sequence."""
    return {"topic": topic, "type": kind, "data": dict(data), "cs": cs, "ts": ts}


def ticker_delta(old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str] | None:
    """The fields of ``new`` that differ from ``old`` (with ``symbol``), None when none."""
    changed = {k: v for k, v in new.items() if old.get(k) != v and k != "symbol"}
    return {"symbol": new["symbol"], **changed} if changed else None


def liquidation_messages(
    symbol: str, time: int, side: str, size: str, price: str, ts: int
) -> dict[str, dict[str, object]]:
    """One liquidation on both feeds, by topic kind: ``allLiquidation`` (``S``: Buy = a
    long was liquidated) and the deprecated ``liquidation`` with the same side."""
    item = {"T": time, "s": symbol, "S": side, "v": size, "p": price}
    old = {"price": price, "side": side, "size": size, "symbol": symbol, "updatedTime": time}
    return {
        "allLiquidation": {
            "topic": f"allLiquidation.{symbol}", "type": "snapshot", "ts": ts, "data": [item],
        },
        "liquidation": {
            "topic": f"liquidation.{symbol}", "type": "snapshot", "ts": ts, "data": old,
        },
    }  # fmt: skip


# --- control -------------------------------------------------------------------------------


def ack(
    category: str, op: str, refusal: str, conn_id: str, req_id: str | None
) -> dict[str, object]:
    """The answer to a subscribe/unsubscribe (or any request) on the ``category`` channel:
    success when ``refusal`` is empty, else ``refusal`` is the ``ret_msg``."""
    ret_msg = refusal or (op if category == "spot" else "")
    return _control(category, ret_msg, conn_id, req_id, op, success=not refusal)


def pong(category: str, conn_id: str, req_id: str | None) -> dict[str, object]:
    """The public pong of the ``category`` channel."""
    return _control(category, "pong", conn_id, req_id, "ping", success=True)


def _control(
    category: str, ret_msg: str, conn_id: str, req_id: str | None, op: str, *, success: bool
) -> dict[str, object]:
    body: dict[str, object] = {"success": success, "ret_msg": ret_msg, "conn_id": conn_id}
    if req_id is not None:
        body["req_id"] = req_id
    elif category != "spot":
        body["req_id"] = ""
    body["op"] = op
    return body
