"""Matching one blend track to a target service: which of that service's tracks to publish.

Pure: the candidates come from the provider lookups (providers/*/publish.py); this module only
judges them, deterministically (the same inputs always give the same choice). For one blend track
and one target service, in this order:

1. ``own_id`` (confidence 1.0): a blend member holds a copy from the target service (the blend
   row's own track, or another member's copy listed in ``blend_metadata.members``). Only ids the
   service can put in anyone's playlist count: Spotify track ids (not ``spotify:local:`` files),
   Apple catalog ids (not a member's ``i.`` library ids). Several copies: the blend row's own
   track, else the smallest id.
2. ``isrc``: candidates whose normalised ISRC (trimmed, upper case, so "usrc17607839" equals
   "USRC17607839") equals the track's. One ISRC can name several releases of the recording (album,
   single, compilation); the tie-break, in order: the same album name (``album_key``: Apple's
   " - Single" suffix ignored), then the smallest duration difference (unknown last), then the same
   explicitness as the track (when known), then the smallest id. A candidate is refused when its
   version words differ ("Live", "Remix", "Part 2": a label reused the ISRC on another recording)
   or its duration differs by more than 10 s. Confidence 1.0 when the titles also agree
   (normalised) and the durations are within 2 s, else 0.95.
3. ``metadata``: title + primary artist + duration through the rules the blends use
   (``identity.match_tracks``: the same normalised title and primary artist within 2 s, 0.95; or a
   rapidfuzz ratio >= 90 on title and artist within 2 s with the same version words and numbers,
   at most 0.9; x0.9 when both carry different ISRCs), plus one rule of its own: the titles must
   share a content word (not a version word, a number, "part"/"vol" or a stop word), so "Stars"
   never becomes "Stairs" and "Dani California" never "Californication". Best: highest confidence,
   then the same tie-break as ISRC.

A false match puts a wrong song in someone's playlist, which is worse than a missing one: no
choice is made unless a candidate passes. An unmatched track keeps a reason (``no_title``,
``not_found``: the service returned no candidate, ``rejected``: it returned candidates and none
passed) and a detail naming the closest candidate (most alike in title and artist) and why it was
refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rapidfuzz import fuzz

from blendify_assets.blend.identity import TrackInfo, match_tracks
from blendify_assets.blend.normalize import (
    NUMBERING_WORDS,
    VERSION_WORDS,
    album_key,
    normalize_isrc,
    number_value,
    primary_artist,
    primary_artist_key,
    title_key,
    version_words,
)

OWN_ID, ISRC, METADATA = "own_id", "isrc", "metadata"
NO_TITLE, NOT_FOUND, REJECTED = "no_title", "not_found", "rejected"
TARGETS = ("spotify", "apple")
ISRC_MAX_GAP_MS = 10_000
TITLE_GAP_MS = 2_000
STOP_WORDS = frozenset(
    {"a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "for", "from", "by", "with", "my",
     "your", "me", "you", "i", "it", "is", "be", "we", "la", "le", "el", "de", "du", "des", "les", "los"}
)  # fmt: skip


class CandidateLike(Protocol):
    """What a lookup returned (``providers.publishing.CatalogTrack`` has exactly these fields)."""

    @property
    def provider(self) -> str: ...
    @property
    def track_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def artist_name(self) -> str: ...
    @property
    def album_name(self) -> str | None: ...
    @property
    def duration_ms(self) -> int | None: ...
    @property
    def isrc(self) -> str | None: ...
    @property
    def explicit(self) -> bool | None: ...


@dataclass(frozen=True)
class Candidate:
    """A plain candidate (tests and callers without a provider's CatalogTrack)."""

    provider: str
    track_id: str
    name: str
    artist_name: str
    album_name: str | None = None
    duration_ms: int | None = None
    isrc: str | None = None
    explicit: bool | None = None


@dataclass(frozen=True)
class SourceTrack:
    """One blend track as matching sees it: what it is, and the copies members already hold."""

    title: str
    artist_name: str
    album_name: str | None = None
    duration_ms: int | None = None
    isrc: str | None = None
    explicit: bool | None = None
    copies: Mapping[str, str] = field(default_factory=dict)  # provider -> a member's usable track id

    @classmethod
    def from_blend_row(cls, row: Mapping[str, Any]) -> SourceTrack:
        """From a ``blend_tracks`` row: its display fields, its ISRC (the ``isrc:`` cluster id) and
        every member's copy (``blend_metadata.members``), keeping only ids a playlist can take."""
        metadata = row.get("blend_metadata") or {}
        own_provider, own_id = str(row.get("source_provider") or ""), str(row.get("track_id") or "")
        found: dict[str, set[str]] = {}
        members = metadata.get("members") if isinstance(metadata, Mapping) else None
        for copy in (members or {}).values():
            if isinstance(copy, Mapping) and usable_id(str(copy.get("provider")), str(copy.get("track_id"))):
                found.setdefault(str(copy["provider"]), set()).add(str(copy["track_id"]))
        copies = {
            p: (own_id if p == own_provider and own_id in ids else min(ids)) for p, ids in found.items()
        }
        if usable_id(own_provider, own_id):
            copies[own_provider] = own_id
        cluster = metadata.get("cluster_id") if isinstance(metadata, Mapping) else None
        isrc = cluster[5:] if isinstance(cluster, str) and cluster.startswith("isrc:") else row.get("isrc")
        duration = row.get("duration_ms")
        return cls(
            title=str(row.get("track_name") or ""),
            artist_name=str(row.get("artist_name") or ""),
            album_name=row.get("album_name") if isinstance(row.get("album_name"), str) else None,
            duration_ms=int(duration) if isinstance(duration, int | float) else None,
            isrc=normalize_isrc(isrc),
            copies=copies,
        )

    def search_terms(self) -> tuple[str, str]:
        """(title, primary artist) to search with: no featured credits or remaster tags, version
        words kept (searching "song live" must find the live version, to refuse it knowingly)."""
        return title_key(self.title), primary_artist(self.artist_name)


@dataclass(frozen=True)
class Choice:
    """The track chosen for one target service, or why there is none."""

    target: str
    track_id: str | None
    method: str | None  # own_id | isrc | metadata; None when unmatched
    confidence: float
    reason: str | None = None  # unmatched: no_title | not_found | rejected
    detail: str | None = None  # unmatched: the closest candidate and why it was refused
    candidate: Any = None  # the chosen CandidateLike (None for own_id)

    @property
    def matched(self) -> bool:
        return self.track_id is not None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"target": self.target, "track_id": self.track_id, "method": self.method,
                                  "confidence": self.confidence}  # fmt: skip
        if self.reason:
            out["reason"], out["detail"] = self.reason, self.detail
        return out


