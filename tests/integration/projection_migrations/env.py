"""Alembic's entry point for the test projection's migrations."""

from tests.integration.consumer_support import MIGRATIONS

MIGRATIONS.run_env()
