"""REST rows -> the ledger's values, through the stream's own decoder; and the small
rules of the rows' pages (their category, the 7-day windows of executions).

Bybit puts ``category`` on the page, not the row: each converter takes the page's category
for a row that lacks one. A ``null`` where a field may be empty is ``""``, as on the stream;
a row the decoder refuses raises ``MalformedFrameError`` with the reason (the resync turns
it into a ``RestRowRefused`` event).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, cast

from oms.bybit.codec import decode_element
from oms.bybit.frames import Kind
from oms.bybit.rest_answers import int_or_none
from oms.core.fills import FillSource
from oms.errors import LocalError, MalformedFrameError

if TYPE_CHECKING:
    from oms.bybit.models import WireModel
    from oms.core.fills import Fill
    from oms.core.orders import Order
    from oms.core.positions import PositionReport

__all__ = [
    "EXECUTIONS_PATH",
    "EXECUTION_WINDOW_MS",
    "ORDERS_PATH",
    "POSITIONS_PATH",
    "WALLET_PATH",
    "fill_from_rest",
    "order_from_rest",
    "position_from_rest",
    "split_windows",
    "wallet_from_rest",
]

ORDERS_PATH: Final = "/v5/order/realtime"
EXECUTIONS_PATH: Final = "/v5/execution/list"
POSITIONS_PATH: Final = "/v5/position/list"
WALLET_PATH: Final = "/v5/account/wallet-balance"
#: The longest time range /v5/execution/list accepts in one query.
EXECUTION_WINDOW_MS: Final = 7 * 24 * 60 * 60 * 1000


def _row(row: object, category: str | None, path: str) -> dict[str, Any]:
    """A copy of ``row`` with the page's ``category`` where the row has none (missing,
    ``""`` or ``null``; any other non-text stays, and is refused by the decoder)."""
    if not isinstance(row, Mapping):
        raise MalformedFrameError(f"row is not an object: {type(row).__name__}", topic=path)
    out = dict(row)
    if category and out.get("category") in (None, ""):
        out["category"] = category
    return out


def _convert(kind: Kind, what: str, path: str, data: dict[str, Any], source: FillSource) -> Any:  # noqa: ANN401 - the kind's core value
    """The core value of a row, through the stream's own decoder (its category, if any, is
    already on the row); ``MalformedFrameError`` with the reason if it is refused."""
    try:
        return decode_element(kind, data, source=source)
    except ValueError as exc:
        raise MalformedFrameError(f"{what} row: {exc}", topic=path) from exc


def order_from_rest(row: Mapping[str, Any], *, category: str | None = None) -> Order:
    """The core ``Order`` of one ``/v5/order/realtime`` row (``category`` if it lacks one)."""
    data = _row(row, category, ORDERS_PATH)
    return cast("Order", _convert(Kind.ORDER, "order", ORDERS_PATH, data, FillSource.REST))


def fill_from_rest(row: Mapping[str, Any], *, category: str | None = None) -> Fill:
    """The core ``Fill`` (source REST) of one ``/v5/execution/list`` row."""
    data = _row(row, category, EXECUTIONS_PATH)
    return cast(
        "Fill", _convert(Kind.EXECUTION, "execution", EXECUTIONS_PATH, data, FillSource.REST)
    )


def position_from_rest(row: Mapping[str, Any], *, category: str | None = None) -> PositionReport:
    """The core ``PositionReport`` of one ``/v5/position/list`` row (REST ``avgPrice`` is
    the stream's ``entryPrice``, taken when the row has no entryPrice, ``""`` or ``null``)."""
    data = _row(row, category, POSITIONS_PATH)
    if data.get("entryPrice") in (None, "") and "avgPrice" in data:
        data["entryPrice"] = data["avgPrice"]
    position = _convert(Kind.POSITION, "position", POSITIONS_PATH, data, FillSource.REST)
    return cast("PositionReport", position)


def wallet_from_rest(row: Mapping[str, Any]) -> WireModel:
    """The wallet report (``WalletMsg``) of one ``/v5/account/wallet-balance`` row."""
    data = _row(row, None, WALLET_PATH)
    return cast("WireModel", _convert(Kind.WALLET, "wallet", WALLET_PATH, data, FillSource.REST))


def split_windows(
    start_ms: int, end_ms: int, span_ms: int = EXECUTION_WINDOW_MS
) -> list[tuple[int, int]]:
    """``[start, end]`` cut into consecutive windows no longer than ``span_ms``.

    Windows share their boundary millisecond (rows there are fetched twice and deduped),
    so nothing is lost whether Bybit treats ``endTime`` as inclusive or exclusive.

    >>> split_windows(0, 10, span_ms=4)
    [(0, 4), (4, 8), (8, 10)]
    """
    if start_ms > end_ms:
        raise LocalError(f"start_ms {start_ms} is after end_ms {end_ms}")
    if span_ms <= 0:
        raise LocalError("span_ms must be positive")
    windows = [(start_ms, min(start_ms + span_ms, end_ms))]
    while windows[-1][1] < end_ms:
        lo = windows[-1][1]
        windows.append((lo, min(lo + span_ms, end_ms)))
    return windows


def require_scope(category: str, symbol: str | None, settle_coin: str | None, what: str) -> None:
    """Refuse a query Bybit would refuse: no category, or linear without a symbol or coin."""
    if not category:
        raise LocalError("category is required")
    if category == "linear" and not (symbol or settle_coin):
        raise LocalError(f"linear {what} need symbol or settle_coin (Bybit requires one)")


def with_category(row: dict[str, Any], category: str) -> dict[str, Any]:
    """Bybit puts ``category`` on the page, not the row: copy it onto the row."""
    return row if row.get("category") else {**row, "category": category}


def execution_order(row: Mapping[str, Any]) -> tuple[int, int, str]:
    """The sort key of an execution row: oldest first (execTime, then seq, then execId)."""
    seq = row.get("seq")
    return (
        int_or_none(row.get("execTime")) or 0,
        seq if isinstance(seq, int) else 0,
        str(row.get("execId", "")),
    )
