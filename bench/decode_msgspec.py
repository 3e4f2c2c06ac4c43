"""msgspec against pydantic-core for the hot decode: stream frame text -> core values.

Both decoders are generated from the same field tables (``oms.bybit.wire``) and apply the
same wire rules (patterns, ranges, strict JSON types; ``""`` absent), so that the race is
fair: ``pydantic-core`` is ``oms.bybit.codec.FRAMES`` as shipped; ``msgspec`` decodes into
``msgspec.Struct`` types (a tagged union on ``topic``, unknown fields skipped, patterns and
bounds as ``msgspec.Meta``) and a generated Python function per kind then makes the core
``Order``/``Fill``/``PositionReport`` through the same caches the codec uses. Before timing,
every line's core values are checked equal on both paths.

Usage: ``.venv/bin/python bench/decode_msgspec.py CAPTURE.jsonl [--repeat N]`` (a capture
from ``bench/generate.py``). Prints the best and median seconds per pass and the ratio of
each to the JSON-parse floor (``pydantic_core.from_json``), and writes them as JSON with
``--results``. msgspec comes with the dev extra (it is not a dependency of oms).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import msgspec  # type: ignore[import-not-found,unused-ignore]  # not a dependency
import pydantic_core

from oms.bybit import rules, wire
from oms.bybit.codec import FRAMES
from oms.bybit.frames import TOPICS, Kind, category_of
from oms.core.fills import FillSource
from oms.core.orders import Side
from oms.core.states import OrderStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

_MILLIS: Final = rules.MILLIS_DIGITS
_DECIMAL_TEXT: Final = Annotated[str, msgspec.Meta(pattern=f"^(?:{rules.DECIMAL})?$")]
_SEQ: Final = Annotated[int, msgspec.Meta(ge=rules.SEQ_MIN, le=rules.SEQ_MAX)]
#: rule name -> the msgspec type of its wire value
_TYPES: Final[dict[str, Any]] = {
    "text": str,
    "category": str,
    "side": str,
    "position side": str,
    "status": str,
    "position index": Annotated[int, msgspec.Meta(ge=0, le=2)],
    "bool": bool,
    "optional bool": bool | None,
    "seq": _SEQ,
    "optional seq": _SEQ | None,
    "millis": Annotated[str, msgspec.Meta(pattern=f"^(?:{_MILLIS})?$")]
    | Annotated[int, msgspec.Meta(ge=0, le=rules.MAX_MILLIS)],
    "quantity": _DECIMAL_TEXT,
    "required decimal": _DECIMAL_TEXT,
    "decimal": _DECIMAL_TEXT,
}


class _RefusedError(ValueError):
    """A value the msgspec types took but the rules refuse."""


class _Strict(dict[str, Any]):
    def __missing__(self, key: str) -> Any:  # noqa: ANN401 - any core value
        raise _RefusedError(key)


_SIDES: Final = _Strict({"Buy": Side.BUY, "Sell": Side.SELL})
_STATUSES: Final = _Strict({s.value: s for s in OrderStatus})


def _quantity(text: str) -> Decimal:
    value = Decimal(text) if text else None
    if value is None or value < 0:
        raise _RefusedError(text)
    return value


def _millis(value: str | int) -> int:
    return value if isinstance(value, int) else int(value or 0)


def _required(text: str) -> Decimal:
    if not text:
        raise _RefusedError(text)
    return rules.parse_decimal(text)


#: rule name -> the Python expression that makes its core value of ``v``
_CONVERT: Final = {
    "side": "SIDES[{v}]",
    "status": "STATUSES[{v}]",
    "position side": "POSITION_SIDES[{v}]",
    "millis": "millis({v})",
    "quantity": "quantity({v})",
    "required decimal": "required({v})",
    "decimal": "(parse({v}) if {v} else None)",
}


def _struct(name: str, table: wire.Table) -> type[msgspec.Struct]:
    fields = []
    for column in sorted(table.columns, key=lambda c: not c.required):
        kind = _TYPES[column.rule.name]  # type: ignore[union-attr]
        fields.append(
            (column.wire, kind) if column.required else (column.wire, kind, column.default)
        )
    return msgspec.defstruct(name, fields)


def _maker(table: wire.Table, extra: dict[str, object]) -> Callable[[Any, str], Any]:
    """A generated ``make(struct, category)``: the core value, in its field order."""
    by_core = {c.core: c for c in table.columns}
    parts = []
    for name in table.core._fields:  # type: ignore[union-attr]
        if name in extra:
            parts.append(f"EXTRA[{name!r}]")
            continue
        column = by_core[name]
        expr = _CONVERT.get(column.rule.name, "{v}").format(v=f"s.{column.wire}")  # type: ignore[union-attr]
        if column.core == "category":
            expr = f"(s.{column.wire} or category)"
        parts.append(expr)
    names = {
        "SIDES": _SIDES,
        "STATUSES": _STATUSES,
        "POSITION_SIDES": rules.POSITION_SIDES,
        "millis": _millis,
        "quantity": _quantity,
        "required": _required,
        "parse": rules.parse_decimal,
        "EXTRA": extra,
        "new": tuple.__new__,
        "CORE": table.core,
    }
    code = f"def make(s, category):\n    return new(CORE, ({', '.join(parts)},))\n"
    exec(code, names)  # noqa: S102 - generated from the tables above, in a benchmark
    return names["make"]  # type: ignore[return-value]


def _finish(table: wire.Table, make: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    if table is wire.ORDER:

        def order(s: Any, category: str) -> Any:  # noqa: ANN401
            o = make(s, category)
            return (
                o._replace(avg_price=None) if o.avg_price is not None and not o.cum_exec_qty else o
            )

        return order
    if table is wire.POSITION:

        def position(s: Any, category: str) -> Any:  # noqa: ANN401
            p = make(s, category)
            if p.side is None and p.size:
                raise _RefusedError("size with an empty side")
            return p

        return position
    return make


def msgspec_decoder() -> tuple[Callable[[str], list[Any]], Callable[[str], object]]:
    """msgspec's ``text -> [core values]`` for order, execution and position frames; and
    its ``text -> Struct`` alone (the least the msgspec path can cost)."""
    tables = {Kind.ORDER: wire.ORDER, Kind.EXECUTION: wire.EXECUTION, Kind.POSITION: wire.POSITION}
    frames, makers = [], {}
    for kind, table in tables.items():
        element = _struct(f"{kind.name}Element", table)
        extra: dict[str, object] = {"source": FillSource.STREAM} if kind is Kind.EXECUTION else {}
        make = _finish(table, _maker(table, extra))
        for topic in (t for t, k in TOPICS.items() if k is kind):
            frame = msgspec.defstruct(
                f"Frame_{topic}",
                [
                    ("data", list[element]),  # type: ignore[valid-type]
                    ("id", str, ""),
                    ("creationTime", Annotated[int, msgspec.Meta(ge=0, le=rules.MAX_MILLIS)], 0),
                ],
                tag_field="topic",
                tag=topic,
            )
            frames.append(frame)
            makers[frame] = (make, category_of(topic))
    decoder = msgspec.json.Decoder(_union(frames))

    def decode(text: str) -> list[Any]:
        frame = decoder.decode(text)
        make, category = makers[frame.__class__]
        return [make(element, category) for element in frame.data]

    return decode, decoder.decode


def _union(types: list[type[msgspec.Struct]]) -> Any:  # noqa: ANN401 - a typing union
    union: Any = types[0]
    for kind in types[1:]:
        union = union | kind
    return union


def pydantic_decoder() -> Callable[[str], list[Any]]:
    """The shipped one pass (``oms.bybit.codec.FRAMES``)."""
    validate = FRAMES.validate_json

    def decode(text: str) -> list[Any]:
        return validate(text)[4]  # type: ignore[no-any-return]

    return decode


def _time(run: Callable[[], None], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def _loop(decode: Callable[[str], object], lines: Sequence[str]) -> Callable[[], None]:
    def run() -> None:
        for line in lines:
            decode(line)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Check both decoders agree on the capture, then time them against the floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--results", type=Path)
    args = parser.parse_args(argv)
    lines = args.capture.read_text(encoding="utf-8").splitlines()
    (fast, structs), slow = msgspec_decoder(), pydantic_decoder()
    for line in lines:
        if repr(fast(line)) != repr(slow(line)):
            print(f"the decoders disagree on {line[:200]}", file=sys.stderr)
            return 1
    runs = {
        "floor": _loop(pydantic_core.from_json, lines),
        "pydantic-core": _loop(slow, lines),
        "msgspec": _loop(fast, lines),
        "msgspec structs only": _loop(structs, lines),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):  # interleaved, so that drift hits all alike
        for name, run in runs.items():
            times[name] += _time(run, 1)
    floor = min(times["floor"])
    report = {
        name: {
            "best_s": round(min(t), 4),
            "median_s": round(statistics.median(t), 4),
            "x_floor_best": round(min(t) / floor, 3),
        }
        for name, t in times.items()
    }
    report["frames"] = len(lines)  # type: ignore[assignment]
    print(json.dumps(report, indent=2))
    if args.results:
        args.results.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
