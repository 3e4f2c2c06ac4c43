"""The sandbox's symbols and frames: the simulator's (``oms.sim``), under the names the
sandbox has always exported."""

from __future__ import annotations

from typing import Final

from oms.sim.specs import CATALOGUE, CATEGORIES, CATEGORY_SYMBOLS, SymbolSpec
from oms.sim.specs import DEFAULT_SYMBOLS as _DEFAULT_SPECS
from oms.sim.wire import Element, Push

__all__ = [
    "CATALOGUE",
    "CATEGORIES",
    "CATEGORY_SYMBOLS",
    "COMMAND_CATEGORIES",
    "DEFAULT_CATEGORIES",
    "DEFAULT_SYMBOLS",
    "Element",
    "Push",
    "SymbolSpec",
]

#: BTCUSDT and DOGEUSDT one-way, ETHUSDT and SOLUSDT hedge mode (names in ``CATALOGUE``).
DEFAULT_SYMBOLS: Final = tuple(s.symbol for s in _DEFAULT_SPECS)
#: The categories a ``Sandbox`` object trades unless told (``categories=``): linear, the
#: one its tests and fault scenarios are written for.
DEFAULT_CATEGORIES: Final = ("linear",)
#: The categories ``python -m oms.sandbox`` and the demo (``oms run --env sandbox``) trade
#: unless told (``--categories``): linear, ``inverse`` (BTCUSD) and ``spot`` (the BTCUSDT
#: spot pair, beside the linear BTCUSDT: ``CATEGORY_SYMBOLS``).
COMMAND_CATEGORIES: Final = ("linear", "inverse", "spot")
