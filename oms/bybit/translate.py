"""Wire models -> core values: venue enums to core enums, absent to None.

Raises ``ValueError`` with a clear reason when a value is well-typed but not one Bybit
defines (an unknown orderStatus or side); the caller turns that into a malformed element.

Decimal text becomes ``Decimal`` mostly through small caches (``parse_decimal``,
``AVG_PRICES``): prices and quantities repeat from report to report (an order's qty and
price on each of its updates, a fill's price in its order's next report, "0" everywhere),
and a lookup costs a fifth of parsing the text again. A ``Decimal`` is immutable and the
caches are keyed by the exact text, so a cached value is indistinguishable from a freshly
parsed one (same value, same exponent, same ``repr``). The fast path's caches of the
numbers that nearly always repeat also remember that a text passed the models' pattern,
so that the pattern runs once per distinct text (see ``_CheckedDecimals``).
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from pydantic_core import CoreSchema, SchemaValidator, core_schema

from oms.bybit.decode import TOPICS, Kind
from oms.bybit.messages import (
    DECIMAL,
    MAX_MILLIS,
    UNSIGNED_DECIMAL,
    ExecutionMsg,
    FastExecutionMsg,
    OrderMsg,
    PositionMsg,
    TopicFrame,
    WireModel,
    millis_schema,
)
from oms.core.fills import Fill, FillSource
from oms.core.orders import Order, Side
from oms.core.positions import PositionReport
from oms.core.states import BY_WIRE_NAME, OrderStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from pydantic import BaseModel

_SIDES: Final = {"Buy": Side.BUY, "Sell": Side.SELL}
#: Position side: "" (and the legacy "None") mean flat.
_POSITION_SIDES: Final = {"Buy": Side.BUY, "Sell": Side.SELL, "": None, "None": None}
_ZERO: Final = Decimal(0)
#: Distinct decimal texts ``parse_decimal`` remembers (a few hundred kB).
CACHE_SIZE: Final = 4096
#: Distinct texts each of the fast path's checked caches remembers (about 1.5 MB each):
#: more than ``CACHE_SIZE``, since a text seen again is checked again after a clear.
CHECKED_CACHE_SIZE: Final = 2 * CACHE_SIZE

#: Decimal text -> its exact ``Decimal``. The most recent distinct texts are remembered:
#: functools' LRU cache is C code around the C constructor, so a hit costs a fifth of a
#: parse and a miss little more than the parse itself.
parse_decimal: Final = lru_cache(maxsize=CACHE_SIZE)(Decimal)


def _pattern_check(pattern: str) -> Callable[[str], object]:
    """A check that raises ``ValidationError`` (a ``ValueError``) for text that does not
    match ``pattern``: the models' own check, in Rust."""
    return SchemaValidator(core_schema.str_schema(pattern=pattern, strict=True)).validate_python


_OPTIONAL_DECIMAL_TEXT: Final = _pattern_check(f"^(?:{DECIMAL})?$")


class _AvgPriceCache(dict[str, Decimal | None]):
    """avgPrice text -> ``Decimal``; None for "" and for zero: Bybit sends "" (and on some
    paths "0") before any fill, and both mean none. ``ValueError`` for text that is not
    decimal text (checked once per distinct text, so the fast path need not check it on
    every field). Emptied when full."""

    __slots__ = ()

    def __missing__(self, text: str) -> Decimal | None:
        _OPTIONAL_DECIMAL_TEXT(text)
        value = (parse_decimal(text) or None) if text else None
        if len(self) >= CACHE_SIZE:
            self.clear()
        self[text] = value
        return value


#: avgPrice text -> ``Decimal``, or None for "" and for zero.
AVG_PRICES: Final = _AvgPriceCache()


class _PositionSideLookup(dict[str, Side | None]):
    """Position side text -> ``Side`` or None (flat); ``ValueError`` for anything else
    (a validator may raise ``ValueError`` but not ``KeyError``)."""

    __slots__ = ()

    def __missing__(self, text: str) -> Side | None:
        raise ValueError(f"side: unknown value {text!r}")


