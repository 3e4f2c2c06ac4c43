"""The REST resync: what Bybit never replays, fetched after every gap.

``fetch_snapshot`` asks the REST API, for every category the account trades (see
``ResyncScope``), for open and recently closed orders (and by id any order held as open
that the lists did not return), the executions since the last booked one and the
positions of every symbol the account knows (spot has none), and for the wallet of every
accountType; the worker hands the snapshot to the pipeline, whose ledger reconciles it
(``oms.core.reconcile``). A REST row that cannot be converted is never applied half-read
nor dropped quietly: it becomes a ``RestRowRefused`` event (its endpoint, its ids, the
reason), counted in ``ResyncCompleted.refused``; the rest of the snapshot is applied.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from oms.bybit.rest import (
    EXECUTIONS_PATH,
    ORDERS_PATH,
    POSITIONS_PATH,
    WALLET_PATH,
    fill_from_rest,
    order_from_rest,
    position_from_rest,
    wallet_from_rest,
)
from oms.clock import now_ms
from oms.core import events as ev
from oms.core.reconcile import VenueSnapshot
from oms.errors import MalformedFrameError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from oms.bybit.models import WireModel
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

    def wallet_balance(self, account_type: str) -> list[dict[str, Any]]: ...

    def cancel_retries(self) -> None:
        """Retry no more (the account is stopping): a failure is raised at once."""
        ...


class Converters(Protocol):
    """REST row -> core value converters (``oms.bybit.rest``)."""

    def order(self, row: dict[str, Any]) -> Order: ...
    def fill(self, row: dict[str, Any]) -> Fill: ...
    def position(self, row: dict[str, Any]) -> PositionReport: ...
    def wallet(self, row: dict[str, Any]) -> WireModel: ...


#: Every product category of Bybit v5.
ALL_CATEGORIES: Final = ("linear", "inverse", "spot", "option")
#: Categories that have positions (``/v5/position/list``): spot has none.
POSITION_CATEGORIES: Final = frozenset({"linear", "inverse", "option"})


@dataclass(frozen=True, slots=True)
class ResyncScope:
    """Which part of the account a resync covers.

    ``categories`` are always fetched: by default every category Bybit has, since an
    account that already trades may hold orders in any of them before oms sees one
    (narrow it to what the account trades to save REST calls); with ``seen_categories``
    (the default) so is every other category the account has traded: of an order, a fill
    or a leg held in memory or stored. ``settle_coins`` scope the linear queries (Bybit
    requires one for linear; the other categories are asked for whole).
    ``account_types``: the wallets fetched, and every other accountType a wallet report
    was held for."""

    categories: tuple[str, ...] = ALL_CATEGORIES
    settle_coins: tuple[str, ...] = ("USDT",)
    seen_categories: bool = True
    account_types: tuple[str, ...] = ("UNIFIED",)


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one resync fetched: the snapshot (with its refused rows), its rows as JSON
    text (journaled), and the wallets."""

    snapshot: VenueSnapshot
    raw: str
    wallets: tuple[WireModel, ...] = ()


def fetch_snapshot(
    rest: SnapshotSource,
    convert: Converters,
    pipeline: Pipeline,
    scope: ResyncScope,
) -> Fetched:
    """Fetch everything a resync needs: the snapshot, its rows as JSON text, the wallets."""
    ledger = pipeline.ledger
    categories = resync_categories(pipeline, scope)
    orders = _fetch_orders(rest, scope, categories)
    vanished = _fetch_missing(rest, pipeline, orders)
    booked = [f.exec_time for f in ledger.fills()]
    now = now_ms()
    start = (max(booked) - EXEC_MARGIN_MS) if booked else (now - FIRST_LOOKBACK_MS)
    # The venue's clock may run ahead of ours (Bybit accepts requests up to seconds
    # behind it): ask for executions up to our now plus the margin, or fills it stamped
    # "in our future" before the subscription would be missed for good.
    end = now + EXEC_MARGIN_MS
    executions = [row for c in categories for row in rest.executions(c, start_ms=start, end_ms=end)]
    rows = {"orders": list(orders.values()), "executions": executions, "positions": []}
    known = _known_symbols(pipeline, rows)
    rows["positions"] = _fetch_positions(rest, scope, categories, known)
    account_types = sorted({*scope.account_types, *ledger.wallet()})
    rows["wallets"] = [row for t in account_types for row in rest.wallet_balance(t)]
    refused: list[ev.RestRowRefused] = []
    wallets = _convert(convert.wallet, rows["wallets"], WALLET_PATH, refused)
    snapshot = VenueSnapshot(
        orders=tuple(_convert(convert.order, rows["orders"], ORDERS_PATH, refused)),
        fills=tuple(_convert(convert.fill, rows["executions"], EXECUTIONS_PATH, refused)),
        positions=tuple(_convert(convert.position, rows["positions"], POSITIONS_PATH, refused)),
        vanished=tuple(vanished),
        taken_at=now_ms(),
        refused=tuple(refused),
    )
    return Fetched(snapshot, json.dumps(rows, separators=(",", ":")), tuple(wallets))


