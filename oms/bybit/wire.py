"""Bybit v5 private-stream elements, stated once: ONE field table per kind.

Each table lists, per field, the core value's field, the wire key, the value's rule
(``oms.bybit.rules``: what it may be, what it becomes) and its default when the key is
absent (as wire text: ``""`` is "absent" for a decimal and "unknown" for a time). From these
tables ``oms.bybit.codec`` generates the one decoder of stream frames and REST rows, and
``oms.bybit.models`` the pydantic models (``OrderMsg``...), which keep the wire's text as
it came. Only the fields the ledger and the database use are listed; every other field is
tolerated and ignored (Bybit adds fields often).

JSON ``null``: read as ``""`` in a field that may be empty (``Column.may_be_empty``),
refused in any other (see ``oms.bybit.rules``).

Duplicate keys: the last one wins, everywhere (pydantic-core's JSON parser keeps the last
value of a repeated key; so does ``json.loads``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from oms.bybit import rules as r
from oms.core.fills import Fill, FillSource
from oms.core.orders import Order
from oms.core.positions import PositionReport

if TYPE_CHECKING:
    from oms.bybit.rules import Rule

__all__ = [
    "EXECUTION",
    "FAST_EXECUTION",
    "ORDER",
    "POSITION",
    "WALLET",
    "WALLET_COIN",
    "Column",
    "Table",
]

#: The default of a field that must be present.
REQUIRED: Final = ...


@dataclass(frozen=True, slots=True)
class Column:
    """One field: the core value's field, the wire key, its rule and its default (wire
    text; ``REQUIRED``: the key must be present). ``nested``: a list of another table's
    elements (the wallet's coins), kept as wire models."""

    core: str
    wire: str
    rule: Rule | None
    default: object = REQUIRED
    nested: Table | None = None

    @property
    def required(self) -> bool:
        """No default: the key must be present."""
        return self.default is REQUIRED

    @property
    def may_be_empty(self) -> bool:
        """``""`` is a value of this field (its rule gives ``""`` a meaning, or the field
        defaults to ``""``): a JSON ``null`` here is read as ``""``."""
        return self.nested is None and (
            self.default == "" or (self.rule is not None and self.rule.empty)
        )


@dataclass(frozen=True, slots=True)
class Table:
    """The fields of one kind. ``core`` is the core value the codec builds (None: the wire
    model is the value, as for the wallet); its fields are the columns' ``core`` names,
    ``fixed`` values (not on the wire) and ``context`` (given by the caller: where a fill
    came from), in any order."""

    name: str
    columns: tuple[Column, ...]
    core: type[tuple[Any, ...]] | None = None
    fixed: dict[str, object] = field(default_factory=dict)
    context: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.core is not None:
            named = [c.core for c in self.columns] + [*self.fixed, *self.context]
            if sorted(named) != sorted(self.core._fields):  # type: ignore[attr-defined]
                raise TypeError(f"the {self.name} table does not name every core field once")

    def column(self, wire: str) -> Column:
        """The column of a wire key."""
        return next(c for c in self.columns if c.wire == wire)


def _c(core: str, wire: str, rule: Rule, default: object = REQUIRED) -> Column:
    return Column(core, wire, rule, default)


ORDER: Final = Table(
    "order",
    (
        _c("order_id", "orderId", r.TEXT),
        _c("order_link_id", "orderLinkId", r.TEXT, ""),
        _c("category", "category", r.CATEGORY),
        _c("symbol", "symbol", r.TEXT),
        _c("side", "side", r.SIDE),
        _c("position_idx", "positionIdx", r.POSITION_INDEX, 0),
        _c("status", "orderStatus", r.STATUS),
        _c("order_type", "orderType", r.TEXT, ""),
        _c("stop_order_type", "stopOrderType", r.TEXT, ""),
        _c("qty", "qty", r.QUANTITY),
        _c("price", "price", r.PRICE, ""),
        _c("trigger_price", "triggerPrice", r.REPEATING_DECIMAL, ""),
        _c("cum_exec_qty", "cumExecQty", r.QUANTITY),
        _c("cum_exec_value", "cumExecValue", r.DECIMAL_NUMBER, ""),
        _c("cum_exec_fee", "cumExecFee", r.DECIMAL_NUMBER, ""),
        _c("leaves_qty", "leavesQty", r.REPEATING_DECIMAL, ""),
        _c("avg_price", "avgPrice", r.AVG_PRICE, ""),  # none before any fill (the codec)
        _c("reduce_only", "reduceOnly", r.BOOL, False),  # noqa: FBT003 - a default value
        _c("time_in_force", "timeInForce", r.TEXT, ""),
        _c("create_type", "createType", r.TEXT, ""),
        _c("cancel_type", "cancelType", r.TEXT, ""),
        _c("reject_reason", "rejectReason", r.TEXT, ""),
        _c("created_time", "createdTime", r.MILLIS, ""),
        _c("updated_time", "updatedTime", r.MILLIS),
    ),
    Order,
)
#: One element of the ``execution`` topic (also the REST execution list).
EXECUTION: Final = Table(
    "execution",
    (
        _c("exec_id", "execId", r.TEXT),
        _c("order_id", "orderId", r.TEXT, ""),
        _c("order_link_id", "orderLinkId", r.TEXT, ""),
        _c("category", "category", r.CATEGORY),
        _c("symbol", "symbol", r.TEXT),
        _c("side", "side", r.SIDE),
        _c("exec_type", "execType", r.TEXT),
        _c("exec_qty", "execQty", r.QUANTITY),
        _c("exec_price", "execPrice", r.REQUIRED_DECIMAL),
        _c("exec_value", "execValue", r.UNIQUE_DECIMAL, ""),
        _c("exec_fee", "execFee", r.UNIQUE_DECIMAL, ""),
        _c("fee_rate", "feeRate", r.REPEATING_DECIMAL, ""),
        _c("is_maker", "isMaker", r.OPTIONAL_BOOL, None),
        _c("closed_size", "closedSize", r.REPEATING_DECIMAL, ""),
        _c("leaves_qty", "leavesQty", r.REPEATING_DECIMAL, ""),
        _c("exec_time", "execTime", r.MILLIS),
        _c("seq", "seq", r.OPTIONAL_SEQ, None),
    ),
    Fill,
    context=("source",),
)
_NOT_FAST: Final = frozenset(
    {"execType", "execValue", "execFee", "feeRate", "closedSize", "leavesQty"}
)
#: One element of ``execution.fast``: trades only, no fee, no execType.
FAST_EXECUTION: Final = Table(
    "execution.fast",
    tuple(c for c in EXECUTION.columns if c.wire not in _NOT_FAST),
    Fill,
    fixed={
        "exec_type": "Trade",
        **dict.fromkeys(("exec_value", "exec_fee", "fee_rate", "closed_size", "leaves_qty")),
        "source": FillSource.FAST,
    },
)
#: One element (one leg) of the ``position`` topic. Old docs examples omit ``category``;
#: the codec then takes it from the topic (``linear`` by default).
POSITION: Final = Table(
    "position",
    (
        _c("category", "category", r.CATEGORY, ""),
        _c("symbol", "symbol", r.TEXT),
        _c("position_idx", "positionIdx", r.POSITION_INDEX, 0),
        _c("side", "side", r.POSITION_SIDE),  # a flat side with a size: refused (the codec)
        _c("size", "size", r.SIZE),
        _c("entry_price", "entryPrice", r.UNIQUE_DECIMAL, ""),
        _c("mark_price", "markPrice", r.PRICE, ""),
        _c("unrealised_pnl", "unrealisedPnl", r.UNIQUE_DECIMAL, ""),
        _c("cum_realised_pnl", "cumRealisedPnl", r.UNIQUE_DECIMAL, ""),
        _c("seq", "seq", r.SEQ, -1),
        _c("updated_time", "updatedTime", r.MILLIS, ""),
    ),
    PositionReport,
)
#: One coin of a ``wallet`` element (kept as wire text: not a core value).
WALLET_COIN: Final = Table(
    "wallet coin",
    (
        _c("coin", "coin", r.TEXT),
        *(
            _c(key, key, r.DECIMAL_TEXT, "")
            for key in ("equity", "walletBalance", "unrealisedPnl", "cumRealisedPnl", "locked")
        ),
    ),
)


_WALLET_NUMBERS: Final = (
    "totalEquity",
    "totalWalletBalance",
    "totalAvailableBalance",
    "totalInitialMargin",
    "totalMaintenanceMargin",
)
#: One account of the ``wallet`` topic (old docs examples omit accountType).
WALLET: Final = Table(
    "wallet",
    (
        _c("accountType", "accountType", r.TEXT, ""),
        *(_c(key, key, r.DECIMAL_TEXT, "") for key in _WALLET_NUMBERS),
        Column("coin", "coin", None, [], WALLET_COIN),
    ),
)
