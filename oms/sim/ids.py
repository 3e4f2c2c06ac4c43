"""Where the venue's identifiers and sequence steps come from.

``RandomIds`` draws them from a seeded ``random.Random`` (the benchmark and the sandbox:
ids look like Bybit's, the same seed gives the same ids). ``CountingIds`` derives them
from a counter (``oms.testing``: no random state, so hypothesis alone decides a session
and shrinking stays stable).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    import random

#: An odd multiplier is a bijection mod 2**128: distinct counters give distinct ids.
_ID_MULTIPLIER: Final = 0x9E3779B97F4A7C15F39CC0605CEDC835


class Ids(Protocol):
    """A source of venue identifiers."""

    def uuid(self) -> str:
        """A fresh orderId or execId."""
        ...

    def frame_id(self) -> str:
        """A fresh frame ``id``."""
        ...

    def seq_step(self) -> int:
        """How far a symbol's cross sequence moves before this account's next trade
        (other accounts trade in between)."""
        ...


class RandomIds:
    """Ids from a seeded generator, shaped like Bybit's."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def frame_id(self) -> str:
        r = self.rng.getrandbits
        return f"{r(56):014x}-{r(16):04x}-{r(16):04x}-{r(16):04x}-{r(48):012x}"

    def seq_step(self) -> int:
        return self.rng.randint(1, 40)


class CountingIds:
    """Ids from a counter: deterministic without any random state."""

    def __init__(self) -> None:
        self.count = 0

    def _next(self, kind: int) -> str:
        self.count += 1
        return str(uuid.UUID(int=(self.count * _ID_MULTIPLIER + kind) % (1 << 128)))

    def uuid(self) -> str:
        return self._next(0x0D)

    def frame_id(self) -> str:
        return self._next(0xF4A3E)

    def seq_step(self) -> int:
        return 1 + self.count % 7
