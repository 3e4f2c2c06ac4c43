"""What the simulated account trades: symbols, their steps and ticks, and the venue's rates.

One ``SymbolSpec`` serves every driver of the simulator (the benchmark, the sandbox and
``oms.testing``); ``CATALOGUE`` holds the six linear perpetuals they trade, three in
one-way mode and three in hedge mode, with Bybit's real steps and ticks.
``CATEGORY_SYMBOLS`` adds, per other category, the symbol the sandbox trades there: the
inverse perpetual BTCUSD (quantities in USD contracts, settled in BTC) and the spot pair
BTCUSDT, deliberately named like the linear one (a symbol is unique only per category).

>>> CATALOGUE["ETHUSDT"].legs, CATALOGUE["BTCUSDT"].legs
((1, 2), (0,))
>>> [(s.key, s.category, s.settle_coin) for s in CATEGORY_SYMBOLS["inverse"]]
[('inverse:BTCUSD', 'inverse', 'BTC')]
>>> [(s.key, s.legs) for s in symbols_of(("linear", "spot"), ())]
[('spot:BTCUSDT', ())]
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

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
# CATEGORIES, CATEGORY_SYMBOLS, instrument_key and symbols_of are public too (``oms.sim``
# exports them) but stay out of __all__: ``oms.testing.symbols`` re-exports this __all__
# as its own, and the other categories are not part of oms.testing yet.

D = Decimal
#: The first exchange timestamp of a simulated account (2024-06-01 00:00 UTC, in ms).
T0: Final = 1_717_200_000_000
#: The product category of a symbol unless its spec says otherwise.
CATEGORY: Final = "linear"
#: The categories the simulator trades.
CATEGORIES: Final = ("linear", "inverse", "spot")
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
#: every coin's deposit before any trade: USDT, and BTC (the inverse symbol's margin and
#: the spot pair's base coin)
DEPOSITS: Final = {"USDT": DEPOSIT, "BTC": D(5)}
#: Spot fees (Bybit's base spot rate, maker and taker alike). The coin a spot fee is
#: paid in follows Bybit's spot rule: a buy pays in the coin it receives (the base coin),
#: a sell in the coin it receives (the quote coin).
SPOT_TAKER_FEE: Final = D("0.001")
SPOT_MAKER_FEE: Final = D("0.001")


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A symbol: its name, position mode, quantity step, tick and start price, and its
    product category (a linear USDT perpetual by default).

    ``max_lots`` bounds the size of a random order, ``seq_base`` is where the symbol's
    cross sequence starts, ``risk_limit`` is the position report's ``riskLimitValue``.
    An ``inverse`` symbol's qty is in contracts of one USD and it settles in its base
    coin; a ``spot`` pair has no position (its orders carry positionIdx 0).

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
    category: str = CATEGORY

    @property
    def legs(self) -> tuple[int, ...]:
        """The positionIdx values of this symbol's legs (none on spot)."""
        if self.category == "spot":
            return ()
        return (1, 2) if self.hedge else (0,)

    @property
    def key(self) -> str:
        """The venue's key of the instrument: see ``instrument_key``."""
        return instrument_key(self.category, self.symbol)

    @property
    def quote_coin(self) -> str:
        return "USD" if self.category == "inverse" else "USDT"

    @property
    def name(self) -> str:
        """The symbol (the sandbox's spelling)."""
        return self.symbol

    @property
    def base_coin(self) -> str:
        return self.symbol.removesuffix(self.quote_coin)

    @property
    def settle_coin(self) -> str:
        """The coin fees and PnL are paid in (spot: none; its fees follow the side)."""
        return self.base_coin if self.category == "inverse" else "USDT"

    # The instrument rules order entry applies, named as instruments-info names them
    # (``lotSizeFilter``, ``priceFilter``); Bybit's values for such symbols, derived from
    # the step, tick, price and lot count above so that every spec has them.

    @property
    def min_order_qty(self) -> Decimal:
        """``lotSizeFilter.minOrderQty``: one qty step."""
        return self.qty_step

    @property
    def max_order_qty(self) -> Decimal:
        """``lotSizeFilter.maxOrderQty`` (a limit order; also ``postOnlyMaxOrderQty``)."""
        return self.qty_step * self.max_lots * 100

    @property
    def max_mkt_order_qty(self) -> Decimal:
        """``lotSizeFilter.maxMktOrderQty``: a market order's largest qty."""
        return self.qty_step * self.max_lots * 10

    @property
    def min_notional_value(self) -> Decimal:
        """``lotSizeFilter.minNotionalValue`` (derivatives: 5 USDT; 1 USD on inverse) or
        on spot ``minOrderAmt``: an order's smallest value in the quote coin."""
        return D(1) if self.category in ("inverse", "spot") else D(5)

    @property
    def max_order_amt(self) -> Decimal:
        """``lotSizeFilter.maxOrderAmt`` (spot): an order's largest value in USDT."""
        return D(2_000_000)

    @property
    def min_price(self) -> Decimal:
        """``priceFilter.minPrice``: one tick."""
        return self.tick

    @property
    def max_price(self) -> Decimal:
        """``priceFilter.maxPrice``."""
        return self.price * 1000

    @property
    def price_limit_ratio(self) -> Decimal:
        """``riskParameters.priceLimitRatioX``: how far past the last price a buy (above)
        or sell (below) limit order may be priced."""
        return D("0.05")


def instrument_key(category: str, symbol: str) -> str:
    """Where the venue files an instrument: the bare symbol for linear (the layout of the
    recorded truth and of every linear-only driver), ``category:symbol`` otherwise, since
    BTCUSDT names both a linear perpetual and a spot pair.

    >>> instrument_key("linear", "BTCUSDT"), instrument_key("spot", "BTCUSDT")
    ('BTCUSDT', 'spot:BTCUSDT')
    """
    return symbol if category == CATEGORY else f"{category}:{symbol}"


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
#: The symbols of the other categories: Bybit's BTCUSD inverse perpetual (1 USD
#: contracts, tick 0.5) and its BTCUSDT spot pair (base step 0.000001, tick 0.01).
CATEGORY_SYMBOLS: Final[dict[str, tuple[SymbolSpec, ...]]] = {
    "inverse": (
        SymbolSpec("BTCUSD", hedge=False, qty_step=D(1), tick=D("0.5"), price=D(65000),
                   max_lots=2000, seq_base=4_700_000_000, risk_limit="150", category="inverse"),
    ),
    "spot": (
        SymbolSpec("BTCUSDT", hedge=False, qty_step=D("0.000001"), tick=D("0.01"),
                   price=D(65000), max_lots=20000, seq_base=4_710_000_000, risk_limit="",
                   category="spot"),
    ),
}  # fmt: skip


def symbols_of(categories: Iterable[str], linear: Iterable[SymbolSpec]) -> tuple[SymbolSpec, ...]:
    """The symbols traded in ``categories``: ``linear`` when linear is among them, then
    each other category's ``CATEGORY_SYMBOLS``. Unknown categories raise ``ValueError``."""
    categories = tuple(categories)
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown or not categories:
        raise ValueError(f"categories are some of {', '.join(CATEGORIES)}, not {unknown}")
    picked = tuple(linear) if CATEGORY in categories else ()
    for category in CATEGORIES[1:]:
        if category in categories:
            picked += CATEGORY_SYMBOLS[category]
    return picked
