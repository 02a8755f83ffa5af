"""One member's taste, built from the rows of the latest-state views, with the evidence kept.

The asset layer runs SQL, hands the rows of each view to :func:`build_member_taste` and passes the
resulting :class:`MemberTaste` objects to overlap and blend functions. Keeping the evidence (which
sources, ranks, plays, when) is what lets every blend track and match score explain itself.

Relevance is about **now** (Spotify Blend's first rule: a member's picks reflect what they listen
to today). Ages are measured from the member's data itself (``as_of`` = the newest ``fetched_at``,
``played_at`` or ``saved_at`` in their rows), so the same warehouse state always gives the same
answer. Track points (a member's relevance for a track = its points / their best track's points):

- top tracks, per time range: ``range weight x (1 - 0.5 x (rank - 1) / 49)``; this month
  (``short_term``) 1.5, the last six months (``medium_term``) 1.0, all time (``long_term``, Apple
  Replay) 0.5. Rank 1 this month scores 1.5, rank 50 this month 0.75, rank 1 of all time 0.5;
- plays, weighted by age (half-life 30 days): ``0.75 x log2(1 + sum of 0.5^(age / 30 d))``, at most
  2.0. A play today counts 1, a play two months ago 0.25;
- lifetime plays from an imported history export (``history_plays``: a count per track, not
  decayed): ``0.25 x log2(1 + plays)``, at most 2.0. 15 plays score 1.0, 63 score 1.5 (as much as
  rank 1 this month), 255 or more 2.0; so a member's years of listening rank their songs even when
  the API has shown only their last 50 plays;
- a like (saved track): ``0.25 + 0.75 x 0.5^(age / 90 d)``: 1.0 when liked today, 0.63 after three
  months, about 0.3 after a year; 0.25 when the date is unknown (Apple library songs);
- playlists: 0.3 for the first playlist holding it, 0.15 for each further one, at most 0.6.

So a track in this month's top 20 (>= 1.21) outranks a song liked a year ago (0.3), and a song
played every day this week (2.0) outranks both. Ties are broken by the most recent play or like,
then by title and artist: what a listener can see, never an internal id.

Artist points: top-artist ranks (same formula as tracks), 1.0 if followed, 0.25 per saved album
(at most 1.0), and 0.1 x the points of the member's tracks that credit the artist (at most 2.0).
Genre points: the sum of the weights of the member's artists carrying that genre, plus 0.25 per
saved album tagged with it. Artist and genre weights are points / the member's best, in 0-1.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from blendify_assets.blend.identity import TrackInfo, TrackKey
from blendify_assets.blend.normalize import artist_key, genre_key

Row = Mapping[str, Any]

SOURCES = (
    "top_tracks",
    "top_artists",
    "recently_played",
    "history_plays",
    "saved_tracks",
    "playlist_tracks",
    "saved_albums",
    "followed_artists",
)
RANGE_WEIGHT = {"short_term": 1.5, "medium_term": 1.0, "long_term": 0.5}
MAX_RANK = 50
PLAY_HALF_LIFE_DAYS = 30.0
PLAY_WEIGHT = 0.75
PLAY_CAP = 2.0
HISTORY_WEIGHT = 0.25
HISTORY_CAP = 2.0
LIKE_HALF_LIFE_DAYS = 90.0
LIKE_FLOOR = 0.25
PLAYLIST_FIRST, PLAYLIST_MORE, PLAYLIST_CAP = 0.3, 0.15, 0.6
_EPOCH = datetime(1970, 1, 1)
_NO_RANKS: Mapping[str, int] = {}
_NO_PROVIDERS: Mapping[str, str] = {}
_NO_PLAYLISTS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Evidence:
    """Why a member is taken to like a track: every signal, unaggregated enough to show.

    ``recent_plays`` is the play count weighted by age (a play today counts 1); ``like_age_days``
    is how long before the member's ``as_of`` they liked it (None when unknown); ``last_active``
    is the latest play or like in seconds since 1970 (0 when unknown), for tie-breaks.
    ``top_providers`` says which provider each top rank came from (an Apple ``long_term`` rank is
    Apple Music Replay).
    """

    top_ranks: Mapping[str, int] = field(default_factory=dict)
    top_providers: Mapping[str, str] = field(default_factory=dict)
    play_count: int = 0
    recent_plays: float = 0.0
    lifetime_plays: int = 0  # plays imported from a history export (issue 15)
    last_played_at: str | None = None
    saved_at: str | None = None
    saved: bool = False
    like_age_days: float | None = None
    playlists: frozenset[str] = frozenset()
    last_active: float = 0.0

    @property
    def sources(self) -> list[str]:
        out = []
        if self.top_ranks:
            out.append("top_tracks")
        if self.play_count:
            out.append("recently_played")
        if self.lifetime_plays:
            out.append("history_plays")
        if self.saved:
            out.append("saved_tracks")
        if self.playlists:
            out.append("playlist_tracks")
        return out

    def merge(self, other: Evidence) -> Evidence:
        """Evidence for one recording seen under several ids (e.g. on both providers)."""
        ranks, providers = dict(self.top_ranks), dict(self.top_providers)
        for rng, rank in other.top_ranks.items():
            if rank < ranks.get(rng, rank + 1):
                ranks[rng] = rank
                providers[rng] = other.top_providers.get(rng, "")
        ages = [a for a in (self.like_age_days, other.like_age_days) if a is not None]
        return Evidence(
            top_ranks=ranks,
            top_providers=providers,
            play_count=self.play_count + other.play_count,
            recent_plays=self.recent_plays + other.recent_plays,
            lifetime_plays=self.lifetime_plays + other.lifetime_plays,
            last_played_at=_max_opt(self.last_played_at, other.last_played_at),
            saved_at=_max_opt(self.saved_at, other.saved_at),
            saved=self.saved or other.saved,
            like_age_days=min(ages) if ages else None,
            playlists=self.playlists | other.playlists,
            last_active=max(self.last_active, other.last_active),
        )

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"sources": self.sources}
        if self.top_ranks:
            out["top_ranks"] = dict(sorted(self.top_ranks.items()))
        if self.play_count:
            out["play_count"] = self.play_count
            out["recent_plays"] = round(self.recent_plays, 3)
            out["last_played_at"] = self.last_played_at
        if self.lifetime_plays:
            out["lifetime_plays"] = self.lifetime_plays
            out["last_played_at"] = self.last_played_at
        if self.saved:
            out["saved_at"] = self.saved_at
        if self.playlists:
            out["playlist_count"] = len(self.playlists)
        return out


def rank_points(ranks: Mapping[str, int]) -> float:
    """Top-list points: a rank this month counts more than one over six months or all time."""
    return sum(
        RANGE_WEIGHT.get(rng, 0.5) * (1 - 0.5 * (min(max(rank, 1), MAX_RANK) - 1) / (MAX_RANK - 1))
        for rng, rank in ranks.items()
    )


def like_points(age_days: float | None) -> float:
    """A like fades from 1.0 (today) towards 0.25 with a 90-day half-life; 0.25 when undated."""
    if age_days is None:
        return LIKE_FLOOR
    return LIKE_FLOOR + (1 - LIKE_FLOOR) * 0.5 ** (age_days / LIKE_HALF_LIFE_DAYS)


def track_points(e: Evidence) -> float:
    """The track points of the module docstring."""
    points = rank_points(e.top_ranks)
    if e.recent_plays > 0:
        points += min(PLAY_CAP, PLAY_WEIGHT * math.log2(1 + e.recent_plays))
    if e.lifetime_plays > 0:
        points += min(HISTORY_CAP, HISTORY_WEIGHT * math.log2(1 + e.lifetime_plays))
    if e.saved:
        points += like_points(e.like_age_days)
    if e.playlists:
        points += min(PLAYLIST_CAP, PLAYLIST_FIRST + PLAYLIST_MORE * (len(e.playlists) - 1))
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
    as_of: str | None = None
    """The newest timestamp in the member's data: ages (of likes, plays) are measured from it."""


