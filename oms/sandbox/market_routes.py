"""The sandbox's public market routes, built from its own symbols (unsigned, as on Bybit).

- ``GET /v5/market/time``: the server time (``timeSecond``, ``timeNano``; top-level
  ``time``).
- ``GET /v5/market/instruments-info``: ``category`` (required), ``symbol``, ``status``,
  ``baseCoin``, ``limit`` 1-1000 (500), ``cursor``. Every sandbox symbol is ``Trading``
  (so ``status=PreLaunch`` is empty), its ``lotSizeFilter`` and ``priceFilter`` from the
  simulator's qty step and tick. ``nextPageCursor`` is ``""`` on the last page.
- ``GET /v5/market/tickers``: ``category`` (required), ``symbol``. Last, mark and index
  price are the simulator's; the book is one tick each side. The sandbox has no public
  trades, so the 24 h volume, turnover and open interest are ``"0"``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Final

from oms.sandbox.params import ParamError, Params, category, limit, page, result
from oms.sim.specs import CATEGORY, FUNDING_RATE, T0
from oms.sim.wire import fmt

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.sandbox.exchange import Exchange
    from oms.sandbox.model import Element, SymbolSpec

_FUNDING_MS: Final = 8 * 3_600_000
#: what every sandbox instrument lists (Bybit's values for its USDT perpetuals)
_LEVERAGE: Final = {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"}
_CONTRACT: Final = {"linear": "LinearPerpetual", "inverse": "InversePerpetual"}


def category_of(spec: SymbolSpec) -> str:
    """The product category of a symbol (linear unless its spec names another)."""
    return str(getattr(spec, "category", CATEGORY))


def quote_coin(spec: SymbolSpec) -> str:
    """The quote coin: the symbol less its base coin (USDT for BTCUSDT, USD for BTCUSD)."""
    return str(getattr(spec, "quote_coin", spec.symbol.removeprefix(spec.base_coin)))


class MarketRoutes:
    """Instruments and tickers of the exchange's symbols."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def routes(self) -> dict[str, Callable[[Params], dict[str, object]]]:
        """Path -> handler of each unsigned GET route but ``/v5/market/time``."""
        return {
            "/v5/market/instruments-info": self._instruments,
            "/v5/market/tickers": self._tickers,
        }

    def _specs(self, cat: str, p: Params) -> list[SymbolSpec]:
        symbol, base = p.get("symbol", ""), p.get("baseCoin", "")
        return [
            s
            for s in self.exchange.specs
            if category_of(s) == cat and symbol in ("", s.symbol) and base in ("", s.base_coin)
        ]

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
        now = self.exchange.now_ms()
        rows = [self._ticker(s, now) for s in self._specs(cat, p)]
        return {"category": cat, "list": rows}

    def _ticker(self, spec: SymbolSpec, now: int) -> Element:
        last, mark, index = self.exchange.prices(spec.symbol)
        start = spec.price
        change = ((last - start) / start).quantize(Decimal("1e-6"))
        size = fmt(spec.qty_step * 10)
        return {
            "symbol": spec.symbol, "lastPrice": fmt(last), "indexPrice": fmt(index),
            "markPrice": fmt(mark), "prevPrice24h": fmt(start), "price24hPcnt": fmt(change),
            "highPrice24h": fmt(max(start, last)), "lowPrice24h": fmt(min(start, last)),
            "prevPrice1h": fmt(start), "openInterest": "0", "openInterestValue": "0",
            "turnover24h": "0", "volume24h": "0", "fundingRate": fmt(FUNDING_RATE),
            "nextFundingTime": str((now // _FUNDING_MS + 1) * _FUNDING_MS),
            "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "",
            "deliveryTime": "0", "ask1Size": size, "bid1Price": fmt(last - spec.tick),
            "ask1Price": fmt(last + spec.tick), "bid1Size": size, "basis": "",
        }  # fmt: skip


def instrument(spec: SymbolSpec) -> Element:
    """One ``instruments-info`` row of a perpetual, in Bybit's field order."""
    tick, step = spec.tick, spec.qty_step
    scale = max(0, -int(tick.normalize().as_tuple().exponent))
    max_qty = fmt(step * spec.max_lots * 100)
    return {
        "symbol": spec.symbol, "contractType": _CONTRACT.get(category_of(spec), ""),
        "status": "Trading", "baseCoin": spec.base_coin, "quoteCoin": quote_coin(spec),
        "launchTime": str(T0), "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": str(scale), "leverageFilter": dict(_LEVERAGE),
        "priceFilter": {
            "minPrice": fmt(tick), "maxPrice": fmt(spec.price * 1000), "tickSize": fmt(tick),
        },
        "lotSizeFilter": {
            "maxOrderQty": max_qty, "minOrderQty": fmt(step), "qtyStep": fmt(step),
            "postOnlyMaxOrderQty": max_qty, "maxMktOrderQty": fmt(step * spec.max_lots * 10),
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": spec.settle_coin,
        "copyTrading": "none", "upperFundingRate": "0.005", "lowerFundingRate": "-0.005",
        "isPreListing": False, "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
        "displayName": "",
    }  # fmt: skip