#: Position side text -> ``Side`` or None, refusing unknown values with ``ValueError``.
POSITION_SIDES: Final = _PositionSideLookup(_POSITION_SIDES)


def _quantity(name: str, text: str) -> Decimal:
    """A quantity that must be present and not negative."""
    value = parse_decimal(text)
    if value < _ZERO:
        raise ValueError(f"{name}: negative {value}")
    return value


def _decimal(text: str) -> Decimal | None:
    """Optional decimal text: "" is absent."""
    return parse_decimal(text) if text else None


def _ms(value: int | str) -> int:
    return value if value.__class__ is int else 0


def _side(value: str) -> Side:
    side = _SIDES.get(value)
    if side is None:
        raise ValueError(f"side: unknown value {value!r}")
    return side


def order_from(m: OrderMsg) -> Order:
    """The core ``Order`` of one ``order`` element."""
    status = BY_WIRE_NAME.get(m.orderStatus)
    if status is None:
        raise ValueError(f"orderStatus: unknown value {m.orderStatus!r}")
    cum = _quantity("cumExecQty", m.cumExecQty)
    # positional, in field order: a NamedTuple builds fastest that way
    return Order(
        m.orderId,  # order_id
        m.orderLinkId,  # order_link_id
        m.category,  # category
        m.symbol,  # symbol
        _side(m.side),  # side
        m.positionIdx,  # position_idx
        status,  # status
        m.orderType,  # order_type
        m.stopOrderType,  # stop_order_type
        _quantity("qty", m.qty),  # qty
        _decimal(m.price),  # price
        _decimal(m.triggerPrice),  # trigger_price
        cum,  # cum_exec_qty
        _decimal(m.cumExecValue),  # cum_exec_value
        _decimal(m.cumExecFee),  # cum_exec_fee
        _decimal(m.leavesQty),  # leaves_qty
        AVG_PRICES[m.avgPrice] if cum else None,  # avg_price: none before any fill
        m.reduceOnly,  # reduce_only
        m.timeInForce,  # time_in_force
        m.createType,  # create_type
        m.cancelType,  # cancel_type
        m.rejectReason,  # reject_reason
        _ms(m.createdTime),  # created_time
        _ms(m.updatedTime),  # updated_time
    )


def fill_from(m: ExecutionMsg, source: FillSource = FillSource.STREAM) -> Fill:
    """The core ``Fill`` of one ``execution`` element (or REST execution row)."""
    # positional, in field order: a NamedTuple builds fastest that way
    return Fill(
        m.execId,  # exec_id
        m.orderId,  # order_id
        m.orderLinkId,  # order_link_id
        m.category,  # category
        m.symbol,  # symbol
        _side(m.side),  # side
        m.execType,  # exec_type
        _quantity("execQty", m.execQty),  # exec_qty
        parse_decimal(m.execPrice),  # exec_price
        _decimal(m.execValue),  # exec_value
        _decimal(m.execFee),  # exec_fee
        _decimal(m.feeRate),  # fee_rate
        m.isMaker,  # is_maker
        _decimal(m.closedSize),  # closed_size
        _decimal(m.leavesQty),  # leaves_qty
        _ms(m.execTime),  # exec_time
        m.seq,  # seq
        source,  # source
    )


def fast_fill_from(m: FastExecutionMsg) -> Fill:
    """The core ``Fill`` of one ``execution.fast`` element (always a Trade, no fee)."""
    # positional, in field order: a NamedTuple builds fastest that way
    return Fill(
        m.execId,  # exec_id
        m.orderId,  # order_id
        m.orderLinkId,  # order_link_id
        m.category,  # category
        m.symbol,  # symbol
        _side(m.side),  # side
        "Trade",  # exec_type
        _quantity("execQty", m.execQty),  # exec_qty
        parse_decimal(m.execPrice),  # exec_price
        None,  # exec_value
        None,  # exec_fee
        None,  # fee_rate
        m.isMaker,  # is_maker
        None,  # closed_size
        None,  # leaves_qty
        _ms(m.execTime),  # exec_time
        m.seq,  # seq
        FillSource.FAST,  # source
    )


