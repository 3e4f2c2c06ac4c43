"""Signed positions per (category, symbol, positionIdx), reported and derived.

The ``position`` topic reports each leg with a ``seq`` (the cross sequence of the last
trade on the symbol). Reports are ordered by seq, then updatedTime; equal seqs are normal
(a report fires on every order create, amend or cancel). Independently, booked fills are
summed per leg. A report at seq S covers exactly the fills with seq <= S, so the two can
be compared once the fills up to S are in.

Opening balances: a position opened before oms could see its fills (an account that
already trades) would otherwise disagree with its fills forever. So the first report of a
leg for which no fill is held is the leg's *opening balance*: its signed net at that
report's seq. Fills with seq at or below it are inside it (they do not move the
fills-derived net); later fills move the fills-derived net on from it, so the reported
and the derived net stay comparable. A later report that no fill explains is still a
disagreement.

Sign convention: Buy is +, Sell is -. One-way (idx 0): net = +size for Buy, -size for
Sell, 0 when flat (side ""). Hedge: idx 1 is the long leg (net >= 0), idx 2 the short leg
(net <= 0); the symbol's net is their sum, i.e. long minus short.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, NamedTuple

from oms.core.exact import EXACT, negate, total
from oms.core.orders import Side, Verdict

_ZERO: Final = Decimal(0)
#: ``exact.add`` without the wrapper call: a leg adds once per fill.
_add: Final = EXACT.add
#: ``tuple.__new__``: builds a NamedTuple from a tuple without its Python-level ``__new__``.
_new_tuple: Final = tuple.__new__
#: ``Side.BUY`` and ``Side.SELL`` for the per-report path: a member read through its class
#: costs about 900 instructions in Python 3.11 (the enum type's attribute hook).
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL


class LegKey(NamedTuple):
    """Identifies one position leg."""

    category: str
    symbol: str
    position_idx: int


class Opening(NamedTuple):
    """A leg's opening balance: its signed net at ``seq``, the first report of a leg no
    fill was held for. Fills with a seq at or below ``seq`` are inside it."""

    net_qty: Decimal
    seq: int


class PositionReport(NamedTuple):
    """One leg as the venue reported it. Absent wire values are ``None``. An immutable
    value (a NamedTuple for the same reason as ``Order``)."""

    category: str
    symbol: str
    position_idx: int
    side: Side | None
    size: Decimal
    entry_price: Decimal | None
    mark_price: Decimal | None
    unrealised_pnl: Decimal | None
    cum_realised_pnl: Decimal | None
    seq: int
    updated_time: int

    @property
    def key(self) -> LegKey:
        """The leg this report describes."""
        return _new_tuple(LegKey, (self.category, self.symbol, self.position_idx))

    @property
    def net_qty(self) -> Decimal:
        """Signed size: +size long, -size short, 0 flat."""
        if self.side is Side.BUY:
            return self.size
        if self.side is Side.SELL:
            return negate(self.size)
        return _ZERO


def judge_report(held: PositionReport | None, report: PositionReport) -> Verdict:
    """Order position reports of one leg by (seq, updatedTime)."""
    if held is None:
        return Verdict.APPLIED
    if report.seq != held.seq:
        return Verdict.APPLIED if report.seq > held.seq else Verdict.STALE
    if report.updated_time != held.updated_time:
        return Verdict.APPLIED if report.updated_time > held.updated_time else Verdict.STALE
    # Equal (seq, updatedTime): a repeat. Other content under an equal key cannot be
    # ordered; keeping the held report makes the result independent of arrival order.
    return Verdict.DUPLICATE


class Leg:
    """What we know of one leg: the newest report and the fills booked to it.

    Change ``report`` only through ``set_report``, and the fills only through
    ``add_fill``: they also keep ``reported_net`` and ``tail_net`` (worked out once per
    report and once per fill here, rather than on every check of the leg)."""

    __slots__ = (
        "fills_net",
        "has_fills",
        "key",
        "mismatch_open",
        "opening",
        "report",
        "reported_net",
        "tail",
        "tail_net",
    )

    def __init__(self, key: LegKey) -> None:
        self.key = key
        self.report: PositionReport | None = None
        #: ``report.net_qty`` (None without a report).
        self.reported_net: Decimal | None = None
        #: The opening balance plus the signed qty of every position-changing fill booked
        #: to this leg after it (see the module docstring).
        self.fills_net: Decimal = _ZERO
        #: Whether any fill was ever booked to this leg (the opening-balance rule).
        self.has_fills = False
        #: The leg's opening balance, if its first report came before any fill.
        self.opening: Opening | None = None
        #: (seq, signed qty) of fills newer than the held report: not covered by it yet.
        self.tail: list[tuple[int, Decimal]] = []
        #: The sum of the tail's quantities.
        self.tail_net: Decimal = _ZERO
        #: Whether a mismatch has been announced and not yet resolved.
        self.mismatch_open = False

    @property
    def derived_net(self) -> Decimal:
        """Net position as derived from every booked fill."""
        return self.fills_net

    def add_fill(self, seq: int | None, signed_qty: Decimal) -> bool:
        """Book a fill's signed quantity to this leg (the sums first: an exact add that
        traps leaves the leg as it was). A fill inside the opening balance (seq at or
        below it) is booked but moves nothing: the opening counts it already.

        Return whether the fills the held report covers changed: False for a fill inside
        the opening or newer than the report (it joins the tail), which leave the leg's
        agreement with its report as it was."""
        self.has_fills = True
        opening = self.opening
        if opening is not None and seq is not None and seq <= opening.seq:
            return False
        fills_net = _add(self.fills_net, signed_qty)
        if seq is not None and (self.report is None or seq > self.report.seq):
            tail_net = _add(self.tail_net, signed_qty)
            self.tail.append((seq, signed_qty))
            self.tail_net = tail_net
            self.fills_net = fills_net
            return False
        self.fills_net = fills_net
        return True

    def set_report(self, report: PositionReport) -> Decimal:
        """Hold a newer report and drop the fills it now covers from the tail (the tail's
        sum first: an exact sum that traps leaves the leg as it was); return its net."""
        if self.tail:
            tail = [(s, q) for s, q in self.tail if s > report.seq]
            self.tail_net = total(q for _, q in tail) if tail else _ZERO
            self.tail = tail
        self.report = report
        side = report.side
        if side is _BUY:  # = report.net_qty, without the property call
            net = report.size
        elif side is _SELL:
            net = report.size.copy_negate()
        else:
            net = _ZERO
        self.reported_net = net
        return net

    def open_with(self, opening: Opening) -> None:
        """Start the fills-derived net at ``opening`` (the first report of a leg with no
        fill held, or the saved opening of a restored leg, before its fills)."""
        self.opening = opening
        self.fills_net = opening.net_qty

    def covered_net(self) -> Decimal:
        """The fills the held report covers (seq <= its seq)."""
        if not self.tail:
            return self.fills_net
        return _add(self.fills_net, self.tail_net.copy_negate())

    def disagreement(self) -> tuple[Decimal, Decimal] | None:
        """(reported, derived) when the held report and the fills it covers differ."""
        reported = self.reported_net
        if reported is None:
            return None
        derived = self.fills_net  # = self.covered_net(), without the call
        if self.tail:
            derived = _add(derived, self.tail_net.copy_negate())
        return None if reported == derived else (reported, derived)
