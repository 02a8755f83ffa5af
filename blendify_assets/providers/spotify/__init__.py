"""Spotify: auth, HTTP session, endpoint fetchers and parsers (no Dagster, no SQL)."""

from blendify_assets.providers.spotify.auth import SCOPES, SpotifyApp, SpotifyAuth
from blendify_assets.providers.spotify.client import SpotifyClient, SpotifyProfile, spotify_http
from blendify_assets.providers.spotify.endpoints import (
    ENDPOINT_NAMES,
    ENDPOINTS,
    EndpointSpec,
    fetch_endpoint,
    playlist_refs,
)

__all__ = [
    "ENDPOINTS",
    "ENDPOINT_NAMES",
    "SCOPES",
    "EndpointSpec",
    "SpotifyApp",
    "SpotifyAuth",
    "SpotifyClient",
    "SpotifyProfile",
    "fetch_endpoint",
    "playlist_refs",
    "spotify_http",
]