TRACK_SOURCES = ("top_tracks", "recently_played", "history_plays", "saved_tracks", "playlist_tracks")
"""The sources holding a member's tracks, in the order their first copy of a track is taken."""
UNTRACKED_SOURCES = tuple(s for s in SOURCES if s not in TRACK_SOURCES)
"""The sources of a taste without tracks (artists, albums)."""


def member_tracks(rows: Mapping[str, Iterable[Row]]) -> dict[TrackKey, TrackInfo]:
    """A member's tracks: each one's first copy in :data:`TRACK_SOURCES` order (a playlist's
    episodes and local files skipped), as :func:`build_member_taste` holds them; needs only those
    sources' rows, so the identity can be built without reading the rest (taste prepare)."""
    tracks: dict[TrackKey, TrackInfo] = {}
    for source in TRACK_SOURCES:
        for row in rows.get(source, ()):
            if source == "playlist_tracks" and (row.get("item_type") or "track") != "track":
                continue
            key = (str(row["provider"]), str(row["track_id"]))
            if key not in tracks:
                tracks[key] = TrackInfo.from_row(row)
    return tracks


def build_member_taste(
    user_id: object, rows: Mapping[str, Iterable[Row]], *, as_of: datetime | None = None
) -> MemberTaste:
    """Build one member's taste from view rows, keyed by source name (see ``SOURCES``).

    ``rows["top_tracks"]`` are latest_user_top_tracks rows, ``rows["recently_played"]`` all of
    user_recently_played, and so on; missing sources are fine (an Apple-only member has no top
    lists). Episodes and local files are skipped and counted: nobody else can play them. Ages are
    measured from ``as_of``, by default the newest timestamp in the rows.
    """
    unknown = set(rows) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown taste sources {sorted(unknown)}; expected some of {list(SOURCES)}")
    data = {source: list(items) for source, items in rows.items()}
    parse = _memo_parse_time()
    now = _utc(as_of) if as_of is not None else newest_timestamp(data, parse)
    ranks: dict[TrackKey, dict[str, int]] = defaultdict(dict)
    plays: dict[TrackKey, int] = defaultdict(int)
    lifetime: dict[TrackKey, int] = defaultdict(int)
    recent: dict[TrackKey, float] = defaultdict(float)
    last_played: dict[TrackKey, datetime] = {}
    saved: dict[TrackKey, datetime | None] = {}
    playlists: dict[TrackKey, set[str]] = defaultdict(set)
    skipped: dict[str, int] = defaultdict(int)

    tracks = member_tracks(data)
    providers = {info.provider for info in tracks.values()}

    def take(row: Row) -> TrackKey:
        return (str(row["provider"]), str(row["track_id"]))

    for row in data.get("top_tracks", ()):
        key = take(row)
        rng, rank = str(row["time_range"]), int(row["rank"])
        ranks[key][rng] = min(rank, ranks[key].get(rng, rank))
    for row in data.get("recently_played", ()):
        key = take(row)
        plays[key] += 1
        when = parse(row.get("played_at"))
        recent[key] += 1.0 if when is None or now is None else _decay(now, when, PLAY_HALF_LIFE_DAYS)
        if when is not None and (key not in last_played or when > last_played[key]):
            last_played[key] = when
    for row in data.get("history_plays", ()):
        key = take(row)
        lifetime[key] += int(row["plays"])
        when = parse(row.get("last_played_at"))
        if when is not None and (key not in last_played or when > last_played[key]):
            last_played[key] = when
    for row in data.get("saved_tracks", ()):
        key = take(row)
        when = parse(row.get("saved_at"))
        previous = saved.get(key)
        if key not in saved or (when is not None and (previous is None or when > previous)):
            saved[key] = when
    for row in data.get("playlist_tracks", ()):
        kind = row.get("item_type") or "track"
        if kind != "track":
            skipped[str(kind)] += 1
            continue
        playlists[take(row)].add(str(row.get("playlist_id")))

    evidence: dict[TrackKey, Evidence] = {}
    for key, info in tracks.items():
        top = ranks.get(key, _NO_RANKS)
        played = last_played.get(key)
        liked = saved.get(key)
        active = played if liked is None or (played is not None and played > liked) else liked
        evidence[key] = Evidence(
            top_ranks=top,
            top_providers=dict.fromkeys(top, info.provider) if top else _NO_PROVIDERS,
            play_count=plays.get(key, 0),
            recent_plays=recent.get(key, 0.0),
            lifetime_plays=lifetime.get(key, 0),
            last_played_at=played.isoformat() if played else None,
            saved_at=liked.isoformat() if liked else None,
            saved=key in saved,
            like_age_days=max(0.0, (now - liked).total_seconds() / 86_400) if liked and now else None,
            playlists=frozenset(playlists[key]) if key in playlists else _NO_PLAYLISTS,
            last_active=(active - _EPOCH).total_seconds() if active else 0.0,
        )
    points = {key: track_points(e) for key, e in evidence.items()}
    artists, names, genres, artist_genres = _artist_and_genre_weights(data, tracks, points)
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
        as_of=now.isoformat() if now else None,
    )