def position_from(m: PositionMsg) -> PositionReport:
    """The core ``PositionReport`` of one ``position`` element."""
    if m.side not in _POSITION_SIDES:
        raise ValueError(f"side: unknown value {m.side!r}")
    side = _POSITION_SIDES[m.side]
    size = _quantity("size", m.size)
    if side is None and size != _ZERO:
        raise ValueError(f"size: {size} with an empty side")
    # positional, in field order: a NamedTuple builds fastest that way
    return PositionReport(
        m.category,  # category
        m.symbol,  # symbol
        m.positionIdx,  # position_idx
        side,  # side
        size,  # size
        _decimal(m.entryPrice),  # entry_price
        _decimal(m.markPrice),  # mark_price
        _decimal(m.unrealisedPnl),  # unrealised_pnl
        _decimal(m.cumRealisedPnl),  # cum_realised_pnl
        m.seq,  # seq
        _ms(m.updatedTime),  # updated_time
    )


# --- the fast path -------------------------------------------------------------------------
#
# ``FAST_FRAMES.validate_json(text)`` takes an order, execution or position frame (picked
# by its ``topic``) from raw text to ``(topic, [core values])`` in one call: pydantic-core
# validates each element straight into a tuple of core values (numbers already
# ``Decimal`` through the caches above, sides and statuses already enums), and the
# functions below only put them in field order and apply the rules that span fields.
#
# The element schemas are the models' own field schemas, so a value is accepted only where
# the models accept it. The fast path is stricter wherever the general path has more to
# do: an empty or missing category (taken from the topic), an empty time (0), a negative
# quantity, an unknown side or status, or a flat side with a size. It refuses those with
# ``ValueError`` (``ValidationError`` is one), having changed nothing; the caller then
# decodes the frame the general way (``decode`` and the translators above), which
# applies, refuses or names it exactly as before.
#
# Arguments schemas rather than typed dicts: they validate into a plain tuple, and a
# tuple becomes a NamedTuple with one copy (measured: 8k fewer instructions per order
# frame than a dict). They need parameters with defaults after the required ones, so
# each kind's values are validated in that order and ``in_field_order`` puts them back.

_new_tuple: Final = tuple.__new__


def _model_fields(model: type[BaseModel]) -> dict[str, Any]:
    schema: Any = model.__pydantic_core_schema__
    if schema.get("type") != "model" or schema["schema"].get("type") != "model-fields":
        raise TypeError(f"unexpected core schema for {model.__name__}")
    return {name: field["schema"] for name, field in schema["schema"]["fields"].items()}


def _number(schema: Any, convert: Callable[[str], Any], pattern: str | None) -> CoreSchema:  # noqa: ANN401 - a core schema dict
    """``schema``'s text (matching ``pattern`` too, if given), then ``convert(text)``,
    run from Rust. Absent (an optional field's key missing) is None."""
    optional = schema["type"] == "default"
    text = schema["schema"] if optional else schema
    if pattern is not None:
        text = {**text, "pattern": f"^{pattern}$"}
    number = core_schema.no_info_after_validator_function(convert, text)
    return core_schema.with_default_schema(number, default=None) if optional else number


class _CheckedDecimals(dict[str, Decimal]):
    """Decimal text -> its exact ``Decimal``, for text that matches ``pattern``;
    ``ValueError`` for any other (a validator may raise ``ValueError``, not ``KeyError``).

    The pattern runs once per distinct text, when it first comes (in Rust, as in the
    models), rather than on every field: a repeated text is a dict lookup in C. Worth it
    only for numbers that nearly always repeat; for the others a first sight costs more
    than the pattern saves. Emptied when full."""

    __slots__ = ("_check",)

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self._check = _pattern_check(f"^{pattern}$")

    def __missing__(self, text: str) -> Decimal:
        self._check(text)  # ValidationError, a ValueError, for anything else
        value = Decimal(text)
        if len(self) >= CHECKED_CACHE_SIZE:
            self.clear()
        self[text] = value
        return value


