"""What a client may receive instead of what was sent: repeats, bounded reordering, losses.

Every strategy here takes the frames in the order the exchange sent them and gives a
delivery of them. ``deliveries(n)`` gives the same as a ``Delivery`` of indices, so a test
can also see which frames were repeated or lost.

Guarantees, for a ``window`` of w:

* ``reordered``: every frame ends at most w places from where it was sent;
* ``duplicated``: every copy arrives at most w frames after its original;
* ``dropped``: the frames not lost keep their order;
* ``disorder`` (losses, then repeats, then reordering): among the frames delivered, each
  frame arrives (at least once) before any copy of a frame sent w or more delivered
  frames after it; without repeats each frame ends at most w places from its place in
  the sequence of frames not lost.

>>> Delivery(sent=4, indices=(1, 0, 0, 3)).of(["a", "b", "c", "d"])
['b', 'a', 'a', 'd']
>>> Delivery(sent=4, indices=(1, 0, 0, 3)).dropped
frozenset({2})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from hypothesis import strategies as st

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hypothesis.strategies import SearchStrategy

__all__ = ["Delivery", "deliveries", "disorder", "dropped", "duplicated", "reordered"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery of ``sent`` frames: ``indices`` are the positions, in the order sent, of
    the frames received, in the order received (an index twice is a repeat; an index
    missing is a loss)."""

    sent: int
    indices: tuple[int, ...]

    def of(self, frames: Sequence[_T]) -> list[_T]:
        """These frames as this delivery delivers them."""
        if len(frames) != self.sent:
            raise ValueError(f"a delivery of {self.sent} frames, given {len(frames)}")
        return [frames[i] for i in self.indices]

    @property
    def dropped(self) -> frozenset[int]:
        """The indices of the frames lost."""
        return frozenset(range(self.sent)) - set(self.indices)

    @property
    def repeats(self) -> int:
        """How many extra copies were delivered."""
        return len(self.indices) - len(set(self.indices))


def _shifted(items: Sequence[_T], delays: Sequence[int]) -> list[_T]:
    keyed = sorted(range(len(items)), key=lambda i: (i + delays[i], i))
    return [items[i] for i in keyed]


def reordered(frames: Sequence[_T], *, window: int = 5) -> SearchStrategy[list[_T]]:
    """The frames with bounded reordering: each frame ends at most ``window`` places from
    where it was. (Frame i is delivered as if sent at i + d with 0 <= d <= window.)"""
    if window < 0:
        raise ValueError("window >= 0")
    items = list(frames)
    delays = st.lists(st.integers(0, window), min_size=len(items), max_size=len(items))
    return delays.map(lambda d: _shifted(items, d))


def duplicated(
    frames: Sequence[_T], *, max_copies: int | None = None, max_delay: int = 5
) -> SearchStrategy[list[_T]]:
    """The frames with some delivered again (at most ``max_copies`` extra copies; None: as
    many as there are frames), each copy at most ``max_delay`` frames after its original
    (with ``max_delay=0``, right after it)."""
    items = list(frames)
    if not items:
        return st.just([])
    limit = len(items) if max_copies is None else max_copies
    copies = st.lists(
        st.tuples(st.integers(0, len(items) - 1), st.integers(0, max_delay)), max_size=limit
    )

    def insert(picked: list[tuple[int, int]]) -> list[_T]:
        slots: list[list[_T]] = [[f] for f in items]
        for index, delay in picked:
            slots[min(index + delay, len(items) - 1)].append(items[index])
        return [f for slot in slots for f in slot]

    return copies.map(insert)


def dropped(
    frames: Sequence[_T], *, min_drops: int = 0, max_drops: int | None = None
) -> SearchStrategy[list[_T]]:
    """The frames with ``min_drops`` to ``max_drops`` (None: any number) of them lost; the
    rest keep their order. A lost frame is never delivered."""
    items = list(frames)
    limit = len(items) if max_drops is None else min(max_drops, len(items))
    if not 0 <= min_drops <= limit:
        raise ValueError(f"cannot drop {min_drops} to {limit} of {len(items)} frames")
    if not items:
        return st.just([])
    lost = st.sets(st.integers(0, len(items) - 1), min_size=min_drops, max_size=limit)
    return lost.map(lambda gone: [f for i, f in enumerate(items) if i not in gone])


def disorder(
    frames: Sequence[_T],
    *,
    window: int = 5,
    duplicates: bool = True,
    drops: bool = False,
    max_copies: int | None = None,
    min_drops: int = 0,
    max_drops: int | None = None,
) -> SearchStrategy[list[_T]]:
    """What a client may receive: losses (if ``drops``: ``min_drops`` to ``max_drops``),
    repeats (if ``duplicates``: at most ``max_copies``, each within ``window`` frames of
    its original), then bounded reordering (each frame moved at most ``window`` places).

    Example::

        @given(st.data())
        def test_my_consumer(data):
            s = data.draw(session())
            frames = data.draw(disorder(s.frames, window=5))
            ...
    """
    base: SearchStrategy[list[_T]] = st.just(list(frames))
    if drops:
        base = base.flatmap(lambda f: dropped(f, min_drops=min_drops, max_drops=max_drops))
    if duplicates:
        base = base.flatmap(lambda f: duplicated(f, max_copies=max_copies, max_delay=window))
    return base.flatmap(lambda f: reordered(f, window=window))


def deliveries(
    sent: int,
    *,
    window: int = 5,
    duplicates: bool = True,
    drops: bool = False,
    max_copies: int | None = None,
    min_drops: int = 0,
    max_drops: int | None = None,
) -> SearchStrategy[Delivery]:
    """``disorder`` of ``sent`` frames, as a ``Delivery`` of their indices (same knobs, same
    guarantees): use ``.of(frames)`` for the frames, ``.dropped`` for what was lost."""
    return disorder(
        range(sent), window=window, duplicates=duplicates, drops=drops,
        max_copies=max_copies, min_drops=min_drops, max_drops=max_drops,
    ).map(lambda indices: Delivery(sent=sent, indices=tuple(indices)))  # fmt: skip
