"""Track identity across providers: which (provider, track_id) rows are the same recording.

Three tiers, strongest first, as the cross-service matchers in the prior art do:

1. ``isrc``  - equal normalised ISRC (trimmed, upper case, dashes removed). Confidence 1.0.
2. ``exact`` - equal normalised title and primary artist, durations within 2 s. Confidence 0.95
   (0.8 when a duration is missing; x0.9 when both carry different ISRCs).
3. ``fuzzy`` - rapidfuzz ``ratio`` >= 90 on the title (same primary artist) or on the primary artist
   (same title), durations within 2 s, and the same version words and numbers ("Live"; "Part 2" =
   "Part II" = "Part Two", never "Part I": see ``normalize.version_words``).
   Confidence 0.9 x (0.6 title + 0.4 artist similarity) x 0.95 when the durations differ by more
   than 1 s; never above 0.9.

"A false positive is worse than a false negative": fuzzy matching needs a known duration and
agreeing version words. Candidate pairs come from blocking (same primary artist, or same title),
so clustering tens of thousands of tracks never compares all pairs.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy
from rapidfuzz import fuzz, process

from blendify_assets.blend.normalize import normalize_isrc, primary_artist_key, title_key, version_words

TrackKey = tuple[str, str]
"""(provider, track_id): one provider's id for one track."""

DURATION_TOLERANCE_MS = 2_000
FUZZY_THRESHOLD = 90.0
METHOD_STRENGTH = {"isrc": 3, "exact": 2, "fuzzy": 1}
METHOD_OF = {strength: method for method, strength in METHOD_STRENGTH.items()}


@dataclass(frozen=True)
class TrackInfo:
    """The display fields of one provider's track, as every track row carries them."""

    provider: str
    track_id: str
    track_name: str
    artist_name: str
    album_name: str | None = None
    album_art_url: str | None = None
    duration_ms: int | None = None
    isrc: str | None = None

    def __post_init__(self) -> None:
        # Store ``key`` now: cached_property's first look-up takes a lock, which cost more than
        # the rest of building the track (#17); stored in __dict__, every look-up is plain.
        object.__setattr__(self, "key", (self.provider, self.track_id))

    @cached_property
    def key(self) -> TrackKey:
        """(provider, track_id); stored at construction, as clustering and grouping look it up
        many times."""
        return (self.provider, self.track_id)

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> TrackInfo:
        """Build from a warehouse track row (extra columns are ignored)."""
        duration = row.get("duration_ms")
        return cls(
            provider=str(row["provider"]),
            track_id=str(row["track_id"]),
            track_name=str(row.get("track_name") or ""),
            artist_name=str(row.get("artist_name") or ""),
            album_name=_opt_str(row.get("album_name")),
            album_art_url=_opt_str(row.get("album_art_url")),
            duration_ms=int(duration) if isinstance(duration, int | float) else None,
            isrc=normalize_isrc(row.get("isrc")),
        )

    def display(self) -> dict[str, object]:
        """The fields a blend_tracks row copies."""
        return {
            "track_id": self.track_id,
            "track_name": self.track_name,
            "artist_name": self.artist_name,
            "album_name": self.album_name,
            "album_art_url": self.album_art_url,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True)
class Match:
    """How two tracks were judged the same recording."""

    method: str
    confidence: float

    def to_dict(self) -> dict[str, object]:
        return {"method": self.method, "confidence": self.confidence}


SINGLE = Match("single", 1.0)
"""A cluster of one provider track: nothing had to be matched."""


@dataclass(frozen=True)
class _Norm:
    info: TrackInfo
    title: str
    artist: str
    isrc: str | None
    duration: int | None
    versions: frozenset[str]


def _normed(info: TrackInfo) -> _Norm:
    title = title_key(info.track_name)
    return _Norm(
        info,
        title,
        primary_artist_key(info.artist_name),
        normalize_isrc(info.isrc),
        info.duration_ms,
        version_words(title),
    )


def _compare(
    a: _Norm, b: _Norm, title_sim: float | None = None, artist_sim: float | None = None
) -> Match | None:
    """The match rule of the module docstring, for one candidate pair."""
    if a.isrc and a.isrc == b.isrc:
        return Match("isrc", 1.0)
    isrc_conflict = 0.9 if (a.isrc and b.isrc) else 1.0
    gap = abs(a.duration - b.duration) if a.duration is not None and b.duration is not None else None
    known = gap is not None
    if gap is not None and gap > DURATION_TOLERANCE_MS:
        return None
    if a.title == b.title and a.artist == b.artist and a.title:
        return Match("exact", round((0.95 if known else 0.8) * isrc_conflict, 3))
    if gap is None or a.versions != b.versions or not a.title or not a.artist:
        return None
    t = fuzz.ratio(a.title, b.title) if title_sim is None else title_sim
    r = fuzz.ratio(a.artist, b.artist) if artist_sim is None else artist_sim
    if t < FUZZY_THRESHOLD or r < FUZZY_THRESHOLD:
        return None
    duration_factor = 1.0 if gap <= 1_000 else 0.95
    confidence = 0.9 * (0.6 * t + 0.4 * r) / 100.0 * duration_factor * isrc_conflict
    return Match("fuzzy", round(min(confidence, 0.9), 3))


