"""Exact decimals and integer times in both backends.

``ExactDecimal`` keeps canonical text on SQLite and NUMERIC on PostgreSQL: any finite
``Decimal`` written comes back as an equal ``Decimal``, never through a float, whether it
goes through SQLAlchemy's type processing or the repository's precompiled hot path.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import StatementError

from oms.core.orders import Order, Side
from oms.core.states import BY_WIRE_NAME
from oms.store.db import upgrade
from oms.store.repository import Repository
from oms.store.tables import ExecutionRow, OrderRow
from oms.store.types import canonical
from tests.store.conftest import TABLES

DECIMAL_COLUMNS = {
    "orders": (
        "qty",
        "price",
        "trigger_price",
        "cum_exec_qty",
        "cum_exec_value",
        "cum_exec_fee",
        "leaves_qty",
        "avg_price",
    ),
    "executions": (
        "exec_qty",
        "exec_price",
        "exec_value",
        "exec_fee",
        "fee_rate",
        "closed_size",
    ),
    "positions": (
        "size",
        "net_qty",
        "entry_price",
        "mark_price",
        "unrealised_pnl",
        "cum_realised_pnl",
        "fills_net_qty",
        "symbol_net_qty",
    ),
    "order_updates": ("cum_exec_qty",),
}
TIME_COLUMNS = {
    "orders": ("created_time", "updated_time"),
    "executions": ("exec_time",),
    "order_updates": ("updated_time",),
    "positions": ("updated_time",),
    "frames": ("received_at",),
    "events": ("created_at",),
}

#: Any finite decimal: hypothesis' own (many digits, negative exponents) and built ones
#: with positive exponents and trailing zeros, which hypothesis' strategy never makes.
built = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
    st.sampled_from([0, 1]),
    st.lists(st.integers(0, 9), min_size=1, max_size=60),
    st.integers(-1000, 1000),
)
finite = st.decimals(allow_nan=False, allow_infinity=False) | built

_keys = itertools.count()
HYPOTHESIS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _order(order_id: str, value: Decimal, *, created_time: int = 1_717_200_000_000) -> Order:
    return Order(
        order_id=order_id,
        order_link_id="link",
        category="linear",
        symbol="BTCUSDT",
        side=Side.BUY,
        position_idx=0,
        status=BY_WIRE_NAME["New"],
        order_type="Limit",
        stop_order_type="",
        qty=value,
        price=value,
        trigger_price=None,
        cum_exec_qty=value,
        cum_exec_value=value,
        cum_exec_fee=value,
        leaves_qty=value,
        avg_price=None,
        reduce_only=False,
        time_in_force="GTC",
        create_type="CreateByUser",
        cancel_type="UNKNOWN",
        reject_reason="EC_NoError",
        created_time=created_time,
        updated_time=created_time + 1,
    )


def _execution_row(exec_id: str, value: Decimal) -> dict[str, object]:
    return {
        "account": "default",
        "exec_id": exec_id,
        "order_id": "o",
        "order_link_id": "",
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "exec_type": "Trade",
        "exec_qty": value,
        "exec_price": value,
        "exec_value": value,
        "exec_fee": value,
        "fee_rate": value,
        "is_maker": True,
        "closed_size": value,
        "exec_time": 1_717_200_000_000,
        "seq": 2**40,
        "frame_id": None,
    }


@pytest.fixture
def migrated(engine):
    upgrade(engine)
    return engine


@HYPOTHESIS
@given(value=finite)
def test_any_finite_decimal_round_trips_through_the_model(migrated, value):
    exec_id = f"e{next(_keys)}"
    table = ExecutionRow.__table__
    with migrated.begin() as conn:
        conn.execute(insert(table), [_execution_row(exec_id, value)])
    with migrated.connect() as conn:
        got = conn.execute(select(table).where(table.c.exec_id == exec_id)).mappings().one()
    for column in DECIMAL_COLUMNS["executions"]:
        assert type(got[column]) is Decimal, (column, got[column])
        assert got[column] == value, column


@HYPOTHESIS
@given(value=finite)
def test_any_finite_decimal_round_trips_through_the_repository(migrated, value):
    order_id = f"o{next(_keys)}"
    repo = Repository(migrated.dialect, f"acc-{order_id}")
    with migrated.begin() as conn:
        repo.write_orders(conn, [_order(order_id, value)])
    with migrated.connect() as conn:
        (loaded,) = repo.load_orders(conn)
        table = OrderRow.__table__
        row = conn.execute(select(table).where(table.c.order_id == order_id)).mappings().one()
    for name in ("qty", "price", "cum_exec_qty", "cum_exec_value", "cum_exec_fee", "leaves_qty"):
        assert type(getattr(loaded, name)) is Decimal, name
        assert getattr(loaded, name) == value, name
        assert type(row[name]) is Decimal, name
        assert row[name] == value, name
    assert loaded.avg_price is None
    assert row["avg_price"] is None
    assert row["trigger_price"] is None


@pytest.mark.parametrize(
    "value",
    ["0.00000001", "0.10", "123456789.123456789", "1E+2", "-0.0000973", "1e-30", "0", "-0"],
)
def test_stored_form_is_exact(migrated, value):
    """SQLite holds canonical plain text, PostgreSQL a NUMERIC: never a float."""
    number = Decimal(value)
    with migrated.begin() as conn:
        Repository(migrated.dialect, "default").write_orders(conn, [_order("x", number)])
    with migrated.connect() as conn:
        if migrated.dialect.name == "sqlite":
            kind, raw = conn.execute(text("SELECT typeof(qty), qty FROM orders")).one()
            assert kind == "text"
            assert raw == canonical(number)
            assert "E" not in raw.upper()
        else:
            kind, raw = conn.execute(text("SELECT pg_typeof(qty)::text, qty FROM orders")).one()
            assert kind == "numeric"
            assert type(raw) is Decimal
        assert Decimal(raw) == number


def test_a_float_is_refused(migrated):
    row = _execution_row("float", Decimal(1))
    row["exec_qty"] = 0.1
    with (
        pytest.raises(StatementError, match="ExactDecimal takes Decimal"),
        migrated.begin() as conn,
    ):
        conn.execute(insert(ExecutionRow.__table__), [row])


def test_a_non_finite_decimal_is_refused_on_every_backend(migrated):
    """One contract on both backends: only finite decimals are stored (SQLite refuses
    NaN and infinities; PostgreSQL's NUMERIC would hold them)."""
    stored = []
    for value in ("NaN", "Infinity", "-Infinity"):
        row = _execution_row(f"nonfinite-{value}", Decimal(value))
        try:
            with migrated.begin() as conn:
                conn.execute(insert(ExecutionRow.__table__), [row])
        except StatementError:
            continue
        stored.append(value)
    assert stored == [], f"non-finite decimals stored on {migrated.dialect.name}: {stored}"


def test_decimal_columns_are_numeric_or_text_and_times_are_integers(migrated):
    columns = {t: {c["name"]: c for c in inspect(migrated).get_columns(t)} for t in TABLES}
    pg = migrated.dialect.name == "postgresql"
    for table, names in DECIMAL_COLUMNS.items():
        for name in names:
            kind = str(columns[table][name]["type"]).upper()
            assert kind.startswith("NUMERIC") if pg else kind.startswith("VARCHAR"), (table, name)
    for table, names in TIME_COLUMNS.items():
        for name in names:
            kind = str(columns[table][name]["type"]).upper()
            assert kind == "BIGINT", (table, name, kind)


def test_millisecond_times_beyond_32_bits_round_trip(migrated):
    when = 1_717_200_938_129  # > 2**31
    with migrated.begin() as conn:
        Repository(migrated.dialect, "default").write_orders(
            conn, [_order("t", Decimal("1.5"), created_time=when)]
        )
    with migrated.connect() as conn:
        created, updated = conn.execute(text("SELECT created_time, updated_time FROM orders")).one()
    assert (created, updated) == (when, when + 1)
    assert type(created) is int
