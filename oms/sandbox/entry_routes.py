"""Order entry over any transport: the decoded body of one request -> its ``Outcome``.

REST (``POST /v5/<route>``) and the WebSocket trade ops (``order.create`` ->
``order/create``) both come here, so they share one rate budget and one set of rules.
What Bybit does with one op is ``oms.sim.entry.OrderEntry`` (through ``Exchange``, under
its lock, frames flushed before the answer); this module adds what the transport does:

- the body must be a JSON object with a string ``category`` (else 10001);
- the rate budget of the route and category (``oms.sandbox.limits``): 10006 "Too many
  visits!" when it is spent, not executed;
- batches (``order/create-batch``, ``amend-batch``, ``cancel-batch``): ``request`` a list
  of 1-20 orders (1-10 on spot), each run through the single op and answered in two
  parallel lists under a top-level retCode 0: ``result.list`` (``category``, ``symbol``,
  ``orderId``, ``orderLinkId``, and ``createAt`` on create-batch; ``orderId`` ``""`` for a
  failed item) and ``retExtInfo.list`` (``code``, ``msg``). Items beyond the remaining
  budget fail with 10006 each. Batch amend does not take conditional orders (Bybit's
  docs): such an item fails with 10001.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from oms.sim.entry import Refused

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from oms.sandbox.exchange import Exchange
    from oms.sandbox.limits import Grant, RateLimits

__all__ = ["BATCHES", "SINGLE", "EntryRoutes", "Outcome"]

log = logging.getLogger(__name__)

#: route (without ``/v5/``) -> the ``Exchange`` op of a single request
SINGLE: Final = {
    "order/create": "create",
    "order/amend": "amend",
    "order/cancel": "cancel",
    "order/cancel-all": "cancel_all",
    "position/trading-stop": "trading_stop",
}
#: batch route -> the single op each of its items goes through
BATCHES: Final = {
    "order/create-batch": "create",
    "order/amend-batch": "amend",
    "order/cancel-batch": "cancel",
}
#: the most orders one batch may hold, per category (20 on every other category)
_BATCH_MAX: Final = {"spot": 10}
_DEFAULT_BATCH_MAX: Final = 20
TOO_MANY: Final = (10006, "Too many visits!")


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to one order-entry request, transport-neutral: the REST envelope's
    ``retCode``/``retMsg``/``result``/``retExtInfo`` (the WS reply's ``data`` is
    ``result``), and the rate-limit grant its headers come from (None when the request
    was refused before it was counted)."""

    code: int
    message: str
    result: dict[str, object] = field(default_factory=dict)
    ext: dict[str, object] = field(default_factory=dict)
    grant: Grant | None = None


class EntryRoutes:
    """The order-entry routes over an ``Exchange`` and a shared ``RateLimits``."""

    def __init__(self, exchange: Exchange, limits: RateLimits) -> None:
        self.exchange = exchange
        self.limits = limits

    @staticmethod
    def handles(route: str) -> bool:
        """Whether ``route`` (``order/create``...) is an order-entry route."""
        return route in SINGLE or route in BATCHES

    def call(self, route: str, body: object) -> Outcome:
        """Answer one request to ``route`` whose JSON-decoded body is ``body``."""
        checked = _category(body)
        if isinstance(checked, Outcome):
            return checked
        category, body = checked
        if route in BATCHES:
            return self._batch(route, category, body)
        grant = self.limits.take(route, category)
        if grant.refused:
            return Outcome(*TOO_MANY, grant=grant)
        try:
            result = self._op(SINGLE[route])(category, body)
        except Refused as refused:
            return Outcome(refused.code, refused.message, grant=grant)
        return Outcome(0, "OK", dict(result), grant=grant)

    def _op(self, name: str) -> Callable[[str, Mapping[str, object]], Mapping[str, object]]:
        op: Callable[[str, Mapping[str, object]], Mapping[str, object]] = getattr(
            self.exchange, name
        )
        return op

    def _batch(self, route: str, category: str, body: dict[str, object]) -> Outcome:
        items = body.get("request")
        if not isinstance(items, list) or not items:
            return Outcome(10001, "params error: request must be a non-empty list of orders")
        if not all(isinstance(item, dict) for item in items):
            return Outcome(10001, "params error: every item of request must be an object")
        top = _BATCH_MAX.get(category, _DEFAULT_BATCH_MAX)
        if len(items) > top:
            message = f"params error: a batch holds at most {top} orders on {category}"
            return Outcome(10001, f"{message}, not {len(items)}")
        grant = self.limits.take(route, category, len(items), partial=True)
        if grant.refused:
            return Outcome(*TOO_MANY, grant=grant)
        op = BATCHES[route]
        rows: list[dict[str, object]] = []
        codes: list[dict[str, object]] = []
        with self.exchange.lock:  # the items run one after the other, nothing between
            for n, item in enumerate(items):
                code, message, row = self._item(op, category, item, granted=n < grant.granted)
                rows.append(row)
                codes.append({"code": code, "msg": message})
        return Outcome(0, "OK", {"list": rows}, {"list": codes}, grant)

    def _item(
        self, op: str, category: str, item: dict[str, object], *, granted: bool
    ) -> tuple[int, str, dict[str, object]]:
        """One batch item: (code, msg, its ``result.list`` row)."""
        code, message, result = *TOO_MANY, None
        if granted and op == "amend" and self.exchange.is_conditional(category, item):
            code, message = 10001, "params error: batch amend takes no conditional order"
        elif granted:
            try:
                result = self._op(op)(category, item)
                code, message = 0, "OK"
            except Refused as refused:
                code, message = refused.code, refused.message
        symbol, link = item.get("symbol"), item.get("orderLinkId")
        row: dict[str, object] = {
            "category": category,
            "symbol": symbol if isinstance(symbol, str) else "",
            "orderId": "",
            "orderLinkId": link if isinstance(link, str) else "",
        }
        if result is not None:
            row["orderId"] = result.get("orderId", "")
            row["orderLinkId"] = result.get("orderLinkId", row["orderLinkId"])
        if op == "create":
            order_id = str(row["orderId"])
            row["createAt"] = str(self.exchange.created_at(order_id)) if order_id else ""
        return code, message, row


def _category(body: object) -> tuple[str, dict[str, object]] | Outcome:
    """(category, body) of a request body that is an object with a string category;
    else the 10001 refusal."""
    if not isinstance(body, dict):
        return Outcome(10001, "params error: the request body must be a JSON object")
    category = body.get("category")
    if category is None or category == "":
        return Outcome(10001, "params error: category is required")
    if not isinstance(category, str):
        return Outcome(10001, f"params error: Illegal category {category!r}")
    return category, body
