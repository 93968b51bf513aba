"""A batch's deferred rows, written one statement per table on SQLite (and by
SQLAlchemy on PostgreSQL): what is stored is what SQLAlchemy's own insert stores, in
the rows' order, however many rows; a broken constraint is SQLAlchemy's
IntegrityError, without the values in its message."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from bizclub_shared import unit_of_work
from bizclub_shared.db import Database, UTCDateTime
from bizclub_shared.unit_of_work import Writer
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from tests.databases import database_url

metadata = MetaData()


def _table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("code", String(40), nullable=False, unique=True),
        Column("name_th", String(200), nullable=False),
        Column("at", UTCDateTime, nullable=False),
        Column("tags", JSON, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("note", String(200), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
    )


BATCHED = _table("batched")
BY_SQLALCHEMY = _table("by_sqlalchemy")


def rows(count: int) -> list[dict[str, Any]]:
    start = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    return [
        {
            "code": f"c{i:05d}",
            "name_th": f"กลุ่มทอผ้าไหม {i}",
            "at": start + timedelta(seconds=i, microseconds=7),
            "tags": ["ผ้าไหม", {"ดาว": i % 5}],
            "payload": bytes([i % 256, 0, 255]),
            "note": None if i % 2 else "หมายเหตุ",
            "attempts": i % 3,
        }
        for i in range(count)
    ]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(database_url(tmp_path, "batch"))
    metadata.create_all(database.engine)
    return database


def insert_batch(db: Database, table: Table, batch: list[dict[str, Any]]) -> list[str]:
    """Inserts the batch as the writer does; on SQLite, returns the INSERTs SQLite ran."""
    statements: list[str] = []
    with db.write_sessions() as session, session.begin():
        if db.is_sqlite:
            driver = cast(sqlite3.Connection, session.connection().connection.driver_connection)
            driver.set_trace_callback(statements.append)
        try:
            Writer._insert_all(session, {table: batch})
        finally:
            if db.is_sqlite:
                driver.set_trace_callback(None)
    return [s for s in statements if s.startswith("INSERT")]


def stored(db: Database, table: Table) -> list[tuple[Any, ...]]:
    with db.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(select(table).order_by(table.c.id))]


@pytest.mark.parametrize("count", [1, 7, 300])
def test_a_batch_stores_what_sqlalchemy_stores_in_order(db: Database, count: int) -> None:
    batch = rows(count)
    inserts = insert_batch(db, BATCHED, batch)
    if db.is_sqlite:
        assert len(inserts) == 1  # one statement, one step, for the whole batch
    with db.engine.begin() as connection:
        connection.execute(insert(BY_SQLALCHEMY), batch)

    assert stored(db, BATCHED) == stored(db, BY_SQLALCHEMY)
    assert [r[1] for r in stored(db, BATCHED)] == [r["code"] for r in batch]
    assert stored(db, BATCHED)[0][3] == batch[0]["at"]  # an aware UTC time back


def test_more_values_than_sqlite_binds_at_once_are_split(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unit_of_work._MultiRowInsert, "MAX_PARAMETERS", 20)  # 2 rows of 7
    monkeypatch.setattr(unit_of_work, "_MULTI_ROW_INSERTS", {})
    batch = rows(9)
    inserts = insert_batch(db, BATCHED, batch)
    if db.is_sqlite:
        assert len(inserts) == 5
    assert [r[1] for r in stored(db, BATCHED)] == [r["code"] for r in batch]


def test_a_left_out_column_gets_its_default(db: Database) -> None:
    batch = [{k: v for k, v in row.items() if k != "attempts"} for row in rows(3)]
    insert_batch(db, BATCHED, batch)
    assert [r[7] for r in stored(db, BATCHED)] == [0, 0, 0]


def test_a_broken_constraint_is_an_integrity_error_without_the_values(db: Database) -> None:
    batch = rows(3)
    batch[2]["code"] = batch[0]["code"]
    with pytest.raises(IntegrityError) as caught:
        insert_batch(db, BATCHED, batch)
    assert "กลุ่มทอผ้าไหม" not in str(caught.value)
    assert stored(db, BATCHED) == []  # the transaction rolled back whole
    # SQLAlchemy's own errors keep the values out too (the engine hides them).
    with pytest.raises(IntegrityError) as caught, db.engine.begin() as connection:
        connection.execute(insert(BY_SQLALCHEMY), batch)
    assert "กลุ่มทอผ้าไหม" not in str(caught.value)
