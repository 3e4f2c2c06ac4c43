"""Validated elements -> core values: the rules that span fields, one finisher per kind.

``oms.bybit.codec`` validates each field of an element on its own (the rules of
``oms.bybit.rules``); what needs two fields at once is here: a category taken from the
topic for an element that has none, no average price before any fill, no size on a flat
side. A finisher makes the assemblers of its kind: ``assembler(category, tail, kind)`` is
the function that turns every validated element of a frame into its core value in one
call, which ``FRAMES`` calls once per frame of a topic and ``decode_element`` with one
element. Kept apart from the schemas they finish, which the codec builds from the tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from oms.bybit.frames import Kind
from oms.core.fills import Fill
from oms.core.orders import Order
from oms.core.positions import PositionReport

__all__ = ["Assemble", "Assembler", "Build", "fill_finisher", "order_finisher", "position_finisher"]

_new_tuple: Final = tuple.__new__
#: A validated element: (values in validation order, extra keyword arguments: none).
_Validated = tuple[tuple[Any, ...], dict[str, Any]]
#: A decoded frame: (kind, topic, id, creationTime, [core values]).
_Frame = tuple[Kind, str, str, int, list[Any]]
#: ``assemble(elements, topic, frame_id, creation)``: the frame of validated elements.
Assemble = Callable[[list[_Validated], str, str, int], _Frame]
#: ``assembler(category, tail, kind)``: the ``Assemble`` of frames of one topic (see
#: ``oms.bybit.codec._Decoder``).
Assembler = Callable[[str, tuple[Any, ...], Kind], Assemble]
#: values + tail -> the core fields in order (an ``itemgetter``)
Build = Callable[[tuple[Any, ...]], tuple[Any, ...]]


# Positions, not attributes: indexing a tuple costs a third of reading a NamedTuple
# attribute (a descriptor call), and these run for every element. Derived from the core
# types the tables make (``oms.bybit.wire``), which this compiled module can type.
_ORDER_CATEGORY: Final = Order._fields.index("category")
_FILL_CATEGORY: Final = Fill._fields.index("category")
_POSITION_CATEGORY: Final = PositionReport._fields.index("category")
_AVG_PRICE: Final = Order._fields.index("avg_price")
_CUM_EXEC_QTY: Final = Order._fields.index("cum_exec_qty")
_SIDE: Final = PositionReport._fields.index("side")
_SIZE: Final = PositionReport._fields.index("size")


# One function per kind and topic finishes every element of a frame, and is what FRAMES
# calls: one call per frame, not two per element (it runs for every frame; the rules are
# written once per kind, in the factory). ``tuple.__new__`` makes the NamedTuple without
# its Python-level ``__new__``. A loop, not a comprehension: one call fewer.


def order_finisher(build: Build | None, core: Any) -> Assembler:  # noqa: ANN401 - Order
    def assembler(category: str, tail: tuple[Any, ...], kind: Kind) -> Assemble:
        def assemble(data: list[_Validated], topic: str, frame_id: str, creation: int) -> _Frame:
            orders = []
            for validated, _ in data:
                values = validated + tail
                order = _new_tuple(core, values if build is None else build(values))
                if not order[_ORDER_CATEGORY] and category:  # "" (a REST row's none)
                    order = order._replace(category=category)
                if order[_AVG_PRICE] is not None and not order[_CUM_EXEC_QTY]:
                    order = order._replace(avg_price=None)  # none before any fill
                orders.append(order)
            return kind, topic, frame_id, creation, orders

        return assemble

    return assembler


def fill_finisher(build: Build | None, core: Any) -> Assembler:  # noqa: ANN401 - Fill
    def assembler(category: str, tail: tuple[Any, ...], kind: Kind) -> Assemble:
        def assemble(data: list[_Validated], topic: str, frame_id: str, creation: int) -> _Frame:
            fills = []
            for validated, _ in data:
                values = validated + tail
                fill = _new_tuple(core, values if build is None else build(values))
                if not fill[_FILL_CATEGORY] and category:
                    fill = fill._replace(category=category)
                fills.append(fill)
            return kind, topic, frame_id, creation, fills

        return assemble

    return assembler


def position_finisher(build: Build | None, core: Any) -> Assembler:  # noqa: ANN401 - PositionReport
    def assembler(category: str, tail: tuple[Any, ...], kind: Kind) -> Assemble:
        def assemble(data: list[_Validated], topic: str, frame_id: str, creation: int) -> _Frame:
            reports = []
            for validated, _ in data:
                values = validated + tail
                report = _new_tuple(core, values if build is None else build(values))
                if report[_SIDE] is None and report[_SIZE]:
                    raise ValueError(f"size: {report[_SIZE]} with an empty side")
                if not report[_POSITION_CATEGORY] and category:
                    report = report._replace(category=category)
                reports.append(report)
            return kind, topic, frame_id, creation, reports

        return assemble

    return assembler
