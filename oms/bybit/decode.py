"""Raw text frame -> a decoded frame, or ``MalformedFrameError`` with the reason.

The fast path finds the topic with a regular expression and validates the whole frame in
one pass (pydantic-core parses and validates the JSON in Rust). Only when that fails does
the slow path parse the JSON to a tree and validate element by element, so that one bad
element is named (and refused) without losing its valid siblings. Both paths apply the
same rules (``oms.bybit.messages`` lists the bounds), and both let the last of two equal
keys win.

A frame is text: ``str``, or UTF-8 ``bytes`` (``bytearray`` and ``memoryview`` are taken
as bytes). Anything else (a dict, a number, None) is refused with ``MalformedFrameError``
naming its type, like any other unusable frame.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

import pydantic_core
from pydantic import TypeAdapter, ValidationError

from oms.bybit.messages import (
    DECIMAL_RULE,
    ControlMsg,
    CreationTime,
    ExecutionMsg,
    FastExecutionMsg,
    OrderMsg,
    PositionMsg,
    TopicFrame,
    WalletMsg,
    WireModel,
)
from oms.errors import MalformedFrameError

if TYPE_CHECKING:
    from collections.abc import Iterable

_EXCERPT: Final = 120


class Kind(Enum):
    """What a data frame carries."""

    __hash__ = object.__hash__  # identity hash in C (members are singletons)

    #: ``order`` and ``order.<category>``
    ORDER = "order"
    #: ``execution`` and ``execution.<category>``
    EXECUTION = "execution"
    #: ``execution.fast`` and ``execution.fast.<category>``
    FAST_EXECUTION = "execution.fast"
    #: ``position`` and ``position.<category>``
    POSITION = "position"
    #: ``wallet``
    WALLET = "wallet"


_CATEGORIES: Final = ("spot", "linear", "inverse", "option")
_MODELS: Final[dict[Kind, type[WireModel]]] = {
    Kind.ORDER: OrderMsg,
    Kind.EXECUTION: ExecutionMsg,
    Kind.FAST_EXECUTION: FastExecutionMsg,
    Kind.POSITION: PositionMsg,
    Kind.WALLET: WalletMsg,
}


def _topic_table() -> dict[str, Kind]:
    table = {"wallet": Kind.WALLET}
    for kind, cats in (
        (Kind.ORDER, _CATEGORIES),
        (Kind.EXECUTION, _CATEGORIES),
        (Kind.FAST_EXECUTION, _CATEGORIES),
        (Kind.POSITION, ("linear", "inverse", "option")),  # no spot positions
    ):
        table[kind.value] = kind
        for cat in cats:
            table[f"{kind.value}.{cat}"] = kind
    return table


#: Exact topic names the ledger applies. Anything else is recognised and ignored.
TOPICS: Final[dict[str, Kind]] = _topic_table()
#: Private topics that exist but carry nothing the ledger tracks.
OTHER_PRIVATE_TOPICS: Final = frozenset(
    {
        "greeks",
        "dcp.future",
        "dcp.spot",
        "dcp.option",
        "strategy",
        "spread.order",
        "spread.execution",
        "rfq.open.rfqs",
        "rfq.open.quotes",
        "rfq.open.trades",
    }
)

_FRAME_ADAPTERS: Final[dict[Kind, TypeAdapter[Any]]] = {
    Kind.ORDER: TypeAdapter(TopicFrame[OrderMsg]),
    Kind.EXECUTION: TypeAdapter(TopicFrame[ExecutionMsg]),
    Kind.FAST_EXECUTION: TypeAdapter(TopicFrame[FastExecutionMsg]),
    Kind.POSITION: TypeAdapter(TopicFrame[PositionMsg]),
    Kind.WALLET: TypeAdapter(TopicFrame[WalletMsg]),
}
_ELEMENT_ADAPTERS: Final[dict[Kind, TypeAdapter[Any]]] = {
    kind: TypeAdapter(model) for kind, model in _MODELS.items()
}
_CREATION_TIME: Final[TypeAdapter[int]] = TypeAdapter(CreationTime)
_TOPIC_RE: Final = re.compile(r'"topic"\s*:\s*"([^"\\]*)"')
#: Frame text: what ``decode`` takes.
Text = str | bytes | bytearray | memoryview


class DataFrame:
    """A frame of a tracked topic. ``errors`` names elements that were refused.

    A plain slotted class rather than a frozen dataclass: one is made per frame, and a
    frozen dataclass's constructor costs several times more."""

    __slots__ = ("creation_time", "elements", "errors", "frame_id", "indices", "kind", "topic")

    def __init__(
        self,
        kind: Kind,
        topic: str,
        frame_id: str,
        creation_time: int,
        elements: list[Any],
        errors: list[MalformedFrameError] | None = None,
        indices: list[int] | None = None,
    ) -> None:
        self.kind = kind
        self.topic = topic
        self.frame_id = frame_id
        self.creation_time = creation_time
        self.elements = elements
        self.errors: list[MalformedFrameError] = errors if errors is not None else []
        #: position of each valid element in ``data`` (None: all of them, in order)
        self.indices = indices

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataFrame):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable lists inside: not hashable

    def __repr__(self) -> str:
        return (
            f"DataFrame(kind={self.kind}, topic={self.topic!r}, elements={len(self.elements)}, "
            f"errors={len(self.errors)})"
        )

    def numbered(self) -> Iterable[tuple[int, Any]]:
        """(index in ``data``, element) of every valid element."""
        if self.indices is None:
            return enumerate(self.elements)
        return zip(self.indices, self.elements, strict=True)


