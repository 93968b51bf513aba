"""BIGINT for Kafka offsets; an index for the outbox purge.

PostgreSQL's INTEGER is 32-bit: 2,147,483,647 satang is only 21.4 million baht, and a
Kafka offset is 64-bit. SQLite's INTEGER is 64-bit already, so the columns are widened
on PostgreSQL only (rewriting a SQLite table would also trip its foreign keys). The
outbox purge deletes sent rows past their retention; without an index on sent_at it
reads the whole outbox every time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 19:17:20.574681
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WIDENED = [
    ("inbox", "offset"),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for table, column in WIDENED:
            op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_sent_at", ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_sent_at")
    if op.get_bind().dialect.name != "sqlite":
        for table, column in WIDENED:
            op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
