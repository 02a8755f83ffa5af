"""Whole-user provider fetches for the request benchmarks, without the ingest engine or a database.

Kept apart from `_support.py`: importing SQLAlchemy and the database drivers into a client-side
benchmark slows its JSON-heavy loop measurably (more objects for the garbage collector to walk).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from blendify_assets.core.fetch import EndpointFetch, PlaylistRef, Row, SyncState
from blendify_assets.providers.aio import gather_all
from blendify_assets.providers.spotify.client import SpotifyClient
from blendify_assets.providers.spotify.provider import PROVIDER

ENDPOINTS = {e.name: e for e in PROVIDER.endpoints}


def playlist_refs(rows: list[Row]) -> list[PlaylistRef]:
    """PlaylistRefs from stored user_playlists rows (what the ingest engine reads back)."""
    return [
        PlaylistRef(
            row["playlist_id"],
            row.get("snapshot_id"),
            bool(row.get("is_owner")),
            (row.get("playlist_metadata") or {}).get("collaborative") is True,
            row.get("track_count"),
        )
        for row in rows
    ]


async def fetch_all_spotify(
    client: SpotifyClient, states: dict[str, SyncState] | None = None
) -> dict[str, EndpointFetch]:
    """Every Spotify endpoint of one user at once, the way a step schedule would: everything runs
    concurrently except playlist_tracks, which waits for the fresh playlists list and reads it as
    `SyncState.playlists`. One endpoint's failure fails the call (a benchmark wants all or none)."""
    states = states or {}
    names = tuple(ENDPOINTS)
    tasks = {
        name: ENDPOINTS[name].fetch(client, states.get(name) or SyncState())
        for name in names
        if name != "playlist_tracks"
    }
    results: dict[str, EndpointFetch] = {}
    playlists_done = asyncio.Event()

    async def run(name: str) -> None:
        results[name] = await tasks[name]
        if name == "playlists":
            playlists_done.set()

    async def tracks_after_playlists() -> None:
        state = states.get("playlist_tracks") or SyncState()
        await playlists_done.wait()
        state = replace(state, playlists=playlist_refs(results["playlists"].scopes[0].rows))
        results["playlist_tracks"] = await ENDPOINTS["playlist_tracks"].fetch(client, state)

    await gather_all([*(run(name) for name in tasks), tracks_after_playlists()])
    return {name: results[name] for name in names}
