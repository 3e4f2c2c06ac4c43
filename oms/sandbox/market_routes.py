"""The sandbox's public market routes, built from its own symbols (unsigned, as on Bybit).

- ``GET /v5/market/time``: the server time (``timeSecond``, ``timeNano``; top-level
  ``time``).
- ``GET /v5/market/instruments-info``: ``category`` (required), ``symbol``, ``status``,
  ``baseCoin``, ``limit`` 1-1000 (500), ``cursor``. Every sandbox symbol is ``Trading``
  (so ``status=PreLaunch`` is empty), its ``lotSizeFilter`` and ``priceFilter`` from the
  simulator's qty step and tick, in the shape of its category: a linear or inverse
  perpetual (``contractType``, ``leverageFilter``, ``settleCoin``...) or a spot pair
  (``basePrecision``, ``minOrderAmt``...). A category the sandbox does not trade lists
  nothing. ``nextPageCursor`` is ``""`` on the last page.
- ``GET /v5/market/tickers``: ``category`` (required), ``symbol``. Last, mark and index
  price are the simulator's; the book is one tick each side. The sandbox has no public
  trades, so the 24 h volume, turnover and open interest are ``"0"``. Spot tickers have
  no mark, funding or open interest (as on Bybit).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Final

from oms.sandbox.params import ParamError, Params, category, limit, page, result
from oms.sim.specs import FUNDING_RATE, T0
from oms.sim.wire import fmt

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.sandbox.exchange import Exchange
    from oms.sandbox.model import Element, SymbolSpec

_FUNDING_MS: Final = 8 * 3_600_000
#: what every sandbox perpetual lists (Bybit's values for its USDT perpetuals)
_LEVERAGE: Final = {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"}
_CONTRACT: Final = {"linear": "LinearPerpetual", "inverse": "InversePerpetual"}
#: the smallest order value: 5 USDT on linear; an inverse order is in 1 USD contracts
_MIN_NOTIONAL: Final = {"linear": "5", "inverse": "1"}


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
            if s.category == cat and symbol in ("", s.symbol) and base in ("", s.base_coin)
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
        last, mark, index = self.exchange.prices(spec.symbol, spec.category)
        start = spec.price
        change = ((last - start) / start).quantize(Decimal("1e-6"))
        size = fmt(spec.qty_step * 10)
        row: Element = {
            "symbol": spec.symbol, "bid1Price": fmt(last - spec.tick), "bid1Size": size,
            "ask1Price": fmt(last + spec.tick), "ask1Size": size, "lastPrice": fmt(last),
            "prevPrice24h": fmt(start), "price24hPcnt": fmt(change),
            "highPrice24h": fmt(max(start, last)), "lowPrice24h": fmt(min(start, last)),
            "turnover24h": "0", "volume24h": "0",
        }  # fmt: skip
        if spec.category == "spot":
            return {**row, "usdIndexPrice": fmt(index)}
        return {
            **row, "indexPrice": fmt(index), "markPrice": fmt(mark),
            "prevPrice1h": fmt(start), "openInterest": "0", "openInterestValue": "0",
            "fundingRate": fmt(FUNDING_RATE),
            "nextFundingTime": str((now // _FUNDING_MS + 1) * _FUNDING_MS),
            "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "",
            "deliveryTime": "0", "basis": "",
        }  # fmt: skip


def instrument(spec: SymbolSpec) -> Element:
    """One ``instruments-info`` row in Bybit's field order for the symbol's category."""
    return _spot_pair(spec) if spec.category == "spot" else _perpetual(spec)


def _perpetual(spec: SymbolSpec) -> Element:
    """A linear or inverse perpetual's row."""
    tick, step = spec.tick, spec.qty_step
    scale = max(0, -int(tick.normalize().as_tuple().exponent))
    max_qty = fmt(step * spec.max_lots * 100)
    return {
        "symbol": spec.symbol, "contractType": _CONTRACT[spec.category],
        "status": "Trading", "baseCoin": spec.base_coin, "quoteCoin": spec.quote_coin,
        "launchTime": str(T0), "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": str(scale), "leverageFilter": dict(_LEVERAGE),
        "priceFilter": {
            "minPrice": fmt(tick), "maxPrice": fmt(spec.price * 1000), "tickSize": fmt(tick),
        },
        "lotSizeFilter": {
            "maxOrderQty": max_qty, "minOrderQty": fmt(step), "qtyStep": fmt(step),
            "postOnlyMaxOrderQty": max_qty, "maxMktOrderQty": fmt(step * spec.max_lots * 10),
            "minNotionalValue": _MIN_NOTIONAL[spec.category],
        },
        "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": spec.settle_coin,
        "copyTrading": "none", "upperFundingRate": "0.005", "lowerFundingRate": "-0.005",
        "isPreListing": False, "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
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
            "minOrderQty": fmt(step), "maxOrderQty": fmt(step * spec.max_lots * 100),
            "minOrderAmt": "1", "maxOrderAmt": "2000000",
        },
        "priceFilter": {"tickSize": fmt(spec.tick)},
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
    }  # fmt: skip
