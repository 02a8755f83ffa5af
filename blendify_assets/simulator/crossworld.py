"""The cross-provider world: what each service's catalogue holds beyond the shared recordings.

The main catalog (catalog.py) is one list of recordings that both services carry under one ISRC
(Apple lacks about 6 %; Spotify writes about 3 % of the ISRCs in lower case). Matching a blend
to a service is only measurable against the hard cases the reference describes, so this module adds
catalogue entries on ONE service each, from its own seeded stream (the main catalog, the users and
their libraries stay exactly as they were):

- ``release_twin``: the same recording on another release (a single, a compilation) under the same
  ISRC, so Apple's ``filter[isrc]`` and Spotify's ``isrc:`` search answer several songs for one ISRC
  (reference: publishing-and-history.md 1.2, "many song ids per ISRC are normal");
- ``isrc_twin``: the same recording registered under another ISRC on the other service (cross-service
  drift, GBTW81300080 vs GXFEC2500003): only title, artist and duration can find it;
- ``exclusive``: recordings Apple carries and Spotify does not (some of which Spotify carries under
  another ISRC, as an ``isrc_twin``);
- ``decoy``: a different recording that looks like one the other service lacks or has: a live,
  remix, acoustic or part-two version with its own ISRC, a near title that shares no word ("Stars" /
  "Stairs", "Dani California" / "Californication"), or a cover by another artist. Half of the version
  decoys and every near title last within 1.5 s of the recording they imitate, so duration alone
  never tells them apart.

Users' libraries hold main tracks only; these entries are found through search and catalogue lookups,
and enter a library when a published playlist holds them.

Truth: every entry on a service has a ``recording`` key ("t<idx>" for a main track's recording,
"x<n>" for a new one, "d<n>" for a decoy). Two entries are the same song exactly when their
recordings are equal: ``CrossCatalog.twins(service, id)`` lists the other service's copies,
``CrossCatalog.listings(service)`` every entry with the fields that service shows. The main catalog
draws titles from a small vocabulary, so now and then one artist has two tracks of one title within
2 s of each other (even on one album); no listener could tell them apart, so they are one recording
("t<smallest idx>").
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from blendify_assets.simulator import ids
from blendify_assets.simulator.catalog import _TITLE_WORDS, Catalog

SPOTIFY, APPLE = "spotify", "apple"
OTHER = {SPOTIFY: APPLE, APPLE: SPOTIFY}
_VERSIONS = (" (Live)", " - Live", " (Acoustic)", " (Remix)", " - Radio Edit", " (Instrumental)", ", Pt. 2")
_SUFFIXES = ("ication", "ism", "ology", "ward", "ation")
_LETTERS = "aeilnorst"


@dataclass(slots=True)
class Release:
    """One catalogue entry on one service that is not a main catalog track."""

    idx: int
    service: str  # "spotify" | "apple"
    id: str  # Spotify track id or Apple catalog song id
    name: str
    artist_idxs: tuple[int, ...]
    album_id: str
    album_name: str
    album_type: str  # album | single | compilation
    release_date: str
    duration_ms: int
    isrc: str  # as that service writes it
    explicit: bool
    track_number: int
    recording: str
    role: str  # release_twin | isrc_twin | exclusive | decoy
    decoy_kind: str | None = None  # version | near_title | cover
    imitates: str | None = None  # a decoy: the recording it looks like


@dataclass(frozen=True)
class Listing:
    """One entry of one service's catalogue as that service shows it, with its truth."""

    service: str
    id: str
    name: str
    artist_name: str  # Spotify: credited artists joined with ", "; Apple: joined with " & "
    album_name: str
    duration_ms: int
    isrc: str
    explicit: bool
    recording: str
    role: str  # main | release_twin | isrc_twin | exclusive | decoy
    imitates: str | None = None


