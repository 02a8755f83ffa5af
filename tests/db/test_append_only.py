"""History is never lost: the database itself rejects UPDATE, DELETE and TRUNCATE on music tables."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

MUSIC_ROWS = {
    "user_top_tracks": "track_id, track_name, artist_name, time_range, rank",
    "user_top_artists": "artist_id, artist_name, time_range, rank",
    "user_recently_played": "track_id, track_name, artist_name, played_at",
    "user_playlists": "playlist_id, playlist_name, is_owner",
    "user_playlist_tracks": "playlist_id, track_id, track_name, artist_name",
    "user_saved_tracks": "track_id, track_name, artist_name",
    "user_saved_albums": "album_id, album_name, artist_name",
    "user_followed_artists": "artist_id, artist_name",
}
VALUES = {
    "track_id": "'t1'",
    "track_name": "'Song'",
    "artist_name": "'Artist'",
    "time_range": "'short_term'",
    "rank": "1",
    "artist_id": "'a1'",
    "played_at": "now()",
    "playlist_id": "'p1'",
    "playlist_name": "'List'",
    "is_owner": "true",
    "album_id": "'al1'",
    "album_name": "'Album'",
}


@pytest.fixture
def filled(engine: sa.engine.Engine) -> sa.engine.Engine:
    with engine.begin() as conn:
        user = conn.execute(
            sa.text("INSERT INTO users (email) VALUES ('a@example.com') RETURNING id")
        ).scalar()
        for table, columns in MUSIC_ROWS.items():
            values = ", ".join(VALUES[c.strip()] for c in columns.split(","))
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} (user_id, provider, {columns}) VALUES (:u, 'spotify', {values})"
                ),
                {"u": user},
            )
    return engine


@pytest.mark.parametrize("table", sorted(MUSIC_ROWS))
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {t} SET fetched_at = now()", "DELETE FROM {t}", "TRUNCATE {t}"],
    ids=["update", "delete", "truncate"],
)
def test_music_tables_reject_changes(filled: sa.engine.Engine, table: str, statement: str) -> None:
    with pytest.raises(sa.exc.DBAPIError, match=f"{table} is append-only"), filled.begin() as conn:
        conn.execute(sa.text(statement.format(t=table)))
    with filled.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 1


def test_connections_can_still_be_updated(filled: sa.engine.Engine) -> None:
    """Tokens are refreshed in place: provider_connections is not music data."""
    with filled.begin() as conn:
        user = conn.execute(sa.text("SELECT id FROM users")).scalar()
        conn.execute(
            sa.text(
                "INSERT INTO provider_connections (user_id, provider, provider_user_id, access_token_encrypted) "
                "VALUES (:u, 'spotify', 'x', 'enc')"
            ),
            {"u": user},
        )
        conn.execute(sa.text("UPDATE provider_connections SET access_token_encrypted = 'enc2'"))
        assert (
            conn.execute(sa.text("SELECT access_token_encrypted FROM provider_connections")).scalar()
            == "enc2"
        )


def test_a_play_is_stored_once(filled: sa.engine.Engine) -> None:
    with filled.begin() as conn:
        row = conn.execute(sa.text("SELECT user_id, played_at FROM user_recently_played")).one()
    with pytest.raises(sa.exc.IntegrityError), filled.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO user_recently_played (user_id, provider, track_id, track_name, artist_name, played_at) "
                "VALUES (:u, 'spotify', 't1', 'Song', 'Artist', :p)"
            ),
            {"u": row.user_id, "p": row.played_at},
        )
