"""The matching database's schema history: Alembic revisions in versions/, applied at start.

`python -m matching migrate` applies them by hand; `python -m matching revision "what changed"`
writes the next one from the models (review it before committing).
"""

from pathlib import Path

from bizclub_shared.migrations import Migrations

from matching import store

MIGRATIONS = Migrations("matching", Path(__file__).parent, store.TABLES)
