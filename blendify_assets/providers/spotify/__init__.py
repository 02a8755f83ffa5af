"""Spotify: auth, HTTP session, endpoint fetchers and parsers (no Dagster, no SQL)."""

from blendify_assets.providers.spotify.auth import SCOPES, SpotifyApp, SpotifyAuth
from blendify_assets.providers.spotify.client import SpotifyClient, SpotifyProfile, spotify_http
from blendify_assets.providers.spotify.endpoints import ENDPOINTS, EndpointSpec

__all__ = [
    "ENDPOINTS",
    "SCOPES",
    "EndpointSpec",
    "SpotifyApp",
    "SpotifyAuth",
    "SpotifyClient",
    "SpotifyProfile",
    "spotify_http",
]
