"""``differences(held, truth)``: every way a ledger's state differs from a truth.

The one comparer of state against truth, for the demo, the sandbox's tests and
``oms.testing`` alike. ``held`` is anything with the ledger's queries (``oms.Ledger``, a
``CoreLedger`` restored from a database); ``truth`` is in the layout of
``oms.sim.truth`` (the sandbox's ``truth()``, the recorded ``sample-truth.json``, or a
model of what was delivered):

- ``orders``: the same orderIds, each order's status, qty, price, triggerPrice,
  cumExecQty, cumExecValue, cumExecFee, leavesQty and avgPrice, its side, positionIdx,
  symbol, orderLinkId, order and stop types, reduceOnly, rejectReason and times (not
  timeInForce: the store does not keep it), and the open orders
  exactly the non-terminal ones;
- ``executions``: the same execIds, each booked once, with orderId, orderLinkId,
  category, symbol, side, execType, execQty, execPrice, execFee, execTime, seq, isMaker
  and closedSize;
- ``positions``, keyed by (category, symbol, positionIdx) as ``oms.sim.truth.position_key``
  writes it (``SYMBOL:idx`` for linear, ``category:SYMBOL:idx`` otherwise): every leg's
  signed net, size, side and entry price (a leg the ledger holds no report of is flat),
  and no other leg reported; when an entry gives the report's ``updatedTime``, that
  report itself (its seq and time) must be held. Spot has no positions; its fills are
  compared with the other executions;
- optionally ``legs`` (the same keys -> the net its fills add up to: exactly the legs
  the ledger knows) and ``booked`` (orderId -> quantity of its position-changing fills).

A field an entry leaves out is not compared (a recorded truth may lack some). Values
compare as the wire means them: enums by value, decimals by value (text or
``Decimal``), ``""``/None as absent, which equals zero.

>>> differences(_Empty(), {"orders": {"o1": {"status": "Filled"}}, "executions": {},
...                        "positions": {"BTCUSDT:0": {"signedSize": "0.5"}}})
['order o1: missing', 'position BTCUSDT:0: net 0 != 0.5']
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final, Protocol

from oms.sim.specs import CATEGORY, TERMINAL_STATUSES
from oms.sim.truth import position_key

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["Held", "differences"]

#: Order fields compared: (truth key, attribute of the held order).
ORDER_FIELDS: Final = (
    ("status", "status"), ("qty", "qty"), ("price", "price"),
    ("triggerPrice", "trigger_price"), ("cumExecQty", "cum_exec_qty"),
    ("cumExecValue", "cum_exec_value"), ("cumExecFee", "cum_exec_fee"),
    ("leavesQty", "leaves_qty"), ("avgPrice", "avg_price"), ("symbol", "symbol"),
    ("side", "side"), ("positionIdx", "position_idx"), ("orderLinkId", "order_link_id"),
    ("orderType", "order_type"), ("stopOrderType", "stop_order_type"),
    ("reduceOnly", "reduce_only"), ("category", "category"),
    ("rejectReason", "reject_reason"), ("createdTime", "created_time"),
    ("updatedTime", "updated_time"),
)  # fmt: skip
#: Execution fields compared: (truth key, attribute of the booked fill).
FILL_FIELDS: Final = (
    ("orderId", "order_id"), ("orderLinkId", "order_link_id"), ("category", "category"),
    ("symbol", "symbol"),
    ("side", "side"), ("execType", "exec_type"), ("execQty", "exec_qty"),
    ("execPrice", "exec_price"), ("execFee", "exec_fee"), ("execTime", "exec_time"),
    ("seq", "seq"), ("isMaker", "is_maker"), ("closedSize", "closed_size"),
)  # fmt: skip
#: Position-report fields compared: (truth key, attribute of the held report).
REPORT_FIELDS: Final = (("size", "size"), ("side", "side"), ("entryPrice", "entry_price"))
#: ... and, when the truth gives the report's updatedTime, these too.
HELD_REPORT_FIELDS: Final = (("seq", "seq"), ("updatedTime", "updated_time"))


class Held(Protocol):
    """The queries the comparer asks (``oms.Ledger`` and ``CoreLedger`` have them)."""

    def orders(self) -> Sequence[Any]: ...
    def open_orders(self) -> Sequence[Any]: ...
    def fills(self) -> Sequence[Any]: ...
    def position_reports(self) -> Sequence[Any]: ...
    def legs(self) -> Mapping[Any, Any]: ...
    def booked_qty(self, order_id: str) -> Decimal: ...


def differences(held: Held, truth: Mapping[str, Any]) -> list[str]:
    """Every way ``held`` differs from ``truth`` (see the module docstring); empty when
    it holds exactly that state."""
    diffs = _order_differences(held, truth["orders"])
    diffs += _fill_differences(held, truth["executions"])
    diffs += _position_differences(held, truth["positions"])
    if "legs" in truth:
        diffs += _leg_differences(held, truth["legs"])
    booked = truth.get("booked", {})
    diffs += [
        f"booked qty of {i}: {held.booked_qty(i)} != {want}"
        for i, want in booked.items()
        if not _same(held.booked_qty(i), want)
    ]
    return diffs


def _order_differences(held: Held, wanted: Mapping[str, Any]) -> list[str]:
    got = {o.order_id: o for o in held.orders()}
    diffs = [f"order {i}: missing" for i in wanted if i not in got]
    diffs += [f"order {i}: not on the exchange" for i in sorted(set(got) - set(wanted))]
    for order_id, want in wanted.items():
        if order_id in got:
            diffs += _fields(f"order {order_id}", got[order_id], want, ORDER_FIELDS)
    open_ids = {o.order_id for o in held.open_orders()}
    want_open = {i for i, o in wanted.items() if o.get("status", "New") not in TERMINAL_STATUSES}
    if open_ids != want_open:
        diffs.append(f"open orders: {sorted(open_ids)} != {sorted(want_open)}")
    return diffs


def _fill_differences(held: Held, wanted: Mapping[str, Any]) -> list[str]:
    fills = held.fills()
    got = {f.exec_id: f for f in fills}
    diffs = [] if len(got) == len(fills) else ["an execId is booked twice"]
    diffs += [f"execution {i}: missing" for i in sorted(set(wanted) - set(got))]
    diffs += [f"execution {i}: not on the exchange" for i in sorted(set(got) - set(wanted))]
    for exec_id, want in wanted.items():
        if exec_id in got:
            diffs += _fields(f"execution {exec_id}", got[exec_id], want, FILL_FIELDS)
    return diffs


def _position_differences(held: Held, wanted: Mapping[str, Any]) -> list[str]:
    reports = {_key(p): p for p in held.position_reports()}
    diffs = [f"position {k}: not on the exchange" for k in sorted(set(reports) - set(wanted))]
    for key, want in wanted.items():
        got = reports.get(key)
        if got is None:
            if "updatedTime" in want:
                diffs.append(f"position {key}: missing")
            elif not _same(None, want["signedSize"]):
                diffs.append(f"position {key}: net 0 != {want['signedSize']}")
            continue
        if not _same(got.net_qty, want["signedSize"]):
            diffs.append(f"position {key}: net {got.net_qty} != {want['signedSize']}")
        diffs += _fields(f"position {key}", got, want, REPORT_FIELDS)
        if "updatedTime" in want:
            diffs += _fields(f"position {key}", got, want, HELD_REPORT_FIELDS)
    return diffs


def _leg_differences(held: Held, wanted: Mapping[str, Any]) -> list[str]:
    legs = {_key(k): leg for k, leg in held.legs().items()}
    if set(legs) != set(wanted):
        return [f"legs: {sorted(legs)} != {sorted(wanted)}"]
    return [
        f"derived net {key}: {legs[key].derived_net} != {want}"
        for key, want in sorted(wanted.items())
        if not _same(legs[key].derived_net, want)
    ]


class _Keyed(Protocol):
    """A held position report or leg key."""

    @property
    def symbol(self) -> str: ...
    @property
    def position_idx(self) -> int: ...


def _key(held: _Keyed) -> str:
    """The truth's key of a held report or leg key (a held value without a category is
    linear's, as the recorded stream is)."""
    category = _shown(getattr(held, "category", None)) or CATEGORY
    return position_key(str(category), held.symbol, held.position_idx)


