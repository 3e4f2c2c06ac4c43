"""The venue's truth: its exact state as plain JSON-ready data, in the layout of the
recorded ``sample-truth.json`` (wire names, decimal text), which ``oms.sim.compare``
compares a ledger with.

- ``orders``: orderId -> status, qty, price, triggerPrice, cumExecQty, cumExecValue,
  cumExecFee, leavesQty, avgPrice, and the order's category, terms and times;
- ``executions``: execId -> orderId, orderLinkId, execQty, execPrice, execType, execFee,
  execTime, seq, category, side, symbol, isMaker, closedSize; ``exec_ids``: the execIds
  sorted (spot fills among them);
- ``positions``: one entry per leg, keyed by (category, symbol, positionIdx) written as
  ``SYMBOL:idx`` for linear (the recorded layout) and ``category:SYMBOL:idx`` otherwise
  (``position_key``) -> category, symbol, positionIdx, signedSize, side, size,
  entryPrice and seq (the symbol's last trade) of every leg, flat ones too; spot has no
  position, so no entry;
- ``status_sequences``: orderId -> every status pushed, in order;
- ``balances`` (when the account trades more than linear): coin -> walletBalance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oms.sim.records import ZERO
from oms.sim.specs import instrument_key
from oms.sim.wire import avg_price, fmt

if TYPE_CHECKING:
    from collections.abc import Iterable

    from oms.sim.records import Execution, Leg, Order

__all__ = ["account_truth", "position_key"]


def position_key(category: str, symbol: str, position_idx: int) -> str:
    """A position's key in the truth: ``SYMBOL:idx`` for linear, else
    ``category:SYMBOL:idx``.

    >>> position_key("linear", "BTCUSDT", 0), position_key("inverse", "BTCUSD", 0)
    ('BTCUSDT:0', 'inverse:BTCUSD:0')
    """
    return f"{instrument_key(category, symbol)}:{position_idx}"


def order_truth(o: Order) -> dict[str, Any]:
    """One order's entry of the truth."""
    return {
        "status": o.status, "cumExecQty": fmt(o.cum_qty),
        "leavesQty": fmt(o.leaves if o.is_open else ZERO), "avgPrice": avg_price(o),
        "cumExecFee": fmt(o.cum_fee), "cumExecValue": fmt(o.cum_value), "symbol": o.symbol,
        "side": o.side, "positionIdx": o.leg.idx, "qty": fmt(o.qty), "price": fmt(o.price),
        "triggerPrice": fmt(o.trigger), "orderType": o.order_type,
        "stopOrderType": o.stop_type, "timeInForce": o.tif, "orderLinkId": o.link_id,
        "createdTime": str(o.created), "updatedTime": str(o.updated),
        "reduceOnly": o.reduce_only, "cancelType": o.cancel_type,
        "rejectReason": o.reject_reason, "category": o.category,
    }  # fmt: skip


def execution_truth(e: Execution) -> dict[str, Any]:
    """One execution's entry of the truth."""
    return {
        "orderId": e.order_id, "orderLinkId": e.link_id, "execQty": fmt(e.qty),
        "execPrice": fmt(e.price), "execType": e.exec_type, "execFee": fmt(e.fee),
        "execTime": str(e.time), "seq": e.seq, "side": e.side, "symbol": e.symbol,
        "isMaker": e.maker, "closedSize": fmt(e.closed), "category": e.category,
    }  # fmt: skip


def leg_truth(leg: Leg) -> dict[str, Any]:
    """One leg's entry of the truth."""
    return {
        "category": leg.market.spec.category,
        "symbol": leg.market.spec.symbol,
        "positionIdx": leg.idx,
        "signedSize": fmt(leg.net),
        "side": "" if not leg.net else ("Buy" if leg.net > 0 else "Sell"),
        "size": fmt(abs(leg.net)),
        "entryPrice": fmt(leg.entry),
        "seq": leg.market.last_seq,
    }


def account_truth(
    orders: Iterable[Order], executions: Iterable[Execution], legs: Iterable[Leg]
) -> dict[str, Any]:
    """The account's truth (see the module docstring)."""
    orders = list(orders)
    by_exec = {e.exec_id: execution_truth(e) for e in executions}
    return {
        "orders": {o.order_id: order_truth(o) for o in orders},
        "executions": by_exec,
        "exec_ids": sorted(by_exec),
        "positions": {leg.key: leg_truth(leg) for leg in legs},
        "status_sequences": {o.order_id: list(o.history) for o in orders},
    }