def resync_categories(pipeline: Pipeline, scope: ResyncScope) -> tuple[str, ...]:
    """The categories a resync covers: the scope's, and (``seen_categories``) every one
    of an order, fill or leg held or stored, in a stable order."""
    chosen = dict.fromkeys(scope.categories)
    if scope.seen_categories:
        ledger = pipeline.ledger
        seen = {k.category for k in ledger.legs()}
        seen |= {o.category for o in ledger.orders()} | {f.category for f in ledger.fills()}
        conn = pipeline.connection
        with conn.begin():
            seen |= pipeline.repo.categories(conn)
        chosen.update(dict.fromkeys(sorted(c for c in seen if c)))
    return tuple(chosen)


def _fetch_orders(
    rest: SnapshotSource, scope: ResyncScope, categories: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Open and recently closed orders of every category (linear: per settle coin), by
    orderId."""
    found: dict[str, dict[str, Any]] = {}
    for category in categories:
        for coin in _coins(scope, category):
            open_rows = rest.open_orders(category, settle_coin=coin)
            closed_rows = rest.recent_closed_orders(category, settle_coin=coin)
            for row in [*open_rows, *closed_rows]:
                found.setdefault(str(row.get("orderId")), row)
    return found


def _coins(scope: ResyncScope, category: str) -> tuple[str | None, ...]:
    """The settle coins a category's lists are asked for: linear needs one (Bybit
    refuses it without); the others are asked for whole."""
    return scope.settle_coins if category == "linear" else (None,)


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
    rest: SnapshotSource,
    scope: ResyncScope,
    categories: tuple[str, ...],
    symbols: set[tuple[str, str]],
) -> list[dict[str, Any]]:
    """Positions per symbol (a settle-coin query omits flat legs, so every symbol we
    know of is asked for by name; the settle-coin query, or the whole category's,
    finds new non-flat ones). Spot has no positions."""
    with_positions = [c for c in categories if c in POSITION_CATEGORIES]
    for category in with_positions:
        for coin in _coins(scope, category):
            symbols |= {
                (category, str(r.get("symbol"))) for r in rest.positions(category, settle_coin=coin)
            }
    return [
        row
        for category, symbol in sorted(symbols)
        if category in with_positions
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


def _convert(
    make: Callable[[dict[str, Any]], Any],
    rows: Iterable[dict[str, Any]],
    endpoint: str,
    refused: list[ev.RestRowRefused],
) -> list[Any]:
    """The converted rows; each one that cannot be converted becomes a
    ``RestRowRefused`` in ``refused`` (and a warning), never a silent gap."""
    out = []
    for row in rows:
        try:
            out.append(make(row))
        except (MalformedFrameError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, MalformedFrameError) else str(exc)
            log.warning("resync: refused a REST row of %s: %s", endpoint, reason)
            refused.append(_refused(endpoint, row, reason))
    return out


def _refused(endpoint: str, row: object, reason: str) -> ev.RestRowRefused:
    fields = row if isinstance(row, dict) else {}

    def text(key: str) -> str:
        value = fields.get(key)
        return value if isinstance(value, str) else ""

    return ev.RestRowRefused(
        venue_time=0,
        received_at=now_ms(),
        reason=reason,
        endpoint=endpoint,
        category=text("category"),
        order_id=text("orderId"),
        order_link_id=text("orderLinkId"),
        exec_id=text("execId"),
        symbol=text("symbol"),
        account_type=text("accountType"),
    )


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

    def wallet(self, row: dict[str, Any]) -> WireModel:
        """An account row of /v5/account/wallet-balance."""
        return wallet_from_rest(row)
