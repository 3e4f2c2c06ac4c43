"""The wire models and bounds, kept here for importers: they are generated from the field
tables of ``oms.bybit.wire`` (the rules and bounds are ``oms.bybit.rules``); new code
imports them from there."""

from oms.bybit.rules import (
    DECIMAL,
    DECIMAL_RULE,
    MAX_MILLIS,
    MILLIS_DIGITS,
    MILLIS_RULE,
    POSITION_INDEXES,
    SEQ_MAX,
    SEQ_MIN,
    UNSIGNED_DECIMAL,
    millis_schema,
)
from oms.bybit.wire import (
    ControlMsg,
    ExecutionMsg,
    FastExecutionMsg,
    OrderMsg,
    PositionMsg,
    WalletCoinMsg,
    WalletMsg,
    WireModel,
)

__all__ = [
    "DECIMAL",
    "DECIMAL_RULE",
    "MAX_MILLIS",
    "MILLIS_DIGITS",
    "MILLIS_RULE",
    "POSITION_INDEXES",
    "SEQ_MAX",
    "SEQ_MIN",
    "UNSIGNED_DECIMAL",
    "ControlMsg",
    "ExecutionMsg",
    "FastExecutionMsg",
    "OrderMsg",
    "PositionMsg",
    "WalletCoinMsg",
    "WalletMsg",
    "WireModel",
    "millis_schema",
]
