"""The import's reads of the warehouse (db/music/history.py): ISRCs already known, asked by probing."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from blendify_assets.db.music.history import known_isrcs
from tests.fixtures.warehouse import add_user, store_plays, store_saved_tracks, store_top_tracks, track

IMPORTED = 60_000  # plays without an ISRC already stored (earlier imports): what the lookup must not read
TRACKS = 5_000  # one chunk of the import's track ids


def _store_imported_plays(engine: Engine, user_id: str) -> None:
    """Plays an earlier import stored: no ISRC, the same track ids as the next import's, never
    analysed (a table just filled by imports: its statistics say nothing about `isrc` yet)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO user_recently_played (user_id, provider, fetched_at, track_id, track_name, "
                "artist_name, played_at, track_metadata) "
                "SELECT :u, 'spotify', now(), 'tr' || (i % :tracks), 'Song', 'Artist', "
                "timestamp '2019-01-01' + i * interval '4 minutes', "
                """'{"_blendify": {"source": "export"}}' FROM generate_series(1, :n) i"""
            ),
            {"u": user_id, "n": IMPORTED, "tracks": TRACKS},
        )


def _plays_read(conn: sa.Connection) -> int:
    """Rows of user_recently_played this transaction has read so far (sequentially or through an index)."""
    return int(
        conn.execute(
            sa.text(
                "SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0) FROM pg_stat_xact_user_tables "
                "WHERE relname = 'user_recently_played'"
            )
        ).scalar_one()
    )


def test_known_isrcs_reads_only_plays_that_carry_one_however_many_are_stored(engine: Engine) -> None:
    """Each id is probed on the ISRC index, so the lookup costs the same on a warehouse of millions
    of imported plays: before, the planner scanned every stored play of those tracks (~2 s per
    5,000 ids at 1.5 million plays, in the import's transaction, more than its COPYs)."""
    earlier, user = add_user(engine, "earlier@example.com"), add_user(engine, "user@example.com")
    _store_imported_plays(engine, earlier)
    store_plays(engine, user, "spotify", [track("tr7", "Song", "Artist", isrc="USAAA0000007")])
    store_plays(engine, user, "apple", [track("tr8", "Song", "Artist", isrc="USAPPLE00008")])
    store_top_tracks(engine, user, "spotify", [track("tr8", "Song", "Artist", isrc="USBBB0000008")])
    store_saved_tracks(engine, user, "spotify", [track("tr7", "Song", "Artist", isrc="USAAA0000001")])
    ids = [f"tr{i}" for i in range(TRACKS)] + ["never-stored"]
    with engine.begin() as conn:
        before = _plays_read(conn)
        found = known_isrcs(conn, "spotify", ids)
        read = _plays_read(conn) - before
    # the least ISRC of any table for the provider's id; another provider's row is not this track
    assert found == {"tr7": "USAAA0000001", "tr8": "USBBB0000008"}
    assert read <= 2, f"the lookup read {read:,} stored plays of {IMPORTED + 2:,} (2 carry an ISRC)"
