"""The feedback database's schema history: Alembic revisions in versions/, applied at start.

`python -m feedback migrate` applies them by hand; `python -m feedback revision "what changed"`
writes the next one from the models (review it before committing).
"""

from pathlib import Path

from bizclub_shared.migrations import Migrations

from feedback import store

MIGRATIONS = Migrations("feedback", Path(__file__).parent, store.TABLES)
