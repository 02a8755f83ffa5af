"""The deterministic simulated world: users, their Spotify and Apple Music libraries, and time.

Everything follows from `SimulatorConfig.seed` and the clock. State at a given simulated time does
not depend on how the clock got there: events are generated per hour of simulated time and applied
in a fixed order, each drawing from its own seeded random stream.

Ground truth (what a perfect sync stores) is plain data:

`World.spotify_truth(uid)` ->
    {"user": {"sim_user_id", "spotify_id", "account_id", "display_name", "email"},
     "top_tracks":  {"short_term": [track_id, ...], "medium_term": [...], "long_term": [...]},  # rank = index+1
     "top_artists": {same three keys: [artist_id, ...]},
     "recently_played": [{"played_at": ISO-8601 ms Z, "played_at_ms": int, "track_id", "isrc",
                          "context_uri": str | None}, ...],          # newest first, only the last 50
     "play_log": [... same shape, every play since the simulation began, newest first ...],
     "playlists": [{"id", "name", "snapshot_id", "owner_id", "is_owner", "collaborative", "public",
                    "total", "readable",          # readable: /items answers 200 (owner/collaborator,
                                                  # or any playlist in extended-quota mode)
                    "items": [{"position", "kind": "track"|"episode"|"local"|"null",
                               "id": spotify id | None, "uri": str | None, "isrc": str | None,
                               "added_at", "added_by"}] | None}],    # None when not readable
     "saved_tracks": [{"track_id", "added_at", "isrc"}],            # newest first, as the API pages
     "saved_albums": [{"album_id", "added_at"}],                    # newest first
     "followed_artists": [artist_id, ...]}    # API order: by id, so the `after` cursor survives unfollows

`World.apple_truth(uid)` ->
    {"user": {"sim_user_id", "email", "display_name", "storefront"},
     "library_songs": [{"id", "name", "artist_name", "album_name", "catalog_id": str | None,
                        "isrc": str | None (via the catalog twin), "duration_ms"}],   # API order (alphabetical)
     "library_albums": [{"id", "name", "artist_name", "catalog_id": str | None}],
     "library_artists": [{"id", "name"}],
     "library_playlists": [{"id", "name", "version_hash": str | None (most have none), "last_modified",
                            "track_ids": [library song id, ...]}],
     "recently_added": [{"id", "type": "library-albums"|"library-playlists"}],   # newest first
     "recently_played": [{"id", "type": "songs"|"library-songs", "isrc": str | None}],  # head first
     "heavy_rotation": [{"id", "type": "albums"|"library-playlists"}],
     "music_summary": {"year": int, "top_songs": [catalog id], "top_albums": [...], "top_artists": [...]}}

`World.cross` (crossworld.py) is the cross-provider truth: which Spotify track is which Apple song,
the catalogue entries that exist on one service only, and the decoys. Playlists written through the
simulated write paths (spotify_publish.py, apple_publish.py) are ordinary world playlists: both
truths above include them.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from blendify_assets.simulator import ids
from blendify_assets.simulator.catalog import Catalog, Track, build_catalog
from blendify_assets.simulator.config import SimulatorConfig, UserProfile
from blendify_assets.simulator.crossworld import CrossCatalog, build_cross_catalog

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
RECENT_PLAYS_VISIBLE = 50  # Spotify keeps only the last 50 plays
APPLE_RECENT_DEPTH = 75  # Apple's unique recent list is at least 60 deep
TIME_RANGES = ("short_term", "medium_term", "long_term")
_STOREFRONTS = ("us", "us", "us", "us", "gb", "de", "jp", "se", "ca")


def ms_to_iso(ms: int, *, millis: bool = False) -> str:
    """UTC ISO-8601 with a Z, as both services write timestamps."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if millis:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


@dataclass(slots=True)
class PlaylistEntry:
    kind: str  # track | episode | local | null
    ref: int | None  # track or episode index
    added_at_ms: int
    added_by: str  # spotify user id of whoever added it
    local: tuple[str, str, str, int] | None = None  # artist, album, title, seconds
    release: int | None = None  # a crossworld release (kind "track", ref None): published playlists

    @property
    def local_uri(self) -> str | None:
        if self.local is None:
            return None
        artist, album, title, secs = self.local
        return "spotify:local:" + ":".join(p.replace(" ", "+") for p in (artist, album, title)) + f":{secs}"


@dataclass
class SpotifyPlaylist:
    id: str
    name: str
    description: str
    owner_uid: str | None  # None: owned by Spotify (editorial)
    owner_sid: str
    owner_name: str
    collaborative: bool
    public: bool
    created_ms: int
    entries: list[PlaylistEntry] = field(default_factory=list)
    collaborators: list[str] = field(default_factory=list)  # sim user ids
    version: int = 1
    followers: int = 0

    @property
    def snapshot_id(self) -> str:
        return ids.snapshot_id(self.id, self.version)


@dataclass
class SpotifyLibrary:
    saved_tracks: list[tuple[int, int]] = field(default_factory=list)  # (track, added_ms), newest first
    saved_albums: list[tuple[int, int]] = field(default_factory=list)
    followed: list[int] = field(default_factory=list)  # artist indexes, API order
    plays: list[tuple[int, int, str | None]] = field(default_factory=list)  # (ms, track, context), ascending
    playlists: list[tuple[str, int]] = field(default_factory=list)  # (playlist id, added ms), API order


@dataclass(slots=True)
class LibrarySong:
    id: str
    track_idx: int | None  # the recording, if it is a catalog recording at all
    upload: tuple[str, str, str, int] | None  # name, artist, album, duration for uploaded files
    added_ms: int
    release: int | None = None  # a crossworld release (added to the library by a published playlist)


