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
from typing import TYPE_CHECKING, Any, Final

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
    from collections.abc import Callable, Iterable

    from oms.bybit.models import WireModel

__all__ = ["STAT_KEYS", "FrameResult", "Ledger", "category_of", "now_ms"]

#: Keys of ``Ledger.stats``, in display order.
STAT_KEYS: Final = ("frames", *(o.value for o in Outcome))
#: ``time.time_ns``, read once a frame (``now_ms()`` without its call)
_time_ns: Final = time.time_ns
#: How ``apply_frame`` applies each element of a frame of each kind (= ``_apply_to``'s
#: choice by type, once a frame).
_APPLY: Final[dict[Kind, Callable[[CoreLedger, Any, int, Batch], None]]] = {
    Kind.ORDER: CoreLedger._apply_order,  # noqa: SLF001 - the core's own apply steps
    Kind.EXECUTION: CoreLedger._apply_fill,  # noqa: SLF001
    Kind.FAST_EXECUTION: CoreLedger._apply_fill,  # noqa: SLF001
    Kind.POSITION: CoreLedger._apply_position,  # noqa: SLF001
}


@dataclass(slots=True)
class FrameResult:
    """What one frame did: its outcome, its events, and what it changed."""

    outcome: Outcome
    events: list[ev.Event]
    topic: str | None = None
    batch: Batch = field(default_factory=Batch)
    control: ControlFrame | None = None
    #: the accountTypes whose wallet the frame replaced
    wallets: tuple[str, ...] = ()


class Ledger(CoreLedger):
    """The account state of one Bybit account, built from raw private-stream frames."""

    def __init__(self, *, settle_frames: int = DEFAULT_SETTLE_FRAMES) -> None:
        super().__init__(settle_frames=settle_frames)
        #: frames counted per outcome (``stats`` adds them up: one count a frame, not two)
        self._counts: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        self._wallet: dict[str, WireModel] = {}
        #: per accountType, the creationTime of the report held (its staleness clock)
        self._wallet_time: dict[str, int] = {}
        #: the Batch ``apply_frame`` records into (see there)
        self._scratch = Batch(records=False)

    @property
    def stats(self) -> dict[str, int]:
        """Frames seen, and how many ended in each outcome (a copy)."""
        counts = self._counts
        return {"frames": sum(counts.values()), **{o.value: counts[o] for o in Outcome}}

    def restore_stats(self, counts: dict[str, int]) -> None:
        """Continue counting from saved per-outcome counts (after a restart)."""
        for outcome in Outcome:
            if outcome.value in counts:
                self._counts[outcome] = counts[outcome.value]

    def wallet(self) -> dict[str, WireModel]:
        """The newest ``wallet`` report per accountType."""
        return dict(self._wallet)

    def wallet_time(self, account_type: str) -> int:
        """The creationTime of the stream report that set ``account_type``'s wallet clock
        (0: none yet); a report older than it is stale."""
        return self._wallet_time.get(account_type, 0)

    def restore_wallets(self, wallets: Iterable[tuple[WireModel, int]]) -> None:
        """Hold stored wallets (each with its staleness clock), after a restart."""
        for account, at in wallets:
            self._wallet[account.accountType] = account
            self._wallet_time[account.accountType] = at

    def apply_rest_wallets(self, accounts: Iterable[WireModel]) -> list[str]:
        """Take a resync's wallets (``/v5/account/wallet-balance`` rows) as the truth of
        the moment; return the accountTypes replaced. The row has no venue time, so each
        accountType's clock stays where the stream set it: the next stream report, newer
        than the last one, replaces the row."""
        replaced = []
        for account in accounts:
            self._wallet[account.accountType] = account
            replaced.append(account.accountType)
        return replaced

    def apply_frame(self, text: Text, *, received_at: int | None = None) -> list[ev.Event]:
        """Apply one raw frame as received; return the events it caused. Never raises
        for bad input (whatever ``text`` is)."""
        # The hot path: ``feed`` without its FrameResult, and ``apply`` without its calls
        # (tests/core/test_fastpath_core.py holds the two equal). Every statement here runs
        # once a frame, and a Python call or a star-unpacking costs about as much as a
        # dozen plain statements.
        at = _time_ns() // 1_000_000 if received_at is None else received_at  # = now_ms()
        try:
            kind, _, _, _, updates = FRAMES.validate_json(text)  # type: ignore[arg-type]
        except (ValueError, TypeError):  # ValidationError is a ValueError; TypeError: not text
            updates = None
        if not updates:
            if isinstance(text, Mapping):  # parsed by the client: decode its JSON text
                return self._feed_parsed(text, at).events
            return self._ingest_generally(text, at).events
        # Only the events leave this method and only the verdicts are read, so one Batch
        # that keeps no records serves every frame: its verdicts emptied and a new events
        # list each frame.
        batch = self._scratch
        batch.verdicts.clear()
        events = batch.events = []
        settle = self._settle
        settle.tick += 1  # = self._apply_to(batch, updates, at), inline:
        apply_one = _APPLY[kind]  # every element of a frame is of its topic's kind
        for update in updates:
            apply_one(self, update, at, batch)
        if settle.pending_legs or settle.pending_fills:
            settle.confirm(at, events, force=False)
        verdicts = batch.verdicts  # = outcome_of(verdicts), without the call for one element
        outcome = VERDICT_OUTCOME[verdicts[0]] if len(verdicts) == 1 else outcome_of(verdicts)
        self._counts[outcome] += 1
        return events

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
        batch = self.apply(updates, received_at=at)
        outcome = outcome_of(batch.verdicts)
        self._counts[outcome] += 1
        return FrameResult(outcome, batch.events, topic, batch)

    def ingest(self, text: Text, *, received_at: int | None = None) -> FrameResult:
        """The former name of ``feed`` (kept: it is part of the documented API)."""
        return self.feed(text, received_at=received_at)

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
            self._counts[Outcome.MALFORMED] += 1
            return self._malformed(frame, at, [exc])
        return self.feed(text, received_at=at)

    def _ingest_generally(self, text: Text, at: int) -> FrameResult:
        """Decode, apply and count a frame the general way."""
        result = self._decode_and_apply(text, at)
        self._counts[result.outcome] += 1
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
                flagged = self._malformed(text, at, frame.errors, frame.creation_time)
                flagged.wallets = result.wallets
                return flagged
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
        """Each account of the frame replaces the report held for its accountType unless
        that one is newer (one staleness clock per accountType): applied if any did."""
        if not frame.elements and frame.errors:
            return FrameResult(Outcome.MALFORMED, [], topic=frame.topic)  # nothing to apply
        at = frame.creation_time
        replaced = []
        for account in frame.elements:
            account_type = account.accountType
            if at >= self._wallet_time.get(account_type, 0):
                self._wallet_time[account_type] = at
                self._wallet[account_type] = account
                replaced.append(account_type)
        outcome = Outcome.APPLIED if replaced or not frame.elements else Outcome.STALE
        return FrameResult(outcome, [], topic=frame.topic, wallets=tuple(replaced))
