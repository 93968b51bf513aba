"""Alembic's entry point for the analytics migrations (see bizclub_shared.migrations)."""

from analytics.migrations import MIGRATIONS

MIGRATIONS.run_env()
