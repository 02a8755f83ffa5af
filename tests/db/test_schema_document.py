"""The migrated schema equals the schema document: tables, columns, types, nullability, defaults,
foreign keys, enums and indexes. The document is parsed, not copied, so a drift shows up here."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.conftest import reference_dir

DOC = reference_dir().parent / "blendify-schema.md"

TYPE_NAMES = {  # document type -> information_schema udt_name
    "uuid": "uuid",
    "text": "text",
    "timestamp": "timestamp",
    "integer": "int4",
    "jsonb": "jsonb",
    "boolean": "bool",
    "real": "float4",
    "provider": "provider",
    "time_range": "time_range",
}


def _document() -> str:
    if not DOC.exists():
        pytest.skip(f"schema document not found at {DOC} (set BLENDIFY_REFERENCE_DIR)")
    return DOC.read_text()


def _tables(doc: str) -> dict[str, list[dict]]:
    tables = {}
    for name, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", doc, re.S):
        columns = []
        for line in body.strip().splitlines():
            line = line.split("--")[0].strip().rstrip(",")
            if not line:
                continue
            col, typ, *rest = line.split()
            spec = " ".join(rest)
            default = re.search(r"DEFAULT (\S+)", spec)
            ref = re.search(r"REFERENCES (\w+)\((\w+)\)( ON DELETE CASCADE)?", spec)
            columns.append(
                {
                    "name": col,
                    "type": TYPE_NAMES[typ],
                    "not_null": "NOT NULL" in spec or "PRIMARY KEY" in spec,
                    "default": default.group(1) if default else None,
                    "primary": "PRIMARY KEY" in spec,
                    "unique": "UNIQUE" in spec,
                    "references": (ref.group(1), ref.group(2), bool(ref.group(3))) if ref else None,
                }
            )
        tables[name] = columns
    return tables


def test_document_parses_into_13_tables() -> None:
    assert len(_tables(_document())) == 13


def test_every_document_column_exists_with_its_type_nullability_and_default(engine: sa.engine.Engine) -> None:
    tables = _tables(_document())
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT table_name, column_name, udt_name, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = 'public'"
            )
        ).all()
    actual = {(r.table_name, r.column_name): r for r in rows}
    for table, columns in tables.items():
        db_columns = [c for (t, c) in actual if t == table]
        for column in columns:
            row = actual.get((table, column["name"]))
            assert row is not None, f"{table}.{column['name']} is missing"
            assert row.udt_name == column["type"], f"{table}.{column['name']} type"
            assert (row.is_nullable == "NO") == column["not_null"], f"{table}.{column['name']} nullability"
            if column["default"] is None:
                assert row.column_default is None, f"{table}.{column['name']} has an unexpected default"
            else:
                expected = column["default"].rstrip(",")
                assert row.column_default is not None and expected in row.column_default, (
                    f"{table}.{column['name']} default {row.column_default!r} != {expected!r}"
                )
        # additions are allowed (listed in the README), but every document column comes first, in order
        names = [c["name"] for c in columns]
        assert set(names) <= set(db_columns)


def test_document_columns_keep_their_order(engine: sa.engine.Engine) -> None:
    tables = _tables(_document())
    with engine.connect() as conn:
        for table, columns in tables.items():
            ordered = (
                conn.execute(
                    sa.text(
                        "SELECT column_name FROM information_schema.columns WHERE table_schema='public' "
                        "AND table_name = :t ORDER BY ordinal_position"
                    ),
                    {"t": table},
                )
                .scalars()
                .all()
            )
            assert ordered[: len(columns)] == [c["name"] for c in columns], table


def test_keys_and_foreign_keys_match_the_document(engine: sa.engine.Engine) -> None:
    tables = _tables(_document())
    with engine.connect() as conn:
        fks = conn.execute(
            sa.text(
                """
                SELECT cl.relname AS tbl, a.attname AS col, rc.relname AS ref_tbl, ra.attname AS ref_col,
                       con.confdeltype AS on_delete
                FROM pg_constraint con
                JOIN pg_class cl ON cl.oid = con.conrelid
                JOIN pg_class rc ON rc.oid = con.confrelid
                JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
                JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[1]
                WHERE con.contype = 'f'
                """
            )
        ).all()
        uniques = conn.execute(
            sa.text(
                """
                SELECT cl.relname AS tbl, a.attname AS col, con.contype AS kind
                FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid
                JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
                WHERE con.contype IN ('p', 'u') AND array_length(con.conkey, 1) = 1
                """
            )
        ).all()
    actual_fks = {(r.tbl, r.col): (r.ref_tbl, r.ref_col, r.on_delete == "c") for r in fks}
    keys = {(r.tbl, r.col, r.kind) for r in uniques}
    for table, columns in tables.items():
        for c in columns:
            if c["references"]:
                assert actual_fks.get((table, c["name"])) == c["references"], (
                    f"{table}.{c['name']} foreign key"
                )
            if c["primary"]:
                assert (table, c["name"], "p") in keys
            if c["unique"]:
                assert (table, c["name"], "u") in keys


def test_enums_match_the_document(engine: sa.engine.Engine) -> None:
    doc = _document()
    expected = {
        name: re.findall(r"'(\w+)'", values)
        for name, values in re.findall(r"CREATE TYPE (\w+) AS ENUM\s*\(([^)]*)\)", doc)
    }
    assert set(expected) == {"provider", "time_range"}
    with engine.connect() as conn:
        for name, labels in expected.items():
            actual = (
                conn.execute(
                    sa.text(
                        "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
                        "WHERE t.typname = :n ORDER BY e.enumsortorder"
                    ),
                    {"n": name},
                )
                .scalars()
                .all()
            )
            assert actual == labels


def test_every_document_index_exists_on_its_columns(engine: sa.engine.Engine) -> None:
    doc = _document()
    expected = re.findall(r"CREATE INDEX (\w+) ON (\w+)\(([^)]*)\);", doc)
    assert len(expected) == 8
    with engine.connect() as conn:
        defs = dict(
            conn.execute(
                sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname='public'")
            ).all()
        )
    for name, table, columns in expected:
        assert name in defs, f"index {name} missing"
        normalised = re.sub(r"\s+", " ", defs[name]).replace('"', "")
        assert f"ON public.{table} USING btree ({columns})" in normalised, normalised
