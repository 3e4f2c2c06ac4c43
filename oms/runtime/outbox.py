"""The durable way out: the outbox, read by other processes and after restarts.

Events are appended to the ``events`` table in the same transaction as the state they
describe (``oms.runtime.pipeline``), with ids that strictly increase in commit order. A
follower remembers the last id it handled and asks for what came after it: nothing is
missed across restarts of either side (``oms events --follow``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from oms.errors import StorageError
from oms.store.db import open_engine, safe_url
from oms.store.tables import EventRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One outbox row. ``payload`` holds the event's fields (decimals as strings)."""

    id: int
    account: str
    type: str
    order_id: str | None
    symbol: str | None
    payload: dict[str, Any]
    created_at: int

    def to_json(self) -> str:
        """One JSON line."""
        return json.dumps(
            {
                "id": self.id,
                "account": self.account,
                "type": self.type,
                "order_id": self.order_id,
                "symbol": self.symbol,
                "payload": self.payload,
                "created_at": self.created_at,
            },
            separators=(",", ":"),
        )


def read_events_from(
    engine: Engine, after_id: int = 0, limit: int = 1000, account: str | None = None
) -> list[StoredEvent]:
    """Events with id > ``after_id``, oldest first, at most ``limit``."""
    t = EventRow.__table__
    query = select(t).where(t.c.id > after_id).order_by(t.c.id).limit(limit)
    if account is not None:
        query = query.where(t.c.account == account)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read events from {safe_url(str(engine.url))}: {exc}") from exc
    return [
        StoredEvent(
            id=int(r["id"]),
            account=r["account"],
            type=r["type"],
            order_id=r["order_id"],
            symbol=r["symbol"],
            payload=r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"]),
            created_at=int(r["created_at"]),
        )
        for r in rows
    ]


def read_events(
    url: str, after_id: int = 0, limit: int = 1000, account: str | None = None
) -> list[StoredEvent]:
    """Events of the database at ``url`` with id > ``after_id`` (see ``read_events_from``)."""
    engine = open_engine(url)
    try:
        return read_events_from(engine, after_id, limit, account)
    finally:
        engine.dispose()
