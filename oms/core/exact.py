"""Exact decimal arithmetic for the ledger's sums.

Python's default decimal context rounds every result to 28 significant digits, and so
does unary minus. The wire refuses numbers with more than 24 digits before the point or
18 after, or an exponent beyond two digits (``oms.bybit.messages``), so every sum the
ledger forms fits well within this context's precision: no result is ever rounded. The
``Inexact`` trap makes that a checked fact rather than a hope.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

EXACT: Final = Context(prec=400, Emax=999, Emin=-999, traps=[Inexact, InvalidOperation, Overflow])
ZERO: Final = Decimal(0)


def add(a: Decimal, b: Decimal) -> Decimal:
    """a + b, exactly."""
    return EXACT.add(a, b)


def total(values: Iterable[Decimal]) -> Decimal:
    """The exact sum of ``values`` (0 for none)."""
    result = ZERO
    for value in values:
        result = EXACT.add(result, value)
    return result


def negate(value: Decimal) -> Decimal:
    """-value, exactly (``-x`` would round to the thread's context)."""
    return value.copy_negate()