_SIGNED_TEXTS: Final = _CheckedDecimals(DECIMAL)
_UNSIGNED_TEXTS: Final = _CheckedDecimals(UNSIGNED_DECIMAL)
#: Numbers that nearly always repeat (88-100% of their texts seen before, on the benchmark
#: capture): checked once per distinct text (see ``_CheckedDecimals``).
_CHECKED_ONCE: Final = frozenset(
    {"qty", "triggerPrice", "cumExecQty", "leavesQty", "execQty", "execPrice", "feeRate",
     "closedSize", "markPrice"}
)  # fmt: skip
#: Numbers that hardly repeat (P&L, fees, trade values, position sizes: 1-28% cache hits
#: on the benchmark capture): parsed without the cache, whose misses cost more.
_UNCACHED: Final = frozenset({"unrealisedPnl", "cumRealisedPnl", "execValue", "execFee", "size"})
_QUANTITIES: Final = frozenset({"qty", "cumExecQty", "execQty", "size"})


def _number_schema(key: str, schema: Any) -> CoreSchema:  # noqa: ANN401 - a core schema dict
    """A decimal text field, straight to its core value. Stricter than the model where the
    general path has work to do: "" (absent: None) except in avgPrice, and a signed
    quantity (refused if negative) go the general way. ``Decimal`` is only ever given text
    the model's own pattern accepts, which it parses exactly."""
    if key == "avgPrice":  # the pattern runs in the cache, once per distinct text
        return _checked_once(schema, AVG_PRICES.__getitem__)
    if key in _CHECKED_ONCE:
        texts = _UNSIGNED_TEXTS if key in _QUANTITIES else _SIGNED_TEXTS
        return _checked_once(schema, texts.__getitem__)
    pattern = UNSIGNED_DECIMAL if key in _QUANTITIES else DECIMAL
    return _number(schema, Decimal if key in _UNCACHED else parse_decimal, pattern)


def _checked_once(schema: Any, convert: Callable[[str], Any]) -> CoreSchema:  # noqa: ANN401 - a core schema dict
    """``schema``'s text without its pattern, then ``convert(text)``, which checks it."""
    optional = schema["type"] == "default"
    text = {**(schema["schema"] if optional else schema)}
    del text["pattern"]
    number = core_schema.no_info_after_validator_function(convert, text)
    return core_schema.with_default_schema(number, default=None) if optional else number


def _is_decimal_text(schema: Any) -> bool:  # noqa: ANN401 - a core schema dict
    inner = schema["schema"] if schema["type"] == "default" else schema
    return bool(inner["type"] == "str" and "pattern" in inner)


def _field_schemas(model: type[WireModel]) -> dict[str, CoreSchema]:
    """Wire key -> the schema that validates it straight into its core value."""
    wire = _model_fields(model)
    time = millis_schema(empty=False)  # the models' rule, but "" goes the general way
    category = wire["category"]
    if category["type"] == "default":  # required here: a missing one is taken from the topic
        category = category["schema"]
    schemas: dict[str, CoreSchema] = {
        "category": {**category, "min_length": 1},
        "side": core_schema.enum_schema(Side, list(Side), sub_type="str"),
        "orderStatus": core_schema.enum_schema(OrderStatus, list(OrderStatus), sub_type="str"),
        "createdTime": core_schema.with_default_schema(time, default=0),
        "updatedTime": time,
        "execTime": time,
    }
    if model is PositionMsg:
        sides = POSITION_SIDES.__getitem__
        schemas["side"] = core_schema.no_info_after_validator_function(sides, wire["side"])
        schemas["updatedTime"] = core_schema.with_default_schema(time, default=0)
    for key, schema in wire.items():
        if key not in schemas:
            schemas[key] = _number_schema(key, schema) if _is_decimal_text(schema) else schema
    return schemas


