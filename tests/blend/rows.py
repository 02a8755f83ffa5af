"""Hand-built warehouse rows for blend tests: the shapes the latest-state views return."""

from __future__ import annotations

from blendify_assets.blend import MemberTaste, build_member_taste

RANGES = ("short_term", "medium_term", "long_term")
FETCHED = "2026-03-01T00:00:00"
"""When the rows' snapshot was taken: the members' "now", from which ages are measured."""


def track(
    track_id: str,
    name: str,
    artist: str,
    *,
    provider: str = "spotify",
    duration_ms: int | None = 200_000,
    isrc: str | None = None,
    album: str = "Album",
) -> dict[str, object]:
    return {
        "provider": provider,
        "track_id": track_id,
        "track_name": name,
        "artist_name": artist,
        "album_name": album,
        "album_art_url": f"https://img.example/{track_id}.jpg",
        "duration_ms": duration_ms,
        "isrc": isrc,
        "fetched_at": FETCHED,
    }


def top(t: dict[str, object], rank: int, time_range: str = "short_term") -> dict[str, object]:
    return {**t, "time_range": time_range, "rank": rank}


def saved(t: dict[str, object], at: str = "2026-01-01T00:00:00") -> dict[str, object]:
    return {**t, "saved_at": at}


def played(t: dict[str, object], times: int = 1, day: str = "2026-02-01") -> list[dict[str, object]]:
    return [{**t, "played_at": f"{day}T00:{i:02d}:00"} for i in range(times)]


def artist(name: str, rank: int, genres: list[str], time_range: str = "short_term") -> dict[str, object]:
    return {"artist_name": name, "genres": genres, "time_range": time_range, "rank": rank}


def library(user: str, tracks: list[dict[str, object]], provider: str = "spotify") -> MemberTaste:
    """A member whose top tracks are ``tracks`` in order (rank 1 first) on one provider."""
    rows = [top({**t, "provider": provider}, i + 1) for i, t in enumerate(tracks)]
    return build_member_taste(user, {"top_tracks": rows})


def catalogue(prefix: str, n: int, *, artists: int | None = None) -> list[dict[str, object]]:
    """``n`` distinct tracks, each by its own artist unless ``artists`` says how many to cycle."""
    count = artists or n
    return [
        track(f"{prefix}{i}", f"{prefix} song {i} tune", f"{prefix} Artist {i % count}", isrc=None)
        for i in range(n)
    ]
