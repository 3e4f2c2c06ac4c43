"""``Faults``: what the sandbox gets wrong on purpose. All off by default.

Every field may be changed at any time from any thread (``sandbox.faults.refuse_auth = 2``);
the servers read them on each event. The counters (``refuse_auth``, ``rest_rate_limit``)
count down as they are used.

- ``drop_after_frames=N``: a connection is cut (TCP abort, no close frame) right after it
  was sent its Nth data frame (counted from its start, or from when N was set if it was
  already open). ``drop_every=False``: only the first connection to get there (the fault
  then disarms itself, back to 0); ``True``: every connection, every N frames.
- ``silent`` (or ``silence(seconds)``): the server stops sending anything, pongs included
  (it stops reading, so neither protocol nor application pings are answered), but keeps
  the TCP connections open. Data frames pushed meanwhile are lost, as on a dead link.
- ``refuse_auth=N``: the next N auth attempts fail with "Request not authorized".
- ``malformed_every=N``: after every Nth data frame of a connection, a corrupted copy of
  it is sent too (truncated JSON, wrong types, a non-list ``data``, non-JSON text). The real
  frame is always delivered intact, so the truth is unaffected.
- ``rest_rate_limit=N``: the next N REST calls get retCode 10006 "Too many visits!".
- ``rest_clock_skew_ms``: offset of the REST server clock (``/v5/market/time``, the
  envelope ``time`` and the signature timestamp window) from the exchange's clock.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Fault injection switches (see the module docstring)."""

    drop_after_frames: int = 0
    drop_every: bool = False
    silent: bool = False
    #: ``time.monotonic()`` at which ``silent`` turns itself off; None: until cleared
    silent_until: float | None = None
    refuse_auth: int = 0
    malformed_every: int = 0
    rest_rate_limit: int = 0
    rest_clock_skew_ms: int = 0
    #: seed of the corruption choices
    seed: int = 0
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - not crypto

    def silence(self, seconds: float | None = None) -> None:
        """Go silent now, for ``seconds`` or (None) until ``resume()``."""
        with self._lock:
            self.silent_until = None if seconds is None else time.monotonic() + seconds
            self.silent = True

    def resume(self) -> None:
        """End a silence."""
        with self._lock:
            self.silent = False
            self.silent_until = None

    def is_silent(self) -> bool:
        """Whether the server is silent now (ends a timed silence that ran out)."""
        with self._lock:
            until = self.silent_until
            if self.silent and until is not None and time.monotonic() >= until:
                self.silent = False
                self.silent_until = None
            return self.silent

    def take_auth_refusal(self) -> bool:
        """Whether this auth attempt must be refused (uses one of ``refuse_auth``)."""
        with self._lock:
            if self.refuse_auth > 0:
                self.refuse_auth -= 1
                return True
            return False

    def take_rest_limit(self) -> bool:
        """Whether this REST call must be rate limited (uses one of ``rest_rate_limit``)."""
        with self._lock:
            if self.rest_rate_limit > 0:
                self.rest_rate_limit -= 1
                return True
            return False

    def take_drop(self, frames_sent: int) -> bool:
        """Whether a connection that has now been sent ``frames_sent`` data frames (since
        the fault was armed) must be dropped (a one-shot drop disarms itself)."""
        with self._lock:
            n = self.drop_after_frames
            if n <= 0 or frames_sent < n:
                return False
            if self.drop_every:
                return frames_sent % n == 0
            self.drop_after_frames = 0
            return True

    def corrupt_after(self, frames_sent: int) -> bool:
        """Whether a corrupted copy follows the data frame numbered ``frames_sent``."""
        n = self.malformed_every
        return n > 0 and frames_sent % n == 0

    def corrupt(self, text: str) -> str:
        """A corrupted copy of a data frame, which a strict parser must refuse."""
        with self._lock:
            kind = self._rng.randrange(4)
            cut = self._rng.randint(1, max(1, len(text) - 2))
        if kind == 0:
            return text[:cut]  # truncated JSON
        if kind == 1:
            return "<html>502 Bad Gateway</html>"  # not JSON at all
        frame = json.loads(text)
        if kind == 2:
            frame["data"] = {"corrupted": True}  # data is not a list
            return json.dumps(frame, separators=(",", ":"))
        for element in frame.get("data", []):  # numbers as JSON numbers, names as ints
            for key in ("qty", "execQty", "size", "totalEquity"):
                if key in element:
                    element[key] = float(element[key])
            if "symbol" in element:
                element["symbol"] = 0
            if "coin" in element:
                element["coin"] = "USDT"
        return json.dumps(frame, separators=(",", ":"))