@dataclass
class ApplePlaylist:
    id: str
    name: str
    description: str
    song_ids: list[str]
    date_added_ms: int
    is_public: bool
    version: int = 1
    modified_ms: int = 0  # lastModifiedDate: moves with every edit (tracks, name, description)
    can_edit: bool = True  # False: Apple-curated, Favorite Songs, collaborative (writes answer 500)
    listed_after: float = 0.0  # time.monotonic() before which the library listing does not show it

    @property
    def has_version_hash(self) -> bool:
        """Apple's own example shows `playParams.versionHash` only on a personal mix: most library
        playlists carry none. Here one in five does (chosen by id, so the world stays the same)."""
        return ids.digest("apple-version-hash", self.id) % 5 == 0

    @property
    def version_hash(self) -> str | None:
        return ids.version_hash(self.id, self.version) if self.has_version_hash else None

    def edited(self, ms: int) -> None:
        self.version += 1
        self.modified_ms = max(ms, self.modified_ms + 1000)  # Apple's dates have whole seconds


@dataclass
class AppleLibrary:
    storefront: str
    songs: dict[str, LibrarySong] = field(default_factory=dict)
    playlists: list[ApplePlaylist] = field(default_factory=list)
    recent: list[tuple[str, str]] = field(default_factory=list)  # (type, id), head first, unique
    version: int = 0  # bumped on library change (invalidates sorted views)


@dataclass
class SimUser:
    index: int
    uid: str  # sim user id, e.g. user0001
    email: str
    display_name: str
    profile: UserProfile
    on_spotify: bool
    on_apple: bool
    spotify_id: str
    account_id: str
    community: int
    secondary: int
    ranking: list[int]  # track indexes, most preferred first
    spotify: SpotifyLibrary | None = None
    apple: AppleLibrary | None = None


