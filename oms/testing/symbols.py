"""Constants of the generated wire and the symbols a simulated account trades (the
simulator's, ``oms.sim.specs``).

>>> from oms.testing import DEFAULT_SYMBOLS
>>> [(s.symbol, s.legs) for s in DEFAULT_SYMBOLS]
[('BTCUSDT', (0,)), ('ETHUSDT', (1, 2)), ('DOGEUSDT', (0,)), ('SOLUSDT', (1, 2))]
"""

from __future__ import annotations

from oms.sim import specs as _specs
from oms.sim.specs import *  # noqa: F403 - the simulator's constants, under oms.testing

#: Everything of ``oms.sim.specs`` but its catalogue (the sandbox's).
__all__ = [name for name in _specs.__all__ if name != "CATALOGUE"]
