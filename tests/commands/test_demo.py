"""`blendify demo --users 3`: the whole pipeline headless, twice on the same home."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from blendify_assets.cli import main


@pytest.mark.slow
def test_demo_end_to_end_and_again(blendify_env, engine) -> None:
    first = CliRunner().invoke(main, ["demo", "--users", "3", "--profile", "tiny"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "spotify: " in first.output and " users synced" in first.output
    assert "user_saved_tracks" in first.output
    assert "each member's own service" in first.output and "open.spotify.com/playlist/" in first.output
    with engine.connect() as conn:
        users = conn.execute(sa.text("SELECT count(*) FROM users")).scalar()
        failed = conn.execute(sa.text("SELECT count(*) FROM sync_log WHERE status <> 'success'")).scalar()
        blends = conn.execute(sa.text("SELECT count(*) FROM blends")).scalar()
    assert users == 3 and failed == 0
    assert blends == 3
    with engine.connect() as conn:
        published = conn.execute(
            sa.text("SELECT count(*) FROM blend_publications WHERE status = 'published'")
        )
        assert published.scalar() == 3  # the first blend, to each member

    again = CliRunner().invoke(main, ["demo", "--users", "3", "--profile", "tiny"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar() == 3
