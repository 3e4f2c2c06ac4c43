"""A pydantic refusal -> the one-line reason oms reports: ``field: message (got value)``.

The codec (an element, a frame's envelope, a control frame) and the REST rows it decodes
all say why in the same words: the rules' own texts for a bad decimal or an unknown value,
``Field required`` for a missing field, ``not null`` where ``null`` is not read as ``""``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from oms.bybit.rules import DECIMAL_RULE, UNKNOWN_VALUE

if TYPE_CHECKING:
    from pydantic_core import ValidationError

    from oms.bybit.wire import Table

__all__ = ["describe"]

#: pydantic error type -> what a reason says (the rest: pydantic's own message)
_MESSAGES: Final = {
    "string_pattern_mismatch": DECIMAL_RULE,
    "missing_argument": "Field required",
    "arguments_type": "not an object",
    "enum": UNKNOWN_VALUE,
}


def describe(exc: ValidationError, *, located: bool = True, table: Table | None = None) -> str:
    """A one-line reason from a pydantic error: ``field: message (got value)`` (without
    the ``field: `` when not ``located``); the fields in ``table``'s order, if given."""
    errors = exc.errors(include_url=False)
    if table is not None:
        keys = [c.wire for c in table.columns]
        errors.sort(key=lambda e: keys.index(e["loc"][0]) if e["loc"] else -1)  # type: ignore[arg-type]
    parts = []
    for err in errors[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "element"
        got = repr(err.get("input"))
        if len(got) > 40:
            got = got[:40] + "..."
        message = _MESSAGES.get(err["type"], err["msg"])
        if err.get("input", "") is None and err["type"] != "missing_argument":
            message = f"{message}, not null"  # (null is "" only where a field may be empty)
        parts.append(f"{loc}: {message} (got {got})" if located else f"{message} (got {got})")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
