"""A frame of N elements costs O(N) in decode, ledger and commit (issue 9).

Work is counted, not timed: every line of Python executed while one frame is ingested
and committed (``sys.settrace``), and the rows the commit writes. A frame of 40k legs
must cost about 4x one of 10k; a quadratic step, such as one scan of all legs per leg,
makes it 16x, and the count stops it as soon as it passes the linear budget.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import TYPE_CHECKING

from oms.bybit.ledger import Ledger
from oms.runtime.pipeline import Pipeline
from tests.core.frames import T0, order, order_frame, position, position_frame

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SMALL, LARGE = 10_000, 40_000
#: 4x the elements may cost at most this much more work (4.0 if perfectly linear; a
#: little slack for per-frame constants and dict resizes).
MAX_GROWTH = 4.4
#: Lines of Python per element at most, in any run: about 95 (decode and ledger), 460
#: (a leg through the commit) and 280 (an order) are measured. A quadratic step costs
#: thousands per element at 10k and is stopped here long before it would end.
PER_ELEMENT = 2_000


class OverBudgetError(BaseException):
    """More work than allowed: the cost is not linear. A BaseException, so that no
    ``except Exception`` on the way (the service's bug handler) can swallow it."""


def counted(action: Callable[[], object], budget: float | None = None) -> int:
    """The Python lines ``action`` executes (every function, every loop iteration: a scan
    hidden in a generator shows up too). Over ``budget``, it stops with ``OverBudgetError``
    instead of running a quadratic step to its end."""
    lines = 0
    limit = float("inf") if budget is None else budget

    def trace(_frame: object, event: str, _arg: object) -> object:
        nonlocal lines
        if event == "line":
            lines += 1
            if lines > limit:
                raise OverBudgetError(f"more than {limit:.0f} lines executed")
        return trace

    sys.settrace(trace)  # type: ignore[arg-type]
    try:
        action()
    finally:
        sys.settrace(None)
    return lines


def legs_frame(n: int, *, seq: int = 1) -> str:
    """One position frame of ``n`` legs on ``n`` symbols, half of them hedge-mode pairs."""
    elements = []
    for i in range(n // 2):
        elements.append(position(symbol=f"S{i}USDT", positionIdx=1, size="2", seq=seq))
        elements.append(position(symbol=f"S{i}USDT", positionIdx=2, side="Sell", size="1", seq=seq))
    return position_frame(*elements)


def orders_frame(n: int) -> str:
    return order_frame(
        *(order(orderId=f"o-{i}", orderLinkId=f"l-{i}", symbol=f"S{i % 97}USDT") for i in range(n))
    )


def service_work(
    tmp_path: Path, name: str, frames: list[str], budget: float | None = None
) -> tuple[int, int]:
    """(lines, position rows) of ingesting and committing ``frames`` one after another,
    each in a commit of its own; the database is opened before counting starts."""
    service = Pipeline(str(tmp_path / f"{name}.db"), group_frames=1)
    try:
        work = counted(lambda: [service.feed(f, received_at=T0) for f in frames], budget)
    finally:
        service.close()
    with sqlite3.connect(tmp_path / f"{name}.db") as conn:
        rows = int(conn.execute("SELECT count(*) FROM positions").fetchone()[0])
    return work, rows


def test_a_frame_of_many_legs_costs_linear_work_in_decode_and_ledger() -> None:
    small = Ledger()
    large = Ledger()
    small_frame, large_frame = legs_frame(SMALL), legs_frame(LARGE)
    small_work = counted(lambda: small.feed(small_frame, received_at=T0), PER_ELEMENT * SMALL)
    counted(lambda: large.feed(large_frame, received_at=T0), MAX_GROWTH * small_work)
    assert len(large.position_reports()) == LARGE


def test_a_frame_of_many_legs_costs_linear_work_in_the_commit(tmp_path: Path) -> None:
    # The second frame moves every leg again: the commit rewrites all of them, with
    # their siblings' symbol net (once computed per leg, by a scan of every leg).
    frames = [legs_frame(SMALL), legs_frame(SMALL, seq=2)]
    small = service_work(tmp_path, "small", frames, PER_ELEMENT * SMALL)
    frames = [legs_frame(LARGE), legs_frame(LARGE, seq=2)]
    large = service_work(tmp_path, "large", frames, MAX_GROWTH * small[0])
    assert (small[1], large[1]) == (SMALL, LARGE)


def test_a_frame_of_many_orders_costs_linear_work(tmp_path: Path) -> None:
    small = service_work(tmp_path, "small", [orders_frame(SMALL)], PER_ELEMENT * SMALL)
    service_work(tmp_path, "large", [orders_frame(LARGE)], MAX_GROWTH * small[0])
