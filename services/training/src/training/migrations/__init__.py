"""The training database's schema history: Alembic revisions in versions/, applied at start.

`python -m training migrate` applies them by hand; `python -m training revision "what changed"`
writes the next one from the models (review it before committing).
"""

from pathlib import Path

from bizclub_shared.migrations import Migrations

from training import store

MIGRATIONS = Migrations("training", Path(__file__).parent, store.TABLES)
