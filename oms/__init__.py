"""oms: order and position management for Bybit's v5 private WebSocket stream.

>>> from oms import Ledger
>>> ledger = Ledger()
>>> ledger.position("BTCUSDT")
Decimal('0')
"""

from oms.bybit.ledger import FrameResult, Ledger
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
from oms.core.fills import Fill, FillSource
from oms.core.ledger import CoreLedger, Outcome
from oms.core.orders import Order, Side
from oms.core.positions import LegKey, PositionReport
from oms.core.states import OPEN, TERMINAL, OrderStatus
from oms.errors import IllegalTransitionError, MalformedFrameError, OmsError

__all__ = [
    "OPEN",
    "TERMINAL",
    "Anomaly",
    "CancelRejected",
    "CoreLedger",
    "Event",
    "Fill",
    "FillBooked",
    "FillForUnknownOrder",
    "FillSource",
    "FillsMissing",
    "FrameResult",
    "IllegalTransition",
    "IllegalTransitionError",
    "Ledger",
    "LegKey",
    "MalformedFrame",
    "MalformedFrameError",
    "OmsError",
    "Order",
    "OrderAmended",
    "OrderStatus",
    "OrderStatusChanged",
    "OrderVanished",
    "Outcome",
    "OverFilled",
    "PositionChanged",
    "PositionMismatch",
    "PositionMismatchResolved",
    "PositionReport",
    "ResyncCompleted",
    "ResyncStarted",
    "Side",
    "StreamGapDetected",
    "__version__",
]

__version__ = "0.1.0"
