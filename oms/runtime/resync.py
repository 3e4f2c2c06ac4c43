"""The REST resync: what Bybit never replays, fetched after every gap.

``fetch_snapshot`` asks the REST API for open and recently closed orders (and by id any
order held as open that the lists did not return), the executions since the last booked
one, and the positions of every symbol the account knows; the worker hands the snapshot to
the pipeline, whose ledger reconciles it (``oms.core.reconcile``). A REST row that is not
valid is skipped with a warning, never applied half-read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from oms.bybit.rest import fill_from_rest, order_from_rest, position_from_rest
from oms.clock import now_ms
from oms.core.reconcile import VenueSnapshot
from oms.errors import MalformedFrameError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from oms.core.fills import Fill
    from oms.core.orders import Order
    from oms.core.positions import PositionReport
    from oms.runtime.pipeline import Pipeline

log = logging.getLogger("oms.runtime.worker")

#: Executions are re-fetched from the last booked execTime minus this margin.
EXEC_MARGIN_MS: Final = 5 * 60_000
#: With no fill booked yet, executions are fetched this far back.
FIRST_LOOKBACK_MS: Final = 24 * 3600_000


class SnapshotSource(Protocol):
    """What the resync needs from the REST API (``oms.bybit.rest.RestClient``)."""

    def open_orders(
        self, category: str, *, settle_coin: str | None = None, symbol: str | None = None
    ) -> list[dict[str, Any]]: ...

    def recent_closed_orders(
        self, category: str, *, settle_coin: str | None = None, symbol: str | None = None
    ) -> list[dict[str, Any]]: ...

    def order_by_id(self, category: str, order_id: str) -> dict[str, Any] | None: ...

    def executions(
        self,
        category: str,
        *,
        start_ms: int,
        end_ms: int | None = None,
        symbol: str | None = None,
    ) -> list[dict[str, Any]]: ...

    def positions(
        self, category: str, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[dict[str, Any]]: ...


class Converters(Protocol):
    """REST row -> core value converters (``oms.bybit.rest``)."""

    def order(self, row: dict[str, Any]) -> Order: ...
    def fill(self, row: dict[str, Any]) -> Fill: ...
    def position(self, row: dict[str, Any]) -> PositionReport: ...


@dataclass(frozen=True, slots=True)
class ResyncScope:
    """Which part of the account a resync covers."""

    categories: tuple[str, ...] = ("linear",)
    settle_coins: tuple[str, ...] = ("USDT",)


def fetch_snapshot(
    rest: SnapshotSource,
    convert: Converters,
    pipeline: Pipeline,
    scope: ResyncScope,
) -> tuple[VenueSnapshot, str]:
    """Fetch everything a resync needs; return the snapshot and its rows as JSON text."""
    ledger = pipeline.ledger
    orders = _fetch_orders(rest, scope)
    vanished = _fetch_missing(rest, pipeline, orders)
    booked = [f.exec_time for f in ledger.fills()]
    now = now_ms()
    start = (max(booked) - EXEC_MARGIN_MS) if booked else (now - FIRST_LOOKBACK_MS)
    # The venue's clock may run ahead of ours (Bybit accepts requests up to seconds
    # behind it): ask for executions up to our now plus the margin, or fills it stamped
    # "in our future" before the subscription would be missed for good.
    end = now + EXEC_MARGIN_MS
    executions = [
        row for c in scope.categories for row in rest.executions(c, start_ms=start, end_ms=end)
    ]
    rows = {"orders": list(orders.values()), "executions": executions, "positions": []}
    rows["positions"] = _fetch_positions(rest, scope, _known_symbols(pipeline, rows))
    snapshot = VenueSnapshot(
        orders=tuple(_convert(convert.order, rows["orders"])),
        fills=tuple(_convert(convert.fill, rows["executions"])),
        positions=tuple(_convert(convert.position, rows["positions"])),
        vanished=tuple(vanished),
        taken_at=now_ms(),
    )
    return snapshot, json.dumps(rows, separators=(",", ":"))


def _fetch_orders(rest: SnapshotSource, scope: ResyncScope) -> dict[str, dict[str, Any]]:
    """Open and recently closed orders of every category and settle coin, by orderId."""
    found: dict[str, dict[str, Any]] = {}
    for category in scope.categories:
        for coin in scope.settle_coins:
            open_rows = rest.open_orders(category, settle_coin=coin)
            closed_rows = rest.recent_closed_orders(category, settle_coin=coin)
            for row in [*open_rows, *closed_rows]:
                found.setdefault(str(row.get("orderId")), row)
    return found


def _fetch_missing(
    rest: SnapshotSource, pipeline: Pipeline, found: dict[str, dict[str, Any]]
) -> list[str]:
    """Look up by id every order held as open that the lists did not return; return
    those the venue does not know at all."""
    vanished: list[str] = []
    for order in pipeline.ledger.open_orders():
        if order.order_id in found:
            continue
        row = rest.order_by_id(order.category, order.order_id)
        if row is None:
            vanished.append(order.order_id)
        else:
            found[order.order_id] = row
    return vanished


def _fetch_positions(
    rest: SnapshotSource, scope: ResyncScope, symbols: set[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Positions per symbol (a settle-coin query omits flat legs, so every symbol we
    know of is asked for by name; the settle-coin query finds new non-flat ones)."""
    for category in scope.categories:
        for coin in scope.settle_coins:
            symbols |= {
                (category, str(r.get("symbol"))) for r in rest.positions(category, settle_coin=coin)
            }
    return [
        row
        for category, symbol in sorted(symbols)
        if category in scope.categories
        for row in rest.positions(category, symbol=symbol)
    ]


def _known_symbols(
    pipeline: Pipeline, rows: dict[str, list[dict[str, Any]]]
) -> set[tuple[str, str]]:
    """Symbols with a leg, an order or a fill: their flat positions matter too (a
    settle-coin query omits flat legs)."""
    ledger = pipeline.ledger
    known = {(k.category, k.symbol) for k in ledger.legs()}
    known |= {(o.category, o.symbol) for o in ledger.open_orders()}
    for kind in ("orders", "executions"):
        known |= {(str(r.get("category")), str(r.get("symbol"))) for r in rows[kind]}
    return known


def _convert(make: Callable[[dict[str, Any]], Any], rows: Iterable[dict[str, Any]]) -> list[Any]:
    out = []
    for row in rows:
        try:
            out.append(make(row))
        except (MalformedFrameError, ValueError) as exc:
            log.warning("resync: skipped a REST row that is not valid: %s", exc)
    return out


class RestRows:
    """Bybit REST rows -> core values: the ``Converters`` for Bybit's REST API."""

    def order(self, row: dict[str, Any]) -> Order:
        """An order row of /v5/order/realtime."""
        return order_from_rest(row)

    def fill(self, row: dict[str, Any]) -> Fill:
        """An execution row of /v5/execution/list."""
        return fill_from_rest(row)

    def position(self, row: dict[str, Any]) -> PositionReport:
        """A position row of /v5/position/list."""
        return position_from_rest(row)
