"""Alembic's entry point for the feedback migrations (see bizclub_shared.migrations)."""

from feedback.migrations import MIGRATIONS

MIGRATIONS.run_env()
