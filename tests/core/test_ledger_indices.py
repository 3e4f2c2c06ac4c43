"""The ledger reads some Order and Fill fields by index on its hot paths: the indices
must name the fields their comments say."""

from __future__ import annotations

import re
from pathlib import Path

import oms
from oms.core import ledger
from oms.core.fills import Fill
from oms.core.orders import Order

_CONSTANT = re.compile(r"^(_[A-Z_]+): Final = (\d+)  # (Order|Fill)\.(\w+)$", re.MULTILINE)


def test_every_index_constant_names_its_field() -> None:
    # The source, not __file__: a compiled module's __file__ names its extension.
    source = (Path(oms.__file__).parent / "core" / "ledger.py").read_text(encoding="utf-8")
    found = _CONSTANT.findall(source)
    assert len(found) >= 14
    classes = {"Order": Order, "Fill": Fill}
    for name, index, cls, field in found:
        assert classes[cls]._fields[int(index)] == field, name
        assert getattr(ledger, name) == int(index)
