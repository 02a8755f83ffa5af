"""Catalogue search for the simulated services: Spotify `GET /search`, Apple `GET /v1/catalog/{sf}/search`.

Both services' search is fuzzy: a query for "Stars" by an artist also brings back "Stairs" and
"Stars (Live)" by that artist, which is why a matcher must judge every candidate it gets. Here:

- Spotify (`q` with field filters `isrc:`, `track:`, `artist:`, `album:`; quoted values allowed,
  other filters ignored): `isrc:` is exact and case-blind. Otherwise the entries of the artists the
  `artist:` filter names (every word of it in one credited artist's name, or a name within a small
  edit of it) are ranked by rapidfuzz `WRatio` of the `track:` filter against the title (>= 60);
  free words must each appear in the title, artists or album.
- Apple (`term`): songs whose rapidfuzz `token_set_ratio` of the term against "title artist" is
  at least 60, ranked by that score plus 40 when a credited artist's whole name is in the term and
  20 when the whole title is (a field match outranks words scattered over other songs' fields).

Ties keep catalogue order (main catalog first, then the crossworld releases). Folding (case,
accents, punctuation) is this module's own, not Blendify's normalisation under test.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from rapidfuzz import fuzz, process

from blendify_assets.simulator.crossworld import APPLE, SPOTIFY
from blendify_assets.simulator.world import World

_FILTER = re.compile(r'(\w+):(?:"([^"]*)"|(\S+))')
_NON_WORD = re.compile(r"[^\w]+")


def fold(text: str) -> str:
    """Lower case, no accents, punctuation as spaces."""
    plain = "".join(
        ch for ch in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(ch)
    )
    return " ".join(_NON_WORD.sub(" ", plain).replace("_", " ").split())


@dataclass(frozen=True)
class Entry:
    """One searchable catalogue entry; `ref` is ("main", track idx) or ("release", release idx)."""

    ref: tuple[str, int]
    title: str  # folded
    artists: tuple[str, ...]  # folded, every credited artist
    album: str  # folded
    isrc: str  # upper case


def parse_query(q: str) -> tuple[dict[str, str], list[str]]:
    """Spotify's `q`: ({filter: value}, free words)."""
    filters: dict[str, str] = {}
    for m in _FILTER.finditer(q):
        filters[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    free = _FILTER.sub(" ", q).split()
    return filters, [w for w in (fold(x) for x in free) if w]


class CatalogSearch:
    """Search indexes over one world, built on first use (the catalogue never changes)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def _entries(self, service: str) -> list[Entry]:
        c, cross = self.world.catalog, self.world.cross
        out: list[Entry] = []
        for t in c.tracks:
            if service == APPLE and t.apple_id is None:
                continue
            out.append(Entry(("main", t.idx), fold(t.name), tuple(fold(c.artists[a].name) for a in t.artist_idxs),
                             fold(c.albums[t.album_idx].name), t.isrc))  # fmt: skip
        for r in cross.releases:
            if r.service == service:
                out.append(Entry(("release", r.idx), fold(r.name), tuple(fold(c.artists[a].name) for a in r.artist_idxs),
                                 fold(r.album_name), r.isrc.upper()))  # fmt: skip
        return out

    @cached_property
    def spotify(self) -> list[Entry]:
        return self._entries(SPOTIFY)

    @cached_property
    def apple(self) -> list[Entry]:
        return self._entries(APPLE)

    @cached_property
    def _by_artist(self) -> dict[str, list[int]]:
        index: dict[str, list[int]] = {}
        for i, e in enumerate(self.spotify):
            for a in e.artists:
                index.setdefault(a, []).append(i)
        return index

    @cached_property
    def _spotify_titles(self) -> list[str]:
        return [e.title for e in self.spotify]

    @cached_property
    def _apple_texts(self) -> list[str]:
        return [f"{e.title} {' '.join(e.artists)}" for e in self.apple]

    def spotify_tracks(self, q: str) -> list[tuple[str, int]]:
        """Refs of the Spotify tracks matching `q`, best first."""
        filters, free = parse_query(q)
        entries = self.spotify
        if "isrc" in filters:
            code = filters["isrc"].strip().upper()
            hits = [i for i, e in enumerate(entries) if e.isrc == code]
        else:
            artist = fold(filters.get("artist", ""))
            title = fold(filters.get("track", ""))
            if artist:
                words = artist.split()
                pool = sorted({i for name, idxs in self._by_artist.items()
                               if all(w in name.split() for w in words) or fuzz.ratio(name, artist) >= 85
                               for i in idxs})  # fmt: skip
            else:
                pool = list(range(len(entries)))
            if title:
                scored = [(fuzz.WRatio(title, entries[i].title), i) for i in pool]
                hits = [i for s, i in sorted(scored, key=lambda x: (-x[0], x[1])) if s >= 60]
            else:
                hits = pool
            album = fold(filters.get("album", ""))
            if album:
                hits = [i for i in hits if album in entries[i].album]
        if free:
            hits = [i for i in hits if all(w in self._words(entries[i]) for w in free)]
        return [entries[i].ref for i in hits]

    def apple_songs(self, term: str) -> list[tuple[str, int]]:
        """Refs of the Apple songs matching `term`, best first."""
        folded = fold(term)
        if not folded:
            return []
        found = process.extract(
            folded, self._apple_texts, scorer=fuzz.token_set_ratio, score_cutoff=60, limit=None
        )
        padded = f" {folded} "
        scored = []
        for _, base, i in found:
            e = self.apple[i]
            bonus = 40 if any(f" {a} " in padded for a in e.artists) else 0
            bonus += 20 if f" {e.title} " in padded else 0
            scored.append((-(base + bonus), i))
        scored.sort()
        return [self.apple[i].ref for _, i in scored]

    @staticmethod
    def _words(e: Entry) -> set[str]:
        return {*e.title.split(), *(w for a in e.artists for w in a.split()), *e.album.split()}
