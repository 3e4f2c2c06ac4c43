"""The wire models and bounds, kept here for importers: the models are
``oms.bybit.models`` (generated from the field tables of ``oms.bybit.wire``), the rules and
bounds ``oms.bybit.rules``; new code imports them from there."""

from oms.bybit.models import (
    ControlMsg,
    ExecutionMsg,
    FastExecutionMsg,
    OrderMsg,
    PositionMsg,
    WalletCoinMsg,
    WalletMsg,
    WireModel,
)
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