class _FastKind(NamedTuple):
    """What the fast path knows of one kind of element."""

    #: wire key -> the schema that validates it straight into its core value
    schemas: dict[str, CoreSchema]
    #: core field -> wire key, in core field order
    fields: dict[str, str]
    #: the core fields' positions, in the order they are validated in
    order: list[int]
    #: the validated values -> core field order
    in_field_order: Callable[[tuple[Any, ...]], tuple[Any, ...]]


def _fast_kind(model: type[WireModel], fields: dict[str, str]) -> _FastKind:
    schemas = _field_schemas(model)
    optional = [schemas[key]["type"] == "default" for key in fields.values()]
    order = sorted(range(len(fields)), key=lambda i: optional[i])  # required first
    in_field_order = itemgetter(*(order.index(i) for i in range(len(fields))))
    return _FastKind(schemas, fields, order, in_field_order)


def _element_schema(kind: _FastKind) -> CoreSchema:
    names, keys = list(kind.fields), list(kind.fields.values())
    parameters = [
        core_schema.arguments_v3_parameter(
            name=names[i], schema=kind.schemas[keys[i]], alias=keys[i], mode="positional_or_keyword"
        )
        for i in kind.order
    ]
    return core_schema.arguments_v3_schema(parameters, extra_behavior="ignore")


_ORDER_FIELDS: Final = {
    "order_id": "orderId",
    "order_link_id": "orderLinkId",
    "category": "category",
    "symbol": "symbol",
    "side": "side",
    "position_idx": "positionIdx",
    "status": "orderStatus",
    "order_type": "orderType",
    "stop_order_type": "stopOrderType",
    "qty": "qty",
    "price": "price",
    "trigger_price": "triggerPrice",
    "cum_exec_qty": "cumExecQty",
    "cum_exec_value": "cumExecValue",
    "cum_exec_fee": "cumExecFee",
    "leaves_qty": "leavesQty",
    "avg_price": "avgPrice",
    "reduce_only": "reduceOnly",
    "time_in_force": "timeInForce",
    "create_type": "createType",
    "cancel_type": "cancelType",
    "reject_reason": "rejectReason",
    "created_time": "createdTime",
    "updated_time": "updatedTime",
}
#: ``Fill`` but its ``source`` (always STREAM here).
_EXECUTION_FIELDS: Final = {
    "exec_id": "execId",
    "order_id": "orderId",
    "order_link_id": "orderLinkId",
    "category": "category",
    "symbol": "symbol",
    "side": "side",
    "exec_type": "execType",
    "exec_qty": "execQty",
    "exec_price": "execPrice",
    "exec_value": "execValue",
    "exec_fee": "execFee",
    "fee_rate": "feeRate",
    "is_maker": "isMaker",
    "closed_size": "closedSize",
    "leaves_qty": "leavesQty",
    "exec_time": "execTime",
    "seq": "seq",
}
_POSITION_FIELDS: Final = {
    "category": "category",
    "symbol": "symbol",
    "position_idx": "positionIdx",
    "side": "side",
    "size": "size",
    "entry_price": "entryPrice",
    "mark_price": "markPrice",
    "unrealised_pnl": "unrealisedPnl",
    "cum_realised_pnl": "cumRealisedPnl",
    "seq": "seq",
    "updated_time": "updatedTime",
}
if (
    tuple(_ORDER_FIELDS) != Order._fields
    or tuple(_EXECUTION_FIELDS) != Fill._fields[:-1]
    or tuple(_POSITION_FIELDS) != PositionReport._fields
):
    raise TypeError("the fast path's fields are not the core values' fields, in order")

_ORDERS: Final = _fast_kind(OrderMsg, _ORDER_FIELDS)
_EXECUTIONS: Final = _fast_kind(ExecutionMsg, _EXECUTION_FIELDS)
_POSITIONS: Final = _fast_kind(PositionMsg, _POSITION_FIELDS)

