"""Reads and writes of one account's rows. Takes a Connection and never commits.

The write path is hot: every statement is compiled once for the dialect and run with
``executemany`` on rows already in the driver's form (``oms.store.prepared``). Each table's rows are
built and read back in ``oms.store.rows``; the ``Repository`` inherits the builders, so
the commit calls them with no layer between.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import delete, exists, func, insert, select, union

from oms.core.ledger import Announced
from oms.core.states import TERMINAL
from oms.store.prepared import Prepared, cursor_of, upsert
from oms.store.rows import (
    ANNOUNCING,
    Row,
    Rows,
    event_json,
    fill_from_row,
    leg_from_row,
    opening_from_row,
    order_from_row,
    take_announcement,
    wallet_from_rows,
)
from oms.store.tables import Base

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from sqlalchemy.engine import Connection, Dialect

    from oms.core.fills import Fill
    from oms.core.orders import Order
    from oms.core.positions import LegKey, Opening, PositionReport

__all__ = [  # ``Row`` and ``event_json`` live in ``oms.store.rows``
    "EVENTS", "EXECUTIONS", "FRAMES", "ORDERS", "OUTBOX_LOCK", "POSITIONS", "REPLAYS",
    "UPDATES", "WALLETS", "WALLET_COINS", "Repository", "Row", "event_json",
]  # fmt: skip

#: The advisory lock key that orders outbox writers on PostgreSQL ("oms outbox").
OUTBOX_LOCK: Final = 0x6F6D735F6F7574
_T: Final = Base.metadata.tables
ORDERS, FRAMES, UPDATES = _T["orders"], _T["frames"], _T["order_updates"]
EXECUTIONS, POSITIONS, EVENTS, REPLAYS = (
    _T["executions"],
    _T["positions"],
    _T["events"],
    _T["replays"],
)
WALLETS, WALLET_COINS = _T["wallets"], _T["wallet_coins"]


class Repository(Rows):
    """The rows of one account in one database dialect: the statements that write them
    (built by ``Rows``, inherited so the commit calls no extra layer) and the reads."""

    def __init__(self, dialect: Dialect, account: str) -> None:
        super().__init__(dialect, account)
        self._frames = Prepared(insert(FRAMES), dialect)
        self._frames_with_id = Prepared(insert(FRAMES), dialect, with_id=True)
        self._orders = Prepared(upsert(dialect, ORDERS, ("account", "order_id")), dialect)
        self._updates = Prepared(insert(UPDATES), dialect)
        self._executions = Prepared(upsert(dialect, EXECUTIONS, ("account", "exec_id")), dialect)
        self._positions = Prepared(
            upsert(
                dialect,
                POSITIONS,
                ("account", "category", "symbol", "position_idx"),
            ),
            dialect,
        )
        self._events = Prepared(insert(EVENTS), dialect)
        self._replay = Prepared(upsert(dialect, REPLAYS, ("account", "source")), dialect)
        self._wallets = Prepared(upsert(dialect, WALLETS, ("account", "account_type")), dialect)
        self._wallet_coins = Prepared(insert(WALLET_COINS), dialect)

    # --- writes -------------------------------------------------------------------------

    def insert_frames(self, connection: Connection, rows: Sequence[Row]) -> list[int]:
        """Journal frames (rows of received_at, topic, raw, outcome, error, parsed); return their
        ids in order. SQLite gives consecutive rowids under the write lock the insert
        takes; PostgreSQL's ids come from the sequence first, so writers never collide."""
        if not rows:
            return []
        cursor = cursor_of(connection)
        try:
            if self._pg:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence('frames', 'id')) "
                    "FROM generate_series(1, %(n)s)",
                    {"n": len(rows)},
                )
                ids = [int(r[0]) for r in cursor.fetchall()]
                full = [dict(r, id=i, account=self.account) for r, i in zip(rows, ids, strict=True)]
                self._frames_with_id.run(connection, full)
                return ids
            self._frames.run(connection, [dict(r, account=self.account) for r in rows])
            cursor.execute("SELECT last_insert_rowid()")
            last = int(cursor.fetchone()[0])
        finally:
            cursor.close()
        return list(range(last - len(rows) + 1, last + 1))

    def write_orders(self, connection: Connection, orders: Iterable[Order]) -> None:
        """Insert or update the current state of orders."""
        self._orders.run(connection, [self.order_row(o) for o in orders])

    def write_order_updates(self, connection: Connection, rows: Sequence[Row]) -> None:
        """Append order history rows (already built with ``order_update_row``)."""
        self._updates.run(connection, rows)

    def write_executions(
        self, connection: Connection, fills: Iterable[tuple[Fill, int | None]]
    ) -> None:
        """Insert or enrich executions, each with the frame it came from."""
        self._executions.run(connection, [self.execution_row(f, fid) for f, fid in fills])

    def write_positions(self, connection: Connection, rows: Sequence[Row]) -> None:
        """Insert or update legs (rows built with ``position_row``)."""
        self._positions.run(connection, rows)

    def write_events(self, connection: Connection, rows: Sequence[Row]) -> None:
        """Append outbox rows. Ids must increase in commit order, or a follower reading
        after its last id would skip a row committed later with a lower id. SQLite admits
        one writer at a time; on PostgreSQL a transaction-scoped advisory lock makes the
        writers of the outbox take turns until they commit."""
        if not rows:
            return
        if self._pg:
            cursor = cursor_of(connection)
            try:
                cursor.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": OUTBOX_LOCK})
            finally:
                cursor.close()
        self._events.run(connection, rows)

    def write_wallets(
        self, connection: Connection, reports: Sequence[tuple[dict[str, Any], int]]
    ) -> None:
        """Replace the wallets of the reports' accountTypes, coins and all (each report
        in wire text with its creation time, see ``Rows.wallet_rows``)."""
        if not reports:
            return
        built = [self.wallet_rows(report, at) for report, at in reports]
        types = [wallet["account_type"] for wallet, _ in built]
        t = WALLET_COINS
        connection.execute(
            delete(t).where(t.c.account == self.account, t.c.account_type.in_(types))
        )
        self._wallets.run(connection, [wallet for wallet, _ in built])
        self._wallet_coins.run(connection, [coin for _, coins in built for coin in coins])

    def write_replay(
        self, connection: Connection, source: str, lines_done: int, *, finished: bool
    ) -> None:
        """Record how far a replay of ``source`` got."""
        row = {
            "account": self.account,
            "source": source,
            "lines_done": lines_done,
            "finished": finished,
        }
        self._replay.run(connection, [row])

    # --- reads --------------------------------------------------------------------------

    def replay_progress(self, connection: Connection, source: str) -> tuple[int, bool] | None:
        """(lines done, finished) of an earlier replay of ``source``."""
        t = REPLAYS
        row = connection.execute(
            select(t.c.lines_done, t.c.finished).where(
                t.c.account == self.account, t.c.source == source
            )
        ).first()
        return None if row is None else (int(row[0]), bool(row[1]))

    def load_orders(
        self, connection: Connection, *, keep_terminal: int | None = None
    ) -> list[Order]:
        """Orders of the account, oldest first: every one, or (with ``keep_terminal``)
        every open one and the ``keep_terminal`` most recently updated terminal ones."""
        t = ORDERS
        query = select(t).where(t.c.account == self.account)
        if keep_terminal is not None:
            terminal = t.c.status.in_([s.value for s in TERMINAL])
            recent = (
                select(t.c.order_id)
                .where(t.c.account == self.account, terminal)
                .order_by(t.c.updated_time.desc(), t.c.order_id.desc())
                .limit(keep_terminal)
            )
            query = query.where(~terminal | t.c.order_id.in_(recent))
        rows = connection.execute(query.order_by(t.c.created_time, t.c.order_id)).mappings()
        return [order_from_row(r) for r in rows]

    def iter_orders(
        self,
        connection: Connection,
        statuses: Sequence[str] | None = None,
        batch: int = 5_000,
    ) -> Iterator[Order]:
        """The orders of ``load_orders`` (or only those in ``statuses``), oldest first, read
        ``batch`` rows at a time: a listing of a long history never holds it all at once."""
        t = ORDERS
        query = select(t).where(t.c.account == self.account)
        if statuses is not None:
            query = query.where(t.c.status.in_(statuses))
        query = query.order_by(t.c.created_time, t.c.order_id).execution_options(yield_per=batch)
        for r in connection.execute(query).mappings():
            yield order_from_row(r)

    def iter_order_ids(self, connection: Connection, batch: int = 10_000) -> Iterator[str]:
        """Every stored orderId of the account, read ``batch`` at a time."""
        t = ORDERS
        query = (
            select(t.c.order_id)
            .where(t.c.account == self.account)
            .execution_options(yield_per=batch)
        )
        for (order_id,) in connection.execute(query):
            yield str(order_id)

    def count_orders(self, connection: Connection) -> int:
        """How many orders of the account are stored."""
        t = ORDERS
        query = select(func.count()).select_from(t).where(t.c.account == self.account)
        return int(connection.execute(query).scalar_one())

    def load_order(self, connection: Connection, order_id: str) -> Order | None:
        """One order by id, if stored."""
        t = ORDERS
        row = (
            connection.execute(
                select(t).where(t.c.account == self.account, t.c.order_id == order_id)
            )
            .mappings()
            .first()
        )
        return None if row is None else order_from_row(row)

    def load_order_by_link_id(self, connection: Connection, order_link_id: str) -> Order | None:
        """The newest stored order carrying an orderLinkId, if any."""
        t = ORDERS
        row = (
            connection.execute(
                select(t)
                .where(t.c.account == self.account, t.c.order_link_id == order_link_id)
                .order_by(t.c.created_time.desc(), t.c.updated_time.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return None if row is None else order_from_row(row)

    def load_fills(self, connection: Connection, order_id: str | None = None) -> list[Fill]:
        """Every execution of the account (or of one order), in execution order."""
        t = EXECUTIONS
        query = select(t).where(t.c.account == self.account)
        if order_id is not None:
            query = query.where(t.c.order_id == order_id)
        rows = connection.execute(query.order_by(t.c.exec_time, t.c.exec_id)).mappings()
        return [fill_from_row(r) for r in rows]

    def iter_fills(
        self, connection: Connection, batch: int = 5_000
    ) -> Iterator[tuple[Fill, int | None]]:
        """Every execution of the account in execution order, with the positionIdx of its
        stored order (None if its order is not stored), read ``batch`` rows at a time: a
        restore of a long history never holds all of them at once."""
        t, o = EXECUTIONS, ORDERS
        query = (
            select(t, o.c.position_idx.label("order_position_idx"))
            .outerjoin(o, (o.c.account == t.c.account) & (o.c.order_id == t.c.order_id))
            .where(t.c.account == self.account)
            .order_by(t.c.exec_time, t.c.exec_id)
            .execution_options(yield_per=batch)
        )
        for r in connection.execute(query).mappings():
            yield fill_from_row(r), r["order_position_idx"]

    def load_fill(self, connection: Connection, exec_id: str) -> Fill | None:
        """One stored execution by execId."""
        t = EXECUTIONS
        row = (
            connection.execute(select(t).where(t.c.account == self.account, t.c.exec_id == exec_id))
            .mappings()
            .first()
        )
        return None if row is None else fill_from_row(row)

    def load_legs(self, connection: Connection) -> list[tuple[PositionReport | None, LegKey]]:
        """Every leg: (newest report or None, key). Fills-derived nets are recomputed
        from the executions on restore."""
        t = POSITIONS
        rows = connection.execute(select(t).where(t.c.account == self.account)).mappings()
        return [leg_from_row(r) for r in rows]

    def load_openings(self, connection: Connection) -> dict[LegKey, Opening]:
        """Every leg's opening balance, where it has one."""
        t = POSITIONS
        rows = connection.execute(
            select(t).where(t.c.account == self.account, t.c.opening_seq.is_not(None))
        ).mappings()
        openings: dict[LegKey, Opening] = {}
        for r in rows:
            opening = opening_from_row(r)
            if opening is not None:
                openings[leg_from_row(r)[1]] = opening
        return openings

    def load_announced(self, connection: Connection) -> Announced:
        """What the ledger announced that a restored one must remember (see
        ``Announced``), read from the outbox: the announcing events in announcement (id)
        order, and the ``FillBooked`` of orders not stored (their fills may still wait for
        their order). The outbox has no index on ``type``: these are two scans of it, as
        ``iter_fills`` is one of the executions (two, because an anti-join inside an OR
        is probed row by row on PostgreSQL: several times slower)."""
        t, o = EVENTS, ORDERS
        announced = Announced()
        announcing = (
            select(t.c.type, t.c.order_id, t.c.payload)
            .where(t.c.account == self.account, t.c.type.in_(ANNOUNCING))
            .order_by(t.c.id)
        )
        for kind, order_id, payload in connection.execute(announcing):
            take_announcement(announced, kind, order_id, payload)
        stored = select(o.c.order_id).where(
            o.c.account == t.c.account, o.c.order_id == t.c.order_id
        )
        orderless = select(t.c.payload).where(
            t.c.account == self.account, t.c.type == "FillBooked", ~exists(stored)
        )
        for (payload,) in connection.execute(orderless):
            if payload["position_idx"] is None:
                announced.unattributed_fills.add(payload["exec_id"])
        return announced

    def oneway_symbols(self, connection: Connection) -> list[tuple[str, str]]:
        """(category, symbol) of every stored order in one-way mode (positionIdx 0), also
        those left out of memory: a fill of an unknown order on such a symbol moves idx 0."""
        t = ORDERS
        query = (
            select(t.c.category, t.c.symbol)
            .where(t.c.account == self.account, t.c.position_idx == 0)
            .distinct()
        )
        return [(str(category), str(symbol)) for category, symbol in connection.execute(query)]

    def load_wallets(self, connection: Connection) -> list[tuple[dict[str, Any], int]]:
        """Every stored wallet: (its report in wire text, its creation time), by
        accountType; coins by name."""
        w, c = WALLETS, WALLET_COINS
        coins: dict[str, list[Any]] = {}
        query = select(c).where(c.c.account == self.account).order_by(c.c.coin)
        for row in connection.execute(query).mappings():
            coins.setdefault(row["account_type"], []).append(row)
        query = select(w).where(w.c.account == self.account).order_by(w.c.account_type)
        return [
            wallet_from_rows(row, coins.get(row["account_type"], []))
            for row in connection.execute(query).mappings()
        ]

    def categories(self, connection: Connection) -> set[str]:
        """Every category of the account's stored orders, executions and positions."""
        queries = [
            select(t.c.category).where(t.c.account == self.account).distinct()
            for t in (ORDERS, EXECUTIONS, POSITIONS)
        ]
        return {str(category) for (category,) in connection.execute(union(*queries))}

    def frame_counts(self, connection: Connection) -> dict[str, int]:
        """How many journaled frames ended in each outcome."""
        t = FRAMES
        rows = connection.execute(
            select(t.c.outcome, func.count())
            .where(t.c.account == self.account)
            .group_by(t.c.outcome)
        )
        return {str(outcome): int(n) for outcome, n in rows}
