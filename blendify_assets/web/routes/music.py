"""Your music: top lists per time range, recently played, playlists, library, counts per provider,
and how your top lists changed between syncs. Only ever the signed-in user's own rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from blendify_assets.db.music import listener as db_listener
from blendify_assets.db.music.reads import PROFILE_TABLES, profile
from blendify_assets.web import reads
from blendify_assets.web.pages import RANGE_NAMES, render
from blendify_assets.web.security import NotFound, require_user

router = APIRouter(include_in_schema=False)

PAGE = 100
RECENT_PAGE = 50
KINDS = ("tracks", "artists")
LIBRARY_KINDS = {"tracks": "Saved tracks", "albums": "Saved albums", "artists": "Followed artists"}
COUNT_NAMES = {
    "top_tracks": "Top tracks",
    "top_artists": "Top artists",
    "saved_tracks": "Saved tracks",
    "saved_albums": "Saved albums",
    "followed_artists": "Followed artists",
    "playlists": "Playlists",
    "playlist_tracks": "Playlist tracks",
    "recently_played": "Plays",
}


def music_profile(conn: Any, user_id: Any) -> dict[str, Any]:
    """Counts per type and provider (the schema's "complete music profile"): now and ever stored."""
    rows = profile(conn, user_id)
    providers = sorted({str(r["provider"]) for r in rows})
    table = []
    for kind, _, _ in PROFILE_TABLES:
        cells = {r["provider"]: r for r in rows if r["type"] == kind}
        table.append({"kind": kind, "name": COUNT_NAMES[kind], "cells": cells})
    return {"providers": providers, "rows": table, "stored": sum(r["stored"] for r in rows)}


def taste_changes(conn: Any, user_id: Any, limit: int = 5) -> list[dict[str, Any]]:
    """Per (provider, list, time range): what entered, climbed and left between the two latest
    versions of the top list that differed."""
    out = []
    for table, what in (("user_top_tracks", "tracks"), ("user_top_artists", "artists")):
        versions: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        for v in db_listener.top_list_versions(conn, user_id, table):
            versions[(v["provider"], v["scope"])].append(v["fetched_at"])
        for (provider, scope), moments in sorted(versions.items()):
            if len(moments) < 2:
                continue
            old_rows = db_listener.top_list_at(conn, user_id, table, provider, scope, moments[0])
            new_rows = db_listener.top_list_at(conn, user_id, table, provider, scope, moments[1])

            def key(r: dict) -> tuple[str, str]:
                return (r["name"].casefold(), (r["artist_name"] or "").casefold())

            old = {key(r): r for r in old_rows}
            new = {key(r): r for r in new_rows}
            entered = [r for k, r in new.items() if k not in old]
            left = [r for k, r in old.items() if k not in new]
            climbed = sorted(
                (
                    {**r, "from": old[k]["rank"]}
                    for k, r in new.items()
                    if k in old and old[k]["rank"] - r["rank"] >= 3
                ),
                key=lambda r: r["rank"] - r["from"],
            )
            out.append(
                {
                    "provider": provider,
                    "what": what,
                    "scope": scope,
                    "range": RANGE_NAMES.get(scope, scope),
                    "before": moments[0],
                    "after": moments[1],
                    "entered": entered[:limit],
                    "entered_count": len(entered),
                    "left": left[:limit],
                    "left_count": len(left),
                    "climbed": climbed[:limit],
                }
            )
    return out


def _fullest(conn: Any, uid: Any, read: Any, n: int) -> tuple[str, list[dict]]:
    """The most recent time range with a full list (a light listener's month can hold three songs)."""
    best: tuple[str, list[dict]] = ("short_term", [])
    for time_range in RANGE_NAMES:
        rows = read(conn, uid, time_range, n)
        if len({r["rank"] for r in rows}) >= n:
            return time_range, rows
        if len(rows) > len(best[1]):
            best = (time_range, rows)
    return best


@router.get("/music")
def overview(request: Request, user: dict = Depends(require_user)) -> Response:
    uid = user["id"]
    with request.app.state.engine.connect() as conn:
        counts = music_profile(conn, uid)
        tracks = db_listener.top_tracks(conn, uid, "short_term", 10) or db_listener.top_tracks(
            conn, uid, "long_term", 10
        )
        artists = db_listener.top_artists(conn, uid, "short_term", 8) or db_listener.top_artists(
            conn, uid, "long_term", 8
        )
        recent = db_listener.recently_played(conn, uid, 8)
        changes = taste_changes(conn, uid, 3)
        connected = reads.listener_connections(conn, uid)
    return render(
        request,
        "music_overview.html",
        counts=counts,
        tracks=tracks,
        artists=artists,
        recent=recent,
        changes=changes[:4],
        connected=connected,
        nav="music",
        tab="overview",
    )


@router.get("/music/top")
def top(
    request: Request, kind: str = "tracks", range: str = "short_term", user: dict = Depends(require_user)
) -> Response:
    if kind not in KINDS or range not in RANGE_NAMES:
        raise NotFound
    with request.app.state.engine.connect() as conn:
        rows = (db_listener.top_tracks if kind == "tracks" else db_listener.top_artists)(
            conn, user["id"], range
        )
    by_provider: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_provider[r["provider"]].append(r)
    return render(
        request,
        "music_top.html",
        kind=kind,
        range=range,
        lists=dict(by_provider),
        ranges=RANGE_NAMES,
        nav="music",
        tab="top",
    )


@router.get("/music/recent")
def recent(request: Request, before: str | None = None, user: dict = Depends(require_user)) -> Response:
    moment = None
    if before:
        try:
            moment = datetime.fromisoformat(before)
        except ValueError:
            raise NotFound from None
    with request.app.state.engine.connect() as conn:
        plays = db_listener.recently_played(conn, user["id"], RECENT_PAGE + 1, moment)
    more = plays[RECENT_PAGE]["played_at"] if len(plays) > RECENT_PAGE else None
    plays = plays[:RECENT_PAGE]
    older = plays[-1]["played_at"].isoformat() if more and plays else None
    return render(request, "music_recent.html", plays=plays, older=older, nav="music", tab="recent")


@router.get("/music/playlists")
def playlists(request: Request, user: dict = Depends(require_user)) -> Response:
    with request.app.state.engine.connect() as conn:
        rows = db_listener.playlists(conn, user["id"])
    return render(request, "music_playlists.html", playlists=rows, nav="music", tab="playlists")


@router.get("/music/playlists/{provider}/{playlist_id}")
def playlist(
    request: Request, provider: str, playlist_id: str, page: int = 1, user: dict = Depends(require_user)
) -> Response:
    if provider not in ("spotify", "apple") or page < 1:
        raise NotFound
    with request.app.state.engine.connect() as conn:
        found = db_listener.playlist(conn, user["id"], provider, playlist_id)
        if found is None:
            raise NotFound
        rows = db_listener.playlist_tracks(
            conn, user["id"], provider, playlist_id, PAGE + 1, (page - 1) * PAGE
        )
    return render(
        request,
        "music_playlist.html",
        playlist=found,
        tracks=rows[:PAGE],
        page=page,
        more=len(rows) > PAGE,
        nav="music",
        tab="playlists",
    )


@router.get("/music/library/{kind}")
def library(request: Request, kind: str, page: int = 1, user: dict = Depends(require_user)) -> Response:
    if kind not in LIBRARY_KINDS or page < 1:
        raise NotFound
    with request.app.state.engine.connect() as conn:
        total, rows = db_listener.library(conn, user["id"], kind, PAGE, (page - 1) * PAGE)
    pages = max(1, -(-total // PAGE))
    return render(
        request,
        "music_library.html",
        kind=kind,
        kinds=LIBRARY_KINDS,
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        nav="music",
        tab="library",
    )


@router.get("/music/changes")
def changes(request: Request, user: dict = Depends(require_user)) -> Response:
    with request.app.state.engine.connect() as conn:
        found = taste_changes(conn, user["id"], 10)
    return render(request, "music_changes.html", changes=found, nav="music", tab="changes")
