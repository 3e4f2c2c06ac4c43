"""What the pipeline stages for its next commit: a frame's journal row, built before the
frame is decoded and completed from what applying it did, and the state it changed.

Pure bookkeeping over ``oms.runtime.commit.Staged``: no database, no lock, no clock.
"""

from __future__ import annotations

import contextlib
import reprlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from oms.bybit.frames import ParsedFrame, parsed_frame, valid_unicode
from oms.core.events import MalformedFrame
from oms.core.ledger import Outcome
from oms.core.orders import Verdict
from oms.errors import MalformedFrameError
from oms.redact import scrub_signatures

if TYPE_CHECKING:
    from oms.bybit.ledger import FrameResult
    from oms.core.batch import Batch
    from oms.core.events import Event
    from oms.runtime.commit import Staged
    from oms.store.repository import Row

#: The ``error`` column of a journaled control frame whose text had to be scrubbed.
SCRUBBED_FLAG: Final = "scrubbed"
#: A frame that is not text is journaled as its type and a repr cut to this length.
_MAX_REPR: Final = 4096


def journal_row(frame: object, at: int) -> tuple[Row, object]:
    """The journal row of a frame received at ``at``, as a malformed frame until applying
    it says otherwise, and the frame to apply (a mapping: the very JSON journaled)."""
    raw = journal_text(frame)
    parsed = raw.__class__ is ParsedFrame
    row: Row = {
        "received_at": at,
        "topic": None,
        "raw": str(raw) if parsed else raw,  # (a plain str for the database driver)
        "outcome": Outcome.MALFORMED.value,
        "error": None,
        "parsed": parsed,
    }
    return row, (raw if parsed else frame)


def complete_row(row: Row, result: FrameResult) -> None:
    """Fill in what applying the frame found: topic, outcome, the refusals' reasons; a
    control frame's text with any echoed signature masked (the one journal row that is
    not the exact text received, flagged in its error column)."""
    outcome = result.outcome
    row["topic"] = result.topic
    row["outcome"] = outcome.value
    if outcome is Outcome.MALFORMED:
        errors = [e.reason for e in result.events if isinstance(e, MalformedFrame)]
        row["error"] = "; ".join(errors) if errors else None
        row["raw"] = valid_unicode(row["raw"])  # a lone surrogate cannot be stored as text
    elif outcome is Outcome.CONTROL:
        row["raw"], scrubbed = scrub_signatures(row["raw"])
        if scrubbed:
            row["error"] = f"{SCRUBBED_FLAG}: {scrubbed} signature-shaped token(s) masked"


def stage(staged: Staged, frame: Row | None, batch: Batch, events: list[Event]) -> None:
    """Add a frame's row (None: events no frame caused), its order updates, fills,
    events and the orders and legs it changed to the group."""
    if not staged.frames:
        staged.since = time.monotonic()
    updates = [
        (
            r.previous.value if r.previous is not None else None,
            r.report,
            "applied" if r.verdict is Verdict.APPLIED else "illegal",
        )
        for r in batch.order_updates
    ]
    staged.frames.append((frame, updates, sorted(batch.fills), events))
    staged.orders |= batch.orders
    staged.legs |= batch.legs


def journal_text(frame: object) -> str:
    """The text a frame is journaled as: itself, UTF-8 bytes decoded (invalid bytes as
    U+FFFD), a mapping as its compact JSON (a ``ParsedFrame``), or for any other object
    (and a mapping that is not JSON) its type and a bounded repr."""
    if isinstance(frame, str):
        return frame
    if isinstance(frame, bytes | bytearray | memoryview):
        return bytes(frame).decode("utf-8", "replace")
    if isinstance(frame, Mapping):
        with contextlib.suppress(MalformedFrameError):  # the ledger says why, once more
            return parsed_frame(frame)
    return f"<not text: {type(frame).__name__}> {_bounded_repr(frame)}"


def _bounded_repr(frame: object) -> str:
    try:
        return repr(frame)[:_MAX_REPR]
    except RecursionError:  # a self-referencing mapping
        return reprlib.repr(frame)