def _fields(
    what: str, got: object, want: Mapping[str, Any], fields: Sequence[tuple[str, str]]
) -> list[str]:
    return [
        f"{what}: {key} {_shown(getattr(got, attr))} != {want[key]!r}"
        for key, attr in fields
        if key in want and not _same(getattr(got, attr), want[key])
    ]


def _shown(value: object) -> object:
    return getattr(value, "value", value)


def _number(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None


def _same(mine: object, theirs: object) -> bool:
    """Equal as the wire means it: enums by value, decimals and times by value (text,
    ``int`` or ``Decimal``), ``""`` and None as absent, which equals zero."""
    mine = _shown(mine)
    if isinstance(mine, bool) or isinstance(theirs, bool):
        return mine == theirs
    if isinstance(mine, str) and isinstance(theirs, str):
        return mine == theirs
    a, b = _number(mine), _number(theirs)
    if (a is None and mine not in (None, "")) or (b is None and theirs not in (None, "")):
        return mine == theirs  # not numbers at all: None against "Buy"
    return (a or 0) == (b or 0)


class _Empty:
    """A ledger that holds nothing (for the example above)."""

    def orders(self) -> list[Any]:
        return []

    def open_orders(self) -> list[Any]:
        return []

    def fills(self) -> list[Any]:
        return []

    def position_reports(self) -> list[Any]:
        return []

    def legs(self) -> dict[Any, Any]:
        return {}

    def booked_qty(self, _order_id: str) -> Decimal:
        return Decimal(0)
