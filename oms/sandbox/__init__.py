"""oms.sandbox: an embedded Bybit-v5-compatible exchange for demos, tests and offline use.

>>> from oms.sandbox import Sandbox
>>> with Sandbox("key", "secret", seed=7) as sandbox:  # doctest: +SKIP
...     sandbox.step(100)                      # or sandbox.start_trading(20)
...     sandbox.ws_url, sandbox.rest_url       # point the OMS here
...     state = sandbox.truth()

``Sandbox`` serves the private stream (``/v5/private``), the WebSocket trade endpoint
(``/v5/trade``), the REST resync endpoints and the signed order-entry POST routes on
127.0.0.1, so unchanged pybit or ccxt code trades against it; ``Exchange`` is the account
behind it, a venue of the simulator (``oms.sim``) with a market per symbol, order entry,
and background trading as another program on the account; ``Faults`` switches the
injected failures on and off at runtime.
"""

from oms.sandbox.exchange import Exchange
from oms.sandbox.faults import Faults
from oms.sandbox.model import CATALOGUE, DEFAULT_SYMBOLS, Push, SymbolSpec
from oms.sandbox.server import Sandbox

__all__ = ["CATALOGUE", "DEFAULT_SYMBOLS", "Exchange", "Faults", "Push", "Sandbox", "SymbolSpec"]
