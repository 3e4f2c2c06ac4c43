"""``Faults``: what the sandbox gets wrong on purpose. All off by default.

Every field may be changed at any time from any thread (``sandbox.faults.refuse_auth = 2``);
the servers read them on each event. The counters (``refuse_auth``, ``rest_rate_limit``,
``rest_forbidden``) count down as they are used.

- ``drop_after_frames=N``: a connection is cut (TCP abort, no close frame) right after it
  was sent its Nth data frame (counted from its start, or from when N was set if it was
  already open). ``drop_every=False``: only the first connection to get there (the fault
  then disarms itself, back to 0); ``True``: every connection, every N frames.
- ``silent`` (or ``silence(seconds)``): the server stops sending anything, pongs included
  (it stops reading, so neither protocol nor application pings are answered), but keeps
  the TCP connections open. Data frames pushed meanwhile are lost, as on a dead link.
- ``refuse_auth=N``: the next N auth attempts fail: "Request not authorized" on the
  private stream, 10004 on the trade socket.
- ``malformed_every=N``: after every Nth data frame of a connection, a corrupted copy of
  it is sent too (truncated JSON, wrong types, a non-list ``data``, non-JSON text). The real
  frame is always delivered intact, so the truth is unaffected.
- ``poison_every=N``: after every Nth data frame of a connection, a copy of it with one
  field of one element (or of the envelope) replaced by a poison value: out-of-range
  integers (``positionIdx`` 3 or 2^31, ``seq`` 10^30), times of 30 digits or non-ASCII
  digits, numbers of 40 digits or with a huge exponent, ``null`` in a required field, a
  wrong type. The copy's other elements repeat the real frame, so a strict OMS refuses
  the poisoned element and the truth is unaffected.
- ``rest_rate_limit=N``: the next N REST calls get retCode 10006 "Too many visits!".
- ``rest_forbidden=N``: the next N REST calls get HTTP 403 (Bybit's answer when the IP
  rate limit is breached).
- ``rest_clock_skew_ms``: offset of the REST server clock (``/v5/market/time``, the
  envelope ``time``, the signature timestamp window of REST and of the trade socket's
  requests) from the exchange's clock.

Order-entry faults, each counting down per request (REST ``POST /v5/order/...`` and the
trade socket's ``order.*`` ops alike, unless named ``trade_``); a refused request
(signature, recv window) uses none:

- ``entry_rate_limit=N``: 10006 "Too many visits!" with ``X-Bapi-Limit-Status: 0`` and a
  reset one second ahead; not executed.
- ``entry_restarting=N``: "service restarting" (10016 on REST, 10019 on the trade
  socket); not executed.
- ``entry_restarting_after=N``: executed (the order is placed, its frames pushed), then
  the same "service restarting" answer.
- ``entry_ack_lost=N``: executed, then no answer: REST closes the connection without
  one, the trade socket sends nothing (the connection stays open).
- ``trade_cut_before=N``: the trade socket is cut (TCP abort) on receiving the request,
  before it is executed.
- ``trade_cut_after=N``: executed, then the trade socket is cut before the answer.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Final


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
    poison_every: int = 0
    rest_rate_limit: int = 0
    rest_forbidden: int = 0
    rest_clock_skew_ms: int = 0
    entry_rate_limit: int = 0
    entry_restarting: int = 0
    entry_restarting_after: int = 0
    entry_ack_lost: int = 0
    trade_cut_before: int = 0
    trade_cut_after: int = 0
    #: seed of the corruption choices
    seed: int = 0
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )
    _rng: random.Random = field(init=False, repr=False, compare=False)
    #: poisoned copies sent so far, by the poison's name (for tests and the demo)
    poisoned: dict[str, int] = field(default_factory=dict, init=False, compare=False)

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

    def take_rest_forbidden(self) -> bool:
        """Whether this REST call must get HTTP 403 (uses one of ``rest_forbidden``)."""
        with self._lock:
            if self.rest_forbidden > 0:
                self.rest_forbidden -= 1
                return True
            return False

    def take_entry_fault(self, *, transport: str) -> str | None:
        """The order-entry fault this request gets (uses one), or None: ``rate_limit``,
        ``restart_before``, ``restart_after``, ``ack_lost``, and on the trade socket
        (``transport="ws"``) ``cut_before`` and ``cut_after``."""
        names = _ENTRY_FAULTS + (_TRADE_FAULTS if transport == "ws" else ())
        with self._lock:
            for attribute, fault in names:
                if getattr(self, attribute) > 0:
                    setattr(self, attribute, getattr(self, attribute) - 1)
                    return fault
            return None

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

    def poison_after(self, frames_sent: int) -> bool:
        """Whether a poisoned copy follows the data frame numbered ``frames_sent``."""
        n = self.poison_every
        return n > 0 and frames_sent % n == 0

    def poison(self, text: str) -> str:
        """A copy of a data frame with one poison value in it (see the module docstring);
        the frame unchanged if it has nothing the catalogue can poison."""
        frame = json.loads(text)
        elements = frame.get("data")
        if not isinstance(elements, list) or not elements:
            return text
        with self._lock:
            index = self._rng.randrange(len(elements))
            element = elements[index]
            choices = [p for p in POISONS if p[1] == "" or p[1] in element]
            name, key, raw = choices[self._rng.randrange(len(choices))]
            self.poisoned[name] = self.poisoned.get(name, 0) + 1
        marker = "\u0000poison\u0000"
        if key == "":  # the envelope's creationTime
            frame["creationTime"] = marker
        else:
            element[key] = marker
        return json.dumps(frame, separators=(",", ":")).replace(json.dumps(marker), raw)


#: (counter, fault) of the order-entry faults, in the order they are looked at
_ENTRY_FAULTS: Final = (
    ("entry_rate_limit", "rate_limit"),
    ("entry_restarting", "restart_before"),
    ("entry_restarting_after", "restart_after"),
    ("entry_ack_lost", "ack_lost"),
)
_TRADE_FAULTS: Final = (("trade_cut_before", "cut_before"), ("trade_cut_after", "cut_after"))

#: (name, field, raw JSON text) of the values ``Faults.poison`` puts into a frame; the
#: field "" is the envelope's ``creationTime``. Each one must make a strict decoder refuse
#: the element (or the frame) it is in.
POISONS: Final[tuple[tuple[str, str, str], ...]] = (
    ("positionIdx 3", "positionIdx", "3"),
    ("positionIdx 2^31", "positionIdx", "2147483648"),
    ("positionIdx 2^63", "positionIdx", "9223372036854775808"),
    ("seq 10^30", "seq", "1" + "0" * 30),
    ("seq 2^63", "seq", "9223372036854775808"),
    ("updatedTime of 30 digits", "updatedTime", '"' + "1" * 30 + '"'),
    ("updatedTime in superscript digits", "updatedTime", '"\u00b2"'),
    ("execTime in Arabic-Indic digits", "execTime", '"\u0661\u0667\u0661\u0667"'),
    ("creationTime in superscript digits", "", '"\u00b2"'),
    ("creationTime of 30 digits", "", "1" + "0" * 29),
    ("qty of 40 digits", "qty", '"1' + "0" * 39 + '"'),
    ("size with a huge exponent", "size", '"1e999999"'),
    ("execQty as a JSON number", "execQty", "1e999"),
    ("cumExecQty in fullwidth digits", "cumExecQty", '"\uff11"'),
    # (not null: an execution's orderId may be empty, and null reads as empty there)
    ("orderId as a number", "orderId", "12345"),
    ("execId null", "execId", "null"),
    ("symbol null", "symbol", "null"),
    ("size null", "size", "null"),
    ("side as a boolean", "side", "true"),
    ("price as an object", "price", '{"value":"1"}'),
    ("updatedTime as a list", "updatedTime", "[1]"),
)
