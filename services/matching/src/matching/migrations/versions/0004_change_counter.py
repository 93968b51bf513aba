"""The suggestion index's change counter: one counter row, and the value it had when
each need and offer was last written. Rows from before start at 0 (a replica's first
load reads them all); the counter starts at 0.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 00:33:17.327668
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    counter = op.create_table(
        "matching_change_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(counter, [{"id": 1, "value": 0}])
    for table in ("need", "offer"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("change_seq", sa.BigInteger(), nullable=False, server_default="0")
            )
            batch_op.create_index(f"ix_{table}_change_seq", ["change_seq"], unique=False)
    with op.batch_alter_table("pair_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pair_history_cluster", ["province_code", "cluster_code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pair_history", schema=None) as batch_op:
        batch_op.drop_index("ix_pair_history_cluster")
    for table in ("offer", "need"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_change_seq")
            batch_op.drop_column("change_seq")
    op.drop_table("matching_change_counter")
