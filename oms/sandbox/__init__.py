"""oms.sandbox: an embedded Bybit-v5-compatible exchange for demos, tests and offline use.

>>> from oms.sandbox import Sandbox
>>> with Sandbox("key", "secret", seed=7) as sandbox:  # doctest: +SKIP
...     sandbox.step(100)                      # or sandbox.start_trading(20)
...     sandbox.ws_url, sandbox.rest_url       # point the OMS here
...     state = sandbox.truth()

``Sandbox`` serves the private stream (``/v5/private``) and the REST resync endpoints on
127.0.0.1; ``Exchange`` is the account behind it, a venue of the simulator (``oms.sim``)
trading by itself; ``Faults`` switches the injected failures on and off at runtime.
"""

from oms.sandbox.exchange import Exchange
from oms.sandbox.faults import Faults
from oms.sandbox.model import CATALOGUE, DEFAULT_SYMBOLS, Push, SymbolSpec
from oms.sandbox.server import Sandbox

__all__ = ["CATALOGUE", "DEFAULT_SYMBOLS", "Exchange", "Faults", "Push", "Sandbox", "SymbolSpec"]
