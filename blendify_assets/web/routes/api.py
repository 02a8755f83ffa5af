"""A small JSON API over the same data as the pages (/api/v1), described by /api/openapi.json.

It uses the browser session (a mobile app would add its own token scheme); state-changing calls
need the session's CSRF token in the `X-CSRF-Token` header (`GET /api/v1/me` returns it). Same
rules as the pages: your own data, another member's only as it appears in a blend you share, 404
otherwise, and never a token, a hash or another person's email.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from blendify_assets.db import blends as db_blends
from blendify_assets.db import connections as db_connections
from blendify_assets.db import users as db_users
from blendify_assets.db.music import listener as db_listener
from blendify_assets.web import reads
from blendify_assets.web.pages import label, scrub_emails
from blendify_assets.web.routes.blends import member_of
from blendify_assets.web.routes.connections import PROVIDERS
from blendify_assets.web.routes.friends import REFRESH_SECONDS, match_view
from blendify_assets.web.security import NotFound, csrf_token, parse_uuid, require_user

router = APIRouter(prefix="/api/v1", tags=["v1"])


class Connection(BaseModel):
    provider: Literal["spotify", "apple"]
    status: str
    status_reason: str | None
    connected_since: datetime
    last_sync_started: datetime | None
    resync_requested_at: datetime | None


class Me(BaseModel):
    id: uuid.UUID
    display_name: str
    email: str
    csrf_token: str
    connections: list[Connection]


class TopItem(BaseModel):
    provider: str
    rank: int
    name: str
    artist_name: str | None = None
    image_url: str | None = None


class Play(BaseModel):
    provider: str
    track_name: str
    artist_name: str
    played_at: datetime
    estimated: bool


class BlendSummary(BaseModel):
    id: uuid.UUID
    name: str
    algorithm: str
    members: int
    total_tracks: int | None
    updated_at: datetime


class Member(BaseModel):
    id: uuid.UUID
    display_name: str
    weight: float | None


class BlendTrack(BaseModel):
    position: int
    track_name: str
    artist_name: str
    provider: str
    from_member: uuid.UUID
    kind: str
    reason: str
    similarity_score: float | None


class Blend(BaseModel):
    id: uuid.UUID
    name: str
    algorithm: str
    generated_at: datetime | None
    members: list[Member]
    tracks: list[BlendTrack]


class Component(BaseModel):
    name: str
    points: float
    max_points: float
    shared: int


class Match(BaseModel):
    friend: Member
    score: float
    components: list[Component]
    shared_tracks: int
    shared_artists: int
    song_that_brings_you_together: str | None
    history: list[tuple[datetime, float]]


class Resync(BaseModel):
    provider: str
    requested_at: datetime


def _connections(request: Request, user: dict) -> list[Connection]:
    with request.app.state.engine.connect() as conn:
        rows = reads.listener_connections(conn, user["id"])
    return [
        Connection(
            provider=r["provider"],
            status=r["status"],
            status_reason=r["status_reason"],
            connected_since=r["created_at"],
            last_sync_started=r["last_sync_started"],
            resync_requested_at=r["resync_requested_at"],
        )
        for r in rows
    ]


@router.get("/me", response_model=Me, summary="You, your connections and the CSRF token for writes")
def me(request: Request, user: dict = Depends(require_user)) -> Me:
    return Me(
        id=user["id"],
        display_name=label(user["display_name"]),
        email=user["email"],
        csrf_token=csrf_token(request),
        connections=_connections(request, user),
    )


@router.get("/connections", response_model=list[Connection])
def connections(request: Request, user: dict = Depends(require_user)) -> list[Connection]:
    return _connections(request, user)


@router.post("/connections/{provider}/resync", response_model=Resync, summary="Re-sync now")
def resync(request: Request, provider: str, user: dict = Depends(require_user)) -> Resync:
    if provider not in PROVIDERS:
        raise NotFound
    at = db_connections.request_resync(request.app.state.engine, user["id"], provider)
    if at is None:
        raise NotFound
    return Resync(provider=provider, requested_at=at)


@router.get("/me/top/{kind}", response_model=list[TopItem], summary="Your top tracks or artists")
def top(
    request: Request,
    kind: Literal["tracks", "artists"],
    time_range: Literal["short_term", "medium_term", "long_term"] = "short_term",
    user: dict = Depends(require_user),
) -> list[TopItem]:
    with request.app.state.engine.connect() as conn:
        if kind == "tracks":
            rows = db_listener.top_tracks(conn, user["id"], time_range)
            return [
                TopItem(
                    provider=r["provider"],
                    rank=r["rank"],
                    name=r["track_name"],
                    artist_name=r["artist_name"],
                    image_url=r["album_art_url"],
                )
                for r in rows
            ]
        rows = db_listener.top_artists(conn, user["id"], time_range)
        return [
            TopItem(provider=r["provider"], rank=r["rank"], name=r["artist_name"], image_url=r["image_url"])
            for r in rows
        ]


@router.get("/me/recently-played", response_model=list[Play])
def recently_played(
    request: Request, limit: int = Query(50, ge=1, le=200), user: dict = Depends(require_user)
) -> list[Play]:
    with request.app.state.engine.connect() as conn:
        rows = db_listener.recently_played(conn, user["id"], limit)
    return [Play(**{k: r[k] for k in Play.model_fields}) for r in rows]


@router.get("/blends", response_model=list[BlendSummary])
def blends(request: Request, user: dict = Depends(require_user)) -> list[BlendSummary]:
    with request.app.state.engine.connect() as conn:
        rows = db_blends.blends_of(conn, user["id"])
    return [
        BlendSummary(
            id=r["id"],
            name=r["name"],
            algorithm=r["algorithm_type"],
            members=r["members"],
            total_tracks=r["total_tracks"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


@router.get("/blends/{blend_id}", response_model=Blend, summary="A blend you are in, its latest generation")
def blend(request: Request, blend_id: str, user: dict = Depends(require_user)) -> Blend:
    found, members = member_of(request, blend_id, user)
    with request.app.state.engine.connect() as conn:
        generations = db_blends.blend_generations(conn, found["id"], 1)
        at = generations[0]["created_at"] if generations else None
        rows = db_blends.generation_rows(conn, found["id"], at) if at else []
        ids = [m["user_id"] for m in members] + [r["source_user_id"] for r in rows]
        emails = db_users.emails_of(conn, ids)
    names = {str(m["user_id"]): label(m["display_name"]) for m in members}
    replace = {email: names.get(uid, label(None)) for uid, email in emails.items()}
    return Blend(
        id=found["id"],
        name=found["name"],
        algorithm=found["algorithm_type"],
        generated_at=at,
        members=[
            Member(id=m["user_id"], display_name=label(m["display_name"]), weight=m["weight"])
            for m in members
        ],
        tracks=[
            BlendTrack(
                position=r["position"],
                track_name=r["track_name"],
                artist_name=r["artist_name"],
                provider=r["source_provider"],
                from_member=r["source_user_id"],
                kind=(r["blend_metadata"] or {}).get("kind", "personal"),
                reason=scrub_emails(str((r["blend_metadata"] or {}).get("reason", "")), replace),
                similarity_score=r["similarity_score"],
            )
            for r in rows
        ],
    )


@router.get(
    "/friends/{user_id}/match",
    response_model=Match,
    summary="Your taste match with a fellow member",
    responses={202: {"description": "Being worked out: ask again after Retry-After seconds"}},
)
def match(request: Request, user_id: str, user: dict = Depends(require_user)) -> Match | JSONResponse:
    other = parse_uuid(user_id)
    with request.app.state.engine.connect() as conn:
        if other == user["id"] or not db_blends.shares_a_blend(conn, user["id"], other):
            raise NotFound
        person = db_users.friend(conn, other)
        if person is None:
            raise NotFound
        view = match_view(conn, user, other)
    if view is None:  # being worked out in the background: ask again shortly
        return JSONResponse(
            {"detail": "the taste match is being worked out; ask again in a moment"},
            status_code=202,
            headers={"retry-after": str(REFRESH_SECONDS)},
        )
    song = view["song"]
    return Match(
        friend=Member(id=person["id"], display_name=label(person["display_name"]), weight=None),
        score=view["score"],
        components=[
            Component(name=c["key"], points=c["points"], max_points=c["max_points"], shared=c["shared"])
            for c in view["components"]
        ],
        shared_tracks=view["track_count"],
        shared_artists=view["artist_count"],
        song_that_brings_you_together=f"{song['track_name']} by {song['artist_name']}" if song else None,
        history=[(h["computed_at"], h["score"]) for h in view["history"]],
    )