class World:
    """The simulated users, catalog and clock-driven evolution. Thread-safe through `lock`."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.seed = self.config.seed
        self.lock = threading.RLock()
        rng = random.Random(f"{self.seed}:users")
        drawn = [
            rng.choices(("light", "medium", "heavy"), weights=(30, 55, 15))[0]
            for _ in range(self.config.users)
        ]
        profiles = [self.config.profile_for(i, drawn[i]) for i in range(self.config.users)]
        self.catalog: Catalog = build_catalog(self.seed, self._catalog_size(profiles), self._n_communities())
        self.cross: CrossCatalog = build_cross_catalog(self.catalog, self.seed)
        self.start_ms = to_ms(self.config.start_time)
        self.now_ms = self.start_ms
        self.users: list[SimUser] = []
        self.playlists: dict[str, SpotifyPlaylist] = {}
        self._build_users(rng, profiles)
        self.by_uid = {u.uid: u for u in self.users}
        self.by_email = {u.email: u for u in self.users}
        self.by_spotify_id = {u.spotify_id: u for u in self.users}
        self._editorial = self._build_editorial()
        for user in self.users:
            if user.on_spotify:
                self._init_spotify(user)
        self._link_social()
        for user in self.users:
            if user.on_apple:
                self._init_apple(user)
        self._generated_epoch = self.start_ms // HOUR_MS  # epochs <= this are generated
        self._pending: list[tuple[int, int, int, str]] = []  # (ms, user index, seq, kind)
        self._top_cache: dict[tuple[str, str, str, int], list[int]] = {}
        self._apple_sorted: dict[tuple[str, str], tuple[int, list]] = {}
        self.change_counter = 0

    # --- construction ---------------------------------------------------------------------------

    def _catalog_size(self, profiles: list[UserProfile]) -> int:
        if self.config.catalog_tracks:
            return self.config.catalog_tracks
        biggest = max(max(p.saved_tracks, p.apple_library_songs) for p in profiles)
        return max(3_000, min(20_000, 2_000 + 300 * len(profiles)), int(biggest * 2.4))

    def _n_communities(self) -> int:
        return max(3, min(8, self.config.users // 4))

    def _build_users(self, rng: random.Random, profiles: list[UserProfile]) -> None:
        n_comm = len(self.catalog.communities)
        tracks = self.catalog.tracks
        for i, profile in enumerate(profiles):
            services = rng.choices(("spotify", "apple", "both"), weights=(60, 15, 25))[0]
            on_spotify = profile.spotify if profile.spotify is not None else services in ("spotify", "both")
            on_apple = profile.apple if profile.apple is not None else services in ("apple", "both")
            if not on_spotify and not on_apple:
                on_spotify = True
            community = i % n_comm
            secondary = (community + 1 + rng.randrange(n_comm - 1)) % n_comm
            urng = random.Random(f"{self.seed}:taste:{i}")
            affinity = [0.001] * n_comm
            affinity[community] = 1.0
            affinity[secondary] = 0.05
            # Efraimidis-Spirakis keys: a weighted random order of the whole catalog
            keyed = [
                (math.log(urng.random() or 1e-12) / (t.weight**1.6 * affinity[t.community]), t.idx)
                for t in tracks
            ]
            keyed.sort(reverse=True)
            first = (
                "Alex",
                "Sam",
                "Robin",
                "Kim",
                "Noor",
                "Jo",
                "Maya",
                "Luca",
                "Yuki",
                "Ines",
                "Omar",
                "Zoe",
            )
            last = ("Berg", "Okafor", "Silva", "Chen", "Novak", "Haddad", "Kowalski", "Ito", "Moreau", "Diaz")
            self.users.append(
                SimUser(
                    index=i,
                    uid=f"user{i + 1:04d}",
                    email=f"user{i + 1:04d}@sim.blendify.test",
                    display_name=f"{first[ids.digest(self.seed, 'fn', i) % len(first)]} "
                    f"{last[ids.digest(self.seed, 'ln', i) % len(last)]}",
                    profile=profile,
                    on_spotify=on_spotify,
                    on_apple=on_apple,
                    spotify_id=ids.base62(ids.digest(self.seed, "spotify-user", i), 25).lower(),
                    account_id=ids.account_id(self.seed, i),
                    community=community,
                    secondary=secondary,
                    ranking=[idx for _, idx in keyed],
                )
            )

    def _spread_times(self, rng: random.Random, n: int, span_days: float, end_ms: int) -> list[int]:
        """n distinct timestamps before end_ms, newest first, denser towards the present."""
        out = sorted({end_ms - int(DAY_MS * span_days * rng.random() ** 1.7) - rng.randrange(1000, 60_000)
                      for _ in range(n)}, reverse=True)  # fmt: skip
        while len(out) < n:
            out.append(out[-1] - rng.randrange(60_000, HOUR_MS))
        return out

    def _build_editorial(self) -> list[str]:
        rng = random.Random(f"{self.seed}:editorial")
        out = []
        for c, genres in enumerate(self.catalog.communities):
            pid = ids.spotify_id(self.seed, "playlist-editorial", c)
            head = [t.idx for t in self.catalog.tracks if t.community == c]
            head.sort(key=lambda i: -self.catalog.tracks[i].weight)
            created = self.start_ms - 400 * DAY_MS
            entries = [PlaylistEntry("track", t, created + k * HOUR_MS, "spotify")
                       for k, t in enumerate(head[: rng.randint(50, 100)])]  # fmt: skip
            self.playlists[pid] = SpotifyPlaylist(
                id=pid,
                name=f"{genres[0].title()} Essentials",
                description=f"The best of {genres[0]} &amp; {genres[-1]}. Updated weekly.",
                owner_uid=None,
                owner_sid="spotify",
                owner_name="Spotify",
                collaborative=False,
                public=True,
                created_ms=created,
                entries=entries,
                followers=rng.randint(10_000, 5_000_000),
            )
            out.append(pid)
        return out

    def _init_spotify(self, user: SimUser) -> None:
        p = user.profile
        rng = random.Random(f"{self.seed}:spotify-init:{user.index}")
        lib = SpotifyLibrary()
        ranking = user.ranking
        # saved tracks
        pool = ranking[: min(len(ranking), int(p.saved_tracks * 1.6) + 50)]
        chosen = rng.sample(pool, k=min(p.saved_tracks, len(pool)))
        times = self._spread_times(rng, len(chosen), 3 * 365, self.start_ms)
        lib.saved_tracks = list(zip(chosen, times, strict=True))
        # saved albums: albums of preferred tracks
        albums: list[int] = []
        seen: set[int] = set()
        for t in ranking:
            a = self.catalog.tracks[t].album_idx
            if a not in seen:
                seen.add(a)
                albums.append(a)
            if len(albums) >= p.saved_albums * 2:
                break
        chosen_albums = rng.sample(albums, k=min(p.saved_albums, len(albums)))
        lib.saved_albums = list(zip(chosen_albums, self._spread_times(rng, len(chosen_albums), 4 * 365,
                                                                      self.start_ms), strict=True))  # fmt: skip
        # followed artists
        artists = self._ranked_artists(user, depth=len(user.ranking))
        lib.followed = rng.sample(artists[: p.followed_artists * 2], k=min(p.followed_artists, len(artists)))
        # play history: enough that the visible 50 are all "real"
        t_ms = self.start_ms - rng.randrange(60_000, 20 * 60_000)
        plays = []
        for _ in range(120):
            track = self._pick_play(rng, user)
            plays.append((t_ms, track, self._play_context(rng, user, None)))
            t_ms -= int(rng.expovariate(p.plays_per_hour / HOUR_MS)) + self.catalog.tracks[track].duration_ms
        plays.reverse()
        lib.plays = plays
        # owned playlists
        user.spotify = lib
        sizes = self._playlist_sizes(rng, p.playlists, p.playlist_tracks)
        for k, size in enumerate(sizes):
            self._create_owned_playlist(user, rng, k, size)

    def _playlist_sizes(self, rng: random.Random, n: int, total: int) -> list[int]:
        if n <= 0:
            return []
        weights = [rng.paretovariate(1.3) for _ in range(n)]
        scale = total / sum(weights)
        sizes = [max(1, int(w * scale)) for w in weights]
        sizes[0] += total - sum(sizes)
        if sizes[0] < 1:  # rounding pushed the first one below zero: rebalance
            sizes = [total // n + (1 if i < total % n else 0) for i in range(n)]
        if n >= 5 and rng.random() < 0.5:
            sizes[-1], sizes[0] = 0, sizes[0] + sizes[-1]  # an empty playlist now and then
        return sizes

    def _create_owned_playlist(self, user: SimUser, rng: random.Random, k: int, size: int) -> SpotifyPlaylist:
        assert user.spotify is not None
        pid = ids.spotify_id(self.seed, f"playlist-{user.index}", k)
        created = self.start_ms - rng.randrange(5 * DAY_MS, 6 * 365 * DAY_MS)
        name = f"{rng.choice(('Mix', 'Vibes', 'Road trip', 'Focus', 'Gym', 'Late night', 'Sunday'))} #{k + 1}"
        if rng.random() < 0.05:
            name += " 🔥"
        pl = SpotifyPlaylist(
            id=pid,
            name=name,
            description="" if rng.random() < 0.4 else f"Made by {user.display_name} &amp; friends",
            owner_uid=user.uid,
            owner_sid=user.spotify_id,
            owner_name=user.display_name,
            collaborative=rng.random() < 0.15,
            public=rng.random() < 0.6,
            created_ms=created,
            followers=rng.randint(0, 40),
        )
        has_local = rng.random() < 0.2
        podcast = rng.random() < 0.08
        window = max(size * 3, 300)
        start = rng.randrange(0, max(1, min(len(user.ranking) - window, 2_000)))
        pool = user.ranking[start : start + window]
        span = max(1, self.start_ms - created)
        times = sorted(created + rng.randrange(span) for _ in range(size))
        for pos in range(size):
            roll = rng.random()
            if podcast and roll < 0.5:
                entry = PlaylistEntry(
                    "episode", rng.randrange(len(self.catalog.episodes)), times[pos], user.spotify_id
                )
            elif has_local and roll < 0.04:
                t = self.catalog.tracks[rng.choice(pool)]
                local = (f"{self.catalog.primary_artist(t).name} (demo)", "Home Recordings", t.name,
                         t.duration_ms // 1000)  # fmt: skip
                entry = PlaylistEntry("local", None, times[pos], user.spotify_id, local)
            elif roll > 0.995:
                entry = PlaylistEntry("null", None, times[pos], user.spotify_id)
            else:
                entry = PlaylistEntry("track", rng.choice(pool), times[pos], user.spotify_id)
            pl.entries.append(entry)
        self.playlists[pid] = pl
        user.spotify.playlists.append((pid, created))
        return pl

    def _link_social(self) -> None:
        """Collaborators and followed playlists: communities share playlists."""
        spotify_users = [u for u in self.users if u.on_spotify]
        for user in spotify_users:
            assert user.spotify is not None
            rng = random.Random(f"{self.seed}:social:{user.index}")
            peers = [u for u in spotify_users if u is not user and u.community == user.community]
            others = [u for u in spotify_users if u is not user]
            for pid, _ in list(user.spotify.playlists):
                pl = self.playlists[pid]
                if pl.collaborative and others:
                    for peer in rng.sample(peers or others, k=min(len(peers or others), rng.randint(1, 2))):
                        pl.collaborators.append(peer.uid)
                        for entry in pl.entries[len(pl.entries) // 2 :: 3]:
                            entry.added_by = peer.spotify_id
            for pid in rng.sample(self._editorial, k=rng.randint(1, min(3, len(self._editorial)))):
                user.spotify.playlists.append((pid, self.start_ms - rng.randrange(DAY_MS, 900 * DAY_MS)))
            for peer in rng.sample(peers, k=min(len(peers), 2)):
                assert peer.spotify is not None
                public = [pid for pid, _ in peer.spotify.playlists
                          if self.playlists[pid].owner_uid == peer.uid and self.playlists[pid].public]  # fmt: skip
                if public:
                    user.spotify.playlists.append(
                        (rng.choice(public), self.start_ms - rng.randrange(DAY_MS, 300 * DAY_MS))
                    )
        for user in spotify_users:
            assert user.spotify is not None
            for pl in self.playlists.values():
                if user.uid in pl.collaborators:
                    user.spotify.playlists.append((pl.id, pl.created_ms + DAY_MS))
            dedup: dict[str, int] = {}
            for pid, added in user.spotify.playlists:
                dedup.setdefault(pid, added)
            user.spotify.playlists = sorted(dedup.items(), key=lambda x: (-x[1], x[0]))

    def _init_apple(self, user: SimUser) -> None:
        p = user.profile
        rng = random.Random(f"{self.seed}:apple-init:{user.index}")
        lib = AppleLibrary(storefront=rng.choice(_STOREFRONTS))
        pool = user.ranking[: min(len(user.ranking), int(p.apple_library_songs * 1.5) + 100)]
        chosen = rng.sample(pool, k=min(p.apple_library_songs, len(pool)))
        times = self._spread_times(rng, len(chosen) + 10, 5 * 365, self.start_ms)
        for k, t in enumerate(chosen):
            sid = ids.apple_library_id(self.seed, "i", user.index, "t", t)
            lib.songs[sid] = LibrarySong(sid, t, None, times[k])
        n_uploads = max(1, p.apple_library_songs // 50)
        for k in range(n_uploads):  # uploaded files: no catalog twin at all
            sid = ids.apple_library_id(self.seed, "i", user.index, "u", k)
            name = f"Voice Memo {k + 1}" if k % 3 == 0 else f"Bootleg Live Take {k + 1}"
            lib.songs[sid] = LibrarySong(sid, None, (name, user.display_name, "Uploads", 30_000 + 7_000 * k),
                                         times[len(chosen) + k % 10])  # fmt: skip
        song_ids = sorted(lib.songs)
        for k in range(p.apple_playlists):
            pid = ids.apple_library_id(self.seed, "p", user.index, k)
            size = (
                0
                if (k == p.apple_playlists - 1 and k >= 2)
                else rng.randint(5, max(6, min(250, len(song_ids))))
            )
            lib.playlists.append(
                ApplePlaylist(
                    id=pid,
                    name=f"{rng.choice(('Chill', 'Workout', 'Party', 'Rainy day', 'Throwbacks', 'Étude'))} {k + 1}",
                    description="" if rng.random() < 0.5 else "My playlist",
                    song_ids=rng.sample(song_ids, k=min(size, len(song_ids))),
                    date_added_ms=self.start_ms - rng.randrange(DAY_MS, 1_500 * DAY_MS),
                    is_public=rng.random() < 0.3,
                )
            )
            lib.playlists[-1].modified_ms = lib.playlists[-1].date_added_ms
        user.apple = lib
        for _ in range(APPLE_RECENT_DEPTH + 20):
            self._apple_play(user, rng)

    # --- taste helpers --------------------------------------------------------------------------

    def _pick_play(self, rng: random.Random, user: SimUser) -> int:
        # Zipf over the user's preference ranking
        depth = min(len(user.ranking), 600)
        k = min(depth - 1, int(depth * rng.random() ** 2.2))
        return user.ranking[k]

    def _play_context(self, rng: random.Random, user: SimUser, _track: int | None) -> str | None:
        roll = rng.random()
        if roll < 0.3 or user.spotify is None or not user.spotify.playlists:
            return None
        if roll < 0.75:
            return f"spotify:playlist:{rng.choice(user.spotify.playlists)[0]}"
        return f"spotify:album:{self.catalog.albums[rng.randrange(len(self.catalog.albums))].sid}"

    def _ranked_artists(self, user: SimUser, depth: int, jitter: random.Random | None = None,
                        spread: float = 0.0) -> list[int]:  # fmt: skip
        score: dict[int, float] = {}
        for rank, t in enumerate(user.ranking[:depth]):
            r = rank + (jitter.gauss(0, spread) if jitter else 0.0)
            for a in self.catalog.tracks[t].artist_idxs[:1]:
                score[a] = score.get(a, 0.0) + 1.0 / (abs(r) + 10)
        return sorted(score, key=lambda a: (-score[a], a))

    def _apple_play(self, user: SimUser, rng: random.Random) -> None:
        assert user.apple is not None
        lib = user.apple
        track = self._pick_play(rng, user)
        t = self.catalog.tracks[track]
        if t.apple_id is not None:
            item = ("songs", t.apple_id)
        else:  # Apple has no catalog copy: it was played from the library
            lib_id = next((s.id for s in lib.songs.values() if s.track_idx == track), None)
            if lib_id is None:
                return
            item = ("library-songs", lib_id)
        if rng.random() < 0.05:  # an uploaded file
            uploads = [s.id for s in lib.songs.values() if s.upload is not None]
            if uploads:
                item = ("library-songs", rng.choice(uploads))
        if item in lib.recent:
            lib.recent.remove(item)
        lib.recent.insert(0, item)
        del lib.recent[APPLE_RECENT_DEPTH:]

    # --- time -----------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms / 1000, tz=UTC)

    def advance_to(self, when: datetime | int) -> int:
        """Move simulated time forward, applying every event due by then. Returns events applied."""
        target = when if isinstance(when, int) else to_ms(when)
        with self.lock:
            if target < self.now_ms:
                raise ValueError("the simulated clock only moves forward")
            last_epoch = target // HOUR_MS
            for epoch in range(self._generated_epoch + 1, last_epoch + 1):
                self._generate_epoch(epoch)
            self._generated_epoch = max(self._generated_epoch, last_epoch)
            self._pending.sort()
            applied = 0
            while self._pending and self._pending[0][0] <= target:
                event = self._pending.pop(0)
                self.now_ms = max(self.now_ms, event[0])
                self._apply(event)
                applied += 1
            self.now_ms = target
            if applied:
                self.change_counter += 1
            return applied

    def _generate_epoch(self, epoch: int) -> None:
        start = epoch * HOUR_MS
        hour = (start // HOUR_MS) % 24
        diurnal = 0.2 if 1 <= hour <= 7 else 1.0
        for user in self.users:
            rng = random.Random(f"{self.seed}:epoch:{epoch}:{user.index}")
            seq = 0

            def add(kind: str, rng: random.Random = rng, u_idx: int = user.index) -> None:
                nonlocal seq
                self._pending.append((start + rng.randrange(HOUR_MS), u_idx, seq, kind))
                seq += 1

            p = user.profile
            if user.on_spotify and p.session_hours is not None:
                for ms in self._session_plays(user, start):
                    self._pending.append((ms, user.index, seq, "spotify_play"))
                    seq += 1
            elif user.on_spotify:
                for _ in range(_poisson(rng, p.plays_per_hour * diurnal)):
                    add("spotify_play")
                if rng.random() < 0.15:
                    add("save_track")
                if rng.random() < 0.05:
                    add("unsave_track")
                if rng.random() < 0.03:
                    add("save_album")
                if rng.random() < 0.02:
                    add("follow_artist")
                if rng.random() < 0.01:
                    add("unfollow_artist")
                if rng.random() < 0.08:
                    add("playlist_edit")
            if user.on_apple:
                for _ in range(_poisson(rng, p.plays_per_hour * diurnal * 0.8)):
                    add("apple_play")
                if rng.random() < 0.1:
                    add("apple_add_song")
                if rng.random() < 0.05:
                    add("apple_playlist_edit")

    def _session_plays(self, user: SimUser, start: int) -> list[int]:
        """Play times in the hour from `start` for a user who listens in one session a day: the day's
        session (seeded: whether, when, how long) overlapped with this hour, at the profile's rate."""
        p = user.profile
        assert p.session_hours is not None
        day = start // DAY_MS
        drng = random.Random(f"{self.seed}:session:{day}:{user.index}")
        if drng.random() >= p.listening_days:
            return []
        length = drng.uniform(*p.session_hours) * HOUR_MS
        begin = day * DAY_MS + int(drng.uniform(7 * HOUR_MS, max(7 * HOUR_MS, 23 * HOUR_MS - length)))
        low, high = max(start, begin), min(start + HOUR_MS, begin + int(length))
        if high <= low:
            return []
        rng = random.Random(f"{self.seed}:session-plays:{start}:{user.index}")
        n = _poisson(rng, p.plays_per_hour * (high - low) / HOUR_MS)
        return sorted(low + rng.randrange(high - low) for _ in range(n))

    def _apply(self, event: tuple[int, int, int, str]) -> None:
        ms, u_idx, seq, kind = event
        user = self.users[u_idx]
        rng = random.Random(f"{self.seed}:event:{ms}:{u_idx}:{seq}:{kind}")
        sp, ap = user.spotify, user.apple
        if kind == "spotify_play" and sp is not None:
            track = self._pick_play(rng, user)
            sp.plays.append((ms, track, self._play_context(rng, user, track)))
        elif kind == "save_track" and sp is not None:
            saved = {t for t, _ in sp.saved_tracks}
            candidates = [t for t in user.ranking[: len(saved) + 400] if t not in saved]
            for t in rng.sample(candidates, k=min(len(candidates), rng.randint(1, 3))):
                sp.saved_tracks.insert(0, (t, ms))
        elif kind == "unsave_track" and sp is not None and sp.saved_tracks:
            sp.saved_tracks.pop(rng.randrange(len(sp.saved_tracks)))
        elif kind == "save_album" and sp is not None:
            saved = {a for a, _ in sp.saved_albums}
            album = self.catalog.tracks[self._pick_play(rng, user)].album_idx
            if album not in saved:
                sp.saved_albums.insert(0, (album, ms))
        elif kind == "follow_artist" and sp is not None:
            artist = self.catalog.tracks[self._pick_play(rng, user)].artist_idxs[0]
            if artist not in sp.followed:
                sp.followed.append(artist)
        elif kind == "unfollow_artist" and sp is not None and sp.followed:
            sp.followed.pop(rng.randrange(len(sp.followed)))
        elif kind == "playlist_edit" and sp is not None:
            owned = [
                self.playlists[pid] for pid, _ in sp.playlists if self.playlists[pid].owner_uid == user.uid
            ]
            if owned:
                pl = rng.choice(owned)
                if pl.entries and rng.random() < 0.3:
                    for _ in range(min(len(pl.entries), rng.randint(1, 2))):
                        pl.entries.pop(rng.randrange(len(pl.entries)))
                else:
                    for _ in range(rng.randint(1, 5)):
                        pl.entries.append(
                            PlaylistEntry("track", self._pick_play(rng, user), ms, user.spotify_id)
                        )
                pl.version += 1
        elif kind == "apple_play" and ap is not None:
            self._apple_play(user, rng)
        elif kind == "apple_add_song" and ap is not None:
            have = {s.track_idx for s in ap.songs.values()}
            candidates = [t for t in user.ranking[: len(have) + 300] if t not in have]
            if candidates:
                t = rng.choice(candidates)
                sid = ids.apple_library_id(self.seed, "i", user.index, "t", t)
                ap.songs[sid] = LibrarySong(sid, t, None, ms)
                ap.version += 1
        elif kind == "apple_playlist_edit" and ap is not None and ap.playlists:
            edited = rng.choice(ap.playlists)
            edited.song_ids.append(rng.choice(sorted(ap.songs)))
            edited.edited(ms)
            ap.version += 1

    def rename_playlist(self, uid: str, playlist_id: str, name: str) -> None:
        """Rename one of the user's playlists (Spotify or Apple): a new version, the same tracks.

        Both services give the playlist a new version marker (snapshot_id / versionHash) for an edit
        of its details, which is exactly what a sync must not mistake for new contents.
        """
        with self.lock:
            user = self.user(uid)
            spotify = self.playlists.get(playlist_id)
            if spotify is not None and spotify.owner_uid == uid:
                spotify.name = name
                spotify.version += 1
            elif user.apple is not None and (
                pl := next((p for p in user.apple.playlists if p.id == playlist_id), None)
            ):
                pl.name = name
                pl.edited(self.now_ms)
                user.apple.version += 1
            else:
                raise KeyError(f"{uid} owns no playlist {playlist_id!r}")
            self.change_counter += 1

    # --- views the APIs serve -------------------------------------------------------------------

    def user(self, uid: str) -> SimUser:
        try:
            return self.by_uid[uid]
        except KeyError:
            raise KeyError(f"no simulated user {uid!r}") from None

    def find_user(self, hint: str | None) -> SimUser | None:
        """By sim user id, email or Spotify id; None for an unknown hint."""
        if not hint:
            return next((u for u in self.users if u.on_spotify), None)
        return self.by_uid.get(hint) or self.by_email.get(hint) or self.by_spotify_id.get(hint)

    @property
    def spotify_users(self) -> list[SimUser]:
        return [u for u in self.users if u.on_spotify]

    @property
    def apple_users(self) -> list[SimUser]:
        return [u for u in self.users if u.on_apple]

    def top(self, user: SimUser, kind: str, time_range: str) -> list[int]:
        """Top 50 track (kind='tracks') or artist indexes for a time range at the current time."""
        period_days = {"short_term": 1, "medium_term": 14, "long_term": 60}[time_range]
        period = (self.now_ms // DAY_MS) // period_days
        key = (user.uid, kind, time_range, period)
        cached = self._top_cache.get(key)
        if cached is not None:
            return cached
        rng = random.Random(f"{self.seed}:top:{user.uid}:{kind}:{time_range}:{period}")
        spread = {"short_term": 80.0, "medium_term": 30.0, "long_term": 8.0}[time_range]
        depth = {"short_term": 300, "medium_term": 450, "long_term": 600}[time_range]
        n = 50
        if user.profile.name in ("light", "tiny") and time_range == "short_term":
            n = rng.randint(0, 35)  # light listeners have thin short-term lists (even empty)
        if kind == "tracks":
            pool = user.ranking[:depth]
            scored = sorted(range(len(pool)), key=lambda i: i + rng.gauss(0, spread))
            result = [pool[i] for i in scored[:n]]
        else:
            result = self._ranked_artists(user, depth * 2, rng, spread)[:n]
        self._top_cache[key] = result
        return result

    def visible_plays(self, user: SimUser) -> list[tuple[int, int, str | None]]:
        """The last 50 plays, oldest first (Spotify cannot see further back)."""
        assert user.spotify is not None
        return user.spotify.plays[-RECENT_PLAYS_VISIBLE:]

    def playlist_readable(self, user: SimUser, pl: SpotifyPlaylist) -> bool:
        """Dev mode reads contents only of own or collaborative playlists (403 otherwise)."""
        if self.config.extended_quota:
            return True
        return pl.owner_uid == user.uid or user.uid in pl.collaborators

    def apple_sorted(self, user: SimUser, what: str) -> list:
        """Alphabetical library lists (songs, albums, artists, playlists) and the recently added
        albums and playlists (newest first), cached per library version."""
        assert user.apple is not None
        key = (user.uid, what)
        hit = self._apple_sorted.get(key)
        if hit is not None and hit[0] == user.apple.version:
            return hit[1]
        if what == "songs":
            items: list = sorted(
                user.apple.songs.values(), key=lambda s: (self.song_name(s).casefold(), s.id)
            )
        elif what == "albums":
            items = sorted(self.library_albums(user).values(), key=lambda a: (a["name"].casefold(), a["id"]))
        elif what == "artists":
            items = sorted(self.library_artists(user).values(), key=lambda a: (a["name"].casefold(), a["id"]))
        elif what == "recently_added":
            # Albums move up whenever a song of theirs is added; each shows its first dateAdded.
            added: list[tuple[int, str, str, Any]] = [
                (a["last_added_ms"], a["id"], "library-albums", a) for a in self.library_albums(user).values()
            ]
            added += [(p.date_added_ms, p.id, "library-playlists", p) for p in user.apple.playlists]
            items = [(kind, obj) for _, _, kind, obj in sorted(added, key=lambda x: (-x[0], x[1]))]
        else:
            items = sorted(user.apple.playlists, key=lambda p: (p.name.casefold(), p.id))
        self._apple_sorted[key] = (user.apple.version, items)
        return items

    def song_name(self, song: LibrarySong) -> str:
        if song.upload is not None:
            return song.upload[0]
        if song.release is not None:
            return self.cross.releases[song.release].name
        assert song.track_idx is not None
        return self.catalog.tracks[song.track_idx].name

    def library_albums(self, user: SimUser) -> dict[str, dict]:
        assert user.apple is not None
        out: dict[str, dict] = {}
        for s in user.apple.songs.values():
            if s.release is not None:
                r = self.cross.releases[s.release]
                key, name, artist = (
                    f"x{r.album_id}",
                    r.album_name,
                    self.catalog.artists[r.artist_idxs[0]].name,
                )
                catalog_id, album_idx = r.album_id, None
            elif s.track_idx is None:
                key, name, artist, catalog_id, album_idx = "upload", "Uploads", "Various Artists", None, None
            else:
                t = self.catalog.tracks[s.track_idx]
                album = self.catalog.albums[t.album_idx]
                key, name = str(album.idx), album.name
                artist = self.catalog.artists[album.artist_idxs[0]].name
                catalog_id = album.apple_id if t.apple_id else None
                album_idx = album.idx
            lid = ids.apple_library_id(self.seed, "l", user.index, key)
            entry = out.setdefault(lid, {"id": lid, "name": name, "artist_name": artist, "catalog_id": catalog_id,
                                         "album_idx": album_idx, "songs": 0, "added_ms": s.added_ms,
                                         "last_added_ms": s.added_ms})  # fmt: skip
            entry["songs"] += 1
            entry["added_ms"] = min(entry["added_ms"], s.added_ms)
            entry["last_added_ms"] = max(entry["last_added_ms"], s.added_ms)
        return out

    def library_artists(self, user: SimUser) -> dict[str, dict]:
        assert user.apple is not None
        out: dict[str, dict] = {}
        for s in user.apple.songs.values():
            if s.track_idx is None:
                continue
            artist = self.catalog.artists[self.catalog.tracks[s.track_idx].artist_idxs[0]]
            lid = ids.apple_library_id(self.seed, "r", user.index, artist.idx)
            out.setdefault(lid, {"id": lid, "name": artist.name, "artist_idx": artist.idx})
        return out

    def heavy_rotation(self, user: SimUser) -> list[tuple[str, object]]:
        """Albums (catalog) and library playlists the user plays most; empty for light listeners."""
        assert user.apple is not None
        if user.profile.name in ("light", "tiny"):
            return []
        albums: list[int] = []
        for kind, item_id in user.apple.recent:
            if kind == "songs":
                a = self.catalog.tracks[self.catalog.track_by_apple[item_id]].album_idx
                if a not in albums:
                    albums.append(a)
        out: list[tuple[str, object]] = [("albums", self.catalog.albums[a]) for a in albums[:6]]
        out += [("library-playlists", p) for p in user.apple.playlists[:2]]
        return out

    def music_summary(self, user: SimUser) -> dict[str, list[int]]:
        """Replay top songs/albums/artists (catalog indexes) for the latest year."""
        songs = [t for t in user.ranking[:200] if self.catalog.tracks[t].apple_id][:10]
        albums: list[int] = []
        for t in user.ranking[:200]:
            a = self.catalog.tracks[t].album_idx
            if a not in albums:
                albums.append(a)
        return {"songs": songs, "albums": albums[:10], "artists": self._ranked_artists(user, 400)[:10]}

    # --- ground truth ---------------------------------------------------------------------------

    def spotify_truth(self, uid: str) -> dict:
        """What a perfect Spotify sync of this user stores now (format in the module docstring)."""
        with self.lock:
            user = self.user(uid)
            if user.spotify is None:
                raise ValueError(f"{uid} is not on Spotify")
            lib = user.spotify
            tracks, artists = self.catalog.tracks, self.catalog.artists

            def play_row(p: tuple[int, int, str | None]) -> dict:
                return {"played_at": ms_to_iso(p[0], millis=True), "played_at_ms": p[0],
                        "track_id": tracks[p[1]].sid, "isrc": tracks[p[1]].isrc, "context_uri": p[2]}  # fmt: skip

            playlists = []
            for pid, _ in lib.playlists:
                pl = self.playlists[pid]
                readable = self.playlist_readable(user, pl)
                playlists.append({
                    "id": pl.id, "name": pl.name, "snapshot_id": pl.snapshot_id, "owner_id": pl.owner_sid,
                    "is_owner": pl.owner_uid == user.uid, "collaborative": pl.collaborative, "public": pl.public,
                    "total": len(pl.entries), "readable": readable,
                    "items": [self._entry_truth(pos, e) for pos, e in enumerate(pl.entries)] if readable else None,
                })  # fmt: skip
            return {
                "user": {"sim_user_id": user.uid, "spotify_id": user.spotify_id, "account_id": user.account_id,
                         "display_name": user.display_name, "email": user.email},
                "top_tracks": {r: [tracks[t].sid for t in self.top(user, "tracks", r)] for r in TIME_RANGES},
                "top_artists": {r: [artists[a].sid for a in self.top(user, "artists", r)] for r in TIME_RANGES},
                "recently_played": [play_row(p) for p in reversed(self.visible_plays(user))],
                "play_log": [play_row(p) for p in reversed(lib.plays)],
                "playlists": playlists,
                "saved_tracks": [{"track_id": tracks[t].sid, "added_at": ms_to_iso(ms), "isrc": tracks[t].isrc}
                                 for t, ms in lib.saved_tracks],
                "saved_albums": [{"album_id": self.catalog.albums[a].sid, "added_at": ms_to_iso(ms)}
                                 for a, ms in lib.saved_albums],
                "followed_artists": sorted(artists[a].sid for a in lib.followed),
            }  # fmt: skip

    def _release_song_truth(self, s: LibrarySong) -> dict:
        r = self.cross.releases[s.release]  # type: ignore[index]
        return {"id": s.id, "name": r.name, "artist_name": self.catalog.artists[r.artist_idxs[0]].name,
                "album_name": r.album_name, "catalog_id": r.id, "isrc": r.isrc, "duration_ms": r.duration_ms}  # fmt: skip

    def _entry_truth(self, pos: int, e: PlaylistEntry) -> dict:
        sid = uri = isrc = None
        if e.kind == "track" and e.release is not None:
            r = self.cross.releases[e.release]
            sid, uri, isrc = r.id, f"spotify:track:{r.id}", r.isrc.upper()
        elif e.kind == "track" and e.ref is not None:
            t = self.catalog.tracks[e.ref]
            sid, uri, isrc = t.sid, f"spotify:track:{t.sid}", t.isrc
        elif e.kind == "episode" and e.ref is not None:
            ep = self.catalog.episodes[e.ref]
            sid, uri = ep.sid, f"spotify:episode:{ep.sid}"
        elif e.kind == "local":
            uri = e.local_uri
        return {"position": pos, "kind": e.kind, "id": sid, "uri": uri, "isrc": isrc,
                "added_at": ms_to_iso(e.added_at_ms), "added_by": e.added_by}  # fmt: skip

    def apple_truth(self, uid: str) -> dict:
        """What a perfect Apple Music sync of this user stores now (format in the module docstring)."""
        with self.lock:
            user = self.user(uid)
            if user.apple is None:
                raise ValueError(f"{uid} is not on Apple Music")
            tracks = self.catalog.tracks
            songs = []
            for s in self.apple_sorted(user, "songs"):
                if s.release is not None:
                    songs.append(self._release_song_truth(s))
                    continue
                t = tracks[s.track_idx] if s.track_idx is not None else None
                catalog_id = t.apple_id if t is not None else None
                songs.append({
                    "id": s.id, "name": self.song_name(s),
                    "artist_name": s.upload[1] if s.upload else self.catalog.primary_artist(t).name,  # type: ignore[arg-type]
                    "album_name": s.upload[2] if s.upload else self.catalog.albums[t.album_idx].name,  # type: ignore[union-attr]
                    "catalog_id": catalog_id, "isrc": t.isrc if catalog_id and t else None,
                    "duration_ms": s.upload[3] if s.upload else t.duration_ms,  # type: ignore[union-attr]
                })  # fmt: skip
            recent = []
            for kind, item_id in user.apple.recent:
                isrc = tracks[self.catalog.track_by_apple[item_id]].isrc if kind == "songs" else None
                recent.append({"id": item_id, "type": kind, "isrc": isrc})
            summary = self.music_summary(user)
            return {
                "user": {"sim_user_id": user.uid, "email": user.email, "display_name": user.display_name,
                         "storefront": user.apple.storefront},
                "library_songs": songs,
                "library_albums": [{k: a[k] for k in ("id", "name", "artist_name", "catalog_id")}
                                   for a in self.apple_sorted(user, "albums")],
                "library_artists": [{"id": a["id"], "name": a["name"]} for a in self.apple_sorted(user, "artists")],
                "library_playlists": [{"id": p.id, "name": p.name, "version_hash": p.version_hash,
                                       "last_modified": ms_to_iso(p.modified_ms),
                                       "track_ids": list(p.song_ids)} for p in self.apple_sorted(user, "playlists")],
                "recently_added": [{"id": obj["id"] if kind == "library-albums" else obj.id, "type": kind}
                                   for kind, obj in self.apple_sorted(user, "recently_added")],
                "recently_played": recent,
                "heavy_rotation": [{"id": obj.apple_id if kind == "albums" else obj.id, "type": kind}  # type: ignore[attr-defined]
                                   for kind, obj in self.heavy_rotation(user)],
                "music_summary": {
                    "year": self.now.year,
                    "top_songs": [tracks[t].apple_id for t in summary["songs"]],
                    "top_albums": [self.catalog.albums[a].apple_id for a in summary["albums"]],
                    "top_artists": [self.catalog.artists[a].apple_id for a in summary["artists"]],
                },
            }  # fmt: skip

    def fingerprint(self) -> str:
        """A digest of the whole world: equal seeds and clocks give equal fingerprints."""
        parts: list[str] = [t.sid + t.isrc + str(t.apple_id) for t in self.catalog.tracks]
        parts += self.cross.fingerprint_parts()
        for u in self.users:
            if u.on_spotify:
                parts.append(repr(self.spotify_truth(u.uid)))
            if u.on_apple:
                parts.append(repr(self.apple_truth(u.uid)))
        return f"{ids.digest(*parts, size=16):032x}"

    def track_by_id(self, spotify_id: str) -> Track:
        return self.catalog.tracks[self.catalog.track_by_sid[spotify_id]]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1