def usable_id(provider: str, track_id: str) -> bool:
    """Whether another member's playlist can take this id: not a local file, not a library id."""
    if not track_id or track_id == "None":
        return False
    if provider == "spotify":
        return ":" not in track_id
    if provider == "apple":
        return not track_id.startswith(("i.", "a.", "l.", "p."))
    return False


def content_words(key: str) -> frozenset[str]:
    """Words of a normalised title that say what the song is: not version words, numbers, words that
    number things ("part", "vol") or stop words."""
    out: set[str] = set()
    previous = ""
    for word in key.split():
        ignored = word in STOP_WORDS or word in VERSION_WORDS or word in NUMBERING_WORDS
        if not ignored and number_value(word, previous) is None:
            out.add(word)
        previous = word
    return frozenset(out)


def match_track(source: SourceTrack, target: str, candidates: Iterable[CandidateLike]) -> Choice:
    """The choice of the module docstring for one track, one target, and every candidate the
    target's lookups returned (ISRC lookup and search together; duplicates are fine)."""
    own = source.copies.get(target)
    if own and usable_id(target, own):
        return Choice(target, own, OWN_ID, 1.0)
    if not source.title.strip():
        return Choice(target, None, None, 0.0, NO_TITLE, "the track has no title to look up")
    pool = _unique(c for c in candidates if c.provider == target)
    if not pool:
        return Choice(target, None, None, 0.0, NOT_FOUND, f"{_target_name(target)} returned no candidate")
    by_isrc = choose_by_isrc(source, pool)
    if by_isrc is not None:
        return by_isrc
    by_metadata = choose_by_metadata(source, pool)
    if by_metadata is not None:
        return by_metadata
    closest = max(pool, key=lambda c: _likeness(source, c))
    why = refusal(source, closest)
    return Choice(target, None, None, 0.0, REJECTED,
                  f"closest: {closest.name!r} by {closest.artist_name!r} ({why})")  # fmt: skip


def choose_by_isrc(source: SourceTrack, candidates: Sequence[CandidateLike]) -> Choice | None:
    """Step 2 of the module docstring; None when no candidate carries the track's ISRC and passes."""
    code = normalize_isrc(source.isrc)
    if not code:
        return None
    versions = version_words(title_key(source.title))
    fit = [c for c in candidates if normalize_isrc(c.isrc) == code
           and version_words(title_key(c.name)) == versions
           and (_gap(source, c) is None or _gap(source, c) <= ISRC_MAX_GAP_MS)]  # type: ignore[operator]  # fmt: skip
    if not fit:
        return None
    best = min(fit, key=lambda c: _tie_key(source, c))
    gap = _gap(source, best)
    exact = title_key(best.name) == title_key(source.title) and (gap is None or gap <= TITLE_GAP_MS)
    return Choice(best.provider, best.track_id, ISRC, 1.0 if exact else 0.95, candidate=best)


