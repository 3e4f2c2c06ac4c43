"""Frame text | REST row -> core values: one decode path, generated from the field tables
of ``oms.bybit.wire``.

``FRAMES.validate_json(text)`` takes an order, execution or position frame (picked by its
``topic``) from raw text to ``(kind, topic, id, creationTime, [core values])`` in one call:
pydantic-core parses the JSON and validates each element straight into its core value
(the rules' ``value`` schemas: numbers already ``Decimal``, sides and statuses already
enums), and Python only puts the values in field order and applies the rules that span
fields (``oms.bybit.finishers``). ``decode_element`` is the same schema and the same
finishing for one element (a REST row, an element of a refused frame).

Only when ``FRAMES`` refuses a frame (anything wrong in it, a wallet, a control frame, an
unknown topic) does ``decode_exactly`` parse the JSON to a tree and decode element by
element with ``decode_element``, so that one bad element is named, with the precise reason
(``describe``: ``oms.bybit.reasons``), without losing its valid siblings. A frame
``FRAMES`` takes comes out exactly as ``decode_exactly`` would make it, by construction:
the same schemas, the same finishing.

JSON ``null`` in a field that may be empty (``oms.bybit.wire.Column.may_be_empty``) is
read as ``""``; ``FRAMES`` takes no ``null`` (the hot path pays nothing for it), so a frame
holding one is decoded by ``decode_exactly``, whose ``decode_element`` reads each such
``null`` as ``""`` before validating. A ``null`` in any other field is refused, saying so.

A frame is text: ``str``, or UTF-8 ``bytes`` (``bytearray`` and ``memoryview`` are taken
as bytes). Anything else (a dict, a number, None) is refused with ``MalformedFrameError``
naming its type, like any other unusable frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, NoReturn

import pydantic_core
from pydantic_core import CoreSchema, SchemaValidator, ValidationError, core_schema

from oms.bybit import wire
from oms.bybit.finishers import fill_finisher, order_finisher, position_finisher
from oms.bybit.frames import (
    OTHER_PRIVATE_TOPICS,
    TOPICS,
    ControlFrame,
    ControlKind,
    DataFrame,
    Decoded,
    IgnoredFrame,
    Kind,
    Text,
    as_text,
    category_of,
    excerpt,
    valid_unicode,
)
from oms.bybit.reasons import describe
from oms.bybit.rules import CREATION_TIME
from oms.core.fills import FillSource
from oms.errors import MalformedFrameError

if TYPE_CHECKING:
    from collections.abc import Callable

    from pydantic import TypeAdapter

    from oms.bybit.finishers import Assemble, Assembler, Build
    from oms.bybit.models import WireModel
    from oms.bybit.wire import Table
    from oms.core.ledger import Update

__all__ = [
    "FRAMES",
    "OTHER_PRIVATE_TOPICS",
    "TOPICS",
    "ControlFrame",
    "ControlKind",
    "DataFrame",
    "Decoded",
    "IgnoredFrame",
    "Kind",
    "Text",
    "as_text",
    "category_of",
    "decode",
    "decode_element",
    "decode_exactly",
    "describe",
    "excerpt",
    "valid_unicode",
]


@dataclass(frozen=True, slots=True)
class _Decoder:
    """One table, compiled: its element schema, and how validated values become core
    values: ``assembler(category, tail, kind)`` makes the function that turns every
    validated element of a frame into its core value in one call (``category`` for those
    that have none, ``tail``: the fixed and context values), which ``FRAMES`` calls once
    per frame of a topic, and ``decode_element`` with one element."""

    table: Table
    #: the element schema: each field's rule, in the table's order (see _element_schema)
    schema: CoreSchema
    validator: SchemaValidator
    #: the same rules with the required fields first, which names every refused field with
    #: its reason ("Field required" too): run only for an element ``validator`` refused
    reporter: SchemaValidator
    assembler: Assembler
    #: the tail of each context (a fill's source); ``()`` without context
    tails: dict[object, tuple[Any, ...]]
    #: wire keys whose ``null`` is read as ``""``
    blanks: frozenset[str]


class _MissingFieldError(ValueError):
    """A required field is absent (raised by the element schema; see _element_schema)."""


def _absent() -> NoReturn:
    raise _MissingFieldError


def _field_schema(column: wire.Column) -> CoreSchema:
    schema = column.rule.value  # type: ignore[union-attr]  # (only the wallet nests)
    if column.required:
        return schema
    default = SchemaValidator(schema).validate_python(column.default)  # its core value
    return core_schema.with_default_schema(schema, default=default)


def _element_schema(table: Table) -> CoreSchema:
    """Each field's rule, in the table's order, into a plain tuple: with the fixed and
    context values after it, a core value's fields in order, which becomes the NamedTuple
    with one copy (measured: a dict costs 8k more instructions per order frame, and
    reordering the tuple 3.5k). An arguments schema takes a required parameter only
    before every defaulted one, so here every parameter has a default: a required
    field's raises ``_MissingFieldError`` (a ``ValueError``), which refuses the element
    without its reason; ``_Decoder.reporter`` then says why."""
    parameters = [
        core_schema.arguments_v3_parameter(
            name=column.core,
            schema=(
                core_schema.with_default_schema(column.rule.value, default_factory=_absent)  # type: ignore[union-attr]
                if column.required
                else _field_schema(column)
            ),
            alias=column.wire,
        )
        for column in table.columns
    ]
    return core_schema.arguments_v3_schema(parameters, extra_behavior="ignore")


def _reporter_schema(table: Table) -> CoreSchema:
    """The rules of ``_element_schema`` with the required fields first (no defaults)."""
    parameters = [
        core_schema.arguments_v3_parameter(
            name=column.core, schema=_field_schema(column), alias=column.wire
        )
        for column in sorted(table.columns, key=lambda c: not c.required)
    ]
    return core_schema.arguments_v3_schema(parameters, extra_behavior="ignore")


def _builder(table: Table) -> Build | None:
    """values + tail (the fixed values, then the context's) -> the core fields in order;
    None when they are in order already (the order, execution and position tables)."""
    names = [c.core for c in table.columns] + [*table.fixed, *table.context]
    fields: tuple[str, ...] = table.core._fields  # type: ignore[union-attr]
    if tuple(names) == fields:
        return None
    return itemgetter(*(names.index(name) for name in fields))


def _compile(table: Table, finisher: Callable[[Build | None, Any], Assembler]) -> _Decoder:
    contexts: dict[object, tuple[Any, ...]] = {None: tuple(table.fixed.values())}
    if table.context == ("source",):
        contexts = {source: (source,) for source in FillSource}
    schema = _element_schema(table)
    validator = SchemaValidator(schema)
    reporter = SchemaValidator(_reporter_schema(table))
    assembler = finisher(_builder(table), table.core)
    return _Decoder(table, schema, validator, reporter, assembler, contexts, _blanks(table))


def _blanks(table: Table) -> frozenset[str]:
    return frozenset(c.wire for c in table.columns if c.may_be_empty)


#: The wallet's tables (not decoded into core values): the keys whose ``null`` is ``""``.
_WALLET_BLANKS: Final = {table.name: _blanks(table) for table in (wire.WALLET, wire.WALLET_COIN)}


def _blank_wallet(table: Table, element: object) -> object:
    """A wallet element (or coin) with ``null`` read as ``""`` where its field may be
    empty, the coins too; anything but an object as it is (the model refuses it)."""
    if type(element) is not dict:
        return element
    blanks = _WALLET_BLANKS[table.name]
    out = {k: "" if v is None and k in blanks else v for k, v in element.items()}
    for column in table.columns:
        rows = out.get(column.wire)
        if column.nested is not None and isinstance(rows, list):
            out[column.wire] = [_blank_wallet(column.nested, row) for row in rows]
    return out


_DECODERS: Final[dict[Kind, _Decoder]] = {
    Kind.ORDER: _compile(wire.ORDER, order_finisher),
    Kind.EXECUTION: _compile(wire.EXECUTION, fill_finisher),
    Kind.FAST_EXECUTION: _compile(wire.FAST_EXECUTION, fill_finisher),
    Kind.POSITION: _compile(wire.POSITION, position_finisher),
}


@cache
def _wallet() -> TypeAdapter[WireModel]:
    """The wallet's validator, built on the first wallet element: the models need pydantic
    itself, which a replay of orders, executions and positions never loads."""
    from pydantic import TypeAdapter  # noqa: PLC0415 - loaded for the first wallet only

    from oms.bybit.models import WalletMsg  # noqa: PLC0415

    return TypeAdapter(WalletMsg)


# --- one frame in one call -------------------------------------------------------------------

#: topic -> the category of its elements that have none (``order.spot`` -> spot; else linear)
_TOPIC_CATEGORY: Final = {topic: category_of(topic) for topic in TOPICS}


def _assembler(kind: Kind, decoder: _Decoder, topic: str) -> Assemble:
    """The frame of one topic from its validated parts (its category, the stream's tail
    and the kind constants there)."""
    tail = decoder.tails[FillSource.STREAM if FillSource.STREAM in decoder.tails else None]
    return decoder.assembler(category_of(topic), tail, kind)


def _frames() -> SchemaValidator:
    creation = core_schema.with_default_schema(CREATION_TIME.value, default=0)
    choices: dict[Any, CoreSchema] = {}
    for kind, decoder in _DECODERS.items():
        parameters = [
            core_schema.arguments_v3_parameter(name=name, schema=schema, alias=name)
            for name, schema in (
                ("data", core_schema.list_schema(decoder.schema)),
                ("topic", core_schema.str_schema()),
                ("id", core_schema.with_default_schema(core_schema.str_schema(), default="")),
                ("creationTime", creation),
            )
        ]
        arguments = core_schema.arguments_v3_schema(parameters, extra_behavior="ignore")
        for topic in (t for t, k in TOPICS.items() if k is kind):
            choices[topic] = core_schema.call_schema(arguments, _assembler(kind, decoder, topic))
    return SchemaValidator(core_schema.tagged_union_schema(choices, discriminator="topic"))


#: ``FRAMES.validate_json(text)`` -> ``(kind, topic, id, creationTime, [Order | Fill |
#: PositionReport])``; ``ValueError`` (a ``ValidationError``) for any frame that is not a
#: clean order, execution or position frame, ``TypeError`` for input that is not text.
FRAMES: Final = _frames()


def decode(text: Text) -> Decoded:
    """Decode one raw frame. Raises ``MalformedFrameError`` when nothing in it is usable
    (also when it is not text: see ``as_text``)."""
    try:
        kind, topic, frame_id, creation, values = FRAMES.validate_json(text)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return decode_exactly(text)
    return DataFrame(kind, topic, frame_id, creation, values)


# --- element by element, for the reason --------------------------------------------------------


def decode_element(
    kind: Kind, element: object, *, category: str = "", source: FillSource = FillSource.STREAM
) -> Update | WireModel:
    """The core value of one element (or REST row: ``source``) of ``kind``, whose category
    is ``category`` when it has none (``""``: none). ``ValueError`` with the reason (the
    field first) if it is refused."""
    if kind is Kind.WALLET:
        try:
            return _wallet().validate_python(_blank_wallet(wire.WALLET, element))
        except ValidationError as exc:
            raise ValueError(describe(exc)) from exc
    decoder = _DECODERS[kind]
    if type(element) is dict and None in element.values():  # (rare: FRAMES takes none)
        element = {k: "" if v is None and k in decoder.blanks else v for k, v in element.items()}
    try:
        validated, _ = decoder.validator.validate_python(element)
    except ValueError:  # a ValidationError, or _MissingFieldError: the reason from reporter
        try:
            decoder.reporter.validate_python(element)
        except ValidationError as exc:
            raise ValueError(describe(exc, table=decoder.table)) from exc
        raise  # (the two schemas refuse alike: not reached)
    tails = decoder.tails
    tail = tails.get(source, tails.get(None, ()))
    assemble = decoder.assembler(category, tail, kind)
    return assemble([(validated, {})], "", "", 0)[4][0]  # type: ignore[no-any-return]


def decode_exactly(text: Text) -> Decoded:
    """``decode`` the slow way: the JSON as a tree, then element by element, so that each
    refused element is named with its reason and its valid siblings kept."""
    tree = _parse(as_text(text))
    if not isinstance(tree, dict):
        raise MalformedFrameError(f"not a JSON object but {type(tree).__name__}")
    if "topic" not in tree:
        if "op" in tree or "ret_msg" in tree or tree.get("type") in ("AUTH_RESP", "COMMAND_RESP"):
            return _control(tree)
        raise MalformedFrameError("object with neither 'topic' nor 'op'")
    topic = tree["topic"]
    if not isinstance(topic, str):
        raise MalformedFrameError(f"'topic' is not a string: {topic!r}"[:200])
    kind = TOPICS.get(topic)
    if kind is None:
        known = topic in OTHER_PRIVATE_TOPICS
        return IgnoredFrame(topic, "untracked topic" if known else "unknown topic")
    frame = _envelope(tree, kind, topic)
    category = _TOPIC_CATEGORY[topic]
    for index, element in enumerate(tree["data"]):
        try:
            frame.elements.append(decode_element(kind, element, category=category))
        except ValueError as exc:
            frame.errors.append(MalformedFrameError(str(exc), topic=topic, index=index))
        else:
            frame.indices.append(index)  # type: ignore[union-attr]
    return frame


def _envelope(tree: dict[str, Any], kind: Kind, topic: str) -> DataFrame:
    """An empty frame of ``tree``'s envelope; ``MalformedFrameError`` if it is unusable."""
    data = tree.get("data")
    if not isinstance(data, list):
        what = "missing" if "data" not in tree else f"{type(data).__name__}, not a list"
        raise MalformedFrameError(f"'data' is {what}", topic=topic)
    frame_id = tree.get("id", "")
    if not isinstance(frame_id, str):
        raise MalformedFrameError(f"'id' must be a string, not {frame_id!r}"[:200], topic=topic)
    try:  # the very rule of FRAMES
        creation = _CREATION_TIME.validate_python(tree.get("creationTime", 0))
    except ValidationError as exc:
        raise MalformedFrameError(
            f"creationTime: {describe(exc, located=False)}", topic=topic
        ) from exc
    return DataFrame(kind, topic, frame_id, creation, [], [], [])


_CREATION_TIME: Final = SchemaValidator(CREATION_TIME.value)


def _parse(text: str | bytes) -> object:
    try:
        return pydantic_core.from_json(text)
    except ValueError as exc:
        raise MalformedFrameError(f"not JSON ({exc}): {excerpt(text)!r}") from exc
    except TypeError as exc:  # a str holding a lone surrogate: not Unicode text at all
        shown = excerpt(text)
        raise MalformedFrameError(f"not valid Unicode text (a lone surrogate): {shown!r}") from exc


def _control(tree: dict[str, Any]) -> ControlFrame:
    try:
        from oms.bybit.models import ControlMsg  # noqa: PLC0415 - see _wallet

        message = ControlMsg.model_validate(tree)
    except ValidationError as exc:
        raise MalformedFrameError(f"control frame: {describe(exc)}") from exc
    if message.op == "pong" or message.ret_msg == "pong":
        kind = ControlKind.PONG
    elif message.op == "auth" or message.type == "AUTH_RESP":
        kind = ControlKind.AUTH
    elif message.op == "subscribe" or message.type == "COMMAND_RESP":
        kind = ControlKind.SUBSCRIBE
    elif message.op == "unsubscribe":
        kind = ControlKind.UNSUBSCRIBE
    else:
        kind = ControlKind.OTHER
    return ControlFrame(kind, message)
