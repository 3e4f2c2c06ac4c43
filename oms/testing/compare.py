"""``ledger_differences``: how an ``oms.Ledger`` differs from the state it should hold.

>>> from oms import Ledger
>>> from oms.testing import session_from_seed
>>> s = session_from_seed(5, actions=8)
>>> ledger = Ledger()
>>> for frame in s.frames:
...     _ = ledger.apply_frame(frame, received_at=0)
>>> ledger_differences(ledger, s.truth)
[]
>>> ledger_differences(Ledger(), s.truth)[0][:10]
'order ids:'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from oms.bybit.ledger import Ledger
    from oms.testing.truth import Expected, OrderTruth

__all__ = ["ledger_differences"]


def _order_differences(ledger: Ledger, want_orders: Mapping[str, OrderTruth]) -> list[str]:
    out: list[str] = []
    got_orders = {o.order_id: o for o in ledger.orders()}
    if set(got_orders) != set(want_orders):
        extra, missing = set(got_orders) - set(want_orders), set(want_orders) - set(got_orders)
        out.append(f"order ids: extra {sorted(extra)}, missing {sorted(missing)}")
    for order_id, want in want_orders.items():
        got = got_orders.get(order_id)
        if got is None:
            continue
        pairs = {
            "status": (got.status.value, want.status),
            "cum_exec_qty": (got.cum_exec_qty, want.cum_exec_qty),
            "leaves_qty": (got.leaves_qty, want.leaves_qty),
            "avg_price": (got.avg_price, want.avg_price),
            "qty": (got.qty, want.qty),
            "price": (got.price, want.price),
            "trigger_price": (got.trigger_price, want.trigger_price),
            "updated_time": (got.updated_time, want.updated_time),
            "created_time": (got.created_time, want.created_time),
            "side": (got.side.value, want.side),
            "position_idx": (got.position_idx, want.position_idx),
            "order_link_id": (got.order_link_id, want.order_link_id),
            "reject_reason": (got.reject_reason, want.reject_reason),
        }
        out.extend(
            f"order {order_id} {name}: got {g!r}, want {w!r}"
            for name, (g, w) in pairs.items()
            if g != w
        )
    got_open = {o.order_id for o in ledger.open_orders()}
    want_open = {i for i, o in want_orders.items() if o.is_open}
    if got_open != want_open:
        out.append(f"open orders: got {sorted(got_open)}, want {sorted(want_open)}")
    return out


def _fill_differences(ledger: Ledger, expected: Expected) -> list[str]:
    out: list[str] = []
    want_fills = expected.fill_map()
    got_fills = {f.exec_id: f for f in ledger.fills()}
    if len(got_fills) != len(ledger.fills()):
        out.append("an execId is booked twice")
    if set(got_fills) != set(want_fills):
        extra, missing = set(got_fills) - set(want_fills), set(want_fills) - set(got_fills)
        out.append(f"exec ids: extra {sorted(extra)}, missing {sorted(missing)}")
    for exec_id, w in want_fills.items():
        g = got_fills.get(exec_id)
        if g is None:
            continue
        got_row = (g.order_id, g.side.value, g.exec_type, g.exec_qty, g.exec_price, g.exec_fee,
                   g.exec_time, g.seq)  # fmt: skip
        want_row = (w.order_id, w.side, w.exec_type, w.exec_qty, w.exec_price, w.exec_fee,
                    w.exec_time, w.seq)  # fmt: skip
        if got_row != want_row:
            out.append(f"fill {exec_id}: got {got_row}, want {want_row}")
    order_ids = set(expected.order_map()) | {f.order_id for f in want_fills.values()}
    out.extend(
        f"booked qty of {i}: got {ledger.booked_qty(i)}, want {expected.booked_qty(i)}"
        for i in sorted(order_ids)
        if ledger.booked_qty(i) != expected.booked_qty(i)
    )
    return out


def _position_differences(ledger: Ledger, expected: Expected) -> list[str]:
    out: list[str] = []
    want_positions = expected.position_map()
    got_positions = {(p.symbol, p.position_idx): p for p in ledger.position_reports()}
    if set(got_positions) != set(want_positions):
        out.append(f"reported legs: got {sorted(got_positions)}, want {sorted(want_positions)}")
    for key, w in want_positions.items():
        g = got_positions.get(key)
        if g is None:
            continue
        got_row = (g.net_qty, g.size, g.side.value if g.side else "", g.seq, g.updated_time)
        want_row = (w.net_qty, w.size, w.side, w.seq, w.updated_time)
        if got_row != want_row:
            out.append(f"position {key}: got {got_row}, want {want_row}")
    got_legs = {(k.symbol, k.position_idx): leg for k, leg in ledger.legs().items()}
    if set(got_legs) != set(expected.legs()):
        out.append(f"legs: got {sorted(got_legs)}, want {sorted(expected.legs())}")
    out.extend(
        f"derived net {key}: got {leg.derived_net}, want {expected.derived_net(*key)}"
        for key, leg in sorted(got_legs.items())
        if leg.derived_net != expected.derived_net(*key)
    )
    return out


def ledger_differences(ledger: Ledger, expected: Expected) -> list[str]:
    """How ``ledger`` differs from ``expected`` (empty when it holds exactly that state):
    every order's report and the open-order set, every fill and the quantity booked per
    order, each leg's report, the legs known and their fills-derived nets."""
    return [
        *_order_differences(ledger, expected.order_map()),
        *_fill_differences(ledger, expected),
        *_position_differences(ledger, expected),
    ]
