"""What a decoded frame is: the topics, ``DataFrame`` (core values and the refused
elements), ``ControlFrame``, ``IgnoredFrame``; and the small helpers every stage uses to
show a frame (``excerpt``) or take it as text (``as_text``; a mapping that arrived
already parsed, such as pybit's dict, becomes a ``ParsedFrame``: its compact JSON)."""

from __future__ import annotations

import json
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from oms.errors import MalformedFrameError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from oms.bybit.models import ControlMsg

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
#: What ``decode`` and the ledger take: frame text, or a frame already parsed from JSON
#: (pybit hands its callbacks a ``dict``).
Text = str | bytes | bytearray | memoryview | Mapping[str, object]


class ParsedFrame(str):
    """The compact JSON of a frame that arrived already parsed (a mapping): the text oms
    decodes and journals for it, marked so the journal can say it is not the text the
    venue sent (its ``parsed`` column)."""

    __slots__ = ()


def parsed_frame(frame: Mapping[str, object]) -> ParsedFrame:
    """A mapping as compact JSON (``separators=(",", ":")``, ``ensure_ascii=False``);
    ``MalformedFrameError`` saying why if it is not JSON (a ``Decimal``, a ``datetime``,
    NaN, a cycle...). A float stays a JSON number, which every Bybit decimal field
    refuses (Bybit sends them as strings): no float ever becomes a ``Decimal``."""
    try:
        return ParsedFrame(
            json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        )
    except (TypeError, ValueError, RecursionError) as exc:
        reason = f"a parsed frame ({type(frame).__name__}) that is not JSON: {exc}"
        raise MalformedFrameError(reason[:300]) from None


def category_of(topic: str) -> str:
    """The category a categorised topic names (``order.spot`` -> spot); else linear."""
    tail = topic.rsplit(".", 1)[-1]
    return tail if tail in _CATEGORIES else "linear"


class DataFrame:
    """A frame of a tracked topic: its elements' core values (``Order``, ``Fill``,
    ``PositionReport``; the wallet's ``WalletMsg``), and ``errors`` naming the elements that
    were refused.

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
    bytes, a mapping becomes its ``parsed_frame``); ``MalformedFrameError`` naming its
    type if it is neither text nor a mapping."""
    if isinstance(frame, str | bytes):
        return frame
    if isinstance(frame, bytearray | memoryview):
        return bytes(frame)
    if isinstance(frame, Mapping):
        return parsed_frame(frame)
    raise MalformedFrameError(
        f"not text but {type(frame).__name__}: a frame is the str or bytes the stream "
        "received, or the dict a client parsed from it"
    )


def valid_unicode(text: str) -> str:
    """``text`` with every lone surrogate (not encodable text) replaced by U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