class ControlKind(Enum):
    """Which control frame."""

    __hash__ = object.__hash__  # identity hash in C (members are singletons)

    #: reply to ``{"op":"auth"}``
    AUTH = "auth"
    #: reply to ``{"op":"subscribe"}``
    SUBSCRIBE = "subscribe"
    #: reply to ``{"op":"unsubscribe"}``
    UNSUBSCRIBE = "unsubscribe"
    #: ``{"op":"pong"}`` (private) or ``{"ret_msg":"pong","op":"ping"}`` (public shape)
    PONG = "pong"
    #: any other ``op``
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ControlFrame:
    """A control frame: not state, but the stream needs to see it."""

    kind: ControlKind
    message: ControlMsg

    @property
    def success(self) -> bool:
        """False only when the venue said ``success: false``."""
        return self.message.success is not False


@dataclass(frozen=True, slots=True)
class IgnoredFrame:
    """A well-formed frame of a topic the ledger does not track."""

    topic: str
    reason: str


Decoded = DataFrame | ControlFrame | IgnoredFrame


def excerpt(text: object) -> str:
    """A short printable prefix of a frame, for reasons and logs (a short ``repr`` of
    anything that is not text)."""
    cut = False
    if isinstance(text, memoryview):
        text = text.tobytes()  # (slicing fails on a multi-dimensional view)
    if isinstance(text, bytes | bytearray):
        cut = len(text) > _EXCERPT * 4  # 4 bytes at most per character
        text = bytes(text[: _EXCERPT * 4]).decode("utf-8", "replace")
    elif not isinstance(text, str):
        text = reprlib.repr(text)  # bounded, however big the object
    text = text if len(text) <= _EXCERPT and not cut else text[:_EXCERPT] + "..."
    return valid_unicode(text)  # printable and storable, whatever the frame held


def as_text(frame: object) -> str | bytes:
    """``frame`` as ``str`` or ``bytes`` (``bytearray`` and ``memoryview`` are copied to
    bytes); ``MalformedFrameError`` naming its type if it is not text at all."""
    if isinstance(frame, str | bytes):
        return frame
    if isinstance(frame, bytearray | memoryview):
        return bytes(frame)
    raise MalformedFrameError(
        f"not text but {type(frame).__name__}: a frame is the str or bytes the stream received"
    )


def decode(text: Text) -> Decoded:
    """Decode one raw frame. Raises ``MalformedFrameError`` when nothing in it is usable
    (also when it is not text: see ``as_text``)."""
    if text.__class__ is str:
        match = _TOPIC_RE.search(text)
    else:
        text = as_text(text)
        match = _TOPIC_RE.search(text if isinstance(text, str) else text.decode("utf-8", "replace"))
    if match is not None:
        kind = TOPICS.get(match.group(1))
        if kind is not None:
            try:
                frame = _FRAME_ADAPTERS[kind].validate_json(text)
            except ValidationError:
                pass  # the slow path says exactly what is wrong
            else:
                if frame.topic == match.group(1):
                    return DataFrame(kind, frame.topic, frame.id, frame.creationTime, frame.data)
    return _decode_slowly(text)


def valid_unicode(text: str) -> str:
    """``text`` with every lone surrogate (not encodable text) replaced by U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _parse(text: str | bytes) -> object:
    try:
        return pydantic_core.from_json(text)
    except ValueError as exc:
        raise MalformedFrameError(f"not JSON ({exc}): {excerpt(text)!r}") from exc
    except TypeError as exc:  # a str holding a lone surrogate: not Unicode text at all
        shown = excerpt(text)
        raise MalformedFrameError(f"not valid Unicode text (a lone surrogate): {shown!r}") from exc


def _decode_slowly(text: str | bytes) -> Decoded:
    tree = _parse(text)
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
    data = tree.get("data")
    if not isinstance(data, list):
        what = "missing" if "data" not in tree else f"{type(data).__name__}, not a list"
        raise MalformedFrameError(f"'data' is {what}", topic=topic)
    frame_id = tree.get("id", "")
    if not isinstance(frame_id, str):
        raise MalformedFrameError(f"'id' must be a string, not {frame_id!r}"[:200], topic=topic)
    try:  # the very rule of the one-pass path (oms.bybit.messages.CreationTime)
        creation = _CREATION_TIME.validate_python(tree.get("creationTime", 0))
    except ValidationError as exc:
        raise MalformedFrameError(
            f"creationTime: {describe(exc, located=False)}", topic=topic
        ) from exc
    indices, elements, errors = _validate_elements(kind, topic, data)
    return DataFrame(kind, topic, frame_id, creation, elements, errors, indices)


def _validate_elements(
    kind: Kind, topic: str, data: list[Any]
) -> tuple[list[int], list[Any], list[MalformedFrameError]]:
    """Validate each element on its own, so one bad element does not sink the rest."""
    adapter = _ELEMENT_ADAPTERS[kind]
    indices: list[int] = []
    elements: list[Any] = []
    errors: list[MalformedFrameError] = []
    for index, element in enumerate(data):
        try:
            elements.append(adapter.validate_python(element))
        except ValidationError as exc:
            errors.append(MalformedFrameError(describe(exc), topic=topic, index=index))
        else:
            indices.append(index)
    return indices, elements, errors


def _control(tree: dict[str, Any]) -> ControlFrame:
    try:
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


def describe(exc: ValidationError, *, located: bool = True) -> str:
    """A one-line reason from a pydantic error: ``field: message (got value)`` (without
    the ``field: `` when not ``located``)."""
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "element"
        got = repr(err.get("input"))
        if len(got) > 40:
            got = got[:40] + "..."
        message = DECIMAL_RULE if err["type"] == "string_pattern_mismatch" else err["msg"]
        parts.append(f"{loc}: {message} (got {got})" if located else f"{message} (got {got})")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
