"""Alembic's entry point for the training migrations (see bizclub_shared.migrations)."""

from training.migrations import MIGRATIONS

MIGRATIONS.run_env()
