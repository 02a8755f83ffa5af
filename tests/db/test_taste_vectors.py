"""Taste prepare's working tables (issue 18): one row version per distinct track, however many
users hold it, while a later copy that differs still replaces the earlier one."""

from __future__ import annotations

import sqlalchemy as sa

from blendify_assets.db import taste_vectors


def _page(n: int, isrc: str = "USAAA0000001") -> list[taste_vectors.SeenTrack]:
    return [("spotify", f"t{i}", f"Song {i}", "Artist", 200_000, isrc, False) for i in range(n)]


def test_copies_that_change_nothing_write_nothing(engine) -> None:
    with engine.begin() as conn:
        taste_vectors.open_track_tables(conn)
        taste_vectors.add_track_copies(conn, _page(2_000))
        size = conn.execute(sa.text("SELECT pg_relation_size('taste_tracks_seen')")).scalar_one()
        for _ in range(10):  # ten more users holding the same tracks
            taste_vectors.add_track_copies(conn, _page(2_000))
        assert conn.execute(sa.text("SELECT pg_relation_size('taste_tracks_seen')")).scalar_one() == size

        renamed = [("spotify", "t1", "Song 1 (Live)", "Artist", 200_000, "USAAA0000002", False)]
        taste_vectors.add_track_copies(conn, renamed)
        row = conn.execute(
            sa.text("SELECT track_name, isrc, conflict FROM taste_tracks_seen WHERE track_id = 't1'")
        ).one()
        assert tuple(row) == ("Song 1 (Live)", "USAAA0000002", True)
        flagged = [("spotify", "t2", "Song 2", "Artist", 200_000, "USAAA0000001", True)]
        taste_vectors.add_track_copies(conn, flagged)
        assert conn.execute(
            sa.text("SELECT conflict FROM taste_tracks_seen WHERE track_id = 't2'")
        ).scalar_one()
        assert conn.execute(sa.text("SELECT count(*) FROM taste_tracks_seen")).scalar_one() == 2_000
