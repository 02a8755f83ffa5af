"""One member's taste, built from the rows of the latest-state views, with the evidence kept.

The asset layer runs SQL, hands the rows of each view to :func:`build_member_taste` and passes the
resulting :class:`MemberTaste` objects to overlap and blend functions. Keeping the evidence (which
sources, ranks, plays) is what lets every blend track and match score explain itself.

Track points (a member's relevance for a track = its points / the member's best track's points):

- top tracks: per time range, ``range weight x (1 - (rank - 1) / 50)`` with weights short 1.0,
  medium 0.8, long 0.6 (a track top-ranked in all three scores 2.4);
- plays: ``0.5 x log2(1 + plays)``, at most 2.0 (15 plays);
- saved (liked): 1.0;
- playlists: 0.5 for the first playlist holding it, 0.25 for each further one, at most 1.0.

Artist points: top-artist ranks (same formula as tracks), 1.0 if followed, 0.25 per saved album
(at most 1.0), and 0.1 x the points of the member's tracks that credit the artist (at most 2.0).
Genre points: the sum of the weights of the member's artists carrying that genre, plus 0.25 per
saved album tagged with it. Artist and genre weights are points / the member's best, in 0-1.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache

from blendify_assets.blend.identity import TrackInfo, TrackKey
from blendify_assets.blend.normalize import artist_key, genre_key

Row = Mapping[str, object]

SOURCES = (
    "top_tracks",
    "top_artists",
    "recently_played",
    "saved_tracks",
    "playlist_tracks",
    "saved_albums",
    "followed_artists",
)
RANGE_WEIGHT = {"short_term": 1.0, "medium_term": 0.8, "long_term": 0.6}
MAX_RANK = 50


@dataclass(frozen=True)
class Evidence:
    """Why a member is taken to like a track: every signal, unaggregated enough to show."""

    top_ranks: Mapping[str, int] = field(default_factory=dict)
    play_count: int = 0
    last_played_at: str | None = None
    saved_at: str | None = None
    saved: bool = False
    playlists: frozenset[str] = frozenset()

    @property
    def sources(self) -> list[str]:
        out = []
        if self.top_ranks:
            out.append("top_tracks")
        if self.play_count:
            out.append("recently_played")
        if self.saved:
            out.append("saved_tracks")
        if self.playlists:
            out.append("playlist_tracks")
        return out

    def merge(self, other: Evidence) -> Evidence:
        """Evidence for one recording seen under several ids (e.g. on both providers)."""
        ranks = dict(self.top_ranks)
        for rng, rank in other.top_ranks.items():
            ranks[rng] = min(rank, ranks.get(rng, rank))
        return Evidence(
            top_ranks=ranks,
            play_count=self.play_count + other.play_count,
            last_played_at=_max_opt(self.last_played_at, other.last_played_at),
            saved_at=_max_opt(self.saved_at, other.saved_at),
            saved=self.saved or other.saved,
            playlists=self.playlists | other.playlists,
        )

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"sources": self.sources}
        if self.top_ranks:
            out["top_ranks"] = dict(sorted(self.top_ranks.items()))
        if self.play_count:
            out["play_count"] = self.play_count
            out["last_played_at"] = self.last_played_at
        if self.saved:
            out["saved_at"] = self.saved_at
        if self.playlists:
            out["playlist_count"] = len(self.playlists)
        return out


def rank_points(ranks: Mapping[str, int]) -> float:
    """Top-list points: a rank in a recent range counts more than one in the long range."""
    return sum(
        RANGE_WEIGHT.get(rng, 0.6) * (1 - (min(max(rank, 1), MAX_RANK) - 1) / MAX_RANK)
        for rng, rank in ranks.items()
    )


def track_points(e: Evidence) -> float:
    """The track points of the module docstring."""
    points = rank_points(e.top_ranks)
    if e.play_count:
        points += min(2.0, 0.5 * math.log2(1 + e.play_count))
    if e.saved:
        points += 1.0
    if e.playlists:
        points += min(1.0, 0.5 + 0.25 * (len(e.playlists) - 1))
    return points


@dataclass(frozen=True)
class MemberTaste:
    """A member's tracks with evidence, and artist and genre weights (0-1, best = 1)."""

    user_id: str
    tracks: Mapping[TrackKey, TrackInfo]
    evidence: Mapping[TrackKey, Evidence]
    artists: Mapping[str, float]
    artist_names: Mapping[str, str]
    genres: Mapping[str, float]
    artist_genres: Mapping[str, tuple[str, ...]]
    providers: tuple[str, ...]
    points: Mapping[TrackKey, float] = field(default_factory=dict)
    max_points: float = 0.0
    skipped: Mapping[str, int] = field(default_factory=dict)