def newest_timestamp(
    rows: Mapping[str, Iterable[Row]], parse: Callable[[object], datetime | None] | None = None
) -> datetime | None:
    """The member's "now": the newest fetched_at, played_at, saved_at or last_played_at in their rows."""
    raw: set[object] = set()
    for items in rows.values():
        for column in ("fetched_at", "played_at", "saved_at", "last_played_at"):
            raw.update({row.get(column) for row in items})
    times = [t for t in map(parse or parse_time, raw) if t is not None]
    return max(times, default=None)


def _memo_parse_time() -> Callable[[object], datetime | None]:
    """``parse_time`` remembering each distinct value: a member's rows repeat timestamps (one
    snapshot's fetched_at, plays and likes read twice), and parsing dominated taste building."""
    seen: dict[object, datetime | None] = {}

    def parse(value: object) -> datetime | None:
        try:
            return seen[value]
        except KeyError:
            seen[value] = when = parse_time(value)
            return when
        except TypeError:  # an unhashable value: parse_time returns None for it anyway
            return parse_time(value)

    return parse


def parse_time(value: object) -> datetime | None:
    """A naive UTC datetime from a driver datetime or an ISO string; None if absent or unreadable."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str) and value:
        try:
            return _utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _decay(now: datetime, then: datetime, half_life_days: float) -> float:
    return 0.5 ** (max(0.0, (now - then).total_seconds() / 86_400) / half_life_days)


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
        rng, rank = str(row["time_range"]), int(row["rank"])
        artist_ranks[key][rng] = min(rank, artist_ranks[key].get(rng, rank))
    for key, rk in artist_ranks.items():
        points[key] += rank_points(rk)
    for row in rows.get("followed_artists", ()):
        points[note(str(row["artist_name"]), row.get("genres"))] += 1.0
    album_points: dict[str, float] = defaultdict(float)
    album_genres: dict[str, float] = defaultdict(float)
    for row in rows.get("saved_albums", ()):
        album_points[note(str(row["artist_name"]).split(", ")[0], None)] += 0.25
        for g in row.get("genres") or ():
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


def _max_opt(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