def match_tracks(a: TrackInfo, b: TrackInfo) -> Match | None:
    """Whether two provider tracks are the same recording, and how sure we are."""
    if a.key == b.key:
        return Match("exact", 1.0)
    return _compare(_normed(a), _normed(b))


@dataclass(frozen=True)
class IdentityIndex:
    """Clusters of provider tracks that are one recording.

    ``cluster_of`` maps each (provider, track_id) to a stable cluster id: ``isrc:<ISRC>`` when any
    member has an ISRC, else ``<provider>:<track_id>`` of its smallest member. ``match`` holds each
    cluster's weakest link (method and confidence), the honest figure to show for the whole cluster.
    """

    cluster_of: Mapping[TrackKey, str]
    members: Mapping[str, tuple[TrackKey, ...]]
    match: Mapping[str, Match]

    def cluster(self, key: TrackKey) -> str:
        return self.cluster_of[key]


class _UnionFind:
    """Union-find over tracks numbered in key order; a component's root is its smallest number
    (whatever the order of the unions), and parents are a compact array (8 bytes a track)."""

    def __init__(self, n: int) -> None:
        self.parent = array("q", range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


Norms = Mapping[int, _Norm] | Sequence[_Norm]
"""Normalised tracks by number: all of them, or only one block's."""


class Clustering:
    """The links between tracks numbered 0..n-1 in key order, made block by block.

    :func:`build_identity` feeds it every block from memory; a caller whose tracks do not fit in
    memory feeds the same blocks in the same order from elsewhere (the database), holding only one
    block's tracks, the union-find and the links (17 bytes each) - and gets the same clusters.
    Blocks must come as :func:`build_identity` visits them: ISRC groups, then the (artist, version
    words) blocks, then the title blocks, each kind in order of its smallest number, each block's
    numbers ascending.
    """

    def __init__(self, n: int) -> None:
        self.uf = _UnionFind(n)
        self.edge_at = array("q")
        self.edge_strength = array("b")
        self.edge_confidence = array("d")

    def link(self, i: int, j: int, match: Match | None) -> None:
        if match is not None:
            self.uf.union(i, j)
            self.edge_at.append(i)
            self.edge_strength.append(METHOD_STRENGTH[match.method])
            self.edge_confidence.append(match.confidence)

    def isrc_group(self, group: Sequence[int]) -> None:
        """Tracks with one ISRC (any order of groups gives the same links)."""
        for j in group[1:]:
            self.link(group[0], j, Match("isrc", 1.0))

    def artist_block(self, block: list[int], norms: Norms) -> None:
        """Tracks with one primary artist and the same version words."""
        if len(block) > 1:
            _exact_pass(block, norms, self.uf, self.link)
            _fuzzy_pass(block, norms, self.uf, self.link, field="title")

    def title_block(self, block: list[int], norms: Norms) -> None:
        """Tracks with one title."""
        if len(block) > 1:
            _fuzzy_pass(block, norms, self.uf, self.link, field="artist")

    def roots(self) -> array[int]:
        """Each track's cluster root (its smallest number)."""
        find = self.uf.find
        return array("q", (find(i) for i in range(len(self.uf.parent))))

    def weakest(self) -> dict[int, Match]:
        """Each linked cluster's weakest link, by root."""
        find = self.uf.find
        weakest: dict[int, tuple[int, float]] = {}
        for i, strength, confidence in zip(
            self.edge_at, self.edge_strength, self.edge_confidence, strict=True
        ):
            root = find(i)
            cur = weakest.get(root)
            if cur is None or (strength, confidence) < cur:
                weakest[root] = (strength, confidence)
        return {root: Match(METHOD_OF[s], c) for root, (s, c) in weakest.items()}

    def weakest_arrays(self, roots: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """:meth:`weakest` as arrays (root, method strength, confidence), roots ascending, given
        :meth:`roots` (for clusters too many for a dict of Match objects)."""
        at = numpy.frombuffer(self.edge_at, numpy.int64)
        strength = numpy.frombuffer(self.edge_strength, numpy.int8)
        confidence = numpy.frombuffer(self.edge_confidence, numpy.float64)
        root = roots[at]
        order = numpy.lexsort((confidence, strength, root))
        root, strength, confidence = root[order], strength[order], confidence[order]
        first = numpy.flatnonzero(numpy.diff(root, prepend=-1)) if len(root) else root
        return root[first], strength[first], confidence[first]


def normed(info: TrackInfo) -> _Norm:
    """A track's normalised fields, as clustering compares them."""
    return _normed(info)


def stored_norm(title: str, artist: str, isrc: str | None, duration_ms: int | None) -> _Norm:
    """A track's normalised fields as :func:`block_keys` stored them (clustering a block needs
    nothing else: the track itself is known by its number)."""
    return _Norm(_NO_INFO, title, artist, isrc, duration_ms, version_words(title))


_NO_INFO = TrackInfo("", "", "", "")


def block_keys(n: _Norm) -> tuple[str | None, str, str, str]:
    """A normalised track's ISRC, primary artist, version words and title as text: the keys of its
    blocks. Version words are single words (split on spaces), so joined by spaces they compare as
    the set does."""
    return n.isrc or None, n.artist, " ".join(sorted(n.versions)), n.title


def build_identity(tracks: Iterable[TrackInfo]) -> IdentityIndex:
    """Cluster provider tracks into recordings (deterministic: independent of input order)."""
    unique = {t.key: t for t in tracks}
    norms = [_normed(unique[k]) for k in sorted(unique)]
    clustering = Clustering(len(norms))

    # Blocks: a fuzzy pair must share the primary artist or the title, and always the version
    # words ("live", "2"), so those keys bound the comparisons without losing any candidate.
    by_isrc: dict[str, list[int]] = defaultdict(list)
    by_artist: dict[tuple[str, frozenset[str]], list[int]] = defaultdict(list)
    by_title: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(norms):
        if n.isrc:
            by_isrc[n.isrc].append(i)
        by_artist[(n.artist, n.versions)].append(i)
        by_title[n.title].append(i)

    for group in by_isrc.values():
        clustering.isrc_group(group)
    for block in by_artist.values():
        clustering.artist_block(block, norms)
    for block in by_title.values():
        clustering.title_block(block, norms)
    return _index(norms, clustering)


def _exact_pass(block: list[int], norms: Norms, uf: _UnionFind, link) -> None:
    """Same title within one artist block: anchor-based duration windows, so no chaining."""
    by_title: dict[str, list[int]] = defaultdict(list)
    for i in block:
        by_title[norms[i].title].append(i)
    for same in by_title.values():
        if len(same) < 2:
            continue
        same.sort(key=lambda i: (norms[i].duration is None, norms[i].duration or 0, i))
        anchor = same[0]
        for j in same[1:]:
            if uf.find(anchor) == uf.find(j):
                continue
            match = _compare(norms[anchor], norms[j])
            if match is None:
                anchor = j
            else:
                link(anchor, j, match)


def _fuzzy_pass(block: list[int], norms: Norms, uf: _UnionFind, link, field: str) -> None:
    """Near-equal titles (or artists) inside a block, compared with rapidfuzz.cdist."""
    if len({uf.find(i) for i in block}) < 2:
        return  # already one recording (typically by ISRC)
    groups: dict[str, list[int]] = defaultdict(list)
    for i in block:
        groups[getattr(norms[i], field)].append(i)
    if len(groups) < 2:
        return
    labels = sorted(groups)
    for r, c, sim in _similar_pairs(labels):
        for i in groups[labels[r]]:
            for j in groups[labels[c]]:
                if uf.find(i) == uf.find(j):
                    continue
                if field == "title":
                    link(i, j, _compare(norms[i], norms[j], title_sim=sim, artist_sim=100.0))
                else:
                    link(i, j, _compare(norms[i], norms[j], title_sim=100.0, artist_sim=sim))


def _similar_pairs(labels: list[str]) -> Iterator[tuple[int, int, float]]:
    """(r, c, score) for r < c whose fuzz.ratio reaches the threshold, row by row.

    Most blocks hold a handful of labels, where one cdist call (~70 us of setup) cost more than
    the scalar ratios (~1 us each) and dominated clustering (#17); large blocks still use cdist.
    Scores are float32-rounded either way, as cdist returns them, so confidences are unchanged.
    """
    if len(labels) > _SCALAR_BLOCK:
        scores = process.cdist(
            labels, labels, scorer=fuzz.ratio, score_cutoff=FUZZY_THRESHOLD, dtype="float32"
        )
        rows, cols = (scores > 0).nonzero()
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if r < c:
                yield r, c, float(scores[r, c])
        return
    for r, a in enumerate(labels):
        for c in range(r + 1, len(labels)):
            score = fuzz.ratio(a, labels[c], score_cutoff=FUZZY_THRESHOLD)
            if score:
                yield r, c, float(numpy.float32(score))


_SCALAR_BLOCK = 24
"""Blocks with more labels than this are scored by one cdist call (n^2 scalar calls get dearer)."""


def _index(norms: list[_Norm], clustering: Clustering) -> IdentityIndex:
    uf = clustering.uf
    roots: dict[int, list[int]] = defaultdict(list)
    for i in range(len(norms)):
        roots[uf.find(i)].append(i)
    weakest = clustering.weakest()
    cluster_of: dict[TrackKey, str] = {}
    members: dict[str, tuple[TrackKey, ...]] = {}
    match: dict[str, Match] = {}
    for root, idx in roots.items():
        isrcs = sorted(isrc for i in idx if (isrc := norms[i].isrc))
        keys = tuple(norms[i].info.key for i in idx)
        cid = f"isrc:{isrcs[0]}" if isrcs else "{}:{}".format(*keys[0])
        members[cid] = keys
        match[cid] = weakest.get(root, SINGLE)
        for k in keys:
            cluster_of[k] = cid
    return IdentityIndex(cluster_of, members, match)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
