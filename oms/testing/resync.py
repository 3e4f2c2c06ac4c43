"""What a REST resync would fetch at the end of a session, as the ledger's snapshot type.

A lost frame is lost for good: Bybit never replays what a client missed. After losses a
correct consumer holds only what was delivered (``DeliveryModel``); a resync then brings
it to the exchange's truth. ``venue_snapshot(frames)`` is the complete snapshot such a
resync would return after the session (every order's final report, every execution, each
leg's newest report), for ``oms.core.reconcile.reconcile``.

>>> from oms import Ledger
>>> from oms.core.reconcile import reconcile
>>> from oms.testing import ledger_differences, session_from_seed
>>> s = session_from_seed(11, actions=10)
>>> ledger = Ledger()
>>> for frame in s.frames[::2]:          # every other frame lost
...     _ = ledger.apply_frame(frame, received_at=0)
>>> ledger_differences(ledger, s.truth) != []
True
>>> _ = reconcile(ledger, venue_snapshot(s.frames), received_at=0)
>>> ledger_differences(ledger, s.truth)
[]
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from oms.bybit.messages import ExecutionMsg, OrderMsg, PositionMsg
from oms.bybit.translate import fill_from, order_from, position_from
from oms.core.fills import FillSource
from oms.core.reconcile import VenueSnapshot
from oms.testing.truth import OrderTruth

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["venue_snapshot"]


def venue_snapshot(frames: Iterable[str], *, taken_at: int | None = None) -> VenueSnapshot:
    """The REST view after ``frames`` (all a session's frames, in the order sent): each
    order's newest genuine report (a cancel-race echo is not one), every ``execution``
    (as a REST fill), and each leg's newest position report. ``taken_at`` defaults to the
    last frame's creationTime.

    It is complete, which Bybit's REST is not quite (closed orders are kept for a limited
    time): a test of a real resync's gaps needs its own snapshot.
    """
    orders: dict[str, dict[str, Any]] = {}
    fills: dict[str, dict[str, Any]] = {}
    positions: dict[tuple[str, int], dict[str, Any]] = {}
    last = 0
    for frame in frames:
        tree = json.loads(frame)
        last = max(last, int(tree["creationTime"]))
        for e in tree["data"]:
            if tree["topic"] == "order":
                if not OrderTruth.from_wire(e).is_cancel_race_echo:
                    orders[e["orderId"]] = e
            elif tree["topic"] == "execution":
                fills[e["execId"]] = e
            elif tree["topic"] == "position":
                positions[e["symbol"], e["positionIdx"]] = e
    return VenueSnapshot(
        orders=tuple(order_from(OrderMsg.model_validate(e)) for e in orders.values()),
        fills=tuple(
            fill_from(ExecutionMsg.model_validate(e), FillSource.REST) for e in fills.values()
        ),
        positions=tuple(position_from(PositionMsg.model_validate(e)) for e in positions.values()),
        vanished=(),
        taken_at=last if taken_at is None else taken_at,
    )
