"""Bulk appends by COPY, inside the caller's transaction (the owners of append-only tables use it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY rows into `table` inside the connection's current transaction. A refusal is raised as
    SQLAlchemy's error (IntegrityError, ...), like every other statement's: COPY runs on the driver's
    connection, below SQLAlchemy's translation."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection), "COPY needs psycopg 3"
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for values in rows:
                copy.write_row(values)
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
