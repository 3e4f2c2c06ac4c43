"""``ledger_differences``: how an ``oms.Ledger`` differs from the state it should hold.

The comparison is the simulator's one comparer (``oms.sim.compare.differences``) against
a model of what the exchange sent (``ReferenceModel``) or of what was delivered
(``DeliveryModel``), given as a truth: every order's report, every fill by execId with
the quantity booked per order, every reported leg's report, the legs known and the nets
their fills add up to.

>>> from oms import Ledger
>>> from oms.testing import session_from_seed
>>> s = session_from_seed(5, actions=8)
>>> ledger = Ledger()
>>> for frame in s.frames:
...     _ = ledger.apply_frame(frame, received_at=0)
>>> ledger_differences(ledger, s.truth)
[]
>>> ledger_differences(Ledger(), s.truth)[0].endswith(": missing")
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oms.sim.compare import differences

if TYPE_CHECKING:
    from oms.sim.compare import Held
    from oms.testing.truth import Expected, FillTruth, OrderTruth, PositionTruth

__all__ = ["ledger_differences"]


def _order(o: OrderTruth) -> dict[str, Any]:
    return {
        "status": o.status, "qty": o.qty, "price": o.price, "triggerPrice": o.trigger_price,
        "cumExecQty": o.cum_exec_qty, "cumExecValue": o.cum_exec_value,
        "cumExecFee": o.cum_exec_fee, "leavesQty": o.leaves_qty, "avgPrice": o.avg_price,
        "symbol": o.symbol, "side": o.side, "positionIdx": o.position_idx,
        "orderLinkId": o.order_link_id, "orderType": o.order_type,
        "stopOrderType": o.stop_order_type,
        "reduceOnly": o.reduce_only, "rejectReason": o.reject_reason,
        "createdTime": o.created_time, "updatedTime": o.updated_time,
    }  # fmt: skip


def _fill(f: FillTruth) -> dict[str, Any]:
    return {
        "orderId": f.order_id, "symbol": f.symbol, "side": f.side, "execType": f.exec_type,
        "execQty": f.exec_qty, "execPrice": f.exec_price, "execFee": f.exec_fee,
        "execTime": f.exec_time, "seq": f.seq,
    }  # fmt: skip


def _position(p: PositionTruth) -> dict[str, Any]:
    return {
        "signedSize": p.net_qty, "size": p.size, "side": p.side, "seq": p.seq,
        "updatedTime": p.updated_time,
    }  # fmt: skip


def truth_of(expected: Expected) -> dict[str, Any]:
    """A model's expected state in the layout ``oms.sim.compare`` compares with."""
    fills = expected.fill_map()
    order_ids = set(expected.order_map()) | {f.order_id for f in fills.values()}
    return {
        "orders": {i: _order(o) for i, o in expected.order_map().items()},
        "executions": {i: _fill(f) for i, f in fills.items()},
        "positions": {f"{s}:{i}": _position(p) for (s, i), p in expected.position_map().items()},
        "legs": {f"{s}:{i}": expected.derived_net(s, i) for s, i in expected.legs()},
        "booked": {i: expected.booked_qty(i) for i in sorted(order_ids)},
    }


def ledger_differences(ledger: Held, expected: Expected) -> list[str]:
    """How ``ledger`` differs from ``expected`` (empty when it holds exactly that state):
    every order's report and the open-order set, every fill and the quantity booked per
    order, each leg's report, the legs known and their fills-derived nets."""
    return differences(ledger, truth_of(expected))
