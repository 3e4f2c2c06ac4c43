"""Reads of a stored account for people: the rows ``oms inspect`` shows, and what
``oms replay --db`` prints.

Nothing here reloads the account into a ledger: counts are SQL aggregates, and every
listing is an iterated query, read a batch at a time and handed on row by row, so memory
stays the same whether the database holds a hundred orders or a million. The rows are
those of ``oms.cli.views`` (made from the repository's own row -> core mapping), so the
JSON document streamed from here is the one a reloaded ledger would give.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Final, Self

from sqlalchemy import func, select

from oms.cli.views import (
    FILL_COLUMNS,
    ORDER_COLUMNS,
    POSITION_COLUMNS,
    fill_row,
    order_row,
    position_row,
)
from oms.core.events import Anomaly, Event
from oms.core.states import OPEN
from oms.store.db import open_engine
from oms.store.repository import EVENTS, EXECUTIONS, ORDERS, Repository
from oms.store.tables import (
    EventRow,
    ExecutionRow,
    OrderRow,
    PositionRow,
    WalletCoinRow,
    WalletRow,
)

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator
    from types import TracebackType

    from sqlalchemy.engine import Connection, Engine

Row = dict[str, Any]

#: The summary lists this many open orders (the oldest) ...
OPEN_SHOWN: Final = 20
#: ... and this many legs; a line says how many more there are.
LEGS_SHOWN: Final = 50
_OPEN_NAMES: Final = tuple(s.value for s in OPEN)


def _kinds(base: type[Event]) -> list[str]:
    """The names of every subclass of ``base``, however deep."""
    names: list[str] = []
    for sub in base.__subclasses__():
        names += [sub.__name__, *_kinds(sub)]
    return names


#: The event types that are anomalies (what the summary counts by kind).
ANOMALY_KINDS: Final = tuple(sorted(set(_kinds(Anomaly))))


@dataclass(frozen=True, slots=True)
class Summary:
    """What ``oms replay --db`` prints by default: a bounded picture of the account."""

    stats: dict[str, int]
    orders_by_status: dict[str, int]
    open_orders: list[Row]  # the oldest OPEN_SHOWN open orders
    positions: list[Row]  # the first LEGS_SHOWN reported legs, by key
    legs: int
    executions: int
    anomalies: dict[str, int]

    @property
    def orders(self) -> int:
        return sum(self.orders_by_status.values())

    @property
    def open_count(self) -> int:
        return sum(n for status, n in self.orders_by_status.items() if status in _OPEN_NAMES)


class StoredAccount:
    """One account of a database, read in one transaction (one consistent snapshot). It
    takes no lease: these are plain reads."""

    def __init__(self, url: str, account: str) -> None:
        self._engine: Engine = open_engine(url)
        self.repo = Repository(self._engine.dialect, account)
        self.account = account
        self._conn: Connection = self._engine.connect()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._conn.close()
        self._engine.dispose()

    def stats(self) -> dict[str, int]:
        """Frames and their outcomes, as ``Ledger.stats`` shows them after a restore."""
        from oms.bybit.ledger import Ledger  # noqa: PLC0415 - the one home of the stats' shape

        ledger = Ledger()
        ledger.restore_stats(self.repo.frame_counts(self._conn))
        return ledger.stats

    def orders(self, *, open_only: bool = False) -> Generator[Row, None, None]:
        """Every stored order (or every open one), oldest first."""
        statuses = _OPEN_NAMES if open_only else None
        for order in self.repo.iter_orders(self._conn, statuses):
            yield order_row(order)

    def executions(self) -> Iterator[Row]:
        """Every stored execution, in execution order."""
        for fill, _ in self.repo.iter_fills(self._conn):
            yield fill_row(fill)

    def positions(self) -> list[Row]:
        """Every reported leg, by key (legs are few: one per symbol and side at most)."""
        legs = sorted((key, report) for report, key in self.repo.load_legs(self._conn) if report)
        return [position_row(report) for _, report in legs]

    def count(self, table: Any) -> int:  # noqa: ANN401 - a SQLAlchemy Table
        query = select(func.count()).select_from(table).where(table.c.account == self.account)
        return int(self._conn.execute(query).scalar_one())

    def orders_by_status(self) -> dict[str, int]:
        t = ORDERS
        query = select(t.c.status, func.count()).where(t.c.account == self.account)
        rows = self._conn.execute(query.group_by(t.c.status).order_by(t.c.status))
        return {str(status): int(n) for status, n in rows}

    def anomalies(self) -> dict[str, int]:
        """Anomaly events in the outbox, by kind (one scan of it: it has no type index)."""
        t = EVENTS
        query = select(t.c.type, func.count()).where(
            t.c.account == self.account, t.c.type.in_(ANOMALY_KINDS)
        )
        rows = self._conn.execute(query.group_by(t.c.type).order_by(t.c.type))
        return {str(kind): int(n) for kind, n in rows}

    def summary(self) -> Summary:
        with closing(self.orders(open_only=True)) as open_orders:
            shown = list(islice(open_orders, OPEN_SHOWN))
        positions = self.positions()
        return Summary(
            stats=self.stats(),
            orders_by_status=self.orders_by_status(),
            open_orders=shown,
            positions=positions[:LEGS_SHOWN],
            legs=len(positions),
            executions=self.count(EXECUTIONS),
            anomalies=self.anomalies(),
        )


# --- oms inspect ------------------------------------------------------------------------

_INSPECT: Final[dict[str, tuple[Any, tuple[str, ...], Any]]] = {
    "orders": (OrderRow, ("account", *ORDER_COLUMNS, "updated_time"), OrderRow.updated_time),
    "positions": (
        PositionRow,
        ("account", *POSITION_COLUMNS, "entry_price", "fills_net_qty", "seq"),
        PositionRow.symbol,
    ),
    "fills": (ExecutionRow, ("account", *FILL_COLUMNS), ExecutionRow.exec_time),
    "events": (
        EventRow,
        ("id", "account", "type", "order_id", "symbol", "created_at"),
        EventRow.id,
    ),
}


#: What ``oms inspect wallet`` shows: one row per coin of each accountType's wallet.
WALLET_COLUMNS: Final = (
    "account",
    "account_type",
    "total_equity",
    "total_available_balance",
    "coin",
    "equity",
    "wallet_balance",
    "unrealised_pnl",
    "locked",
)


def _wallet_query(account: str | None, limit: int) -> Any:  # noqa: ANN401 - a Select
    """Each stored wallet with its coins (a wallet without any: one row, no coin)."""
    w, c = WalletRow.__table__, WalletCoinRow.__table__
    joined = w.outerjoin(c, (c.c.account == w.c.account) & (c.c.account_type == w.c.account_type))
    query = select(
        w.c.account,
        w.c.account_type,
        w.c.total_equity,
        w.c.total_available_balance,
        c.c.coin,
        c.c.equity,
        c.c.wallet_balance,
        c.c.unrealised_pnl,
        c.c.locked,
    ).select_from(joined)
    if account is not None:
        query = query.where(w.c.account == account)
    return query.order_by(w.c.account, w.c.account_type, c.c.coin).limit(limit)


def inspect_rows(
    url: str,
    what: str,
    *,
    account: str | None = None,
    symbol: str | None = None,
    status: str | None = None,
    open_only: bool = False,
    limit: int = 200,
) -> tuple[str, list[Row], tuple[str, ...]]:
    """The newest ``limit`` stored rows of one kind, filtered: (title, rows, columns)."""
    if what == "wallet":
        rows = _read(url, _wallet_query(account, limit))
        return f"wallet ({len(rows)} coins shown)", rows, WALLET_COLUMNS
    model, columns, order_by = _INSPECT[what]
    table = model.__table__
    query = select(table)
    if account is not None:
        query = query.where(table.c.account == account)
    if symbol is not None and "symbol" in table.c:
        query = query.where(table.c.symbol == symbol)
    if what == "orders" and status is not None:
        query = query.where(table.c.status == status)
    if what == "orders" and open_only:
        query = query.where(table.c.status.in_(_OPEN_NAMES))
    sort = order_by.desc() if what != "positions" else order_by
    rows = _read(url, query.order_by(sort).limit(limit))
    if what != "positions":
        rows.reverse()  # oldest of the newest first, like a log
    return f"{what} ({len(rows)} shown)", rows, columns


def _read(url: str, query: Any) -> list[Row]:  # noqa: ANN401 - a Select
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
    finally:
        engine.dispose()
