"""oms.sim: ONE simulator of a Bybit v5 account, for the benchmark, the sandbox and
``oms.testing``: linear perpetuals, and on request (``symbols_of``) the inverse perpetual
BTCUSD and the spot pair BTCUSDT (filed as ``inverse:BTCUSD`` and ``spot:BTCUSDT``,
since a symbol is unique only within its category).

- ``specs``: the symbols (``SymbolSpec``, ``CATALOGUE``, ``CATEGORY_SYMBOLS``) and the
  venue's constants;
- ``records``: the account's records (markets, legs, orders, executions) and fill math;
- ``wire``: those records as the exact v5 elements and frames (``Push``);
- ``venue``: ``Venue``, the strict account, driven by requests (scripted or random);
- ``policies`` (with ``new_orders``, the terms of a new order): ``RandomPolicy``, an
  account trading by itself (``BENCH_MIX``, ``SANDBOX_MIX``);
- ``market`` (with ``book``, ``tape``, ``matching``): ``Markets``, each symbol's seeded
  market over a venue (price path, book, tape, tickers, liquidations, funding) and the
  matching of the account's orders against it;
- ``entry`` (with ``fields``, ``intent``, ``placing``, ``rules``): ``OrderEntry``, what
  Bybit does with an order-entry request, and ``Refused``, its non-zero retCodes;
- ``truth``: the venue's exact state as data; ``compare``: ``differences(ledger, truth)``,
  the one comparer of a ledger's state with a truth.

Standard library only: no hypothesis, no pydantic, nothing of the runtime.
"""

from oms.sim.compare import differences
from oms.sim.entry import OrderEntry, Refused
from oms.sim.ids import CountingIds, RandomIds
from oms.sim.market import Markets
from oms.sim.policies import BENCH_MIX, SANDBOX_MIX, Mix, RandomPolicy
from oms.sim.records import Terms
from oms.sim.specs import (
    CATALOGUE,
    CATEGORIES,
    CATEGORY_SYMBOLS,
    DEFAULT_SYMBOLS,
    T0,
    SymbolSpec,
    symbols_of,
)
from oms.sim.venue import Venue, VenueError
from oms.sim.wire import Push

__all__ = [
    "BENCH_MIX",
    "CATALOGUE",
    "CATEGORIES",
    "CATEGORY_SYMBOLS",
    "DEFAULT_SYMBOLS",
    "SANDBOX_MIX",
    "T0",
    "CountingIds",
    "Markets",
    "Mix",
    "OrderEntry",
    "Push",
    "RandomIds",
    "RandomPolicy",
    "Refused",
    "SymbolSpec",
    "Terms",
    "Venue",
    "VenueError",
    "differences",
    "symbols_of",
]
