"""`blendify db upgrade`: ordered, recorded, idempotent, safe concurrently, strict about edits."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from blendify_assets.db import migrations
from blendify_assets.db.engine import create_engine


def _ledger(engine: sa.engine.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(sa.text("SELECT version, checksum FROM schema_migrations ORDER BY 1"))
        ]


def test_upgrade_from_empty_then_again_is_a_no_op(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    applied = migrations.upgrade(engine)
    files = migrations.discover()
    assert [m.version for m in applied] == [m.version for m in files]
    ledger = _ledger(engine)
    assert ledger == [(m.version, m.checksum) for m in files]

    assert migrations.upgrade(engine) == []
    assert _ledger(engine) == ledger
    assert all(s.applied_at and s.checksum_ok for s in migrations.status(engine))
    engine.dispose()


def test_concurrent_upgrades_apply_each_migration_once(empty_database_url: str) -> None:
    script = (
        "import sys; from blendify_assets.db import migrations; from blendify_assets.db.engine import create_engine;"
        "print(len(migrations.upgrade(create_engine(sys.argv[1]))))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, empty_database_url], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    counts = [int(p.communicate(timeout=120)[0].strip()) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(counts) == [0, 0, 0, len(migrations.discover())]
    engine = create_engine(empty_database_url)
    assert len(_ledger(engine)) == len(migrations.discover())
    engine.dispose()


def test_an_edited_applied_migration_stops_the_upgrade(empty_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "sql"
    shutil.copytree(migrations.sql_dir(), folder)
    engine = create_engine(empty_database_url)
    migrations.upgrade(engine, folder)
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    (folder / "9999_later.sql").write_text("CREATE TABLE later_thing (id int);")

    with pytest.raises(migrations.MigrationError, match=first.name):
        migrations.upgrade(engine, folder)
    with engine.connect() as conn:  # nothing after the edit ran
        assert conn.execute(sa.text("SELECT to_regclass('later_thing')")).scalar() is None
    assert next(s.checksum_ok for s in migrations.status(engine, folder)) is False
    engine.dispose()


def test_a_failing_migration_is_rolled_back_whole(empty_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "sql"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE ok_table (id int);")
    (folder / "0002_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;")
    engine = create_engine(empty_database_url)
    with pytest.raises(migrations.MigrationError, match=r"0002_broken\.sql"):
        migrations.upgrade(engine, folder)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('ok_table')")).scalar() == "ok_table"
        assert conn.execute(sa.text("SELECT to_regclass('half_done')")).scalar() is None
    assert [v for v, _ in _ledger(engine)] == ["0001"]
    engine.dispose()


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "create_stuff.sql").write_text("SELECT 1;")
    with pytest.raises(migrations.MigrationError, match=r"0001_name\.sql"):
        migrations.discover(tmp_path)
