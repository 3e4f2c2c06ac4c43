"""``EvictedIds`` never forgets an id it was given; ids never given are mostly absent."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from oms.core.evicted import EvictedIds


@given(st.lists(st.text(min_size=1, max_size=40), max_size=200))
def test_every_added_id_is_found(ids):
    evicted = EvictedIds(bits_log2=12)
    for key in ids:
        evicted.add(key)
    assert all(key in evicted for key in ids)


def test_ids_never_added_are_rarely_reported():
    evicted = EvictedIds()
    for _ in range(20_000):
        evicted.add(str(uuid.uuid4()))
    false = sum(str(uuid.uuid4()) in evicted for _ in range(20_000))
    # two bits per id in 2**24: about (1 - e**(-40000/2**24))**2, i.e. nearly none
    assert false < 20