def choose_by_metadata(source: SourceTrack, candidates: Sequence[CandidateLike]) -> Choice | None:
    """Step 3 of the module docstring; None when no candidate passes."""
    passed: list[tuple[float, CandidateLike]] = []
    for c in candidates:
        confidence = metadata_confidence(source, c)
        if confidence is not None:
            passed.append((confidence, c))
    if not passed:
        return None
    confidence, best = min(passed, key=lambda pc: (-pc[0], *_tie_key(source, pc[1])))
    return Choice(best.provider, best.track_id, METADATA, confidence, candidate=best)


def metadata_confidence(source: SourceTrack, c: CandidateLike) -> float | None:
    """The identity rules plus a shared content word; None when the candidate is refused."""
    a_key, b_key = title_key(source.title), title_key(c.name)
    a_words, b_words = content_words(a_key), content_words(b_key)
    if (a_words or b_words) and not a_words & b_words:
        return None
    if not (a_words or b_words) and a_key != b_key:
        return None
    match = match_tracks(_info("source", "", source.title, source.artist_name, source.duration_ms, source.isrc),
                         _info(c.provider, c.track_id, c.name, c.artist_name, c.duration_ms, c.isrc))  # fmt: skip
    if match is None:
        return None
    if match.method == "isrc":  # equal ISRCs but refused by the ISRC step: not a metadata match
        return None
    return match.confidence


def refusal(source: SourceTrack, c: CandidateLike) -> str:
    """Why a candidate was refused, in words (for an unmatched track's detail)."""
    a_key, b_key = title_key(source.title), title_key(c.name)
    if primary_artist_key(source.artist_name) != primary_artist_key(c.artist_name):
        return "another artist"
    if version_words(a_key) != version_words(b_key):
        return "another version (" + ", ".join(sorted(version_words(a_key) ^ version_words(b_key))) + ")"
    if not content_words(a_key) & content_words(b_key):
        return "no title word in common"
    gap = _gap(source, c)
    if gap is not None and gap > TITLE_GAP_MS:
        return f"durations differ by {gap / 1000:.1f} s"
    if source.duration_ms is None or c.duration_ms is None:
        return "titles differ and a duration is unknown"
    return "titles too different"


# --- helpers ------------------------------------------------------------------------------------


def _info(
    provider: str, track_id: str, title: str, artist: str, duration: int | None, isrc: str | None
) -> TrackInfo:
    return TrackInfo(provider=provider, track_id=track_id, track_name=title, artist_name=artist,
                     duration_ms=duration, isrc=normalize_isrc(isrc))  # fmt: skip


def _gap(source: SourceTrack, c: CandidateLike) -> int | None:
    if source.duration_ms is None or c.duration_ms is None:
        return None
    return abs(source.duration_ms - c.duration_ms)


def _tie_key(source: SourceTrack, c: CandidateLike) -> tuple[int, int, int, str]:
    """Same album first, then the smallest duration gap (unknown last), then the same explicitness,
    then the smallest id."""
    same_album = bool(
        source.album_name and c.album_name and album_key(source.album_name) == album_key(c.album_name)
    )
    gap = _gap(source, c)
    explicit_differs = (
        source.explicit is not None and c.explicit is not None and source.explicit != c.explicit
    )
    return (
        0 if same_album else 1,
        gap if gap is not None else 10**9,
        1 if explicit_differs else 0,
        c.track_id,
    )


def _unique(candidates: Iterable[CandidateLike]) -> list[CandidateLike]:
    """First occurrence of each track id, in the order the lookups returned them."""
    seen: dict[str, CandidateLike] = {}
    for c in candidates:
        seen.setdefault(c.track_id, c)
    return list(seen.values())


def _likeness(source: SourceTrack, c: CandidateLike) -> tuple[float, float, int]:
    """How much a refused candidate looks like the track (title, then artist): the one to name."""
    title = fuzz.ratio(title_key(source.title), title_key(c.name))
    artist = fuzz.ratio(primary_artist_key(source.artist_name), primary_artist_key(c.artist_name))
    gap = _gap(source, c)
    return (title + artist, -(gap if gap is not None else 10**9), 0)


def _target_name(target: str) -> str:
    return {"spotify": "Spotify", "apple": "Apple Music"}.get(target, target)
