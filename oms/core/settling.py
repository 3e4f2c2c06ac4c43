"""The cross-topic settle clock: when a disagreement between topics becomes an anomaly.

Bybit gives no ordering between topics: a position report routinely arrives before the
fills it covers, and a fill before the report of its order. So a leg whose reported net
differs from the fills it covers, or a fill that names an order no report has described,
is only *pending* at first. The clock counts applied frames (``tick``); a disagreement
still there ``frames`` frames after it began is announced (``PositionMismatch``,
``FillForUnknownOrder``), and an announced mismatch that stops holding is announced as
resolved. ``confirm(force=True)`` announces every pending one now (end of a replay, after
a resync).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, NamedTuple

from oms.core import events as ev

if TYPE_CHECKING:
    from oms.core.fills import FillBook
    from oms.core.positions import Leg, LegKey, PositionReport

#: Frames a cross-topic disagreement may last before it is reported (see module doc).
DEFAULT_SETTLE_FRAMES: Final = 50
#: A leg continuously in disagreement for this many settle windows is reported even if
#: every window brought a newer report.
CONTINUOUS_WINDOWS: Final = 10
#: ``tuple.__new__``: builds a NamedTuple from a tuple without its Python-level ``__new__``.
_new_tuple: Final = tuple.__new__


class _Pending(NamedTuple):
    """A disagreement waiting for late frames: since when, since which report."""

    since: int
    report_since: int
    report: tuple[int, int]


class SettleClock:
    """The pending disagreements of one ledger, and the frame count that judges them.

    It reads the ledger's legs and fills (the same objects, never copied) and writes the
    events it announces into the list it is given."""

    __slots__ = ("_book", "_legs", "frames", "pending_fills", "pending_legs", "tick")

    def __init__(self, frames: int, legs: dict[LegKey, Leg], book: FillBook) -> None:
        #: frames a disagreement may last before it is announced
        self.frames = frames
        #: frames applied so far
        self.tick = 0
        #: legs in disagreement not yet announced, with when they (and their report) began
        self.pending_legs: dict[LegKey, _Pending] = {}
        #: execIds of fills waiting for their order's report, with the tick they arrived
        #: (the ledger adds and removes them: a dict operation, cheaper than a call)
        self.pending_fills: dict[str, int] = {}
        self._legs = legs
        self._book = book

    @property
    def pending(self) -> bool:
        """Whether a disagreement is waiting for late frames."""
        return bool(self.pending_legs or self.pending_fills)

    def recheck(self, leg: Leg, received_at: int, events: list[ev.Event]) -> None:
        """Start (or restart) the clock on a leg's disagreement, or announce its resolution.

        The clock runs per report: a newer report that still disagrees restarts it, since
        its own fills may still be in flight. A leg that stays in disagreement across
        reports for ``CONTINUOUS_WINDOWS`` windows is reported anyway, so a busy symbol
        whose fills are really missing is not excused forever."""
        report = leg.report
        reported = leg.reported_net
        # No report, or one that equals every fill (the usual answer of ``disagreement``,
        # found here without its call): agreement.
        if (
            reported is None
            or report is None
            or (not leg.tail and reported == leg.fills_net)
            or leg.disagreement() is None
        ):
            if self.pending_legs:
                self.pending_legs.pop(leg.key, None)
            if leg.mismatch_open and report is not None:
                leg.mismatch_open = False
                events.append(_resolved(leg, report, received_at))
        elif not leg.mismatch_open:
            self.watch(leg.key, report)

    def watch(self, key: LegKey, report: PositionReport) -> None:
        """Time a disagreement of leg ``key`` under ``report``: from now if it is new, the
        report's part from now if the report is."""
        identity = (report.seq, report.updated_time)
        pending = self.pending_legs.get(key)
        tick = self.tick
        # _Pending(since, report_since, report), built as a tuple: a fill often starts one
        if pending is None:
            self.pending_legs[key] = _new_tuple(_Pending, (tick, tick, identity))
        elif pending.report != identity:
            self.pending_legs[key] = _new_tuple(_Pending, (pending.since, tick, identity))

    def confirm(self, received_at: int, events: list[ev.Event], *, force: bool) -> None:
        """Announce every disagreement whose time is up (every one, with ``force``)."""
        if self.pending_legs:
            self._confirm_legs(received_at, events, force=force)
        if self.pending_fills:
            self._confirm_fills(received_at, events, force=force)

    def _confirm_legs(self, received_at: int, events: list[ev.Event], *, force: bool) -> None:
        due = self.tick - self.frames
        overdue = self.tick - self.frames * CONTINUOUS_WINDOWS
        for key, pending in list(self.pending_legs.items()):
            if not force and pending.report_since > due and pending.since > overdue:
                continue
            del self.pending_legs[key]
            leg = self._legs[key]
            gap = leg.disagreement()
            if gap is None or leg.report is None:
                continue
            leg.mismatch_open = True
            events.append(
                ev.PositionMismatch(
                    venue_time=leg.report.updated_time,
                    received_at=received_at,
                    reason="reported position differs from the fills it covers",
                    category=key.category,
                    symbol=key.symbol,
                    position_idx=key.position_idx,
                    reported_net_qty=gap[0],
                    fills_net_qty=gap[1],
                    seq=leg.report.seq,
                )
            )

    def _confirm_fills(self, received_at: int, events: list[ev.Event], *, force: bool) -> None:
        due = self.tick - self.frames
        for exec_id, since in list(self.pending_fills.items()):
            if not force and since > due:
                continue
            del self.pending_fills[exec_id]
            fill = self._book.get(exec_id)
            if fill is None:
                continue
            events.append(
                ev.FillForUnknownOrder(
                    venue_time=fill.exec_time,
                    received_at=received_at,
                    reason="no report of this order arrived",
                    exec_id=exec_id,
                    order_id=fill.order_id,
                    symbol=fill.symbol,
                )
            )


def _resolved(leg: Leg, report: PositionReport, received_at: int) -> ev.Event:
    return ev.PositionMismatchResolved(
        venue_time=report.updated_time,
        received_at=received_at,
        category=leg.key.category,
        symbol=leg.key.symbol,
        position_idx=leg.key.position_idx,
        net_qty=report.net_qty,
        seq=report.seq,
    )
