"""Constants of the generated wire and the symbols a simulated account trades (the
simulator's, ``oms.sim.specs``).

>>> from oms.testing import DEFAULT_SYMBOLS
>>> [(s.symbol, s.legs) for s in DEFAULT_SYMBOLS]
[('BTCUSDT', (0,)), ('ETHUSDT', (1, 2)), ('DOGEUSDT', (0,)), ('SOLUSDT', (1, 2))]
"""

from __future__ import annotations

from oms.sim.specs import (
    CANCEL_RACE_REASON,
    CATEGORY,
    DEFAULT_SYMBOLS,
    T0,
    TERMINAL_STATUSES,
    TPSL_STOP_ORDER_TYPES,
    SymbolSpec,
)

__all__ = [
    "CANCEL_RACE_REASON",
    "CATEGORY",
    "DEFAULT_SYMBOLS",
    "T0",
    "TERMINAL_STATUSES",
    "TPSL_STOP_ORDER_TYPES",
    "SymbolSpec",
]
