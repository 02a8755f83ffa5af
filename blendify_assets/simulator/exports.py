"""Privacy exports of the simulated users: Spotify's streaming history and Apple's Play Activity.

Consistent with the APIs: a Spotify export holds every play the simulated recently-played has shown
(`SpotifyLibrary.plays`, up to the world's clock) as a complete play, and before them `years` of
plausible listening; an Apple export ends with the songs of the recently-played list, oldest first,
so the export's most recent distinct songs are exactly that list. The history before the API's
window is deterministic for (seed, user) and does not depend on the clock: it ends where the
world's own plays begin.

The listening is plausible rather than uniform: a few sessions a day, songs back to back, tastes
that drift (older years lean on songs further down the user's ranking), and the records importers
must filter: podcast episodes, audiobooks (2024 format), private sessions, skips under 30 s, records
with no track at all, local files and removed tracks (no track URI), exact duplicate records, and
on Apple `PLAY_START` events, music videos, and plays from stations and playlists without an artist.

Formats follow `shared/reference/publishing-and-history.md` §2 (file names, record keys and their
order, `ts` as the end of the stream, Apple's alphabetical columns and `UTC Offset In Seconds`).
Zip bytes are deterministic: every entry carries the same fixed date.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson

from blendify_assets.simulator import ids
from blendify_assets.simulator.world import DAY_MS, SimUser, World
from blendify_assets.simulator.world import _poisson as _exact_poisson

SPOTIFY_VERSIONS = ("endsong", "extended-2023", "extended-2024", "account-data")
_ZIP_DATE = (2026, 1, 1, 0, 0, 0)
_PDF = b"%PDF-1.4\n% simulated ReadMeFirst\n"
_PLATFORMS = ("ios", "android", "OS X 10.15.7 [x86 8]", "web_player windows 10;chrome 118.0.0.0;desktop",
              "Partner sonos_one", "windows 10 (10.0.19045; x64)")  # fmt: skip
_COUNTRIES = ("US", "DE", "GB", "SE", "JP", "CA", "FR")
_SKIP_ENDS = ("fwdbtn", "fwdbtn", "backbtn", "clickrow", "endplay")
_STARTS = ("trackdone", "trackdone", "trackdone", "clickrow", "fwdbtn", "playbtn", "backbtn")
_ZONES = {"us": "America/New_York", "gb": "Europe/London", "de": "Europe/Berlin", "jp": "Asia/Tokyo",
          "se": "Europe/Stockholm", "ca": "America/Toronto"}  # fmt: skip


@dataclass(slots=True)
class Play:
    """One listening event before it is written in a version's format."""

    start_ms: int
    kind: str  # track | episode | audiobook | local | removed | unknown
    ref: int  # track or episode index (unused for unknown)
    ms_played: int
    reason_start: str
    reason_end: str | None
    skipped: bool | None
    incognito: bool = False
    offline: bool = False
    shuffle: bool = False


# --- Spotify -------------------------------------------------------------------------------------------


def spotify_export(
    world: World,
    uid: str,
    *,
    years: float = 5,
    version: str = "extended-2024",
    records_per_file: int = 16_000,
) -> bytes:
    """The user's Spotify export as zip bytes: `endsong` (≤2022), `extended-2023` (with username),
    `extended-2024` (no username, audiobook fields) or `account-data` (the last year, short format)."""
    if version not in SPOTIFY_VERSIONS:
        raise ValueError(f"unknown Spotify export version {version!r}; choose one of {SPOTIFY_VERSIONS}")
    with world.lock:
        user = world.user(uid)
        if user.spotify is None:
            raise ValueError(f"{uid} is not on Spotify")
        api = list(user.spotify.plays)
        now_ms = world.now_ms
    end_ms = api[0][0] if api else now_ms
    plays = list(_spotify_history(world, user, end_ms - int(years * 365 * DAY_MS), end_ms))
    for ms, track, _ in api:  # what recently played showed: complete plays
        plays.append(Play(ms, "track", track, world.catalog.tracks[track].duration_ms, "trackdone", "trackdone",
                          False if version != "endsong" else None))  # fmt: skip
    if version == "account-data":
        return _zip(_account_data_files(world, user, [p for p in plays if p.start_ms >= now_ms - 365 * DAY_MS],
                                        records_per_file))  # fmt: skip
    return _zip(_extended_files(world, user, plays, version, records_per_file))


