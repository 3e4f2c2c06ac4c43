"""oms: order and position management for Bybit's v5 private WebSocket stream.

``Account`` is the object to embed (a database, a stream or your frames, queries from
any thread, subscriptions, expectations); ``Ledger`` is the in-memory core it builds on.

>>> from oms import Ledger
>>> ledger = Ledger()
>>> ledger.position("BTCUSDT")
Decimal('0')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from oms import native

# A compiled module built from an older source would run instead of the source: refuse
# (see oms.native).
native.check()

#: Where each public name lives. ``import oms`` loads nothing but this table: a name is
#: imported on first use (PEP 562), so ``import oms.core.states`` costs the standard library
#: only and ``oms --help`` does not pay for SQLAlchemy, pydantic or websocket-client.
_HOMES: dict[str, str] = {
    "Account": "oms.runtime.account",
    "AmbiguousSymbolError": "oms.errors",
    "Anomaly": "oms.core.events",
    "AuthError": "oms.errors",
    "CancelRejected": "oms.core.events",
    "CoreLedger": "oms.core.ledger",
    "Credentials": "oms.bybit.signing",
    "Event": "oms.core.events",
    "EventsDropped": "oms.runtime.publish",
    "ExpectedOrder": "oms.core.expectations",
    "ExpectedOrderRejected": "oms.core.expectations",
    "ExpectedPosition": "oms.core.expectations",
    "Fill": "oms.core.fills",
    "FillBooked": "oms.core.events",
    "FillForUnknownOrder": "oms.core.events",
    "FillQtyMismatched": "oms.core.expectations",
    "FillSource": "oms.core.fills",
    "FillsMissing": "oms.core.events",
    "FrameResult": "oms.bybit.ledger",
    "Health": "oms.runtime.health",
    "IllegalTransition": "oms.core.events",
    "IllegalTransitionError": "oms.errors",
    "Ledger": "oms.bybit.ledger",
    "LegKey": "oms.core.positions",
    "LocalError": "oms.errors",
    "MalformedFrame": "oms.core.events",
    "MalformedFrameError": "oms.errors",
    "OPEN": "oms.core.states",
    "OmsError": "oms.errors",
    "Order": "oms.core.orders",
    "OrderAmended": "oms.core.events",
    "OrderMismatched": "oms.core.expectations",
    "OrderNotAcknowledged": "oms.core.expectations",
    "OrderStatus": "oms.core.states",
    "OrderStatusChanged": "oms.core.events",
    "OrderVanished": "oms.core.events",
    "Outcome": "oms.core.ledger",
    "OverFilled": "oms.core.events",
    "Position": "oms.runtime.health",
    "PositionChanged": "oms.core.events",
    "PositionDiverged": "oms.core.expectations",
    "PositionMismatch": "oms.core.events",
    "PositionMismatchResolved": "oms.core.events",
    "PositionReconverged": "oms.core.expectations",
    "PositionReport": "oms.core.positions",
    "Reconciliation": "oms.core.expectations",
    "ResyncCompleted": "oms.core.events",
    "ResyncScope": "oms.runtime.resync",
    "ResyncStarted": "oms.core.events",
    "Side": "oms.core.orders",
    "StorageError": "oms.errors",
    "StreamGapDetected": "oms.core.events",
    "StreamSettings": "oms.bybit.stream",
    "Subscription": "oms.runtime.publish",
    "TERMINAL": "oms.core.states",
    "UnexpectedOrderSeen": "oms.core.expectations",
}

__all__ = [
    "OPEN",
    "TERMINAL",
    "Account",
    "AmbiguousSymbolError",
    "Anomaly",
    "AuthError",
    "CancelRejected",
    "CoreLedger",
    "Credentials",
    "Event",
    "EventsDropped",
    "ExpectedOrder",
    "ExpectedOrderRejected",
    "ExpectedPosition",
    "Fill",
    "FillBooked",
    "FillForUnknownOrder",
    "FillQtyMismatched",
    "FillSource",
    "FillsMissing",
    "FrameResult",
    "Health",
    "IllegalTransition",
    "IllegalTransitionError",
    "Ledger",
    "LegKey",
    "LocalError",
    "MalformedFrame",
    "MalformedFrameError",
    "OmsError",
    "Order",
    "OrderAmended",
    "OrderMismatched",
    "OrderNotAcknowledged",
    "OrderStatus",
    "OrderStatusChanged",
    "OrderVanished",
    "Outcome",
    "OverFilled",
    "Position",
    "PositionChanged",
    "PositionDiverged",
    "PositionMismatch",
    "PositionMismatchResolved",
    "PositionReconverged",
    "PositionReport",
    "Reconciliation",
    "ResyncCompleted",
    "ResyncScope",
    "ResyncStarted",
    "Side",
    "StorageError",
    "StreamGapDetected",
    "StreamSettings",
    "Subscription",
    "UnexpectedOrderSeen",
    "__version__",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:  # noqa: ANN401 - any public name
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'oms' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # the same names, eagerly, for type checkers and IDEs
    from oms.bybit.ledger import FrameResult, Ledger
    from oms.bybit.signing import Credentials
    from oms.bybit.stream import StreamSettings
    from oms.core.events import (
        Anomaly,
        CancelRejected,
        Event,
        FillBooked,
        FillForUnknownOrder,
        FillsMissing,
        IllegalTransition,
        MalformedFrame,
        OrderAmended,
        OrderStatusChanged,
        OrderVanished,
        OverFilled,
        PositionChanged,
        PositionMismatch,
        PositionMismatchResolved,
        ResyncCompleted,
        ResyncStarted,
        StreamGapDetected,
    )
    from oms.core.expectations import (
        ExpectedOrder,
        ExpectedOrderRejected,
        ExpectedPosition,
        FillQtyMismatched,
        OrderMismatched,
        OrderNotAcknowledged,
        PositionDiverged,
        PositionReconverged,
        Reconciliation,
        UnexpectedOrderSeen,
    )
    from oms.core.fills import Fill, FillSource
    from oms.core.ledger import CoreLedger, Outcome
    from oms.core.orders import Order, Side
    from oms.core.positions import LegKey, PositionReport
    from oms.core.states import OPEN, TERMINAL, OrderStatus
    from oms.errors import (
        AmbiguousSymbolError,
        AuthError,
        IllegalTransitionError,
        LocalError,
        MalformedFrameError,
        OmsError,
        StorageError,
    )
    from oms.runtime.account import Account
    from oms.runtime.health import Health, Position
    from oms.runtime.publish import EventsDropped, Subscription
    from oms.runtime.resync import ResyncScope
