"""The analytics database's schema history: Alembic revisions in versions/, applied at start.

`python -m analytics migrate` applies them by hand; `python -m analytics revision "what changed"`
writes the next one from the models (review it before committing).
"""

from pathlib import Path

from bizclub_shared.migrations import Migrations

from analytics import store

MIGRATIONS = Migrations("analytics", Path(__file__).parent, store.TABLES)
