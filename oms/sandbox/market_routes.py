"""The sandbox's public market routes, from its own symbols and market (unsigned, as on
Bybit).

- ``GET /v5/market/time``: the server time (``timeSecond``, ``timeNano``; top-level
  ``time``).
- ``GET /v5/market/instruments-info``: ``category`` (required), ``symbol``, ``status``,
  ``baseCoin``, ``limit`` 1-1000 (500), ``cursor``. Every sandbox symbol is ``Trading``
  (so ``status=PreLaunch`` is empty), its ``lotSizeFilter`` and ``priceFilter`` the
  instrument rules order entry applies (``SymbolSpec.min_order_qty``...), in the shape of
  its category: a linear or inverse perpetual (``contractType``, ``leverageFilter``,
  ``settleCoin``...) or a spot pair (``basePrecision``, ``minOrderAmt``...). A category
  the sandbox does not trade lists nothing. ``nextPageCursor`` is ``""`` on the last page.
- ``GET /v5/market/tickers``: ``category`` (required), ``symbol``: the market's ticker
  (``Markets.ticker``): last, mark and index price, the best bid and ask, the 24 h
  statistics of the tape, funding and open interest. Spot tickers have no mark, funding
  or open interest (as on Bybit).
- ``GET /v5/market/orderbook``: ``category``, ``symbol`` (required), ``limit`` (spot
  1-200, default 1; linear and inverse 1-500, default 25): ``s``, ``b``, ``a``, ``ts``,
  ``u`` (the market's book update id), ``seq``, ``cts``.
- ``GET /v5/market/recent-trade``: ``category``, ``symbol`` (required), ``limit`` (spot
  1-60, default 60; others 1-1000, default 500): the tape, newest first.

Prices and sizes print with the symbol's decimals, as on the public stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from oms.sandbox.params import ParamError, Params, category, limit, page, result
from oms.sandbox.public_topics import Scales, ticker_fields
from oms.sandbox.public_wire import text
from oms.sim.specs import T0
from oms.sim.wire import fmt

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.sandbox.exchange import Exchange
    from oms.sandbox.model import Element, SymbolSpec
    from oms.sim.market import Level, PublicTrade, Ticker

#: what every sandbox perpetual lists (Bybit's values for its USDT perpetuals)
_LEVERAGE: Final = {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"}
_CONTRACT: Final = {"linear": "LinearPerpetual", "inverse": "InversePerpetual"}
#: orderbook ``limit``: (default, most) per category
_BOOK_LIMIT: Final = {"spot": (1, 200), "linear": (25, 500), "inverse": (25, 500)}
#: recent-trade ``limit``: (default, most) per category
_TRADE_LIMIT: Final = {"spot": (60, 60), "linear": (500, 1000), "inverse": (500, 1000)}


class MarketRoutes:
    """Instruments, tickers, order books and trades of the exchange's symbols."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def routes(self) -> dict[str, Callable[[Params], dict[str, object]]]:
        """Path -> handler of each unsigned GET route but ``/v5/market/time``."""
        return {
            "/v5/market/instruments-info": self._instruments,
            "/v5/market/tickers": self._tickers,
            "/v5/market/orderbook": self._orderbook,
            "/v5/market/recent-trade": self._recent_trades,
        }

    def _specs(self, cat: str, p: Params) -> list[SymbolSpec]:
        symbol, base = p.get("symbol", ""), p.get("baseCoin", "")
        return [
            s
            for s in self.exchange.specs
            if s.category == cat and symbol in ("", s.symbol) and base in ("", s.base_coin)
        ]

    def _one(self, cat: str, p: Params) -> SymbolSpec:
        """The symbol a route needs (``symbol`` required and traded in ``cat``)."""
        symbol = p.get("symbol", "")
        if not symbol:
            raise ParamError("params error: symbol is required")
        spec = self.exchange.spec(symbol, cat)
        if spec is None:
            raise ParamError("params error: symbol invalid")
        return spec

    def _instruments(self, p: Params) -> dict[str, object]:
        cat = category(p)
        size = limit(p, 500, 1000)
        status = p.get("status", "")
        specs = [] if status not in ("", "Trading") else self._specs(cat, p)
        rows = [(n, instrument(s)) for n, s in enumerate(specs, start=1)]
        picked, cursor = page(rows, size, p.get("cursor", ""), descending=False)
        return result(cat, picked, cursor)

    def _tickers(self, p: Params) -> dict[str, object]:
        cat = category(p)
        if cat == "option" and not (p.get("baseCoin") or p.get("symbol")):
            raise ParamError("baseCoin or symbol is required for option tickers")
        specs = self._specs(cat, p)
        with self.exchange.lock:
            tickers = [(s, self.exchange.markets.ticker(s.key)) for s in specs]
            trades = {s.key: self.exchange.markets.recent_trades(s.key, 1) for s in specs}
        rows = [ticker_row(s, t, trades[s.key]) for s, t in tickers]
        return {"category": cat, "list": rows}

    def _orderbook(self, p: Params) -> dict[str, object]:
        cat = category(p)
        spec = self._one(cat, p)
        default, most = _BOOK_LIMIT[cat]
        depth = limit(p, default, most)
        with self.exchange.lock:
            book, now = self.exchange.markets.book(spec.key), self.exchange.now_ms()
        s = Scales.of(spec)

        def side(levels: list[Level]) -> list[list[str]]:
            return [[text(lv.price, s.price), text(lv.size, s.size)] for lv in levels[:depth]]

        return {
            "s": spec.symbol, "b": side(book.bids), "a": side(book.asks),
            "ts": max(now, book.time), "u": book.update_id, "seq": book.seq, "cts": book.time,
        }  # fmt: skip

    def _recent_trades(self, p: Params) -> dict[str, object]:
        cat = category(p)
        spec = self._one(cat, p)
        default, most = _TRADE_LIMIT[cat]
        size = limit(p, default, most)
        with self.exchange.lock:
            trades = self.exchange.markets.recent_trades(spec.key, size)
        return {"category": cat, "list": [trade_row(spec, t) for t in trades]}


