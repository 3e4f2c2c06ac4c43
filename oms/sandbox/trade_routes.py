"""The sandbox's trading REST routes, read from the exchange's live state (so they always
agree with ``Exchange.truth()``), per ``category``: the categories the sandbox trades
(``Exchange.categories``); one it does not trade answers an empty list.

- ``GET /v5/order/realtime``: open orders (``openOnly=0``) or the 500 most recent closed
  ones (``openOnly=1``); ``orderId``/``orderLinkId`` look up any order. Linear needs
  ``symbol``, ``baseCoin`` or ``settleCoin`` (inverse and spot need none). ``limit`` 1-50
  (20). Newest first.
- ``GET /v5/order/history``: every order (open ones too), 7-day window on createdTime;
  Cancelled, Rejected and Deactivated orders without fills only for 24 h. ``orderStatus``,
  ``orderFilter``, ``symbol``/``baseCoin``/``settleCoin`` filters. ``limit`` 1-50 (20).
  Newest first.
- ``GET /v5/execution/list``: 7-day window on execTime (at most 7 days); ``orderId`` or
  ``orderLinkId`` override every other filter. ``limit`` 1-100 (50). Newest first.
- ``GET /v5/position/list``: with ``symbol`` every leg (flat too), with ``settleCoin``
  (or, on inverse, nothing) only legs with size > 0; ``avgPrice`` in place of
  ``entryPrice``. ``limit`` 1-200 (20). Spot has no positions: retCode 10001.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from oms.sandbox.params import (
    DAY_MS,
    ParamError,
    Params,
    category,
    limit,
    page,
    result,
    window,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.sandbox.exchange import Exchange
    from oms.sandbox.model import Element

_TPSL: Final = frozenset({"TakeProfit", "StopLoss", "PartialTakeProfit", "PartialStopLoss"})
_SHORT_LIVED: Final = frozenset({"Cancelled", "Rejected", "Deactivated"})


class TradeRoutes:
    """Orders, executions and positions over REST."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def routes(self) -> dict[str, Callable[[Params], dict[str, object]]]:
        """Path -> handler of each signed GET route."""
        return {
            "/v5/order/realtime": self._order_realtime,
            "/v5/order/history": self._order_history,
            "/v5/execution/list": self._execution_list,
            "/v5/position/list": self._position_list,
        }

    def _order_realtime(self, p: Params) -> dict[str, object]:
        cat = category(p)
        size = limit(p, 20, 50)
        if cat not in self.exchange.categories:
            return result(cat, [], "")
        if cat == "linear" and not (p.get("symbol") or p.get("baseCoin") or p.get("settleCoin")):
            raise ParamError(
                "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin"
            )
        order_id, link_id = p.get("orderId", ""), p.get("orderLinkId", "")
        if order_id or link_id:  # any status: openOnly is ignored
            rows = self.exchange.order_rows("all", cat)
            rows = [r for r in rows if _is_order(r[1], order_id, link_id)]
        else:
            # 2: the recent closed orders as UTA 1.0 and classic accounts ask for inverse
            # ones (the docs of openOnly); oms's client sends it for inverse
            scopes = {"0": "open", "1": "closed", "2": "closed"}
            open_only = p.get("openOnly") or "0"
            if open_only not in scopes:
                raise ParamError(f"openOnly: invalid value {open_only!r}")
            rows = self.exchange.order_rows(scopes[open_only], cat)
        rows = [r for r in rows if self._coin_match(r[1], p) and _order_filter(r[1], p)]
        rows_out, cursor = page(rows, size, p.get("cursor", ""), descending=True)
        return result(cat, rows_out, cursor)

    def _order_history(self, p: Params) -> dict[str, object]:
        cat = category(p)
        size = limit(p, 20, 50)
        if cat not in self.exchange.categories:
            return result(cat, [], "")
        now = self.exchange.now_ms()
        rows = [
            r
            for r in self.exchange.order_rows("all", cat)
            if not (
                r[1]["orderStatus"] in _SHORT_LIVED
                and r[1]["cumExecQty"] == "0"
                and int(str(r[1]["updatedTime"])) < now - DAY_MS
            )
        ]
        order_id, link_id = p.get("orderId", ""), p.get("orderLinkId", "")
        if order_id or link_id:
            rows = [r for r in rows if _is_order(r[1], order_id, link_id)]
        else:
            start, end = window(p, now)
            status = p.get("orderStatus", "")
            rows = [
                r
                for r in rows
                if self._coin_match(r[1], p)
                and _order_filter(r[1], p)
                and (not status or r[1]["orderStatus"] == status)
                and start <= int(str(r[1]["createdTime"])) <= end
            ]
        rows_out, cursor = page(rows, size, p.get("cursor", ""), descending=True)
        return result(cat, rows_out, cursor)

    def _execution_list(self, p: Params) -> dict[str, object]:
        cat = category(p)
        size = limit(p, 50, 100)
        if cat not in self.exchange.categories:
            return result(cat, [], "")
        rows = self.exchange.execution_rows(cat)
        order_id, link_id = p.get("orderId", ""), p.get("orderLinkId", "")
        if order_id or link_id:  # the other filters are ignored
            rows = [r for r in rows if _is_order(r[1], order_id, link_id)]
        else:
            start, end = window(p, self.exchange.now_ms())
            exec_type = p.get("execType", "")
            rows = [
                r
                for r in rows
                if self._coin_match(r[1], p)
                and (not exec_type or r[1]["execType"] == exec_type)
                and start <= int(str(r[1]["execTime"])) <= end
            ]
        rows_out, cursor = page(rows, size, p.get("cursor", ""), descending=True)
        return result(cat, [{**e, "execFeeV2": ""} for e in rows_out], cursor)

    def _position_list(self, p: Params) -> dict[str, object]:
        cat = category(p)
        if cat == "spot":
            raise ParamError("Illegal category: spot has no positions")
        size = limit(p, 20, 200)
        if cat not in self.exchange.categories:
            return result(cat, [], "")
        symbol, settle = p.get("symbol", ""), p.get("settleCoin", "")
        if cat == "linear" and not symbol and not settle:
            raise ParamError("Missing some parameters that must be filled in, symbol or settleCoin")
        rows = self.exchange.position_rows(cat)
        if symbol:  # every leg of the symbol, flat ones too
            rows = [r for r in rows if r[1]["symbol"] == symbol and self._coin_match(r[1], p)]
        else:
            rows = [r for r in rows if r[1]["size"] != "0" and self._coin_match(r[1], p)]
        rows_out, cursor = page(rows, size, p.get("cursor", ""), descending=False)
        return result(cat, rows_out, cursor)

    def _coin_match(self, row: Element, p: Params) -> bool:
        symbol = str(row["symbol"])
        spec = self.exchange.spec(symbol, str(row["category"]))
        if spec is None:
            return False
        return (
            p.get("symbol", symbol) in ("", symbol)
            and p.get("baseCoin", spec.base_coin) in ("", spec.base_coin)
            and p.get("settleCoin", spec.settle_coin) in ("", spec.settle_coin)
        )


def _is_order(row: Element, order_id: str, link_id: str) -> bool:
    if order_id:
        return row["orderId"] == order_id
    return row["orderLinkId"] == link_id


def _order_filter(row: Element, p: Params) -> bool:
    wanted = p.get("orderFilter", "")
    stop = row["stopOrderType"]
    if not wanted:
        return True
    if wanted == "Order":
        return stop == ""
    if wanted == "StopOrder":
        return stop == "Stop"
    if wanted == "tpslOrder":
        return stop in _TPSL
    if wanted in ("OcoOrder", "BidirectionalTpslOrder"):
        return False
    raise ParamError(f"orderFilter: invalid value {wanted!r}")
