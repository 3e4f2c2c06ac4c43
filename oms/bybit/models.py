"""The pydantic models of the wire (``OrderMsg``...), generated from the field tables of
``oms.bybit.wire``: they keep the wire's text as it came, a view for code that wants the
wire itself (and for the wallet, whose numbers are kept as text), plus ``ControlMsg``.

Apart from the hot decode: ``oms.bybit.codec`` turns frames into core values with
pydantic-core alone and imports this module (and pydantic) only for a wallet or control
frame, so a command that only replays orders, executions and positions never builds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, GetPydanticSchema, create_model

from oms.bybit.wire import EXECUTION, FAST_EXECUTION, ORDER, POSITION, WALLET, WALLET_COIN

if TYPE_CHECKING:
    from pydantic_core import CoreSchema

    from oms.bybit.wire import Table


class WireModel(BaseModel):
    """Base of the wire models: extra fields tolerated, instances frozen. The fields are
    generated from a table, so the type checker sees them as ``Any``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...  # noqa: ANN401 - generated fields


#: Table name -> its wire model (a nested table's model is made before its parent's).
_MODELS: Final[dict[str, type[WireModel]]] = {}


def _given(schema: CoreSchema) -> GetPydanticSchema:
    """``schema`` as a field's annotation (built here, not asked of pydantic)."""
    return GetPydanticSchema(lambda _type, _handler: schema)


def wire_model(name: str, table: Table, doc: str) -> type[WireModel]:
    """The pydantic model of ``table``: one field per wire key, validated by the rule's
    ``text`` schema (the wire's text kept as it came)."""
    fields: dict[str, Any] = {}
    for column in table.columns:
        if column.nested is not None:
            annotation: Any = list.__class_getitem__(_MODELS[column.nested.name])
        else:
            annotation = Annotated[Any, _given(column.rule.text)]  # type: ignore[union-attr]
        fields[column.wire] = (annotation, ... if column.required else column.default)
    model = create_model(name, __base__=WireModel, __doc__=doc, **fields)
    _MODELS[table.name] = model
    return model


OrderMsg: Final = wire_model("OrderMsg", ORDER, "One element of the ``order`` topic.")
ExecutionMsg: Final = wire_model(
    "ExecutionMsg", EXECUTION, "One element of the ``execution`` topic (also a REST row)."
)
FastExecutionMsg: Final = wire_model(
    "FastExecutionMsg", FAST_EXECUTION, "One element of ``execution.fast``."
)
PositionMsg: Final = wire_model("PositionMsg", POSITION, "One leg of the ``position`` topic.")
WalletCoinMsg: Final = wire_model("WalletCoinMsg", WALLET_COIN, "One coin of a wallet.")
WalletMsg: Final = wire_model("WalletMsg", WALLET, "One account of the ``wallet`` topic.")


class ControlMsg(BaseModel):
    """Auth and subscribe/unsubscribe acks and pongs (both shapes)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    op: str = ""
    success: bool | None = None
    ret_msg: str = ""
    conn_id: str = ""
    req_id: str = ""
    type: str = ""
    args: list[Any] | None = None
    data: dict[str, Any] | None = None
