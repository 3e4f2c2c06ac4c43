"""What the simulated account trades: symbols, their steps and ticks, and the venue's rates.

One ``SymbolSpec`` serves every driver of the simulator (the benchmark, the sandbox and
``oms.testing``); ``CATALOGUE`` holds the six linear perpetuals they trade, three in
one-way mode and three in hedge mode, with Bybit's real steps and ticks.

>>> CATALOGUE["ETHUSDT"].legs, CATALOGUE["BTCUSDT"].legs
((1, 2), (0,))
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

__all__ = [
    "CANCEL_RACE_REASON",
    "CATALOGUE",
    "CATEGORY",
    "DEFAULT_SYMBOLS",
    "T0",
    "TERMINAL_STATUSES",
    "TPSL_STOP_ORDER_TYPES",
    "SymbolSpec",
]

D = Decimal
#: The first exchange timestamp of a simulated account (2024-06-01 00:00 UTC, in ms).
T0: Final = 1_717_200_000_000
#: The product category of every simulated frame.
CATEGORY: Final = "linear"
#: Order statuses after which an order never changes (Bybit spelling).
TERMINAL_STATUSES: Final = frozenset(
    {"Filled", "Cancelled", "Rejected", "PartiallyFilledCanceled", "Deactivated", "Active"}
)
#: stopOrderType of the TP/SL orders Bybit creates (orderLinkId "", reduce-only).
TPSL_STOP_ORDER_TYPES: Final = ("TakeProfit", "StopLoss", "PartialTakeProfit", "PartialStopLoss")
#: rejectReason of the second ``Filled`` Bybit sends when a cancel raced the final fill.
CANCEL_RACE_REASON: Final = "EC_OrigClOrdIDDoesNotExist"

TAKER_FEE: Final = D("0.00055")
MAKER_FEE: Final = D("0.0002")
FUNDING_RATE: Final = D("0.0001")
LEVERAGE: Final = D(10)
#: maintenance margin rate
MMR: Final = D("0.005")
#: the unified account's USDT deposit before any trade
DEPOSIT: Final = D(100_000)


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A linear USDT perpetual: its name, position mode, quantity step, tick and start price.

    ``max_lots`` bounds the size of a random order, ``seq_base`` is where the symbol's
    cross sequence starts, ``risk_limit`` is the position report's ``riskLimitValue``.

    >>> SymbolSpec("XRPUSDT", hedge=True, qty_step=Decimal(1), tick=Decimal("0.0001"),
    ...            price=Decimal("0.5")).legs
    (1, 2)
    """

    symbol: str
    #: Hedge mode (legs positionIdx 1 long and 2 short) or one-way (positionIdx 0).
    hedge: bool
    qty_step: Decimal
    tick: Decimal
    #: The price the simulation starts from.
    price: Decimal
    max_lots: int = 60
    seq_base: int = 4_600_000_000
    risk_limit: str = "2000000"

    @property
    def legs(self) -> tuple[int, ...]:
        """The positionIdx values of this symbol's legs."""
        return (1, 2) if self.hedge else (0,)

    @property
    def name(self) -> str:
        """The symbol (the sandbox's spelling)."""
        return self.symbol

    @property
    def base_coin(self) -> str:
        return self.symbol.removesuffix("USDT")

    @property
    def settle_coin(self) -> str:
        return "USDT"


def _spec(row: tuple[str, bool, str, str, str, int, str], n: int) -> SymbolSpec:
    symbol, hedge, step, tick, price, lots, risk = row
    return SymbolSpec(
        symbol, hedge, D(step), D(tick), D(price), lots, 4_600_000_000 + 10**7 * n, risk
    )


_ROWS: Final = (
    ("BTCUSDT", False, "0.001", "0.1", "65000", 120, "2000000"),
    ("ETHUSDT", True, "0.01", "0.01", "3390", 200, "2000000"),
    ("DOGEUSDT", False, "1", "0.00001", "0.1599", 9000, "800000"),
    ("SOLUSDT", True, "0.1", "0.01", "148.6", 90, "800000"),
    ("XRPUSDT", False, "1", "0.0001", "0.519", 5000, "400000"),
    ("LINKUSDT", True, "0.1", "0.001", "17.512", 800, "400000"),
)
#: Every symbol the simulator knows, by name: Bybit's real steps and ticks, each symbol's
#: cross sequence starting 10^7 after the previous one's.
CATALOGUE: Final[dict[str, SymbolSpec]] = {row[0]: _spec(row, n) for n, row in enumerate(_ROWS)}
#: Two one-way (BTCUSDT, DOGEUSDT) and two hedge-mode (ETHUSDT, SOLUSDT) symbols.
DEFAULT_SYMBOLS: Final = tuple(CATALOGUE[n] for n in ("BTCUSDT", "ETHUSDT", "DOGEUSDT", "SOLUSDT"))
