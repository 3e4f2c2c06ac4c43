"""positions: each leg's opening balance

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 02:00:00.000000

The first report of a leg no fill was held for is its opening balance (its signed net at
that report's seq; ``oms.core.positions``). Both columns are NULL for the legs stored
before (their first report came after their fills, or they disagree as they did).
Downgrading drops the two columns; every other row and column stays.
"""

from __future__ import annotations

import sqlalchemy as sa

import oms.store.types
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN, not a batch (copy-and-rename) operation: SQLite has both
# (DROP COLUMN since 3.35), and a rename would break the net_positions view on positions.


def upgrade() -> None:
    op.add_column(
        "positions", sa.Column("opening_net_qty", oms.store.types.ExactDecimal(), nullable=True)
    )
    op.add_column("positions", sa.Column("opening_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("positions", "opening_seq")
    op.drop_column("positions", "opening_net_qty")
