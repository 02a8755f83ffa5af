"""Members' tastes from the latest-state views, across every provider a user has.

One query per view. For a handful of users (a blend) each view is filtered per user through a
LATERAL join, so the planner uses the ``(user_id, provider, scope, fetched_at)`` indexes; for
everyone (overlap analytics) each view is read whole, which is cheaper than 10,000 index probes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from blendify_assets.blend import MemberTaste, build_member_taste

TRACK_COLUMNS = "provider::text AS provider, track_id, track_name, artist_name, album_name, album_art_url, duration_ms, isrc"

SOURCE_QUERIES: Mapping[str, str] = {
    "top_tracks": f"SELECT user_id, {TRACK_COLUMNS}, time_range::text AS time_range, rank, fetched_at FROM latest_user_top_tracks",
    "recently_played": f"SELECT user_id, {TRACK_COLUMNS}, played_at FROM user_recently_played",
    "saved_tracks": f"SELECT user_id, {TRACK_COLUMNS}, saved_at, fetched_at FROM latest_user_saved_tracks",
    "playlist_tracks": f"SELECT user_id, {TRACK_COLUMNS}, playlist_id, item_type, fetched_at FROM latest_user_playlist_tracks",
    "top_artists": "SELECT user_id, artist_name, genres, time_range::text AS time_range, rank, fetched_at FROM latest_user_top_artists",
    "followed_artists": "SELECT user_id, artist_name, genres, fetched_at FROM latest_user_followed_artists",
    "saved_albums": "SELECT user_id, artist_name, album_name, genres, fetched_at FROM latest_user_saved_albums",
}
"""Only the columns the taste model reads, never the jsonb API payloads. ``fetched_at`` dates the
member's data, so a like's age is measured from their latest snapshot, not from the clock."""

Rows = dict[str, list[dict[str, object]]]


def _per_user(sql: str) -> str:
    """The same query for a list of users, one index probe each."""
    return (
        f"SELECT v.* FROM unnest(CAST(:ids AS uuid[])) AS u(id) "
        f"CROSS JOIN LATERAL ({sql} WHERE user_id = u.id) v"
    )


def load_rows(conn: Connection, user_ids: Sequence[str] | None = None) -> dict[str, Rows]:
    """View rows by user id, then by source; ``None`` reads every user's."""
    out: dict[str, Rows] = defaultdict(lambda: defaultdict(list))
    for source, sql in SOURCE_QUERIES.items():
        if user_ids is None:
            result = conn.execute(sa.text(sql))
        else:
            result = conn.execute(sa.text(_per_user(sql)), {"ids": [str(u) for u in user_ids]})
        columns = list(result.keys())[1:]
        for row in result:
            out[str(row[0])][source].append(dict(zip(columns, row[1:], strict=True)))
    return out


def build_tastes(
    rows_by_user: Mapping[str, Rows], user_ids: Iterable[str] | None = None
) -> list[MemberTaste]:
    """One taste per user, sorted by user id (the order the algorithms use)."""
    ids = sorted(rows_by_user) if user_ids is None else sorted(map(str, user_ids))
    return [build_member_taste(uid, rows_by_user.get(uid, {})) for uid in ids]


def load_tastes(conn: Connection, user_ids: Sequence[str] | None = None) -> list[MemberTaste]:
    """Members' tastes from the latest state of all their providers."""
    return build_tastes(load_rows(conn, user_ids), user_ids)
