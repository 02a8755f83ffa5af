"""Hand-built warehouse state: users and latest snapshots written the way a sync writes them."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

T0 = datetime(2026, 3, 1, 12, 0, 0)
RANGES = ("short_term", "medium_term", "long_term")


def add_user(engine: Engine, email: str, name: str | None = None) -> str:
    with engine.begin() as conn:
        return str(
            conn.execute(
                sa.text("INSERT INTO users (email, display_name) VALUES (:e, :n) RETURNING id"),
                {"e": email, "n": name},
            ).scalar_one()
        )


def track(
    track_id: str,
    name: str,
    artist: str,
    *,
    isrc: str | None = None,
    duration_ms: int = 200_000,
    album: str = "Album",
) -> dict[str, object]:
    return {
        "track_id": track_id,
        "track_name": name,
        "artist_name": artist,
        "album_name": album,
        "duration_ms": duration_ms,
        "isrc": isrc,
    }


def _snapshot(conn, user_id: str, provider: str, table: str, scope: str, n: int, at: datetime) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO snapshots (user_id, provider, table_name, scope, fetched_at, row_count, content_hash) "
            "VALUES (:u, CAST(:p AS provider), :t, :s, :f, :n, :h)"
        ),
        {"u": user_id, "p": provider, "t": table, "s": scope, "f": at, "n": n, "h": uuid.uuid4().hex},
    )


def _insert(conn, table: str, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    values = ", ".join(
        f"CAST(:{c} AS provider)" if c == "provider" else f"CAST(:{c} AS jsonb)" if c == "genres" else
        f"CAST(:{c} AS time_range)" if c == "time_range" else f":{c}"
        for c in cols
    )  # fmt: skip
    conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({values})"), rows)


def store_top_tracks(engine: Engine, user_id: str, provider: str, tracks: list[dict], at: datetime = T0,
                     time_range: str = "short_term") -> None:  # fmt: skip
    """One top-tracks snapshot: ``tracks`` ranked 1, 2, ... in order."""
    rows = [
        {
            **t,
            "user_id": user_id,
            "provider": provider,
            "time_range": time_range,
            "rank": i + 1,
            "fetched_at": at,
        }
        for i, t in enumerate(tracks)
    ]
    with engine.begin() as conn:
        _insert(conn, "user_top_tracks", rows)
        _snapshot(conn, user_id, provider, "user_top_tracks", time_range, len(rows), at)


def store_saved_tracks(
    engine: Engine, user_id: str, provider: str, tracks: list[dict], at: datetime = T0
) -> None:
    rows = [{**t, "user_id": user_id, "provider": provider, "saved_at": at, "fetched_at": at} for t in tracks]
    with engine.begin() as conn:
        _insert(conn, "user_saved_tracks", rows)
        _snapshot(conn, user_id, provider, "user_saved_tracks", "", len(rows), at)


def store_top_artists(engine: Engine, user_id: str, provider: str, artists: list[tuple[str, list[str]]],
                      at: datetime = T0) -> None:  # fmt: skip
    rows = [
        {"user_id": user_id, "provider": provider, "artist_id": f"ar-{name}", "artist_name": name,
         "genres": json.dumps(genres), "time_range": "short_term", "rank": i + 1, "fetched_at": at}
        for i, (name, genres) in enumerate(artists)
    ]  # fmt: skip
    with engine.begin() as conn:
        _insert(conn, "user_top_artists", rows)
        _snapshot(conn, user_id, provider, "user_top_artists", "short_term", len(rows), at)


def store_followed_artists(engine: Engine, user_id: str, provider: str, artists: list[tuple[str, list[str]]],
                           at: datetime = T0) -> None:  # fmt: skip
    rows = [
        {"user_id": user_id, "provider": provider, "artist_id": f"ar-{name}", "artist_name": name,
         "genres": json.dumps(genres), "fetched_at": at}
        for name, genres in artists
    ]  # fmt: skip
    with engine.begin() as conn:
        _insert(conn, "user_followed_artists", rows)
        _snapshot(conn, user_id, provider, "user_followed_artists", "", len(rows), at)


def store_plays(engine: Engine, user_id: str, provider: str, tracks: list[dict], at: datetime = T0) -> None:
    """One play of each track, a minute apart, newest last."""
    rows = [
        {
            **t,
            "user_id": user_id,
            "provider": provider,
            "played_at": at + timedelta(minutes=i),
            "fetched_at": at,
        }
        for i, t in enumerate(tracks)
    ]
    with engine.begin() as conn:
        _insert(conn, "user_recently_played", rows)


def count(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())
