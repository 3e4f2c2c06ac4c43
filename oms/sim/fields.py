"""Reading one order-entry request as Bybit reads it, and ``Refused``: what Bybit answers
with a non-zero retCode.

Values are the JSON-decoded body: numbers travel as strings (``"0.01"``), ``positionIdx``
and ``triggerDirection`` as ints (pybit sends ``positionIdx`` as an int; a digit string is
read too), flags as bools. A JSON ``null`` reads as absent, unknown fields are ignored;
anything else of the wrong type is refused with 10001 and says which field.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

__all__ = ["PARAMS", "Refused", "flag", "integer", "number", "text"]

#: retCode of a request parameter error
PARAMS: Final = 10001
_LINK_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,36}")
#: the longest number text read (Bybit's own never come close)
_LONGEST: Final = 40
#: a number as Bybit writes one: ASCII digits (``\d`` takes any script's), at most 20
#: before the point (so that the default context's 28 digits hold it with 8 decimals)
_NUMBER: Final = re.compile(r"[0-9]{1,20}(\.[0-9]+)?")


class Refused(Exception):  # noqa: N818 - the contract's name: Bybit refused the request
    """A request Bybit refuses (``code`` is its retCode, ``message`` its retMsg):
    nothing changed."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def text(
    request: Mapping[str, object], name: str, *, default: str = "",
    allowed: Collection[str] | None = None,
) -> str:  # fmt: skip
    """A string field ("" and null read as absent: ``default``), one of ``allowed``."""
    value = request.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise Refused(PARAMS, f"params error: {name} must be a string")
    if allowed is not None and value not in allowed:
        raise Refused(PARAMS, f"params error: {name} invalid: {value!r}")
    return value


def number(request: Mapping[str, object], name: str) -> Decimal | None:
    """A decimal number sent as a string (None when absent); a JSON number, a negative,
    NaN or an exponent is refused."""
    value = request.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Refused(PARAMS, f'params error: {name} must be a string, e.g. "0.01"')
    if len(value) > _LONGEST or not _NUMBER.fullmatch(value):
        raise Refused(PARAMS, f"params error: {name} invalid: {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits decimals only
        raise Refused(PARAMS, f"params error: {name} invalid: {value!r}") from None


def integer(
    request: Mapping[str, object], name: str, *, default: int, allowed: Collection[int]
) -> int:
    """An int field (a digit string reads too; a bool or float is refused)."""
    value = request.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise Refused(PARAMS, f"params error: {name} invalid: {value!r}")
    return value


def flag(request: Mapping[str, object], name: str) -> bool:
    """A bool field (absent: false); the strings "true"/"false" read too."""
    value = request.get(name)
    if value is None:
        return False
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if not isinstance(value, bool):
        raise Refused(PARAMS, f"params error: {name} must be true or false")
    return value


def link_id(request: Mapping[str, object]) -> str:
    """The orderLinkId ("" when absent): at most 36 letters, digits, ``-`` and ``_``."""
    value = text(request, "orderLinkId")
    if value and not _LINK_ID.fullmatch(value):
        raise Refused(PARAMS, "params error: orderLinkId is at most 36 letters, digits, '-' or '_'")
    return value