def ticker_row(spec: SymbolSpec, t: Ticker, last_trades: list[PublicTrade]) -> Element:
    """One ``tickers`` row: the stream's ticker fields with the REST-only ones (the best
    bid and ask on spot too; ``prevPrice1h`` is the 24 h reference until the market keeps
    an hourly one)."""
    s = Scales.of(spec)
    direction = last_trades[0].tick_direction if last_trades else "ZeroPlusTick"
    fields = ticker_fields(t, s, tick_direction=direction, prev1h=t.prev24h)
    book: Element = {
        "bid1Price": text(t.bid1.price, s.price), "bid1Size": text(t.bid1.size, s.size),
        "ask1Price": text(t.ask1.price, s.price), "ask1Size": text(t.ask1.size, s.size),
    }  # fmt: skip
    if spec.category == "spot":
        names = ("lastPrice", "prevPrice24h", "price24hPcnt", "highPrice24h", "lowPrice24h",
                 "turnover24h", "volume24h", "usdIndexPrice")  # fmt: skip
        return {"symbol": spec.symbol, **book} | {k: fields[k] for k in names}
    rest: Element = {k: v for k, v in fields.items() if k != "tickDirection"}
    return rest | {
        "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "",
        "deliveryTime": "0", "basis": "",
    }  # fmt: skip


def trade_row(spec: SymbolSpec, t: PublicTrade) -> Element:
    """One ``recent-trade`` row."""
    s = Scales.of(spec)
    return {
        "execId": t.trade_id, "symbol": t.symbol, "price": text(t.price, s.price),
        "size": text(t.qty, s.size), "side": t.side, "time": str(t.time),
        "isBlockTrade": t.block, "isRPITrade": False, "seq": str(t.seq),
    }  # fmt: skip


def instrument(spec: SymbolSpec) -> Element:
    """One ``instruments-info`` row in Bybit's field order for the symbol's category."""
    return _spot_pair(spec) if spec.category == "spot" else _perpetual(spec)


def _perpetual(spec: SymbolSpec) -> Element:
    """A linear or inverse perpetual's row."""
    tick, step = spec.tick, spec.qty_step
    scale = max(0, -int(tick.normalize().as_tuple().exponent))
    max_qty = fmt(spec.max_order_qty)
    return {
        "symbol": spec.symbol, "contractType": _CONTRACT[spec.category],
        "status": "Trading", "baseCoin": spec.base_coin, "quoteCoin": spec.quote_coin,
        "launchTime": str(T0), "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": str(scale), "leverageFilter": dict(_LEVERAGE),
        "priceFilter": {
            "minPrice": fmt(spec.min_price), "maxPrice": fmt(spec.max_price),
            "tickSize": fmt(tick),
        },
        "lotSizeFilter": {
            "maxOrderQty": max_qty, "minOrderQty": fmt(spec.min_order_qty),
            "qtyStep": fmt(step), "postOnlyMaxOrderQty": max_qty,
            "maxMktOrderQty": fmt(spec.max_mkt_order_qty),
            "minNotionalValue": fmt(spec.min_notional_value),
        },
        "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": spec.settle_coin,
        "copyTrading": "none", "upperFundingRate": "0.005", "lowerFundingRate": "-0.005",
        "isPreListing": False, "preListingInfo": None,
        "riskParameters": {
            "priceLimitRatioX": fmt(spec.price_limit_ratio), "priceLimitRatioY": "0.1",
        },
        "displayName": "",
    }  # fmt: skip


def _spot_pair(spec: SymbolSpec) -> Element:
    """A spot pair's row: no contract, leverage or settle coin; precisions instead."""
    step = spec.qty_step
    return {
        "symbol": spec.symbol, "baseCoin": spec.base_coin, "quoteCoin": spec.quote_coin,
        "innovation": "0", "status": "Trading", "marginTrading": "utaOnly", "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": fmt(step), "quotePrecision": "0.00000001",
            "minOrderQty": fmt(spec.min_order_qty), "maxOrderQty": fmt(spec.max_order_qty),
            "minOrderAmt": fmt(spec.min_notional_value), "maxOrderAmt": fmt(spec.max_order_amt),
        },
        "priceFilter": {"tickSize": fmt(spec.tick)},
        "riskParameters": {
            "priceLimitRatioX": fmt(spec.price_limit_ratio), "priceLimitRatioY": "0.05",
        },
    }  # fmt: skip
