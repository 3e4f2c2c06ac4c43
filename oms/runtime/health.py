"""What an account reports of itself: ``Health`` (state, error, counters) and ``Position``.

``HEALTH_STATES`` are the states of ``Health.state``; the README's "Failure model" says
what each means and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping
    from decimal import Decimal

    from oms.core.events import ResyncCompleted
    from oms.core.orders import Side


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """One leg of a position: as the exchange reported it, and as the fills add up.

    ``net_qty`` is signed (long +, short -); None while no report has arrived."""

    category: str
    symbol: str
    position_idx: int
    side: Side | None
    size: Decimal | None
    net_qty: Decimal | None
    fills_net_qty: Decimal
    seq: int | None
    updated_time: int | None


#: The states of ``Health.state`` (see the README's "Failure model").
HEALTH_STATES: Final = ("starting", "running", "degraded", "failed", "stopped")


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """How the account is doing. Times are epoch ms; None means never."""

    #: "starting" (started, the stream not yet subscribed), "running", "degraded" (writes
    #: failing and retried, or the stream reconnecting), "failed" (stopped on a fault:
    #: see ``error``), "stopped" (not started, or closed).
    state: str
    #: Why it is degraded or failed; None while running.
    error: str | None
    #: Since when (epoch ms) it is in ``state``.
    since: int
    frames: int
    queued: int
    connections: int
    reconnects: int
    last_frame_at: int | None
    resyncs: int
    resync_failures: int
    last_resync_at: int | None
    last_resync: ResyncCompleted | None
    #: The private stream's own state ("connecting", "authenticated", "subscribed",
    #: "disconnected", "backingoff", "stopped"); None for an account fed by the caller.
    stream: str | None = None
    #: Frames received and applied, not yet committed (a store fault holds them).
    uncommitted: int = 0
    #: Frames the stream received (for an account fed by the caller: frames fed).
    received: int = 0
    #: Frames applied, by outcome ("applied", "duplicate", "stale", "malformed", ...).
    outcomes: Mapping[str, int] = field(default_factory=dict)
    #: Orders open now, and fills held in memory (recent ones: see ``keep_terminal_orders``).
    open_orders: int = 0
    fills: int = 0
