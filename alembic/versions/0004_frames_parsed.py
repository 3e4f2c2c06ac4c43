"""frames.parsed: the journal says which frames arrived already parsed

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:00:00.000000

A frame fed as a mapping (pybit hands its callbacks a dict) is journaled as its compact
JSON with ``parsed`` true; every row written before this revision was text as received
(false). Downgrading drops the column; every other column keeps its rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (SQLite >= 3.35 and PostgreSQL): no copy of the journal, which
    # other tables reference.
    op.add_column(
        "frames", sa.Column("parsed", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("frames", "parsed")
