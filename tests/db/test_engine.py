"""`own_session` (issue 18): taste prepare's temporary tables need a larger ``temp_buffers``, which
PostgreSQL takes only before a session's first temporary table, so a pooled session cannot be given it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from blendify_assets.db.engine import own_session


def _backends(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            ).scalar_one()
        )


def test_the_setting_holds_where_a_pooled_session_refuses_it(engine) -> None:
    with engine.connect() as pooled:
        pooled.execute(sa.text("CREATE TEMP TABLE touched (x int) ON COMMIT DROP"))
        pooled.execute(sa.text("INSERT INTO touched VALUES (1)"))
        pooled.commit()
        with pytest.raises(sa.exc.DBAPIError, match="temp_buffers"):
            pooled.execute(sa.text("SET temp_buffers = '64MB'"))
        pooled.rollback()
    with own_session(engine, temp_buffers="64MB") as conn:
        conn.execute(sa.text("CREATE TEMP TABLE work (x int) ON COMMIT DROP"))
        assert conn.execute(sa.text("SHOW temp_buffers")).scalar_one() == "64MB"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW temp_buffers")).scalar_one() == "8MB"


def test_it_commits_whole_or_not_at_all_and_closes_its_session(engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE own_session_probe (x int)"))
    before = _backends(engine)
    with own_session(engine, temp_buffers="16MB") as conn:
        conn.execute(sa.text("INSERT INTO own_session_probe VALUES (1)"))
    with pytest.raises(RuntimeError), own_session(engine, temp_buffers="16MB") as conn:
        conn.execute(sa.text("INSERT INTO own_session_probe VALUES (2)"))
        raise RuntimeError("mid-write")
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT array_agg(x) FROM own_session_probe")).scalar_one() == [1]
        conn.execute(sa.text("DROP TABLE own_session_probe"))
    assert _backends(engine) == before


@pytest.mark.parametrize("via", ["url", "PGOPTIONS"])
def test_it_keeps_the_servers_options_of_the_deployment(
    engine, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """A deployment whose BLENDIFY_DATABASE_URL (``?options=-c search_path=...``) or PGOPTIONS points
    sessions at the warehouse's schema: prepare's own session must read the same tables."""
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA warehouse"))
        conn.execute(sa.text("CREATE TABLE warehouse.own_probe (x int)"))
        conn.execute(sa.text("INSERT INTO warehouse.own_probe VALUES (7)"))
    if via == "url":
        deployed = sa.create_engine(engine.url.update_query_dict({"options": "-c search_path=warehouse"}))
    else:
        monkeypatch.setenv("PGOPTIONS", "-c search_path=warehouse")
        deployed = sa.create_engine(engine.url)
    try:
        with own_session(deployed, temp_buffers="16MB") as conn:
            assert conn.execute(sa.text("SELECT x FROM own_probe")).scalar_one() == 7
            assert conn.execute(sa.text("SHOW temp_buffers")).scalar_one() == "16MB"
    finally:
        deployed.dispose()