@dataclass
class CrossCatalog:
    """The releases plus lookups; answers "which Spotify track is which Apple song"."""

    catalog: Catalog
    releases: list[Release] = field(default_factory=list)
    by_id: dict[tuple[str, str], Release] = field(default_factory=dict)
    by_isrc: dict[tuple[str, str], list[Release]] = field(default_factory=dict)  # (service, ISRC upper)
    by_recording: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # -> (service, id)
    main_recording: list[str] = field(default_factory=list)  # main track idx -> its recording
    main_members: dict[str, list[int]] = field(default_factory=dict)  # recording -> main track idxs

    def __post_init__(self) -> None:
        """Main tracks of one artist, one title and durations within 2 s of the group's first (its
        anchor, so that no chain of near durations grows) are one recording."""
        groups: dict[tuple[int, str], list[int]] = {}
        for t in self.catalog.tracks:
            groups.setdefault((t.artist_idxs[0], t.name.lower()), []).append(t.idx)
        self.main_recording = [f"t{t.idx}" for t in self.catalog.tracks]
        for idxs in groups.values():
            idxs.sort(key=lambda i: (self.catalog.tracks[i].duration_ms, i))
            anchor = idxs[0]
            members = [anchor]
            for i in [*idxs[1:], None]:
                near = (
                    i is not None
                    and self.catalog.tracks[i].duration_ms - self.catalog.tracks[anchor].duration_ms <= 2_000
                )
                if near:
                    members.append(i)  # type: ignore[arg-type]
                    continue
                rec = f"t{min(members)}"
                for m in members:
                    self.main_recording[m] = rec
                if i is not None:
                    anchor, members = i, [i]
        for t in self.catalog.tracks:
            self.main_members.setdefault(self.main_recording[t.idx], []).append(t.idx)

    def add(self, release: Release) -> None:
        self.releases.append(release)
        self.by_id[(release.service, release.id)] = release
        self.by_isrc.setdefault((release.service, release.isrc.upper()), []).append(release)
        self.by_recording.setdefault(release.recording, []).append((release.service, release.id))

    def release(self, service: str, entry_id: str) -> Release | None:
        return self.by_id.get((service, entry_id))

    def with_isrc(self, service: str, isrc: str) -> list[Release]:
        return self.by_isrc.get((service, isrc.upper()), [])

    def recording(self, service: str, entry_id: str) -> str | None:
        """The recording an entry is, or None when the service has no such entry."""
        c = self.catalog
        main = c.track_by_sid.get(entry_id) if service == SPOTIFY else c.track_by_apple.get(entry_id)
        if main is not None:
            return self.main_recording[main]
        release = self.by_id.get((service, entry_id))
        return release.recording if release else None

    def copies(self, recording: str, service: str) -> list[str]:
        """Every id `service` has for the recording, main catalog entry first."""
        out: list[str] = []
        for idx in self.main_members.get(recording, []):
            t = self.catalog.tracks[idx]
            main = t.sid if service == SPOTIFY else t.apple_id
            if main:
                out.append(main)
        out += [i for s, i in self.by_recording.get(recording, []) if s == service]
        return out

    def twins(self, service: str, entry_id: str) -> list[str]:
        """The other service's ids for the same recording (empty: it has none)."""
        recording = self.recording(service, entry_id)
        return self.copies(recording, OTHER[service]) if recording else []

    def listings(self, service: str) -> Iterator[Listing]:
        """Every entry of one service's catalogue: main tracks first, then releases."""
        c = self.catalog
        for t in c.tracks:
            if service == APPLE and t.apple_id is None:
                continue
            sep = ", " if service == SPOTIFY else " & "
            yield Listing(
                service=service,
                id=t.sid if service == SPOTIFY else t.apple_id,  # type: ignore[arg-type]
                name=t.name,
                artist_name=sep.join(c.artists[a].name for a in t.artist_idxs),
                album_name=c.albums[t.album_idx].name,
                duration_ms=t.duration_ms,
                isrc=t.spotify_isrc if service == SPOTIFY else t.isrc,
                explicit=t.explicit,
                recording=self.main_recording[t.idx],
                role="main",
            )
        for r in self.releases:
            if r.service == service:
                yield self.listing(r)

    def listing(self, r: Release) -> Listing:
        sep = ", " if r.service == SPOTIFY else " & "
        return Listing(
            service=r.service,
            id=r.id,
            name=r.name,
            artist_name=sep.join(self.catalog.artists[a].name for a in r.artist_idxs),
            album_name=r.album_name,
            duration_ms=r.duration_ms,
            isrc=r.isrc,
            explicit=r.explicit,
            recording=r.recording,
            role=r.role,
            imitates=r.imitates,
        )

    def truth(self) -> dict:
        """Plain-data truth: per recording the ids on each service; the decoys and what they imitate."""
        recordings: dict[str, dict[str, list[str]]] = {}
        for service in (SPOTIFY, APPLE):
            for listing in self.listings(service):
                if listing.role != "decoy":
                    recordings.setdefault(listing.recording, {SPOTIFY: [], APPLE: []})[service].append(
                        listing.id
                    )
        decoys = [{"service": r.service, "id": r.id, "kind": r.decoy_kind, "imitates": r.imitates}
                  for r in self.releases if r.role == "decoy"]  # fmt: skip
        return {"recordings": recordings, "decoys": decoys}

    def fingerprint_parts(self) -> list[str]:
        return [f"{r.service}:{r.id}:{r.isrc}:{r.recording}" for r in self.releases]


