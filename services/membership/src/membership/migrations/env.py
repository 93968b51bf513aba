"""Alembic's entry point for the membership migrations (see bizclub_shared.migrations)."""

from membership.migrations import MIGRATIONS

MIGRATIONS.run_env()
