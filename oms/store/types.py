"""Exact decimal storage: canonical text on SQLite, NUMERIC on PostgreSQL.

SQLite has no decimal type and would turn a NUMERIC column into a binary float, so the
value is stored as its canonical plain-notation text (see ``canonical``) and read back
with ``Decimal(text)``: no float on either side. PostgreSQL's unconstrained NUMERIC is
exact and comes back as ``Decimal`` from psycopg.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Numeric, String
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.types import TypeEngine


def canonical(value: Decimal) -> str:
    """The one plain-notation text of a decimal's value: no exponent, no trailing zeros,
    no negative zero (``2.810`` -> ``2.81``, ``1E+2`` -> ``100``). Exact: no rounding
    context is involved, so equal values get equal text and SQL ``=`` on SQLite works."""
    text = str(value)  # the wire's own text for the common case
    if "E" in text or "N" in text or "n" in text:  # exponent, NaN, sNaN, Infinity
        if not value.is_finite():
            raise ValueError(f"cannot store a non-finite decimal: {value}")
        text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class ExactDecimal(TypeDecorator[Decimal]):
    """A ``Decimal`` column that never passes through a float."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:  # noqa: ANN401
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"ExactDecimal takes Decimal, not {type(value).__name__}")
        text = canonical(value)  # refuses NaN and infinities on every backend
        return value if dialect.name == "postgresql" else text

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:  # noqa: ANN401, ARG002
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value
        if isinstance(value, str):
            return Decimal(value)
        raise TypeError(f"unexpected stored decimal {value!r}")