# Positions of the fields the functions below look at: indexing a tuple costs a third of
# reading a NamedTuple attribute (a descriptor call), and these run for every element.
_AVG_PRICE: Final = Order._fields.index("avg_price")
_CUM_EXEC_QTY: Final = Order._fields.index("cum_exec_qty")
_SIDE: Final = PositionReport._fields.index("side")
_SIZE: Final = PositionReport._fields.index("size")

#: A validated element: (values in validation order, extra keyword arguments: none).
_Element = tuple[tuple[Any, ...], dict[str, Any]]


def orders_of(elements: list[_Element], topic: str, *_frame: object) -> tuple[str, list[Order]]:
    """(topic, the ``Order`` of each element) of a frame the fast order schema took."""
    orders = []
    values = _ORDERS.in_field_order
    for validated, _ in elements:
        order: Order = _new_tuple(Order, values(validated))
        if order[_AVG_PRICE] is not None and not order[_CUM_EXEC_QTY]:
            order = order._replace(avg_price=None)  # none before any fill, as order_from
        orders.append(order)
    return topic, orders


def fills_of(elements: list[_Element], topic: str, *_frame: object) -> tuple[str, list[Fill]]:
    """(topic, the ``Fill`` of each element) of a frame the fast execution schema took."""
    fills = []
    stream = FillSource.STREAM
    values = _EXECUTIONS.in_field_order
    for validated, _ in elements:  # (a loop: a comprehension is one more call)
        fills.append(_new_tuple(Fill, (*values(validated), stream)))
    return topic, fills


def positions_of(
    elements: list[_Element], topic: str, *_frame: object
) -> tuple[str, list[PositionReport]]:
    """(topic, the ``PositionReport`` of each element) of a frame the fast position
    schema took."""
    reports = []
    values = _POSITIONS.in_field_order
    for validated, _ in elements:
        report: PositionReport = _new_tuple(PositionReport, values(validated))
        if report[_SIDE] is None and report[_SIZE]:
            raise ValueError("size with an empty side")  # position_from names it
        reports.append(report)
    return topic, reports


def _fast_frames() -> SchemaValidator:
    frame = _model_fields(TopicFrame[OrderMsg])
    # creationTime as Bybit sends it, a JSON number (a string of digits goes the general
    # way, which takes it too: a union here would cost every frame)
    number = core_schema.int_schema(ge=0, le=MAX_MILLIS, strict=True)
    creation = core_schema.with_default_schema(number, default=0)
    choices: dict[Any, CoreSchema] = {}
    for kind, fast, assemble in (
        (Kind.ORDER, _ORDERS, orders_of),
        (Kind.EXECUTION, _EXECUTIONS, fills_of),
        (Kind.POSITION, _POSITIONS, positions_of),
    ):
        element = _element_schema(fast)
        parameters = [
            core_schema.arguments_v3_parameter(
                name=name, schema=schema, alias=name, mode="positional_or_keyword"
            )
            for name, schema in (
                ("data", core_schema.list_schema(element)),
                ("topic", frame["topic"]),
                ("id", frame["id"]),
                ("creationTime", creation),
            )
        ]
        arguments = core_schema.arguments_v3_schema(parameters, extra_behavior="ignore")
        schema = core_schema.call_schema(arguments, assemble)
        choices.update(dict.fromkeys((t for t, k in TOPICS.items() if k is kind), schema))
    return SchemaValidator(core_schema.tagged_union_schema(choices, discriminator="topic"))


class _NoFastPath:
    """Stands in for the fast path where pydantic-core predates arguments-v3 schemas
    (pydantic < 2.11): every frame then goes the general way."""

    @staticmethod
    def validate_json(_text: str | bytes) -> tuple[str, list[Any]]:
        raise ValueError("no fast path with this pydantic-core")


#: See above: ``FAST_FRAMES.validate_json(text)`` -> ``(topic, [Order | Fill |
#: PositionReport])``, or ``ValueError`` for anything the general path has to look at.
FAST_FRAMES: Final = (
    _fast_frames() if hasattr(core_schema, "arguments_v3_schema") else _NoFastPath()
)
