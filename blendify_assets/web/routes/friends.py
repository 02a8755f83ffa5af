"""Friends: the people you share a blend with, and your taste match with each (404 for anyone else)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.engine import Connection, Engine

from blendify_assets.analytics.matches import taste_match
from blendify_assets.db import blends as db_blends
from blendify_assets.db import taste_matches as db_taste_matches
from blendify_assets.db import users as db_users
from blendify_assets.db.music import listener as db_listener
from blendify_assets.web import reads
from blendify_assets.web.pages import label, render
from blendify_assets.web.routes.blends import evidence_words
from blendify_assets.web.security import NotFound, parse_uuid, require_user

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

COMPONENT_WORDS = {
    "tracks": ("songs", "the songs you both have, weighted by how much each of you is into them now"),
    "artists": ("artists", "the artists you both listen to"),
    "genres": ("genres", "the genres of the artists you follow and play"),
}


_LIVE: OrderedDict[tuple[str, str, object], dict[str, Any]] = OrderedDict()
_LIVE_MAX = 256
_LIVE_LOCK = threading.Lock()
_PENDING: set[tuple[str, str, object]] = set()
# One pair at a time, off the request thread: a heavy pair takes ~0.6 s of CPU, which must not hold
# a page (target < 300 ms) nor run several at once on a small machine.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blendify-taste-match")
REFRESH_SECONDS = 2


def match_view(conn: Connection, me: dict, other_id: uuid.UUID) -> dict[str, Any] | None:
    """The taste match of two people, in words (components, shared items, the song that brings
    you together) and its stored history; None while it is being worked out.

    The analytics run (every six hours, after syncs) stores each user's ten best matches with
    everything this page shows, so a stored pair costs one index lookup. A pair outside both top
    tens is computed in the background (the same formula) on its first view and kept in this
    process until either member syncs again; until then the page says so and refreshes itself.
    """
    mine, theirs = str(me["id"]), str(other_id)
    stored = db_taste_matches.stored_match(conn, me["id"], other_id)
    if stored is not None:
        view = _view(
            stored["score"],
            stored["components"],
            stored["shared_tracks"],
            stored["shared_track_count"],
            stored["shared_artists"],
            stored["shared_artist_count"],
            stored["shared_genres"],
            stored["song_that_brings_you_together"],
            mine,
            theirs,
        )
        view["computed_at"] = stored["computed_at"]
    else:
        key = (mine, theirs, db_listener.music_version(conn, [me["id"], other_id]))
        with _LIVE_LOCK:
            cached = _LIVE.get(key)
            if cached is None and key not in _PENDING:
                _PENDING.add(key)
                _WORKER.submit(_work_out, conn.engine, key, me["id"], other_id)
        if cached is None:
            return None
        view = cached
    return {**view, "history": [dict(h) for h in db_taste_matches.pair_history(conn, me["id"], other_id)]}


def _work_out(engine: Engine, key: tuple[str, str, object], me: uuid.UUID, other: uuid.UUID) -> None:
    """The live match of a pair, into the cache (a failure is logged; the next view tries again)."""
    try:
        with engine.connect() as conn:
            overlap = taste_match(conn, me, other)
        view = _view(
            overlap.score,
            overlap.components,
            overlap.shared_tracks[:25],
            len(overlap.shared_tracks),
            overlap.shared_artists[:25],
            len(overlap.shared_artists),
            overlap.shared_genres[:15],
            overlap.song_that_brings_you_together,
            key[0],
            key[1],
        )
        view["computed_at"] = None
        with _LIVE_LOCK:
            _LIVE[key] = view
            while len(_LIVE) > _LIVE_MAX:
                _LIVE.popitem(last=False)
    except Exception:
        log.exception("the taste match of a pair could not be worked out")
    finally:
        with _LIVE_LOCK:
            _PENDING.discard(key)


def _view(
    score: float,
    components: Any,
    tracks: Any,
    track_count: int,
    artists: Any,
    artist_count: int,
    genres: Any,
    song: Any,
    mine: str,
    theirs: str,
) -> dict[str, Any]:
    parts = []
    for key in sorted(
        components, key=lambda k: list(COMPONENT_WORDS).index(k) if k in COMPONENT_WORDS else 9
    ):
        comp = components[key]
        words, meaning = COMPONENT_WORDS.get(key, (key, ""))
        if comp["max_points"] <= 0:
            continue
        parts.append(
            {
                "key": key,
                "words": words,
                "meaning": meaning,
                "points": comp["points"],
                "max_points": comp["max_points"],
                "shared": comp["shared"],
                "percent": round(100 * comp["points"] / comp["max_points"]),
            }
        )

    def shared_track(t: Any) -> dict[str, Any]:
        members = t.get("members") or {}
        return {
            "track_name": t.get("track_name"),
            "artist_name": t.get("artist_name"),
            "album_art_url": t.get("album_art_url"),
            "points": t.get("points"),
            "match": (t.get("match") or {}).get("method"),
            "mine": evidence_words(members.get(mine) or {}),
            "theirs": evidence_words(members.get(theirs) or {}),
        }

    return {
        "score": score,
        "components": parts,
        "tracks": [shared_track(t) for t in list(tracks)[:25]],
        "track_count": track_count,
        "artists": list(artists)[:25],
        "artist_count": artist_count,
        "genres": list(genres)[:15],
        "song": shared_track(dict(song)) if song else None,
    }


@router.get("/friends")
def friends_page(request: Request, user: dict = Depends(require_user)) -> Response:
    with request.app.state.engine.connect() as conn:
        rows = reads.friends(conn, user["id"])
    people = [{**r, "label": label(r["display_name"])} for r in rows]
    return render(request, "friends.html", friends=people, nav="friends")


@router.get("/friends/{user_id}")
def friend_page(request: Request, user_id: str, user: dict = Depends(require_user)) -> Response:
    other = parse_uuid(user_id)
    with request.app.state.engine.connect() as conn:
        if other == user["id"] or not db_blends.shares_a_blend(conn, user["id"], other):
            raise NotFound
        person = db_users.friend(conn, other)
        if person is None:
            raise NotFound
        match = match_view(conn, user, other)
        blends = [b for b in db_blends.blends_of(conn, user["id"]) if _has(conn, b["id"], other)]
    return render(
        request,
        "friend.html",
        friend={**person, "label": label(person["display_name"])},
        match=match,
        refresh_seconds=REFRESH_SECONDS,
        blends=blends,
        nav="friends",
    )


def _has(conn: Any, blend_id: Any, user_id: Any) -> bool:
    return db_blends.blend_for_member(conn, blend_id, user_id) is not None
