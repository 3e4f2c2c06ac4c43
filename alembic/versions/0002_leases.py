"""leases: one writer per account

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 19:00:00.000000

Downgrading drops the table (and with it every lease row and its epochs); every table of
0001 keeps its rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("owner_host", sa.String(length=255), nullable=False),
        sa.Column("owner_pid", sa.BigInteger(), nullable=False),
        sa.Column("owner_boot", sa.String(length=64), nullable=True),
        sa.Column("owner_started_at", sa.BigInteger(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.Column("released", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("last_frame_at", sa.BigInteger(), nullable=True),
        sa.Column("frames", sa.BigInteger(), nullable=True),
        sa.Column("lag_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    op.drop_table("leases")
