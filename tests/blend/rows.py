"""Hand-built warehouse rows for blend tests: the shapes the latest-state views return."""

from __future__ import annotations

import random

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


def synthetic_rows(seed: int, n: int, provider: str) -> dict[str, list[dict[str, object]]]:
    """A member's rows drawn from one shared 600-track catalogue: every source, both providers,
    ISRCs in varied spellings and title decorations, so identity, scoring and order all have work.
    Deterministic for a seed (pins a whole generated blend)."""
    rng = random.Random(seed)
    words = ["love", "night", "road", "fire", "rain", "heart", "city", "light", "dream", "gold"]

    def song(i: int) -> dict[str, object]:
        title = f"{words[i % 10]} {words[(i // 10) % 10]} {i}".title()
        art = f"Artist {i // 6}"
        isrc: str | None = f"USRC1{i:07d}"
        if provider == "apple":
            title += " (Remastered 2011)" if i % 7 == 0 else ""
            art += " & Guest" if i % 11 == 0 else ""
            isrc = None if rng.random() < 0.2 else (isrc.lower() if rng.random() < 0.2 else isrc)
        t = track(f"{provider[:2]}{i}", title, art, provider=provider, isrc=isrc)
        return {
            **t,
            "duration_ms": 180_000
            + (i * 997) % 90_000
            + (rng.randrange(-900, 900) if provider == "apple" else 0),
        }

    scene = rng.randrange(600)

    def pick() -> dict[str, object]:
        return song(
            (scene + int(rng.expovariate(1 / 60))) % 600 if rng.random() < 0.7 else rng.randrange(600)
        )

    out: dict[str, list[dict[str, object]]] = {"top_tracks": [], "top_artists": []}
    for rng_name in RANGES if provider == "spotify" else ():
        out["top_tracks"] += [top(pick(), r, rng_name) for r in range(1, 21)]
        out["top_artists"] += [
            artist(str(pick()["artist_name"]), r, [f"genre {rng.randrange(12)}"], rng_name)
            for r in range(1, 21)
        ]
    out["recently_played"] = [
        {**pick(), "played_at": f"2026-02-{1 + i % 28:02d}T{i % 24:02d}:00:00"} for i in range(n // 3)
    ]
    out["saved_tracks"] = [saved(pick(), f"2025-{1 + i % 12:02d}-01T00:00:00") for i in range(n // 4)]
    out["playlist_tracks"] = [
        {
            **pick(),
            "playlist_id": f"pl{i % 5}",
            "track_position": i,
            "item_type": "episode" if i % 50 == 0 else "track",
        }
        for i in range(n // 3)
    ]
    out["followed_artists"] = [
        {"artist_name": str(pick()["artist_name"]), "genres": ["genre 1"]} for _ in range(20)
    ]
    return out
