"""The store's fast write path: statements compiled once per dialect, run with
``executemany`` on the DBAPI cursor.

Every statement is a SQLAlchemy Core construct (insert, or insert-or-update via the
dialect's ON CONFLICT) compiled once and run on rows the repository has already put in
the driver's form (decimals as canonical text on SQLite, ``Decimal`` on PostgreSQL).
That skips per-value type processing, which costs more than the database work itself.
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Dialect
    from sqlalchemy.sql.dml import Insert

    from oms.store.rows import Row

__all__ = ["Prepared", "cursor_of", "upsert"]


def upsert(dialect: Dialect, table: Table, keys: Sequence[str]) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET every other column."""
    maker = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    stmt = maker(table)
    updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)


class Prepared:
    """A statement compiled once; ``run`` executes it for many rows on the driver cursor."""

    __slots__ = ("_getter", "_no_nul", "_sql")

    def __init__(self, statement: Insert, dialect: Dialect, *, with_id: bool = False) -> None:
        # PostgreSQL text cannot hold NUL; a frame may (garbage on the wire must be
        # journaled, not crash the store), so NUL becomes U+FFFD there.
        self._no_nul = dialect.name == "postgresql"
        table = statement.table
        # every column but the autoincrementing id is given by the rows (unless with_id)
        keys = [
            c.name
            for c in table.columns
            if with_id or not (c.primary_key and c.autoincrement is True)
        ]
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self._sql = compiled.string
        names = compiled.positiontup if compiled.positional else None
        # itemgetter builds each row's parameter tuple in C, in the statement's order
        self._getter: Callable[[Row], Any] | None = itemgetter(*names) if names else None

    def run(self, connection: Connection, rows: Sequence[Row]) -> None:
        """executemany on the DBAPI cursor of the connection's current transaction:
        SQLAlchemy's per-statement result machinery costs more than the insert itself."""
        if not rows:
            return
        getter = self._getter
        params: Any = [getter(r) for r in rows] if getter is not None else rows
        if self._no_nul:
            params = [_without_nul(r) for r in params]
        cursor = cursor_of(connection)
        try:
            cursor.executemany(self._sql, params)
        finally:
            cursor.close()


def _without_nul(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.replace("\x00", "\ufffd") if isinstance(v, str) and "\x00" in v else v
        for k, v in row.items()
    }


def cursor_of(connection: Connection) -> Any:  # noqa: ANN401 - a DBAPI cursor has no common type
    """The DBAPI cursor of the connection's current transaction."""
    return connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