def build_cross_catalog(catalog: Catalog, seed: int) -> CrossCatalog:
    """The releases of the module docstring, deterministic from the seed and the main catalog."""
    builder = _Builder(catalog, seed)
    builder.build()
    return builder.cross


class _Builder:
    def __init__(self, catalog: Catalog, seed: int) -> None:
        self.c = catalog
        self.seed = seed
        self.rng = random.Random(f"{seed}:crossworld")
        self.cross = CrossCatalog(catalog)
        self.apple_ids = {t.apple_id for t in catalog.tracks if t.apple_id} | set(catalog.album_by_apple)
        self.isrcs = set(catalog.tracks_by_isrc)
        self.next_recording = 0
        self.next_decoy = 0
        self.year = 2026
        self.titles: dict[int, set[str]] = {}  # primary artist -> lower-cased titles already taken
        for t in catalog.tracks:
            self.titles.setdefault(t.artist_idxs[0], set()).add(t.name.lower())

    def _free(self, artist_idx: int, title: str) -> bool:
        """Whether the artist has no entry of that title yet (a new recording must not look like an
        existing one of the same artist: the truth would be ambiguous)."""
        return title.lower() not in self.titles.get(artist_idx, set())

    # --- ids ------------------------------------------------------------------------------------

    def _apple_id(self, kind: str, idx: int) -> str:
        n = 0
        while True:
            value = ids.apple_catalog_id(self.seed, f"cross-{kind}", f"{idx}-{n}")  # type: ignore[arg-type]
            if value not in self.apple_ids:
                self.apple_ids.add(value)
                return value
            n += 1

    def _isrc(self) -> str:
        n = len(self.isrcs)
        while True:
            value = ids.isrc(self.seed, 5_000_000 + n)
            if value not in self.isrcs:
                self.isrcs.add(value)
                return value
            n += 1

    def _new(self, service: str, **fields: object) -> Release:
        idx = len(self.cross.releases)
        if service == SPOTIFY:
            entry_id = ids.spotify_id(self.seed, "cross-track", idx)
            album_id = ids.spotify_id(self.seed, "cross-album", idx)
        else:
            entry_id, album_id = self._apple_id("song", idx), self._apple_id("album", idx)
        release = Release(idx=idx, service=service, id=entry_id, album_id=album_id, **fields)  # type: ignore[arg-type]
        self.cross.add(release)
        self.titles.setdefault(release.artist_idxs[0], set()).add(release.name.lower())
        return release

    # --- building blocks ------------------------------------------------------------------------

    def _date(self) -> str:
        return (
            f"{self.rng.randint(1995, self.year)}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"
        )

    def _near(self, duration: int, tolerance: int = 1_500) -> int:
        return max(30_000, duration + self.rng.randint(-tolerance, tolerance))

    def release_twin(
        self, service: str, t_idx: int, isrc: str | None = None, role: str = "release_twin"
    ) -> None:
        """The recording of main track t_idx on a single or a compilation."""
        t = self.c.tracks[t_idx]
        artist = self.c.artists[t.artist_idxs[0]]
        if self.rng.random() < 0.5:
            album, kind = (f"{t.name} - Single" if service == APPLE else t.name), "single"
        else:
            album = self.rng.choice(
                (f"The Best of {artist.name}", "Greatest Hits", f"{artist.name}: Anthology")
            )
            kind = "compilation"
        if role == "isrc_twin" and self.rng.random() < 0.5:
            album, kind = self.c.albums[t.album_idx].name, "album"  # the same album, registered twice
        name, duration = t.name, self._near(t.duration_ms, 1_000)
        if role == "isrc_twin":  # registered separately: the spelling and the master may differ too
            roll = self.rng.random()
            if roll < 0.3:
                name = self.rng.choice(
                    (f"{t.name} - Remastered 2015", f"{t.name} (Remastered)", f"{t.name} [2009 Remaster]")
                )
            elif roll < 0.45:
                featured = self.c.artists[self.rng.randrange(len(self.c.artists))].name
                name = f"{t.name} (feat. {featured})"
            elif roll < 0.55:
                name = t.name.upper() if self.rng.random() < 0.5 else t.name.replace(" ", "  ")
            if self.rng.random() < 0.05:  # a longer fade: no rule can tell this from another song
                duration = t.duration_ms + self.rng.choice((-1, 1)) * self.rng.randint(2_600, 4_000)
        self._new(service, name=name, artist_idxs=t.artist_idxs, album_name=album, album_type=kind,
                  release_date=self._date(), duration_ms=duration,
                  isrc=isrc or self._isrc(), explicit=t.explicit, track_number=1,
                  recording=self.cross.main_recording[t_idx],
                  role=role)  # fmt: skip

    def decoy(self, service: str, recording: str, name: str, artist_idxs: tuple[int, ...], duration: int,
              explicit: bool, kinds: tuple[str, ...] = ("version", "near_title", "cover")) -> None:  # fmt: skip
        """A different recording that looks like `recording` (name, artists, duration); none when
        every look-alike title is already taken by a real entry of that artist."""
        kind = self.rng.choice(kinds)
        artist = artist_idxs[0]
        title = near_title(name, self.rng) if kind == "near_title" else None
        if kind == "near_title" and (title is None or not self._free(artist, title)):
            kind = "version"
        if kind == "version":
            suffixes = [v for v in _VERSIONS if not (v == ", Pt. 2" and any(ch.isdigit() for ch in name))]
            title = name + self.rng.choice(suffixes)
            if not self._free(artist, title):
                return
            hard = self.rng.random() < 0.5
            length = self._near(duration) if hard else duration + self.rng.randint(15_000, 60_000)
            album = (f"Live at the {self.rng.choice(('Harbor', 'Garden', 'Cathedral', 'Motel'))}"
                     if "Live" in title else f"{title} - Single" if service == APPLE else title)  # fmt: skip
        elif kind == "near_title":
            length, album = self._near(duration), f"{title} - Single" if service == APPLE else str(title)
        else:  # a cover: the same title by another artist who has no song of that title
            others = [a.idx for a in self.c.artists if a.idx not in artist_idxs and self._free(a.idx, name)]
            title, length, artist_idxs = name, self._near(duration), (self.rng.choice(others),)
            album = f"{title} - Single" if service == APPLE else title
        self._new(service, name=title, artist_idxs=artist_idxs, album_name=album, album_type="single",
                  release_date=self._date(), duration_ms=length, isrc=self._isrc(), explicit=explicit,
                  track_number=1, recording=f"d{self.next_decoy}", role="decoy", decoy_kind=kind,
                  imitates=recording)  # fmt: skip
        self.next_decoy += 1

    # --- the world ------------------------------------------------------------------------------

    def build(self) -> None:
        rng = self.rng
        for t in self.c.tracks:
            rec = self.cross.main_recording[t.idx]
            if t.apple_id is None:  # Apple lacks it under this ISRC
                roll = rng.random()
                if roll < 0.35:
                    self.release_twin(APPLE, t.idx, role="isrc_twin")
                elif roll < 0.70:
                    self.decoy(APPLE, rec, t.name, t.artist_idxs, t.duration_ms, t.explicit)
                continue
            rolls = [rng.random() for _ in range(4)]
            if rolls[0] < 0.10:
                for _ in range(rng.choice((1, 1, 2))):
                    self.release_twin(APPLE, t.idx, isrc=t.isrc)
            if rolls[1] < 0.05:
                self.release_twin(SPOTIFY, t.idx, isrc=t.spotify_isrc)
            if rolls[2] < 0.04:
                self.decoy(APPLE, rec, t.name, t.artist_idxs, t.duration_ms, t.explicit, kinds=("version",))
            if rolls[3] < 0.02:
                self.decoy(SPOTIFY, rec, t.name, t.artist_idxs, t.duration_ms, t.explicit, kinds=("version",))
        for _ in range(max(20, len(self.c.tracks) * 3 // 100)):
            self._exclusive()

    def _exclusive(self) -> None:
        """A recording Apple has and Spotify lacks under its ISRC (it may carry it under another)."""
        rng = self.rng
        artist = self.c.artists[rng.randrange(len(self.c.artists))]
        rec = f"x{self.next_recording}"
        self.next_recording += 1
        words = rng.sample(_TITLE_WORDS, 2)
        name = words[0] if rng.random() < 0.4 else f"{words[0]} {words[1]}"
        if not self._free(artist.idx, name):
            name = f"{words[0]} {words[1]} {rng.choice(_TITLE_WORDS)}"
            if not self._free(artist.idx, name):
                return
        duration, explicit = rng.randint(95_000, 420_000), rng.random() < 0.15
        album = f"{rng.choice(_TITLE_WORDS)} Sessions" if rng.random() < 0.5 else f"{name} - Single"
        self._new(APPLE, name=name, artist_idxs=(artist.idx,), album_name=album, album_type="album",
                  release_date=self._date(), duration_ms=duration, isrc=self._isrc(), explicit=explicit,
                  track_number=rng.randint(1, 12), recording=rec, role="exclusive")  # fmt: skip
        roll = rng.random()
        if roll < 0.3:  # Spotify has it too, registered under another ISRC
            spotify_album = album.removesuffix(" - Single")
            isrc = self._isrc()
            self._new(SPOTIFY, name=name, artist_idxs=(artist.idx,), album_name=spotify_album, album_type="album",
                      release_date=self._date(), duration_ms=self._near(duration, 1_000),
                      isrc=isrc.lower() if rng.random() < 0.2 else isrc, explicit=explicit,
                      track_number=1, recording=rec, role="isrc_twin")  # fmt: skip
        elif roll < 0.6:
            self.decoy(SPOTIFY, rec, name, (artist.idx,), duration, explicit)


def near_title(name: str, rng: random.Random) -> str | None:
    """A title that looks like `name` but shares none of its words.

    One word of five letters or more gains a letter ("Stars" -> "Stairs"); several words become one
    longer word built on the longest ("Dani California" -> "Californication"). None when no word is
    long enough.
    """
    words = name.split()
    longest = max(words, key=len)
    if len(longest) < 5 or not longest.isalpha():
        return None
    if len(words) == 1:
        pos = rng.randrange(1, len(longest))
        letter = rng.choice([ch for ch in _LETTERS if ch != longest[pos - 1].lower()])
        return longest[:pos] + letter + longest[pos:]
    return longest.rstrip("aeiouy") + rng.choice(_SUFFIXES)