def _spotify_history(world: World, user: SimUser, start_ms: int, end_ms: int) -> Iterator[Play]:
    """Sessions of plays, day by day, from start_ms up to (not into) end_ms."""
    rng = random.Random(f"{world.seed}:spotify-history:{user.index}")
    tracks, episodes = world.catalog.tracks, world.catalog.episodes
    per_day = user.profile.plays_per_hour * 6
    span = max(1, end_ms - start_ms)
    day = start_ms - start_ms % DAY_MS
    while day < end_ms:
        n = _poisson(rng, per_day)
        sessions = max(1, min(n, rng.choice((1, 1, 2, 2, 3))))
        starts = sorted(day + rng.randrange(6 * 3_600_000, 23 * 3_600_000) for _ in range(sessions))
        for s, t_ms in enumerate(starts):
            for _ in range(n // sessions + (1 if s < n % sessions else 0)):
                if t_ms >= end_ms:
                    break
                if t_ms >= start_ms:
                    age = (end_ms - t_ms) / span
                    play = _spotify_play(rng, world, user, t_ms, age)
                    yield play
                    if rng.random() < 0.002:  # the same record twice (offline sync)
                        yield Play(play.start_ms, play.kind, play.ref, play.ms_played, play.reason_start,
                                   play.reason_end, play.skipped, play.incognito, play.offline, play.shuffle)  # fmt: skip
                    book = play.kind in ("episode", "audiobook")
                    length = episodes[play.ref].duration_ms if book else tracks[play.ref].duration_ms
                    t_ms += min(play.ms_played, length) + rng.randrange(500, 20_000)
                else:
                    t_ms += 200_000
        day += DAY_MS


def _pick(rng: random.Random, world: World, user: SimUser, age: float) -> int:
    """A track for a play `age` (0 = newest, 1 = oldest) into the history: tastes drift."""
    if rng.random() < 0.35 * age and len(user.ranking) > 700:
        return user.ranking[rng.randrange(600, min(len(user.ranking), 2_000))]
    return world._pick_play(rng, user)


def _spotify_play(rng: random.Random, world: World, user: SimUser, t_ms: int, age: float) -> Play:
    roll = rng.random()
    start = rng.choice(_STARTS)
    shuffle = rng.random() < 0.3
    offline = rng.random() < 0.03
    if roll < 0.03:
        ep = rng.randrange(len(world.catalog.episodes))
        played = rng.randrange(60_000, world.catalog.episodes[ep].duration_ms)
        return Play(t_ms, "episode", ep, played, "playbtn", rng.choice(("endplay", "trackdone")), False)
    if roll < 0.035:
        ep = rng.randrange(len(world.catalog.episodes))
        return Play(t_ms, "audiobook", ep, rng.randrange(300_000, 2_400_000), "playbtn", "endplay", False)
    track = _pick(rng, world, user, age)
    duration = world.catalog.tracks[track].duration_ms
    if roll < 0.055:
        return Play(t_ms, "track", track, duration, start, "trackdone", False, incognito=True)
    if roll < 0.12:  # skipped within 30 s
        return Play(
            t_ms,
            "track",
            track,
            rng.randrange(0, 30_000),
            start,
            rng.choice(_SKIP_ENDS),
            True,
            shuffle=shuffle,
        )
    if roll < 0.123:
        return Play(
            t_ms,
            "unknown",
            0,
            rng.randrange(0, 120_000),
            "unknown",
            rng.choice(("trackdone", "unknown")),
            None,
        )
    if roll < 0.125:
        return Play(t_ms, "local", track, duration, start, "trackdone", False)
    if roll < 0.127:
        return Play(t_ms, "removed", track, duration, start, "trackdone", False)
    if rng.random() < 0.15:  # partly heard, more than 30 s
        return Play(t_ms, "track", track, rng.randrange(30_000, duration), start, rng.choice(("endplay", "fwdbtn")),
                    False, shuffle=shuffle, offline=offline)  # fmt: skip
    return Play(t_ms, "track", track, duration, start, "trackdone", False, shuffle=shuffle, offline=offline)


def _names(world: World, play: Play) -> tuple[str | None, str | None, str | None, str | None]:
    """(title, artist, album, track URI) as the export writes them."""
    if play.kind in ("unknown", "episode", "audiobook"):
        return None, None, None, None
    t = world.catalog.tracks[play.ref]
    artist = world.catalog.primary_artist(t).name
    album = world.catalog.albums[t.album_idx].name
    if play.kind == "local":
        uri = (
            "spotify:local:"
            + ":".join(p.replace(" ", "+") for p in (f"{artist} (demo)", "Home Recordings", t.name))
            + f":{t.duration_ms // 1000}"
        )
        return None, None, None, uri
    if play.kind == "removed":
        return t.name, artist, album, None
    return t.name, artist, album, f"spotify:track:{t.sid}"


def _extended_record(world: World, user: SimUser, play: Play, version: str) -> dict:
    end_ms = play.start_ms + play.ms_played
    title, artist, album, uri = _names(world, play)
    ep = world.catalog.episodes[play.ref] if play.kind in ("episode", "audiobook") else None
    show = world.catalog.shows[ep.show_idx] if ep is not None else None
    pick = ids.digest(world.seed, "export-play", user.index, play.start_ms)
    record: dict = {"ts": datetime.fromtimestamp(end_ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if version != "extended-2024":
        record["username"] = user.spotify_id
    record["platform"] = _PLATFORMS[pick % len(_PLATFORMS)]
    record["ms_played"] = play.ms_played
    record["conn_country"] = _COUNTRIES[user.index % len(_COUNTRIES)]
    if version == "extended-2024":
        record["ip_addr"] = f"192.0.2.{pick % 250 + 1}"
    else:
        record["ip_addr_decrypted"] = f"192.0.2.{pick % 250 + 1}"
        record["user_agent_decrypted"] = "unknown"
    record["master_metadata_track_name"] = title
    record["master_metadata_album_artist_name"] = artist
    record["master_metadata_album_album_name"] = album
    record["spotify_track_uri"] = uri
    episode = play.kind == "episode"
    record["episode_name"] = ep.name if episode and ep else None
    record["episode_show_name"] = show.name if episode and show else None
    record["spotify_episode_uri"] = f"spotify:episode:{ep.sid}" if episode and ep else None
    if version == "extended-2024":
        book = play.kind == "audiobook" and show is not None and ep is not None
        record["audiobook_title"] = f"{show.name}: The Audiobook" if book and show else None
        record["audiobook_uri"] = f"spotify:show:{show.sid}" if book and show else None
        record["audiobook_chapter_uri"] = f"spotify:episode:{ep.sid}" if book and ep else None
        record["audiobook_chapter_title"] = ep.name if book and ep else None
    record["reason_start"] = play.reason_start
    record["reason_end"] = play.reason_end
    record["shuffle"] = play.shuffle
    record["skipped"] = play.skipped
    record["offline"] = play.offline
    offline_at = play.start_ms - 3_600_000
    record["offline_timestamp"] = (
        (offline_at // 1000 if version == "extended-2024" else offline_at) if play.offline else 0
    )
    record["incognito_mode"] = play.incognito
    return record


def _extended_files(
    world: World, user: SimUser, plays: list[Play], version: str, per_file: int
) -> Iterator[tuple[str, bytes]]:
    if version != "extended-2024":
        plays = [p for p in plays if p.kind != "audiobook"]  # the fields came in 2024
    records = [_extended_record(world, user, p, version) for p in plays]
    chunks = [records[i : i + per_file] for i in range(0, len(records), per_file)] or [[]]
    folder = "MyData" if version == "endsong" else "Spotify Extended Streaming History"
    for n, chunk in enumerate(chunks):
        if version == "endsong":
            name = f"endsong_{n}.json"
        else:
            first, last = (chunk[0]["ts"][:4], chunk[-1]["ts"][:4]) if chunk else ("2026", "2026")
            name = f"Streaming_History_Audio_{first if first == last else f'{first}-{last}'}_{n}.json"
        yield f"{folder}/{name}", orjson.dumps(chunk, option=orjson.OPT_INDENT_2)
    if version == "endsong":
        yield f"{folder}/endvideo.json", b"[]"
    else:
        yield f"{folder}/Streaming_History_Video_2020-2026.json", b"[]"
    yield f"{folder}/ReadMeFirst_ExtendedStreamingHistory.pdf", _PDF


def _account_data_files(
    world: World, user: SimUser, plays: list[Play], per_file: int
) -> Iterator[tuple[str, bytes]]:
    music: list[dict] = []
    podcasts: list[dict] = []
    for play in plays:
        end = datetime.fromtimestamp((play.start_ms + play.ms_played) / 1000, tz=UTC).strftime(
            "%Y-%m-%d %H:%M"
        )
        if play.incognito or play.kind == "audiobook":
            continue
        if play.kind == "episode":
            ep = world.catalog.episodes[play.ref]
            podcasts.append({"endTime": end, "podcastName": world.catalog.shows[ep.show_idx].name,
                             "episodeName": ep.name, "msPlayed": play.ms_played})  # fmt: skip
            continue
        title, artist, _, _ = _names(world, play)
        if play.kind == "local":
            t = world.catalog.tracks[play.ref]
            title, artist = t.name, f"{world.catalog.primary_artist(t).name} (demo)"
        if title is None:  # since 2025 some rows come without names
            music.append({"endTime": end, "msPlayed": play.ms_played})
            continue
        music.append({"endTime": end, "artistName": artist, "trackName": title, "msPlayed": play.ms_played})
    folder = "Spotify Account Data"
    for n in range(max(1, -(-len(music) // per_file))):
        yield f"{folder}/StreamingHistory_music_{n}.json", orjson.dumps(music[n * per_file : (n + 1) * per_file],
                                                                         option=orjson.OPT_INDENT_2)  # fmt: skip
    yield f"{folder}/StreamingHistory_podcast_0.json", orjson.dumps(podcasts, option=orjson.OPT_INDENT_2)
    yield f"{folder}/Userdata.json", orjson.dumps({"username": user.spotify_id, "email": user.email})


# --- Apple ---------------------------------------------------------------------------------------------

APPLE_COLUMNS = (
    "Album Name", "Apple Id Number", "Apple Music Subscription", "Build Version", "Client IP Address",
    "Container Album Name", "Container Artist Name", "Container Type", "Content Specific Type",
    "Device Identifier", "Device Type", "End Position In Milliseconds", "End Reason Type",
    "Event End Timestamp", "Event Received Timestamp", "Event Start Timestamp", "Event Type", "Feature Name",
    "Media Duration In Milliseconds", "Media Type", "Milliseconds Since Play", "Offline",
    "Play Duration Milliseconds", "Song Name", "Source Type", "Start Position In Milliseconds",
    "Store Country Name", "UTC Offset In Seconds",
)  # fmt: skip
DAILY_COLUMNS = (
    "Country", "Track Identifier", "Media type", "Date Played", "Hours", "Play Duration Milliseconds",
    "End Reason Type", "Source Type", "Play Count", "Skip Count", "Ignore For Recommendations",
    "Track Reference", "Track Description",
)  # fmt: skip


@dataclass(slots=True)
class _Song:
    key: str  # catalog id or library id
    title: str
    artist: str
    album: str
    duration_ms: int


def apple_export(world: World, uid: str, *, years: float = 5, nested: bool = True) -> bytes:
    """The user's Apple Media Services export as zip bytes: Play Activity (plus the Daily Tracks file
    beside it, as Apple ships it). `nested`: the download holds `Apple_Media_Services.zip`, which
    holds `Apple Music Activity.zip`, as Apple packs it; else one zip with the folders."""
    with world.lock:
        user = world.user(uid)
        if user.apple is None:
            raise ValueError(f"{uid} is not on Apple Music")
        recent = [_apple_song(world, user, kind, item) for kind, item in reversed(user.apple.recent)]
        uploads = [s.id for s in user.apple.songs.values() if s.upload is not None]
        library = {s.track_idx: s.id for s in user.apple.songs.values() if s.track_idx is not None}
        now_ms = world.now_ms
        storefront = user.apple.storefront
    zone = ZoneInfo(_ZONES.get(storefront, "UTC"))
    tail_ms = sum(s.duration_ms + 5_000 for s in recent)
    end_ms = now_ms - tail_ms
    rng = random.Random(f"{world.seed}:apple-history:{user.index}")
    writer = _ActivityWriter(world, user, zone, storefront)
    start_ms = end_ms - int(years * 365 * DAY_MS)
    span = max(1, end_ms - start_ms)
    per_day = user.profile.plays_per_hour * 6 * 0.8
    day = start_ms - start_ms % DAY_MS
    while day < end_ms:
        n = _poisson(rng, per_day)
        t_ms = day + rng.randrange(7 * 3_600_000, 22 * 3_600_000)
        for _ in range(n):
            if t_ms >= end_ms:
                break
            if t_ms < start_ms:
                t_ms += 200_000
                continue
            track = _pick(rng, world, user, (end_ms - t_ms) / span)
            t = world.catalog.tracks[track]
            if rng.random() < 0.04 and uploads:
                song = _apple_song(world, user, "library-songs", rng.choice(uploads))
            elif t.apple_id is not None:
                song = _apple_song(world, user, "songs", t.apple_id)
            elif track in library:
                song = _apple_song(world, user, "library-songs", library[track])
            else:
                continue  # neither in Apple's catalogue nor in this library: not playable on Apple
            t_ms += writer.play(rng, song, t_ms) + rng.randrange(1_000, 15_000)
        day += DAY_MS
    t_ms = end_ms
    for song in recent:  # what recently played shows, oldest first, each heard to its end
        writer.play(rng, song, t_ms, complete=True)
        t_ms += song.duration_ms + 5_000
    activity = writer.activity()
    daily = writer.daily()
    files = [
        ("Apple Music Play Activity.csv", activity),
        ("Apple Music - Play History Daily Tracks.csv", daily),
    ]
    if not nested:
        return _zip((f"Apple_Media_Services/Apple Music Activity/{name}", data) for name, data in files)
    inner = _zip(files)
    middle = _zip([("Apple_Media_Services/Apple Music Activity.zip", inner),
                   ("Apple_Media_Services/Apple Music - Account Details.txt", b"simulated\n")])  # fmt: skip
    return _zip([("Apple_Media_Services.zip", middle)])


def _apple_song(world: World, user: SimUser, kind: str, item: str) -> _Song:
    tracks = world.catalog.tracks
    if kind == "songs":
        t = tracks[world.catalog.track_by_apple[item]]
    else:
        assert user.apple is not None
        lib = user.apple.songs[item]
        if lib.upload is not None:
            name, artist, album, duration = lib.upload
            return _Song(item, name, artist, album, duration)
        assert lib.track_idx is not None
        t = tracks[lib.track_idx]
    return _Song(t.apple_id or item, t.name, world.catalog.primary_artist(t).name,
                 world.catalog.albums[t.album_idx].name, t.duration_ms)  # fmt: skip


class _ActivityWriter:
    """Writes Play Activity rows (and tallies the Daily Tracks file) as plays come, oldest first."""

    def __init__(self, world: World, user: SimUser, zone: ZoneInfo, storefront: str) -> None:
        self.out = io.StringIO()
        self.csv = csv.writer(self.out)
        self.csv.writerow(APPLE_COLUMNS)
        self.zone = zone
        self.storefront = storefront.upper()
        self.account = str(
            1_000_000_000 + ids.digest(world.seed, "apple-account", user.index) % 9_000_000_000
        )
        self.device = f"{ids.digest(world.seed, 'device', user.index):032X}"[:32]
        self.country = {"us": "United States", "gb": "United Kingdom", "de": "Germany", "jp": "Japan",
                        "se": "Sweden", "ca": "Canada"}.get(storefront, "United States")  # fmt: skip
        self.days: dict[tuple[str, str], list] = {}

    def _ts(self, ms: int) -> str:
        return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"

    def play(self, rng: random.Random, song: _Song, start_ms: int, *, complete: bool = False) -> int:
        """Rows for one play starting at start_ms; returns how long it played."""
        roll = 1.0 if complete else rng.random()
        video = roll < 0.01
        if roll < 0.07 and not video:
            played, reason = rng.randrange(1_000, 30_000), "TRACK_SKIPPED_FORWARDS"
        elif roll < 0.17:
            played = rng.randrange(30_000, max(30_001, song.duration_ms))
            reason = rng.choice(("TRACK_SKIPPED_FORWARDS", "MANUALLY_SELECTED_PLAYBACK_OF_A_DIFF_ITEM",
                                 "PLAYBACK_MANUALLY_PAUSED"))  # fmt: skip
        else:
            played, reason = song.duration_ms, "NATURAL_END_OF_TRACK"
        container = (
            "ALBUM" if complete else rng.choices(("ALBUM", "PLAYLIST", "RADIO"), weights=(55, 25, 20))[0]
        )
        offset = int(datetime.fromtimestamp(start_ms / 1000, tz=self.zone).utcoffset().total_seconds())  # type: ignore[union-attr]
        end_ms = start_ms + played
        nameless = not complete and rng.random() < 0.005
        base = {
            "Album Name": song.album, "Apple Id Number": self.account, "Apple Music Subscription": "true",
            "Build Version": "Music/1.4", "Client IP Address": f"192.0.2.{start_ms % 250 + 1}",
            "Container Album Name": song.album if container == "ALBUM" else "",
            "Container Artist Name": song.artist if container == "ALBUM" else "",
            "Container Type": container, "Content Specific Type": "Music Video" if video else "Song",
            "Device Identifier": self.device, "Device Type": "IPHONE", "Event Received Timestamp": self._ts(end_ms + 2_000),
            "Feature Name": {"ALBUM": "library / album-detail", "PLAYLIST": "library / playlist-detail",
                             "RADIO": "radio"}[container],
            "Media Duration In Milliseconds": str(song.duration_ms), "Media Type": "VIDEO" if video else "AUDIO",
            "Offline": "false", "Song Name": "" if nameless else song.title, "Source Type": "IPHONE",
            "Start Position In Milliseconds": "0", "Store Country Name": self.country,
            "UTC Offset In Seconds": str(offset),
        }  # fmt: skip
        if rng.random() < 0.5 and not complete:
            self._row({**base, "End Position In Milliseconds": "", "End Reason Type": "", "Event End Timestamp": "",
                       "Event Start Timestamp": self._ts(start_ms), "Event Type": "PLAY_START",
                       "Milliseconds Since Play": "0", "Play Duration Milliseconds": "0"})  # fmt: skip
        no_start = not complete and rng.random() < 0.01
        self._row({**base, "End Position In Milliseconds": str(played), "End Reason Type": reason,
                   "Event End Timestamp": self._ts(end_ms), "Event Start Timestamp": "" if no_start else self._ts(start_ms),
                   "Event Type": "PLAY_END", "Milliseconds Since Play": str(played), "Play Duration Milliseconds": str(played)})  # fmt: skip
        if not video and not nameless:
            local = datetime.fromtimestamp(start_ms / 1000, tz=self.zone)
            day = self.days.setdefault((song.key, local.strftime("%Y%m%d")), [song, set(), 0, 0, 0, reason])
            day[1].add(local.hour)
            day[2] += played
            day[3] += played >= 30_000
            day[4] += played < 30_000
            day[5] = reason
        return played

    def _row(self, row: dict[str, str]) -> None:
        self.csv.writerow([row[c] for c in APPLE_COLUMNS])

    def activity(self) -> bytes:
        return self.out.getvalue().encode()

    def daily(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(DAILY_COLUMNS)
        for (key, date), (song, hours, played, plays, skips, reason) in sorted(
            self.days.items(), key=lambda i: i[0][1]
        ):
            writer.writerow([self.storefront, key, "AUDIO", date, ", ".join(str(h) for h in sorted(hours)),
                             played, reason, "IPHONE", plays, skips, "", key, f"{song.artist} - {song.title}"])  # fmt: skip
        return out.getvalue().encode()


# --- shared ----------------------------------------------------------------------------------------------


def _zip(files: Iterator[tuple[str, bytes]] | list[tuple[str, bytes]]) -> bytes:
    """Deterministic zip bytes (fixed entry dates, deflated)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def _poisson(rng: random.Random, lam: float) -> int:
    """Poisson draws (normal approximation for large means: a day's plays, not a rare event)."""
    if lam > 30:
        return max(0, round(rng.gauss(lam, lam**0.5)))
    return _exact_poisson(rng, lam)
