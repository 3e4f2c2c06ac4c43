"""Wire models -> core values, kept for code that holds a wire model (``OrderMsg``...):
each function takes the model's fields through the one decode path of ``oms.bybit.codec``
(``decode_element``), so a model becomes exactly what its frame element becomes.

Raises ``ValueError`` with the reason (the field first) when a value is well-typed but not
one Bybit defines (an unknown orderStatus or side, a negative quantity). A model keeps its
category as it came: ``""`` stays ``""`` (only a frame's topic gives an element one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from oms.bybit.codec import decode_element
from oms.bybit.frames import Kind
from oms.bybit.rules import AVG_PRICES, CACHE_SIZE, POSITION_SIDES, parse_decimal
from oms.core.fills import Fill, FillSource

if TYPE_CHECKING:
    from oms.bybit.models import WireModel
    from oms.core.orders import Order
    from oms.core.positions import PositionReport

__all__ = [
    "AVG_PRICES",
    "CACHE_SIZE",
    "POSITION_SIDES",
    "fast_fill_from",
    "fill_from",
    "order_from",
    "parse_decimal",
    "position_from",
]


def order_from(m: WireModel) -> Order:
    """The core ``Order`` of one ``order`` element."""
    return cast("Order", decode_element(Kind.ORDER, m.model_dump()))


def fill_from(m: WireModel, source: FillSource = FillSource.STREAM) -> Fill:
    """The core ``Fill`` of one ``execution`` element (or REST execution row)."""
    return cast("Fill", decode_element(Kind.EXECUTION, m.model_dump(), source=source))


def fast_fill_from(m: WireModel) -> Fill:
    """The core ``Fill`` of one ``execution.fast`` element (always a Trade, no fee)."""
    return cast("Fill", decode_element(Kind.FAST_EXECUTION, m.model_dump()))


def position_from(m: WireModel) -> PositionReport:
    """The core ``PositionReport`` of one ``position`` element."""
    return cast("PositionReport", decode_element(Kind.POSITION, m.model_dump()))
