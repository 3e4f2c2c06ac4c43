"""``Ledger``: raw Bybit v5 private-stream frames in, exact account state and events out.

This is the object users hold. It decodes each frame into core updates
(``oms.bybit.codec``) and applies them to the core ledger it extends. A bad frame never
raises: it is refused with a ``MalformedFrame`` event that says why, and the next frame
is applied as usual. Every frame is counted under exactly one outcome (see ``Outcome``).

What is refused, and how: an element that is not valid data (see the bounds in
``oms.bybit.rules``) becomes a ``MalformedFrame`` event naming its index and why; its
valid siblings in the frame are applied all the same, exactly as if it had not been
there (the frame is counted ``malformed``). Every element is decoded whole before
anything is applied, so an element is applied whole or not at all.

A frame is its text (``str``, UTF-8 ``bytes``) or the mapping a client parsed it into
(pybit hands its callbacks a ``dict``): a mapping is decoded from its compact JSON
(``oms.bybit.frames.parsed_frame``) under exactly the rules of text, so a float where
Bybit sends a decimal string is refused like a JSON number in text. Anything else (None,
a list, a number, bytes that are not UTF-8) is one more malformed frame.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from oms.bybit.codec import FRAMES, decode_exactly
from oms.bybit.frames import (
    ControlFrame,
    DataFrame,
    Kind,
    Text,
    category_of,
    excerpt,
    parsed_frame,
)
from oms.clock import now_ms
from oms.core import events as ev
from oms.core.ledger import (
    DEFAULT_SETTLE_FRAMES,
    VERDICT_OUTCOME,
    Batch,
    CoreLedger,
    Outcome,
    outcome_of,
)
from oms.errors import MalformedFrameError

if TYPE_CHECKING:
    from oms.bybit.models import WireModel

__all__ = ["STAT_KEYS", "FrameResult", "Ledger", "category_of", "now_ms"]

#: Keys of ``Ledger.stats``, in display order.
STAT_KEYS: Final = ("frames", *(o.value for o in Outcome))
#: The stats key of each outcome (``Outcome.value`` is a Python-level property: per frame,
#: a dict lookup is cheaper).
_STAT_KEYS: Final = {o: o.value for o in Outcome}


@dataclass(slots=True)
class FrameResult:
    """What one frame did: its outcome, its events, and what it changed."""

    outcome: Outcome
    events: list[ev.Event]
    topic: str | None = None
    batch: Batch = field(default_factory=Batch)
    control: ControlFrame | None = None


class Ledger(CoreLedger):
    """The account state of one Bybit account, built from raw private-stream frames."""

    def __init__(self, *, settle_frames: int = DEFAULT_SETTLE_FRAMES) -> None:
        super().__init__(settle_frames=settle_frames)
        self._stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self._wallet: dict[str, WireModel] = {}
        self._wallet_time = 0
        #: the Batch ``apply_frame`` records into (see there)
        self._scratch = Batch()

    @property
    def stats(self) -> dict[str, int]:
        """Frames seen, and how many ended in each outcome (a copy)."""
        return dict(self._stats)

    def restore_stats(self, counts: dict[str, int]) -> None:
        """Continue counting from saved per-outcome counts (after a restart)."""
        for key, value in counts.items():
            if key in self._stats:
                self._stats[key] = value
        self._stats["frames"] = sum(v for k, v in self._stats.items() if k != "frames")

    def wallet(self) -> dict[str, WireModel]:
        """The newest ``wallet`` report per accountType."""
        return dict(self._wallet)

    def apply_frame(self, text: Text, *, received_at: int | None = None) -> list[ev.Event]:
        """Apply one raw frame as received; return the events it caused. Never raises
        for bad input (whatever ``text`` is)."""
        at = time.time_ns() // 1_000_000 if received_at is None else received_at  # = now_ms()
        try:
            *_, updates = FRAMES.validate_json(text)  # type: ignore[arg-type]
        except (ValueError, TypeError):  # ValidationError is a ValueError; TypeError: not text
            updates = None
        if not updates:
            if isinstance(text, Mapping):  # parsed by the client: decode its JSON text
                return self._feed_parsed(text, at).events
            return self._ingest_generally(text, at).events
        stats = self._stats
        stats["frames"] += 1
        # Only the events leave this method, so one Batch serves every frame.
        batch = self._scratch
        batch.clear()
        self._apply_to(batch, updates, at)
        verdicts = batch.verdicts  # = outcome_of(verdicts), without the call for one element
        outcome = VERDICT_OUTCOME[verdicts[0]] if len(verdicts) == 1 else outcome_of(verdicts)
        stats[_STAT_KEYS[outcome]] += 1
        return batch.events

    def feed(self, text: Text, *, received_at: int | None = None) -> FrameResult:
        """Apply one raw frame and return everything it did. Never raises for bad input
        (whatever ``text`` is)."""
        at = time.time_ns() // 1_000_000 if received_at is None else received_at  # = now_ms()
        try:
            _, topic, _, _, updates = FRAMES.validate_json(text)  # type: ignore[arg-type]
        except (ValueError, TypeError):  # ValidationError is a ValueError; TypeError: not text
            updates = None
        if not updates:
            if isinstance(text, Mapping):  # parsed by the client: decode its JSON text
                return self._feed_parsed(text, at)
            return self._ingest_generally(text, at)
        self._stats["frames"] += 1
        batch = self.apply(updates, received_at=at)
        outcome = outcome_of(batch.verdicts)
        self._stats[_STAT_KEYS[outcome]] += 1
        return FrameResult(outcome, batch.events, topic, batch)

    #: The former name of ``feed`` (kept: it is part of the documented API).
    ingest = feed

    # Both methods above: a clean order, execution or position frame goes from text to
    # core values in one call (``oms.bybit.codec.FRAMES``). A frame it refuses, or that
    # carries no element, has changed nothing; it is then decoded element by element
    # (``decode_exactly``: the same rules, with the reason of each refusal).

    def _feed_parsed(self, frame: Mapping[str, object], at: int) -> FrameResult:
        """A frame that arrived parsed: its compact JSON, fed as text (the fast path
        first); a mapping that is not JSON is a malformed frame saying why."""
        try:
            text = parsed_frame(frame)
        except MalformedFrameError as exc:
            self._stats["frames"] += 1
            self._stats[_STAT_KEYS[Outcome.MALFORMED]] += 1
            return self._malformed(frame, at, [exc])
        return self.feed(text, received_at=at)

    def _ingest_generally(self, text: Text, at: int) -> FrameResult:
        """Decode, apply and count a frame the general way."""
        stats = self._stats
        stats["frames"] += 1
        result = self._decode_and_apply(text, at)
        stats[_STAT_KEYS[result.outcome]] += 1
        return result

    def _decode_and_apply(self, text: Text, at: int) -> FrameResult:
        try:
            decoded = decode_exactly(text)
        except MalformedFrameError as exc:
            return self._malformed(text, at, [exc])
        if decoded.__class__ is DataFrame:
            return self._apply_data(decoded, text, at)
        if isinstance(decoded, ControlFrame):
            return FrameResult(Outcome.CONTROL, [], control=decoded)
        return FrameResult(Outcome.IGNORED, [], topic=decoded.topic)

    def _malformed(
        self, text: Text, at: int, errors: list[MalformedFrameError], venue_time: int = 0
    ) -> FrameResult:
        events: list[ev.Event] = [
            ev.MalformedFrame(
                venue_time=venue_time,
                received_at=at,
                reason=err.reason,
                topic=err.topic,
                index=err.index,
                excerpt=excerpt(text),
            )
            for err in errors
        ]
        return FrameResult(Outcome.MALFORMED, events, topic=errors[0].topic if errors else None)

    def _apply_data(self, frame: DataFrame, text: Text, at: int) -> FrameResult:
        if frame.kind is Kind.WALLET:
            result = self._apply_wallet(frame)
            if frame.errors:  # the valid accounts were applied; the frame is still flagged
                return self._malformed(text, at, frame.errors, frame.creation_time)
            return result
        updates = frame.elements  # core values, each element validated whole
        errors = frame.errors
        if not updates and not errors:
            return FrameResult(Outcome.IGNORED, [], frame.topic)  # "data": [] carries nothing
        # Nothing valid: nothing applied, not even a tick of the settle clock (a frame of
        # refused elements does what the frame without them, "data": [], does).
        batch = self.apply(updates, received_at=at) if updates else Batch()
        if errors:
            # The valid elements were applied; the frame is still flagged for attention.
            result = self._malformed(text, at, errors, frame.creation_time)
            result.events[:0] = batch.events
            result.batch = batch
            result.topic = frame.topic
            return result
        return FrameResult(batch.outcome, batch.events, frame.topic, batch)

    def _apply_wallet(self, frame: DataFrame) -> FrameResult:
        if not frame.elements and frame.errors:
            return FrameResult(Outcome.MALFORMED, [], topic=frame.topic)  # nothing to apply
        if frame.creation_time < self._wallet_time:
            return FrameResult(Outcome.STALE, [], topic=frame.topic)
        self._wallet_time = frame.creation_time
        for account in frame.elements:
            self._wallet[account.accountType] = account
        return FrameResult(Outcome.APPLIED, [], topic=frame.topic)
