"""wallets: the newest wallet report per accountType, and its coins

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:10:00.000000

Downgrading drops both tables (the wallets are fetched again at the next resync); every
table of 0004 keeps its rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from oms.store.types import ExactDecimal

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TOTALS = (
    "total_equity",
    "total_wallet_balance",
    "total_available_balance",
    "total_initial_margin",
    "total_maintenance_margin",
)
_COIN_NUMBERS = ("equity", "wallet_balance", "unrealised_pnl", "cum_realised_pnl", "locked")


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("account_type", sa.String(length=32), nullable=False),
        *(sa.Column(name, ExactDecimal(), nullable=True) for name in _TOTALS),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "account_type", name=op.f("pk_wallets")),
    )
    op.create_table(
        "wallet_coins",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("account_type", sa.String(length=32), nullable=False),
        sa.Column("coin", sa.String(), nullable=False),
        *(sa.Column(name, ExactDecimal(), nullable=True) for name in _COIN_NUMBERS),
        sa.PrimaryKeyConstraint("account", "account_type", "coin", name=op.f("pk_wallet_coins")),
    )


def downgrade() -> None:
    op.drop_table("wallet_coins")
    op.drop_table("wallets")
