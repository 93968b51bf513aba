"""The membership database's schema history: Alembic revisions in versions/, applied at start.

`python -m membership migrate` applies them by hand; `python -m membership revision "what changed"`
writes the next one from the models (review it before committing).
"""

from pathlib import Path

from bizclub_shared.migrations import Migrations

from membership import store

MIGRATIONS = Migrations("membership", Path(__file__).parent, store.TABLES)
