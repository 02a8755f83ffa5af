"""The seeded music catalog: artists with genres, albums, tracks, podcast shows and episodes.

One recording is one `Track`: its Spotify id and its Apple catalog id (when Apple carries it) share
the ISRC, which is how Blendify matches songs across services. Popularity is Zipf-like inside each
community of genres so that users of one community share a head of popular songs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from blendify_assets.simulator import ids

GENRES = (
    "indie rock", "shoegaze", "dream pop", "post-punk", "synthwave", "house", "techno", "drum and bass",
    "hip hop", "trap", "r&b", "neo soul", "jazz", "bossa nova", "afrobeats", "amapiano", "k-pop",
    "j-pop", "metal", "hardcore", "folk", "americana", "classical", "ambient", "reggaeton", "latin pop",
    "country", "bluegrass", "disco", "funk", "lo-fi beats", "grime",
)  # fmt: skip

_ADJ = (
    "Velvet", "Neon", "Silent", "Golden", "Paper", "Electric", "Hollow", "Crimson", "Midnight", "Lucid",
    "Wild", "Glass", "Bitter", "Tender", "Static", "Northern", "Lonely", "Burning", "Frozen", "Secret",
    "Broken", "Slow", "Violet", "Distant", "Sugar", "Iron", "Summer", "Quiet", "Cosmic", "Rusty",
)  # fmt: skip
_NOUN = (
    "Harbor", "Echo", "Garden", "Signal", "River", "Satellite", "Mirror", "Wolves", "Parade", "Lanterns",
    "Dunes", "Circuit", "Orchard", "Tides", "Ghosts", "Motel", "Avenue", "Comets", "Machines", "Meadow",
    "Fever", "Harmony", "Skyline", "Atlas", "Cathedral", "Rivals", "Pilots", "Horizon", "Embers", "Petals",
)  # fmt: skip
_TITLE_WORDS = (
    "Love", "Night", "Drive", "Dreams", "Home", "Fire", "Rain", "Heart", "Gold", "Run", "Stay", "Light",
    "Ocean", "Dance", "Forever", "Alone", "Stars", "Highway", "Paradise", "Gravity", "Shadows", "Honey",
    "Static", "Tonight", "Waves", "Youth", "Wonder", "Echoes", "Bloom", "Runaway",
)  # fmt: skip
_ODD_NAMES = ("Beyoncé Tribute Band", "Sigur Rós Cover Set", "AC/DC Kids", "Motörhead Jr", "Björk & Friends",
              "★ Starlight ★", "The \"Quoted\" Ones", "L'Été Indien", "\uff3a\uff25\uff2e", "Ñu Metal")  # fmt: skip

PUBLISHERS = ("Sim Radio", "Blendify Studios", "Night Owl Media", "Open Mic Network", "Deep Cuts FM")


@dataclass(slots=True)
class Artist:
    idx: int
    sid: str
    apple_id: str
    name: str
    genres: tuple[str, ...]
    community: int
    popularity: int
    followers: int
    album_idxs: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Album:
    idx: int
    sid: str
    apple_id: str
    name: str
    artist_idxs: tuple[int, ...]
    album_type: str  # album | single | compilation
    release_date: str
    release_date_precision: str
    label: str
    upc: str
    popularity: int
    track_idxs: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Track:
    idx: int
    sid: str
    apple_id: str | None  # None: Apple does not carry this recording
    name: str
    album_idx: int
    artist_idxs: tuple[int, ...]
    duration_ms: int
    isrc: str  # canonical upper-case ISRC (Apple always, Spotify usually)
    spotify_isrc: str  # what Spotify returns: now and then lower-case
    explicit: bool
    track_number: int
    disc_number: int
    popularity: int
    community: int
    weight: float  # Zipf-like popularity weight within its community


@dataclass(slots=True)
class Show:
    idx: int
    sid: str
    name: str
    publisher: str
    episode_idxs: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Episode:
    idx: int
    sid: str
    show_idx: int
    name: str
    duration_ms: int
    release_date: str
    description: str


@dataclass
class Catalog:
    artists: list[Artist]
    albums: list[Album]
    tracks: list[Track]
    shows: list[Show]
    episodes: list[Episode]
    communities: list[tuple[str, ...]]  # genres of each community
    track_by_sid: dict[str, int]
    track_by_apple: dict[str, int]
    tracks_by_isrc: dict[str, list[int]]
    album_by_apple: dict[str, int]

    def primary_artist(self, track: Track) -> Artist:
        return self.artists[track.artist_idxs[0]]


def _title(rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.45:
        return f"{rng.choice(_ADJ)} {rng.choice(_TITLE_WORDS)}"
    if shape < 0.75:
        return rng.choice(_TITLE_WORDS)
    if shape < 0.9:
        return f"{rng.choice(_TITLE_WORDS)} in the {rng.choice(_NOUN)}"
    return f"{rng.choice(_TITLE_WORDS)} ({rng.choice(_ADJ)} Mix)"


def _unique_song_id(seed: int, t_idx: int, taken: set[str]) -> str:
    """The track's Apple catalog id, drawn again in the rare case another song already has it."""
    song_id, n = ids.apple_catalog_id(seed, "song", t_idx), 0
    while song_id in taken:
        n += 1
        song_id = ids.apple_catalog_id(seed, "song", f"{t_idx}-{n}")  # type: ignore[arg-type]
    taken.add(song_id)
    return song_id


