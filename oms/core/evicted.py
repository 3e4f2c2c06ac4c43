"""``EvictedIds``: which orderIds and execIds a bounded ledger has let go, approximately.

A Bloom filter of fixed size (2 MiB by default). A report naming an id that is not in it
was never evicted, so the ledger needs no database lookup for it: that is the case of
every new order and every new fill, the hot path. An id that is in it may have been
evicted (or collide with one that was), and only then does the ledger ask the store. So
the answer is always right; a fuller filter only costs more lookups. With the default
size and two bits per id, one new id in 80 collides after a million evicted ids, one in
two after ten million: a process that runs that long pays a lookup for half of its new
orders, and a restart (which starts a fresh filter from the database) restores the rate.
"""

from __future__ import annotations

from typing import Final

#: 2**24 bits = 2 MiB.
DEFAULT_BITS_LOG2: Final = 24


class EvictedIds:
    """A set that may answer "present" for an id never added, never the other way."""

    __slots__ = ("_bits", "_mask")

    def __init__(self, bits_log2: int = DEFAULT_BITS_LOG2) -> None:
        self._bits = bytearray(1 << (bits_log2 - 3))
        self._mask = (1 << bits_log2) - 1

    def add(self, key: str) -> None:
        """Remember ``key``."""
        h, mask, bits = hash(key), self._mask, self._bits  # str hashes are cached
        for i in (h & mask, (h >> 32) & mask):
            bits[i >> 3] |= 1 << (i & 7)

    def __contains__(self, key: object) -> bool:
        h, mask, bits = hash(key), self._mask, self._bits
        i, j = h & mask, (h >> 32) & mask
        return bool(bits[i >> 3] & (1 << (i & 7))) and bool(bits[j >> 3] & (1 << (j & 7)))
