"""Bulk appends by COPY, inside the caller's transaction (the owners of append-only tables use it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy.engine import Connection


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY rows into `table` inside the connection's current transaction."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection), "COPY needs psycopg 3"
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for values in rows:
            copy.write_row(values)
