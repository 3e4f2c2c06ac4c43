"""The database schema: typed SQLAlchemy 2 models on one declarative base.

A public contract (documented in the README): users query these tables directly with
``sqlite3 oms.db`` or ``psql``. Column names never change without a migration. Every
table has an ``account`` column so one database can hold several accounts. Prices,
quantities, values and fees are ``ExactDecimal``; times are integer milliseconds;
statuses and sides are spelled as Bybit spells them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from oms.store.types import ExactDecimal

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Autoincrementing 64-bit key (SQLite only autoincrements an INTEGER PRIMARY KEY).
RowId = BigInteger().with_variant(Integer(), "sqlite")
DEFAULT_ACCOUNT: Final = "default"


class Base(DeclarativeBase):
    """The one declarative base; constraint names come from the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: Final[dict[Any, Any]] = {
        Decimal: ExactDecimal(),
        int: BigInteger(),
        str: String(),
    }


def _account() -> Mapped[str]:
    return mapped_column(String(64), primary_key=True, default=DEFAULT_ACCOUNT)


class OrderRow(Base):
    """``orders``: one row per order, its current state."""

    __tablename__ = "orders"

    account: Mapped[str] = _account()
    order_id: Mapped[str] = mapped_column(primary_key=True)
    order_link_id: Mapped[str]
    category: Mapped[str]
    symbol: Mapped[str]
    side: Mapped[str]
    position_idx: Mapped[int] = mapped_column(Integer)
    order_type: Mapped[str]
    stop_order_type: Mapped[str]
    status: Mapped[str]
    qty: Mapped[Decimal]
    price: Mapped[Decimal | None]
    trigger_price: Mapped[Decimal | None]
    cum_exec_qty: Mapped[Decimal]
    cum_exec_value: Mapped[Decimal | None]
    cum_exec_fee: Mapped[Decimal | None]
    leaves_qty: Mapped[Decimal | None]
    avg_price: Mapped[Decimal | None]
    reduce_only: Mapped[bool]
    create_type: Mapped[str]
    cancel_type: Mapped[str]
    reject_reason: Mapped[str]
    created_time: Mapped[int]
    updated_time: Mapped[int]

    __table_args__ = (
        Index(None, "account", "symbol", "status"),
        Index(None, "account", "order_link_id"),
    )


class FrameRow(Base):
    """``frames``: the journal of every frame received, exactly as received; ``parsed``
    marks a frame that arrived already parsed (a client's dict), journaled as its compact
    JSON (``json.dumps(separators=(",", ":"), ensure_ascii=False)``), which decodes to the
    same frame but need not be the venue's very bytes."""

    __tablename__ = "frames"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(64), default=DEFAULT_ACCOUNT)
    received_at: Mapped[int]
    topic: Mapped[str | None]
    raw: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    parsed: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (Index(None, "account", "outcome"),)


class OrderUpdateRow(Base):
    """``order_updates``: every applied (or refused as illegal) order update, in order."""

    __tablename__ = "order_updates"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(64), default=DEFAULT_ACCOUNT)
    order_id: Mapped[str]
    previous_status: Mapped[str | None]
    status: Mapped[str]
    cum_exec_qty: Mapped[Decimal]
    updated_time: Mapped[int]
    frame_id: Mapped[int | None] = mapped_column(RowId, ForeignKey("frames.id"))
    outcome: Mapped[str] = mapped_column(String(16))

    __table_args__ = (Index(None, "account", "order_id"),)


class ExecutionRow(Base):
    """``executions``: one row per execId."""

    __tablename__ = "executions"

    account: Mapped[str] = _account()
    exec_id: Mapped[str] = mapped_column(primary_key=True)
    order_id: Mapped[str]
    order_link_id: Mapped[str]
    category: Mapped[str]
    symbol: Mapped[str]
    side: Mapped[str]
    exec_type: Mapped[str]
    exec_qty: Mapped[Decimal]
    exec_price: Mapped[Decimal]
    exec_value: Mapped[Decimal | None]
    exec_fee: Mapped[Decimal | None]
    fee_rate: Mapped[Decimal | None]
    is_maker: Mapped[bool | None]
    closed_size: Mapped[Decimal | None]
    exec_time: Mapped[int]
    seq: Mapped[int | None]
    frame_id: Mapped[int | None] = mapped_column(RowId, ForeignKey("frames.id"))

    __table_args__ = (
        Index(None, "account", "order_id"),
        Index(None, "account", "symbol", "exec_time"),
    )


class PositionRow(Base):
    """``positions``: one row per leg. Report columns are NULL for a leg known only
    from fills; ``symbol_net_qty`` is the exact net over all legs of the symbol (what
    the ``net_positions`` view shows, since SQLite cannot add decimals exactly);
    ``fills_net_qty`` starts at the opening balance when the leg has one."""

    __tablename__ = "positions"

    account: Mapped[str] = _account()
    category: Mapped[str] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(primary_key=True)
    position_idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    side: Mapped[str | None]
    size: Mapped[Decimal | None]
    net_qty: Mapped[Decimal | None]
    entry_price: Mapped[Decimal | None]
    mark_price: Mapped[Decimal | None]
    unrealised_pnl: Mapped[Decimal | None]
    cum_realised_pnl: Mapped[Decimal | None]
    seq: Mapped[int | None]
    updated_time: Mapped[int | None]
    fills_net_qty: Mapped[Decimal]
    symbol_net_qty: Mapped[Decimal]
    #: the leg's opening balance (``oms.core.positions.Opening``): NULL when its first
    #: report came after a fill, or it has no report
    opening_net_qty: Mapped[Decimal | None]
    opening_seq: Mapped[int | None]


class EventRow(Base):
    """``events``: the outbox. ``id`` strictly increases in commit order."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(64), default=DEFAULT_ACCOUNT)
    type: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str | None]
    symbol: Mapped[str | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int]

    __table_args__ = (Index(None, "account", "id"),)


class ReplayRow(Base):
    """``replays``: how far a replay of one capture got, so a killed replay resumes."""

    __tablename__ = "replays"

    account: Mapped[str] = _account()
    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    lines_done: Mapped[int]
    finished: Mapped[bool]


class LeaseRow(Base):
    """``leases``: who may write an account (one writer per account, see
    ``oms.store.lease``). ``epoch`` grows by one with every take and never goes back;
    ``heartbeat_at`` is renewed by the owner (the database's clock on PostgreSQL);
    ``released`` is set by an owner that stopped cleanly. The last four columns are the
    owner's own report (``Health`` state, last frame time, frames, lag) for ``oms status``."""

    __tablename__ = "leases"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_host: Mapped[str] = mapped_column(String(255))
    owner_pid: Mapped[int]
    #: The owner machine's boot id: with ``owner_host``, what tells "this very machine".
    owner_boot: Mapped[str | None] = mapped_column(String(64))
    owner_started_at: Mapped[int]
    epoch: Mapped[int]
    heartbeat_at: Mapped[int]
    released: Mapped[bool]
    state: Mapped[str | None] = mapped_column(String(16))
    last_frame_at: Mapped[int | None]
    frames: Mapped[int | None]
    lag_ms: Mapped[int | None]


#: The ``net_positions`` view: the same SQL on every backend.
NET_POSITIONS_VIEW: Final = (
    "CREATE VIEW net_positions AS "
    "SELECT account, category, symbol, MIN(symbol_net_qty) AS net_qty "
    "FROM positions GROUP BY account, category, symbol"
)
