"""Request parameters and list pages of the sandbox's REST API, checked as Bybit checks
them: a bad value is a ``ParamError`` (retCode 10001) that names the parameter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from oms.sandbox.model import Element

Rows = list[tuple[int, "Element"]]
Params = dict[str, str]

DAY_MS: Final = 86_400_000
WEEK_MS: Final = 7 * DAY_MS
CATEGORIES: Final = frozenset({"linear", "spot", "inverse", "option"})


class ParamError(Exception):
    """A request the exchange refuses with retCode 10001."""


def result(category: str, rows: list[Element], cursor: str) -> dict[str, object]:
    """The ``result`` of a category list endpoint."""
    return {"category": category, "list": rows, "nextPageCursor": cursor}


def category(p: Params) -> str:
    """The required ``category``."""
    value = p.get("category", "")
    if value not in CATEGORIES:
        raise ParamError(f"Illegal category {value!r}" if value else "category is required")
    return value


def limit(p: Params, default: int, top: int) -> int:
    """``limit``: 1..top, ``default`` when absent."""
    text = p.get("limit", "")
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= top:
        raise ParamError(f"limit must be an integer from 1 to {top}, not {text!r}")
    return int(text)


def ms_param(p: Params, name: str) -> int | None:
    """A millisecond timestamp parameter, None when absent."""
    text = p.get(name, "")
    if not text:
        return None
    if not text.isdigit():
        raise ParamError(f"{name} must be a millisecond timestamp, not {text!r}")
    return int(text)


def window(p: Params, now: int) -> tuple[int, int]:
    """(start, end) in ms: the last 7 days by default; at most 7 days."""
    start, end = ms_param(p, "startTime"), ms_param(p, "endTime")
    if start is None and end is None:
        return now - WEEK_MS, now
    if start is None:
        assert end is not None  # noqa: S101 - narrowed by the test above
        return end - WEEK_MS, end
    if end is None:
        return start, start + WEEK_MS
    if start > end:
        raise ParamError("startTime must not be after endTime")
    if end - start > WEEK_MS:
        raise ParamError("The time range between startTime and endTime cannot exceed 7 days")
    return start, end


def page(rows: Rows, size: int, cursor: str, *, descending: bool) -> tuple[list[Element], str]:
    """One page of ``size`` rows after ``cursor`` (the ordinal of the last row already
    returned) and the next cursor, ``""`` on the last page."""
    if cursor:
        if not cursor.isdigit():
            raise ParamError(f"cursor: invalid value {cursor!r}")
        after = int(cursor)
        rows = [r for r in rows if (r[0] < after if descending else r[0] > after)]
    picked = rows[:size]
    return [r[1] for r in picked], (str(picked[-1][0]) if len(rows) > size else "")
