"""Constants of the generated wire and the symbols a simulated account trades.

>>> from oms.testing import DEFAULT_SYMBOLS
>>> [(s.symbol, s.legs) for s in DEFAULT_SYMBOLS]
[('BTCUSDT', (0,)), ('ETHUSDT', (1, 2)), ('DOGEUSDT', (0,)), ('SOLUSDT', (1, 2))]
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

__all__ = [
    "CANCEL_RACE_REASON",
    "CATEGORY",
    "DEFAULT_SYMBOLS",
    "T0",
    "TERMINAL_STATUSES",
    "TPSL_STOP_ORDER_TYPES",
    "SymbolSpec",
]

#: The first exchange timestamp of a session (2024-06-01 00:00 UTC, in milliseconds).
T0: Final = 1_717_200_000_000
#: The product category of every generated frame.
CATEGORY: Final = "linear"
#: Order statuses after which an order never changes (Bybit spelling).
TERMINAL_STATUSES: Final = frozenset(
    {"Filled", "Cancelled", "Rejected", "PartiallyFilledCanceled", "Deactivated"}
)
#: stopOrderType of the TP/SL orders Bybit creates (orderLinkId "", reduce-only).
TPSL_STOP_ORDER_TYPES: Final = ("TakeProfit", "StopLoss", "PartialTakeProfit", "PartialStopLoss")
#: rejectReason of the second ``Filled`` Bybit sends when a cancel raced the final fill.
CANCEL_RACE_REASON: Final = "EC_OrigClOrdIDDoesNotExist"


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A linear perpetual: its name, position mode, quantity step, tick and start price.

    >>> from decimal import Decimal
    >>> SymbolSpec("XRPUSDT", hedge=True, qty_step=Decimal(1), tick=Decimal("0.0001"),
    ...            price=Decimal("0.5")).legs
    (1, 2)
    """

    symbol: str
    #: Hedge mode (legs positionIdx 1 long and 2 short) or one-way (positionIdx 0).
    hedge: bool
    qty_step: Decimal
    tick: Decimal
    #: The mark price the session starts from.
    price: Decimal

    @property
    def legs(self) -> tuple[int, ...]:
        """The positionIdx values of this symbol's legs."""
        return (1, 2) if self.hedge else (0,)


#: Two one-way and two hedge-mode symbols with Bybit's real steps and ticks.
DEFAULT_SYMBOLS: Final = (
    SymbolSpec("BTCUSDT", hedge=False, qty_step=Decimal("0.001"), tick=Decimal("0.1"),
               price=Decimal(65000)),
    SymbolSpec("ETHUSDT", hedge=True, qty_step=Decimal("0.01"), tick=Decimal("0.01"),
               price=Decimal(3400)),
    SymbolSpec("DOGEUSDT", hedge=False, qty_step=Decimal(1), tick=Decimal("0.00001"),
               price=Decimal("0.16")),
    SymbolSpec("SOLUSDT", hedge=True, qty_step=Decimal("0.1"), tick=Decimal("0.01"),
               price=Decimal(150)),
)  # fmt: skip