def build_catalog(seed: int, n_tracks: int, n_communities: int) -> Catalog:
    """Generate the catalog deterministically from the seed."""
    rng = random.Random(f"{seed}:catalog")
    genres = list(GENRES)
    rng.shuffle(genres)
    per = max(2, len(genres) // n_communities)
    communities = [
        tuple(genres[(c * per + k) % len(genres)] for k in range(per)) for c in range(n_communities)
    ]

    artists: list[Artist] = []
    albums: list[Album] = []
    tracks: list[Track] = []
    used_names: set[str] = set()
    song_ids: set[str] = set()  # Apple catalog song ids drawn so far: two songs never share one
    community_rank = [0] * n_communities
    while len(tracks) < n_tracks:
        a_idx = len(artists)
        community = a_idx % n_communities
        rank = community_rank[community]
        community_rank[community] += 1
        name = rng.choice(_ODD_NAMES) if rng.random() < 0.01 else f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        if rng.random() < 0.3:
            name = f"The {name}"
        while name in used_names:
            name = f"{name} {rng.choice(('II', 'Collective', 'Band', 'Trio', 'DJ', 'Ensemble'))}"
        used_names.add(name)
        artist_pop = max(1, min(100, int(95 - 18 * (rank**0.45) + rng.gauss(0, 4))))
        genre_pool = communities[community]
        artist = Artist(
            idx=a_idx,
            sid=ids.spotify_id(seed, "artist", a_idx),
            apple_id=ids.apple_catalog_id(seed, "artist", a_idx),
            name=name,
            genres=tuple(sorted(set(rng.sample(genre_pool, k=min(len(genre_pool), rng.randint(1, 3)))))),
            community=community,
            popularity=artist_pop,
            followers=int(1000 * (1.12**artist_pop) * rng.uniform(0.5, 1.5)),
        )
        artists.append(artist)
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            b_idx = len(albums)
            kind = rng.choices(("album", "single", "compilation"), weights=(6, 3, 1))[0]
            n_album_tracks = rng.randint(1, 3) if kind == "single" else rng.randint(7, 14)
            year = rng.randint(1968, 2026)
            precision = "day" if year > 1990 or rng.random() < 0.5 else "year"
            release = (
                f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                if precision == "day"
                else str(year)
            )
            album = Album(
                idx=b_idx,
                sid=ids.spotify_id(seed, "album", b_idx),
                apple_id=ids.apple_catalog_id(seed, "album", b_idx),
                name=_title(rng),
                artist_idxs=(a_idx,),
                album_type=kind,
                release_date=release,
                release_date_precision=precision,
                label=f"{rng.choice(_NOUN)} Records",
                upc=f"{ids.digest(seed, 'upc', b_idx) % 10**12:012d}",
                popularity=max(0, artist_pop - rng.randint(0, 20)),
            )
            albums.append(album)
            artist.album_idxs.append(b_idx)
            for t in range(n_album_tracks):
                t_idx = len(tracks)
                featured: tuple[int, ...] = ()
                if artists and rng.random() < 0.1:
                    other = rng.randrange(len(artists))
                    if other != a_idx:
                        featured = (other,)
                canonical = ids.isrc(seed, t_idx)
                popularity = max(0, min(100, artist_pop - rng.randint(0, 25)))
                apple_id = (
                    None if rng.random() < 0.06 else _unique_song_id(seed, t_idx, song_ids)
                )  # draw order kept
                track = Track(
                    idx=t_idx,
                    sid=ids.spotify_id(seed, "track", t_idx),
                    apple_id=apple_id,
                    name=_title(rng),
                    album_idx=b_idx,
                    artist_idxs=(a_idx, *featured),
                    duration_ms=rng.randint(95_000, 420_000),
                    isrc=canonical,
                    spotify_isrc=canonical.lower() if rng.random() < 0.03 else canonical,
                    explicit=rng.random() < 0.15,
                    track_number=t + 1,
                    disc_number=1,
                    popularity=popularity,
                    community=community,
                    weight=(1.0 / (1 + rank) ** 1.4) * rng.uniform(0.5, 1.0) / (1 + t * 0.3),
                )
                tracks.append(track)
                album.track_idxs.append(t_idx)

    shows: list[Show] = []
    episodes: list[Episode] = []
    for s_idx in range(6):
        show = Show(s_idx, ids.spotify_id(seed, "show", s_idx), f"The {rng.choice(_NOUN)} Podcast",
                    rng.choice(PUBLISHERS))  # fmt: skip
        shows.append(show)
        for e in range(15):
            e_idx = len(episodes)
            episodes.append(
                Episode(
                    idx=e_idx,
                    sid=ids.spotify_id(seed, "episode", e_idx),
                    show_idx=s_idx,
                    name=f"Episode {e + 1}: {_title(rng)}",
                    duration_ms=rng.randint(900_000, 5_400_000),
                    release_date=f"{rng.randint(2019, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    description=f"{show.name} talks about {rng.choice(_TITLE_WORDS).lower()} & more.",
                )
            )
            show.episode_idxs.append(e_idx)

    tracks_by_isrc: dict[str, list[int]] = {}
    for track in tracks:
        tracks_by_isrc.setdefault(track.isrc, []).append(track.idx)
    return Catalog(
        artists=artists,
        albums=albums,
        tracks=tracks,
        shows=shows,
        episodes=episodes,
        communities=communities,
        track_by_sid={t.sid: t.idx for t in tracks},
        track_by_apple={t.apple_id: t.idx for t in tracks if t.apple_id},
        tracks_by_isrc=tracks_by_isrc,
        album_by_apple={a.apple_id: a.idx for a in albums},
    )