def build_member_taste(user_id: object, rows: Mapping[str, Iterable[Row]]) -> MemberTaste:
    """Build one member's taste from view rows, keyed by source name (see ``SOURCES``).

    ``rows["top_tracks"]`` are latest_user_top_tracks rows, ``rows["recently_played"]`` all of
    user_recently_played, and so on; missing sources are fine (an Apple-only member has no top
    lists). Episodes and local files are skipped and counted: nobody else can play them.
    """
    unknown = set(rows) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown taste sources {sorted(unknown)}; expected some of {list(SOURCES)}")
    tracks: dict[TrackKey, TrackInfo] = {}
    ranks: dict[TrackKey, dict[str, int]] = defaultdict(dict)
    plays: dict[TrackKey, int] = defaultdict(int)
    last_played: dict[TrackKey, str] = {}
    saved: dict[TrackKey, str | None] = {}
    playlists: dict[TrackKey, set[str]] = defaultdict(set)
    skipped: dict[str, int] = defaultdict(int)
    providers: set[str] = set()

    def take(row: Row) -> TrackKey:
        key = (row["provider"], row["track_id"])
        if key not in tracks:
            info = TrackInfo.from_row(row)
            key = info.key  # str-typed, whatever the driver returned
            tracks.setdefault(key, info)
            providers.add(info.provider)
        return key  # type: ignore[return-value]

    for row in rows.get("top_tracks", ()):
        key = take(row)
        rng, rank = str(row["time_range"]), int(row["rank"])  # type: ignore[call-overload]
        ranks[key][rng] = min(rank, ranks[key].get(rng, rank))
    for row in rows.get("recently_played", ()):
        key = take(row)
        plays[key] += 1
        when = _iso(row.get("played_at"))
        if when and when > last_played.get(key, ""):
            last_played[key] = when
    for row in rows.get("saved_tracks", ()):
        saved[take(row)] = _iso(row.get("saved_at"))
    for row in rows.get("playlist_tracks", ()):
        kind = row.get("item_type") or "track"
        if kind != "track":
            skipped[str(kind)] += 1
            continue
        playlists[take(row)].add(str(row.get("playlist_id")))

    evidence = {
        key: Evidence(
            top_ranks=ranks.get(key, {}),
            play_count=plays.get(key, 0),
            last_played_at=last_played.get(key),
            saved_at=saved.get(key),
            saved=key in saved,
            playlists=frozenset(playlists.get(key, ())),
        )
        for key in tracks
    }
    points = {key: track_points(e) for key, e in evidence.items()}
    artists, names, genres, artist_genres = _artist_and_genre_weights(rows, tracks, points)
    return MemberTaste(
        user_id=str(user_id),
        tracks=tracks,
        evidence=evidence,
        artists=artists,
        artist_names=names,
        genres=genres,
        artist_genres=artist_genres,
        providers=tuple(sorted(providers)),
        points=points,
        max_points=max(points.values(), default=0.0),
        skipped=dict(skipped),
    )


def _artist_and_genre_weights(
    rows: Mapping[str, Iterable[Row]],
    tracks: Mapping[TrackKey, TrackInfo],
    track_pts: Mapping[TrackKey, float],
) -> tuple[dict[str, float], dict[str, str], dict[str, float], dict[str, tuple[str, ...]]]:
    points: dict[str, float] = defaultdict(float)
    names: dict[str, str] = {}
    genres_of: dict[str, set[str]] = defaultdict(set)
    artist_ranks: dict[str, dict[str, int]] = defaultdict(dict)

    def note(name: str, genres: object) -> str:
        key = artist_key(name)
        names.setdefault(key, name)
        for g in genres if isinstance(genres, list | tuple) else ():
            if genre_key(str(g)):
                genres_of[key].add(genre_key(str(g)))
        return key

    for row in rows.get("top_artists", ()):
        key = note(str(row["artist_name"]), row.get("genres"))
        rng, rank = str(row["time_range"]), int(row["rank"])  # type: ignore[call-overload]
        artist_ranks[key][rng] = min(rank, artist_ranks[key].get(rng, rank))
    for key, rk in artist_ranks.items():
        points[key] += rank_points(rk)
    for row in rows.get("followed_artists", ()):
        points[note(str(row["artist_name"]), row.get("genres"))] += 1.0
    album_points: dict[str, float] = defaultdict(float)
    album_genres: dict[str, float] = defaultdict(float)
    for row in rows.get("saved_albums", ()):
        album_points[note(str(row["artist_name"]).split(", ")[0], None)] += 0.25
        for g in row.get("genres") or ():  # type: ignore[union-attr]
            if genre_key(str(g)):
                album_genres[genre_key(str(g))] += 0.25
    for key, p in album_points.items():
        points[key] += min(1.0, p)
    from_tracks: dict[str, float] = defaultdict(float)
    for tkey, info in tracks.items():
        tp = track_pts[tkey]
        for akey, name in _credits(info.artist_name):
            from_tracks[akey] += 0.1 * tp
            names.setdefault(akey, name)
    for key, p in from_tracks.items():
        points[key] += min(2.0, p)

    artists = _scaled(points)
    genre_points: dict[str, float] = defaultdict(float, album_genres)
    for key, gs in genres_of.items():
        for g in gs:
            genre_points[g] += artists.get(key, 0.0)
    return artists, names, _scaled(genre_points), {k: tuple(sorted(v)) for k, v in genres_of.items()}


@lru_cache(maxsize=65_536)
def _credits(artist_name: str) -> tuple[tuple[str, str], ...]:
    """(key, display name) of each credited artist, primary first, without repeats."""
    out: dict[str, str] = {}
    for part in artist_name.split(", "):
        key = artist_key(part)
        if key and key not in out:
            out[key] = part.strip()
    return tuple(out.items())


def with_user_id(taste: MemberTaste, user_id: str) -> MemberTaste:
    """A copy under another id (tests and benchmarks reuse one taste for several members)."""
    return replace(taste, user_id=user_id)


def _scaled(points: Mapping[str, float]) -> dict[str, float]:
    best = max(points.values(), default=0.0)
    if best <= 0:
        return {}
    return {k: round(v / best, 6) for k, v in points.items() if v > 0}


def _iso(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _max_opt(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
