"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 22:32:23.370400
"""

from __future__ import annotations

import sqlalchemy as sa

import oms.store.types
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(), nullable=True),
        sa.Column("symbol", sa.String(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_account_id"), ["account", "id"], unique=False)

    op.create_table(
        "frames",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.String(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frames")),
    )
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_frames_account_outcome"), ["account", "outcome"], unique=False
        )

    op.create_table(
        "orders",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("order_link_id", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("position_idx", sa.Integer(), nullable=False),
        sa.Column("order_type", sa.String(), nullable=False),
        sa.Column("stop_order_type", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("qty", oms.store.types.ExactDecimal(), nullable=False),
        sa.Column("price", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("trigger_price", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("cum_exec_qty", oms.store.types.ExactDecimal(), nullable=False),
        sa.Column("cum_exec_value", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("cum_exec_fee", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("leaves_qty", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("avg_price", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("create_type", sa.String(), nullable=False),
        sa.Column("cancel_type", sa.String(), nullable=False),
        sa.Column("reject_reason", sa.String(), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "order_id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orders_account_order_link_id"),
            ["account", "order_link_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_orders_account_symbol_status"),
            ["account", "symbol", "status"],
            unique=False,
        )

    op.create_table(
        "positions",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("position_idx", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(), nullable=True),
        sa.Column("size", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("net_qty", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("entry_price", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("mark_price", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("unrealised_pnl", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("cum_realised_pnl", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("updated_time", sa.BigInteger(), nullable=True),
        sa.Column("fills_net_qty", oms.store.types.ExactDecimal(), nullable=False),
        sa.Column("symbol_net_qty", oms.store.types.ExactDecimal(), nullable=False),
        sa.PrimaryKeyConstraint(
            "account", "category", "symbol", "position_idx", name=op.f("pk_positions")
        ),
    )
    op.create_table(
        "replays",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("lines_done", sa.BigInteger(), nullable=False),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("account", "source", name=op.f("pk_replays")),
    )
    op.create_table(
        "executions",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("exec_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("order_link_id", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("exec_type", sa.String(), nullable=False),
        sa.Column("exec_qty", oms.store.types.ExactDecimal(), nullable=False),
        sa.Column("exec_price", oms.store.types.ExactDecimal(), nullable=False),
        sa.Column("exec_value", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("exec_fee", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("fee_rate", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("is_maker", sa.Boolean(), nullable=True),
        sa.Column("closed_size", oms.store.types.ExactDecimal(), nullable=True),
        sa.Column("exec_time", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("frame_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["frame_id"], ["frames.id"], name=op.f("fk_executions_frame_id_frames")
        ),
        sa.PrimaryKeyConstraint("account", "exec_id", name=op.f("pk_executions")),
    )
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_executions_account_order_id"), ["account", "order_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_executions_account_symbol_exec_time"),
            ["account", "symbol", "exec_time"],
            unique=False,
        )

    op.create_table(
        "order_updates",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("previous_status", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("cum_exec_qty", oms.store.types.ExactDecimal(), nullable=False),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.Column("frame_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["frame_id"], ["frames.id"], name=op.f("fk_order_updates_frame_id_frames")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_updates")),
    )
    with op.batch_alter_table("order_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_order_updates_account_order_id"), ["account", "order_id"], unique=False
        )
    op.execute(
        "CREATE VIEW net_positions AS "
        "SELECT account, category, symbol, MIN(symbol_net_qty) AS net_qty "
        "FROM positions GROUP BY account, category, symbol"
    )


def downgrade() -> None:
    op.execute("DROP VIEW net_positions")
    with op.batch_alter_table("order_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_updates_account_order_id"))

    op.drop_table("order_updates")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_executions_account_symbol_exec_time"))
        batch_op.drop_index(batch_op.f("ix_executions_account_order_id"))

    op.drop_table("executions")
    op.drop_table("replays")
    op.drop_table("positions")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_account_symbol_status"))
        batch_op.drop_index(batch_op.f("ix_orders_account_order_link_id"))

    op.drop_table("orders")
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_frames_account_outcome"))

    op.drop_table("frames")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_account_id"))

    op.drop_table("events")
