"""A bundled capture as a worse connection would deliver it: some frames lost, some late.

The bundled captures never leave a cross-topic disagreement standing past the settle
window, so they never announce ``PositionMismatch`` or ``FillForUnknownOrder``. Dropping
a few ``execution`` and ``order`` frames, and delivering a few others ``DELAY`` lines
(well past the default window of 50 frames) late, makes them announce all of these:
mismatches that stay, mismatches resolved when the late fill arrives, and fills whose
order never arrives or arrives after the window. The choice is fixed (every n-th frame of
a topic), so the derived capture is the same on every run.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from typing import TYPE_CHECKING, Final

from oms.cli.capture import open_capture

if TYPE_CHECKING:
    from pathlib import Path

#: Every n-th frame of a topic is lost ...
DROP_EVERY: Final = {"execution": 37, "order": 53}
#: ... and every n-th (of those not lost) arrives ``DELAY`` lines late.
LATE_EVERY: Final = {"execution": 41, "order": 67}
DELAY: Final = 120


def _topic(line: str) -> str | None:
    try:
        frame = json.loads(line)
    except ValueError:
        return None  # a malformed line stays where it is
    return frame.get("topic") if isinstance(frame, dict) else None


def late_and_lost(lines: list[str]) -> list[str]:
    """``lines`` with every ``DROP_EVERY``-th frame of a topic left out and every
    ``LATE_EVERY``-th moved ``DELAY`` lines later (the rest keep their order)."""
    out: list[str] = []
    held_back: defaultdict[int, list[str]] = defaultdict(list)
    seen: defaultdict[str, int] = defaultdict(int)
    for number, line in enumerate(lines):
        out.extend(held_back.pop(number, ()))
        topic = _topic(line)
        if topic in DROP_EVERY:
            seen[topic] += 1
            if seen[topic] % DROP_EVERY[topic] == 0:
                continue
            if seen[topic] % LATE_EVERY[topic] == 0:
                held_back[number + DELAY].append(line)
                continue
        out.append(line)
    for number in sorted(held_back):
        out.extend(held_back[number])
    return out


def write_late_and_lost(source: Path, target: Path) -> Path:
    """Write ``late_and_lost`` of the gzipped capture ``source`` to ``target`` (gzipped)."""
    with gzip.open(target, "wt", encoding="utf-8", newline="") as handle:
        handle.writelines(line + "\n" for line in late_and_lost(capture_lines(source)))
    return target


def capture_lines(path: Path) -> list[str]:
    """The lines of a capture as ``oms replay`` applies them (without their line ends)."""
    with open_capture(str(path)) as (handle, _):
        return [line.rstrip("\r\n") for line in handle]
