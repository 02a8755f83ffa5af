"""What the publish calls of every provider return: catalogue tracks to match, playlists written.

Plain data, so the matching rules (blend/matching.py) can judge a Spotify track and an Apple song
alike without importing a provider, and the later publish step can store them.
"""

from __future__ import annotations

from dataclasses import dataclass

from blendify_assets.providers.errors import ProviderError


@dataclass(frozen=True)
class CatalogTrack:
    """One track of a service's catalogue, as a lookup (ISRC or search) returned it."""

    provider: str  # "spotify" | "apple"
    track_id: str  # Spotify track id, or Apple catalog song id
    name: str
    artist_name: str  # Spotify: credited artists joined with ", "; Apple: its artistName
    album_name: str | None = None
    duration_ms: int | None = None
    isrc: str | None = None  # trimmed, upper case
    explicit: bool | None = None
    uri: str | None = None  # spotify:track:… (what Spotify's playlist writes take)


@dataclass(frozen=True)
class PublishedPlaylist:
    """A playlist a publish call created or found in a member's own service."""

    provider: str
    playlist_id: str
    name: str
    url: str | None = None  # where the member opens it
    snapshot_id: str | None = None  # Spotify's version after the call
    description: str | None = None


class MissingScope(ProviderError):
    """The member did not grant the write scopes publishing needs (report them; retrying won't help)."""

    retryable = False


class PlaylistNotEditable(ProviderError):
    """The service refuses writes to this playlist (Apple's 500 / 50001 on canEdit:false)."""

    retryable = False
