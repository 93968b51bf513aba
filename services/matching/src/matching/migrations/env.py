"""Alembic's entry point for the matching migrations (see bizclub_shared.migrations)."""

from matching.migrations import MIGRATIONS

MIGRATIONS.run_env()
