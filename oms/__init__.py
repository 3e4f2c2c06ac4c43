"""oms: order and position management for Bybit's v5 private WebSocket stream.

``Account`` is the object to embed (a database, a stream or your frames, queries from
any thread, subscriptions, expectations); ``Ledger`` is the in-memory core it builds on.

>>> from oms import Ledger
>>> ledger = Ledger()
>>> ledger.position("BTCUSDT")
Decimal('0')
"""

from oms.account import Account, Health, Position
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
    AuthError,
    IllegalTransitionError,
    LocalError,
    MalformedFrameError,
    OmsError,
    StorageError,
)
from oms.live import ResyncScope
from oms.publish import EventsDropped, Subscription

__all__ = [
    "OPEN",
    "TERMINAL",
    "Account",
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
