"""Schema migrations: Alembic, one migration directory per service, run at start.

Each service keeps its revisions in its own package (`<service>/migrations/versions/`)
and records them in its own version table (`<service>_alembic_version`), so two
services pointed at one database by mistake fail loudly instead of sharing a history.

All SQLModel tables live in one MetaData (SQLModel's), and the outbox, inbox and audit
tables are one class each, used by every service. So a service's migrations are not
a MetaData of their own: they compare and create only the tables the service lists
(its `store.TABLES`) and the runtime's (outbox, inbox, audit_record), and ignore every
other table.

    MIGRATIONS = Migrations("membership", Path(__file__).parent, store.TABLES)
    MIGRATIONS.upgrade(url)           # at service start: alembic upgrade head
    MIGRATIONS.differences(url)       # models vs database: empty when they agree

The service's `migrations/env.py` is one call: `MIGRATIONS.run_env()`.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.autogenerate import compare_metadata
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Integer, TypeDecorator, inspect, text
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from bizclub_shared.audit import AuditRecord
from bizclub_shared.db import WRITE_OPTION, create_engine, sync_url
from bizclub_shared.inbox import InboxEntry
from bizclub_shared.outbox import OutboxEvent

# Alembic's `context` is one module-level proxy: two upgrades at once in one process
# (tests start several services) would trample each other's.
_alembic_lock = threading.Lock()
# Every service's first revision: the schema as create_all made it before migrations.
BASELINE = "0001"
# The tables of ServiceRuntime's own mechanisms, in every service's database.
RUNTIME_TABLES: tuple[Any, ...] = (OutboxEvent, InboxEntry, AuditRecord)


@dataclass(frozen=True)
class Migrations:
    """A service's migration directory and the tables it owns (its `store.TABLES`; the
    runtime's outbox, inbox and audit trail are always among them)."""

    service: str
    directory: Path
    tables: Sequence[Any]  # SQLModel table classes

    @property
    def version_table(self) -> str:
        return f"{self.service}_alembic_version"

    @property
    def table_names(self) -> frozenset[str]:
        return frozenset(t.__table__.name for t in (*self.tables, *RUNTIME_TABLES))

    def config(self, url: str | None = None, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        if url is not None:
            # ConfigParser interpolates '%': a password with one must survive.
            config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def upgrade(self, url: str, revision: str = "head") -> None:
        """`alembic upgrade head` on the service's database, in one transaction."""
        with _alembic_lock:
            command.upgrade(self.config(url), revision)

    def downgrade(self, url: str, revision: str) -> None:
        with _alembic_lock:
            command.downgrade(self.config(url), revision)

    def current(self, url: str) -> str | None:
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                return MigrationContext.configure(
                    connection, opts={"version_table": self.version_table}
                ).get_current_revision()
        finally:
            engine.dispose()

    def head(self) -> str | None:
        return ScriptDirectory.from_config(self.config()).get_current_head()

    def differences(self, url: str) -> list[Any]:
        """What autogenerate would write: the models and the database disagree if non-empty."""
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                context_ = MigrationContext.configure(connection, opts=self._compare_options())
                return list(compare_metadata(context_, SQLModel.metadata))
        finally:
            engine.dispose()

    def revision(self, message: str) -> str:
        """Write a new revision by autogenerate, against a scratch SQLite at head.

        Review it before committing: autogenerate misses renames and data moves.
        """
        # Numbered in order (0001, 0002, ...): the history reads top to bottom.
        number = len(list(ScriptDirectory.from_config(self.config()).walk_revisions())) + 1
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{Path(scratch) / 'head.db'}"
            self.upgrade(url)
            script = command.revision(
                self.config(url), message=message, autogenerate=True, rev_id=f"{number:04d}"
            )
        scripts = script if isinstance(script, list) else [script]
        return ", ".join(s.path for s in scripts if s is not None)

    # --- inside env.py --------------------------------------------------------------------

    def run_env(self) -> None:
        """The body of the service's env.py (Alembic runs it for every command)."""
        config = context.config
        options = {
            **self._compare_options(),
            "target_metadata": SQLModel.metadata,
            "render_as_batch": True,  # SQLite alters tables by copying them
            "render_item": _render_item,
        }
        if context.is_offline_mode():  # `--sql`: print the DDL for a DBA to run
            context.configure(
                url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **options
            )
            with context.begin_transaction():
                context.run_migrations()
            return
        given: Connection | None = config.attributes.get("connection")
        if given is not None:
            context.configure(connection=given, **options)
            with context.begin_transaction():
                self._adopt(given)
                context.run_migrations()
            return
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        try:
            # One transaction for the whole upgrade (SQLite included: the engine begins
            # explicitly), so a failed step leaves the previous revision intact.
            # On SQLite the write lock is taken at BEGIN (IMMEDIATE), so a second process
            # waits for the first rather than failing on a stale read.
            with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
                if connection.dialect.name == "postgresql":
                    # Replicas starting together: one migrates, the others wait, then
                    # find nothing left to do.
                    key = zlib.crc32(self.version_table.encode())
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                context.configure(connection=connection, **options)
                with context.begin_transaction():
                    self._adopt(connection)
                    context.run_migrations()
        finally:
            engine.dispose()

    def _adopt(self, connection: Connection) -> None:
        """A database made before migrations (create_all) holds the baseline revision's
        tables but no version table: record it at the baseline, then upgrade as usual."""
        existing = set(inspect(connection).get_table_names())
        # The runtime's tables are in every service's database: only the service's own
        # tables say the database is this service's.
        own = self.table_names - {t.__table__.name for t in RUNTIME_TABLES}
        if self.version_table in existing or not (existing & own):
            return
        # create_all made whatever was missing at every start, so a database from an
        # older version may lack a table added since (the audit trail): make it as
        # create_all would have, then record the baseline.
        missing = [
            t.__table__ for t in (*self.tables, *RUNTIME_TABLES) if t.__table__.name not in existing
        ]
        SQLModel.metadata.create_all(connection, tables=missing)
        context.get_context().stamp(context.script, BASELINE)

    def _compare_options(self) -> dict[str, Any]:
        names = self.table_names

        def include_object(
            obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
        ) -> bool:
            if type_ == "table":
                return name in names
            table = getattr(obj, "table", None)
            return table is None or table.name in names

        return {
            "version_table": self.version_table,
            "include_object": include_object,
            "compare_type": _compare_type,
            "render_as_batch": True,
        }


def _compare_type(
    context: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    """SQLite has one integer type (64-bit), so INTEGER and BIGINT are no change there
    and revisions widen integers on PostgreSQL only. Anything else: Alembic's rules."""
    if (
        context.dialect.name == "sqlite"
        and isinstance(inspected_type, Integer)
        and isinstance(metadata_type, Integer)
    ):
        return False
    return None


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Write plain SQLAlchemy types into revisions, so a revision never depends on the
    application's types (which may change after it was written)."""
    if type_ != "type":
        return False
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        return f"sa.{type(impl).__name__}()"
    return False


COMMANDS = ("migrate", "downgrade", "current", "history", "revision")


def cli(migrations: Migrations, url: str, argv: Sequence[str]) -> None:
    """`python -m <service> migrate|downgrade|current|history|revision ...`."""
    parser = argparse.ArgumentParser(prog=f"python -m {migrations.service}")
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser("migrate", help="upgrade the database (default: to head)")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.add_argument("--sql", action="store_true", help="print the SQL instead of running it")
    downgrade = commands.add_parser("downgrade", help="downgrade the database to a revision")
    downgrade.add_argument("revision")
    commands.add_parser("current", help="the database's revision and the code's head")
    commands.add_parser("history", help="the revisions, newest first")
    revision = commands.add_parser("revision", help="autogenerate a revision from the models")
    revision.add_argument("message")
    args = parser.parse_args(list(argv))
    if args.command == "migrate" and args.sql:
        command.upgrade(migrations.config(url), args.revision, sql=True)
    elif args.command == "migrate":
        migrations.upgrade(url, args.revision)
        print(f"{migrations.service}: database at {migrations.current(url)}")
    elif args.command == "downgrade":
        migrations.downgrade(url, args.revision)
        print(f"{migrations.service}: database at {migrations.current(url)}")
    elif args.command == "current":
        print(f"database {migrations.current(url)}; code head {migrations.head()}")
    elif args.command == "history":
        command.history(migrations.config(url))
    else:
        print(f"wrote {migrations.revision(args.message)}: review it before committing")
