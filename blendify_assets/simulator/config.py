"""Simulator settings: what a test or demo can ask of the simulated world and servers.

Kept separate from the world so that the CLI, the pytest plugin and the benchmark build configs
without importing the servers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime


@dataclass(frozen=True)
class UserProfile:
    """Library sizes and services of one simulated user.

    The named presets follow the volumes in blendify-schema.md: `medium` sits inside the documented
    ranges, `heavy` is at their top (5,000 playlist tracks, 2,000 saved tracks), `light` is a casual
    listener well below them. `spotify`/`apple` None means "drawn from the seed".
    """

    name: str = "medium"
    spotify: bool | None = None
    apple: bool | None = None
    playlists: int = 30  # playlists the user owns (followed/collaborative ones come on top)
    playlist_tracks: int = 1_500  # entries across the playlists the user owns
    saved_tracks: int = 800
    saved_albums: int = 150
    followed_artists: int = 80
    plays_per_hour: float = 3.0
    apple_library_songs: int = 700
    apple_playlists: int = 8
    # Listening in sessions instead of around the clock: one session a day of this many hours
    # (drawn between the two), on this share of days, at `plays_per_hour` while it lasts. None: the
    # steady Poisson mix (fewer plays at night).
    session_hours: tuple[float, float] | None = None
    listening_days: float = 1.0

    @classmethod
    def light(cls, **overrides: object) -> UserProfile:
        base = cls(
            name="light",
            playlists=6,
            playlist_tracks=240,
            saved_tracks=120,
            saved_albums=20,
            followed_artists=15,
            plays_per_hour=1.0,
            apple_library_songs=150,
            apple_playlists=3,
        )
        return replace(base, **overrides)  # type: ignore[arg-type]

    @classmethod
    def medium(cls, **overrides: object) -> UserProfile:
        return replace(cls(), **overrides)  # type: ignore[arg-type]

    @classmethod
    def heavy(cls, **overrides: object) -> UserProfile:
        base = cls(
            name="heavy",
            playlists=90,
            playlist_tracks=5_000,
            saved_tracks=2_000,
            saved_albums=500,
            followed_artists=200,
            plays_per_hour=8.0,
            apple_library_songs=2_500,
            apple_playlists=25,
        )
        return replace(base, **overrides)  # type: ignore[arg-type]

    @classmethod
    def tiny(cls, **overrides: object) -> UserProfile:
        """A few dozen items per list: enough for paging tests, cheap to generate."""
        base = cls(
            name="tiny",
            playlists=3,
            playlist_tracks=90,
            saved_tracks=75,
            saved_albums=12,
            followed_artists=60,
            plays_per_hour=2.0,
            apple_library_songs=130,
            apple_playlists=3,
        )
        return replace(base, **overrides)  # type: ignore[arg-type]

    @classmethod
    def named(cls, name: str) -> UserProfile:
        presets = {"light": cls.light, "medium": cls.medium, "heavy": cls.heavy, "tiny": cls.tiny}
        try:
            return presets[name]()
        except KeyError:
            raise ValueError(f"unknown user profile {name!r}; choose one of {sorted(presets)}") from None


DEFAULT_START = datetime(2026, 9, 1, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that decides the world and the servers' behaviour.

    `profiles` overrides the first users (by index) with given profiles or preset names, e.g.
    `profiles=("heavy",)` makes user0001 a heavy user; the rest follow the seeded size mix
    (30 % light, 55 % medium, 15 % heavy). `profile_mix` replaces that mix for every user not
    covered by `profiles` (e.g. `profile_mix="tiny"` for quick tests).
    """

    users: int = 20
    seed: int = 7
    extended_quota: bool = False
    access_token_lifetime: int = 3600
    rotate_refresh_tokens: bool = False
    latency_ms: int = 0
    apple_public_key_pem: str | None = None
    apple_team_id: str = "SIMTEAM001"
    apple_key_id: str = "SIMKEY0001"
    profiles: tuple[UserProfile | str, ...] = ()
    profile_mix: str | None = None
    start_time: datetime = DEFAULT_START
    refresh_token_lifetime_days: int = 182  # Spotify: 6 months from the original authorisation
    catalog_tracks: int | None = None  # None: sized from users and profiles
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    timeout_fault_seconds: float = 60.0  # how long a `timeout` fault hangs when not told
    apple_listing_delay_seconds: float = (
        5.0  # a new Apple library playlist is listed after this (observed 4-9 s)
    )

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError("SimulatorConfig.users must be at least 1")
        if len(self.profiles) > self.users:
            raise ValueError("SimulatorConfig.profiles has more entries than users")
        if self.access_token_lifetime < 1:
            raise ValueError("SimulatorConfig.access_token_lifetime must be positive")
        if self.apple_listing_delay_seconds < 0:
            raise ValueError("SimulatorConfig.apple_listing_delay_seconds must not be negative")

    def profile_for(self, index: int, drawn: str) -> UserProfile:
        """The profile of user `index` (0-based): an explicit one, else the mix, else the seeded draw."""
        if index < len(self.profiles):
            chosen = self.profiles[index]
            return UserProfile.named(chosen) if isinstance(chosen, str) else chosen
        return UserProfile.named(self.profile_mix or drawn)
