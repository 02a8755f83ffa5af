"""Blends: create, invite by link, join, leave, set your weight, and the blend page with whose taste
put each track there and why. A blend is visible to its members only (404 to anyone else)."""

from __future__ import annotations

import contextlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from blendify_assets.analytics.blends import (
    BlendNotFound,
    add_member,
    create_open_blend,
    generate_blend_tracks,
    remove_member,
    set_member_weight,
)
from blendify_assets.analytics.publish import (
    PUBLISHABLE,
    SERVICE_NAMES,
    member_publishing,
    playlist_links,
    set_publishing,
)
from blendify_assets.blend import ALGORITHMS, MAX_MEMBERS, MIN_MEMBERS
from blendify_assets.blend.picks import RANGE_WORDS, day
from blendify_assets.core.errors import BlendifyError
from blendify_assets.db import blends as db_blends
from blendify_assets.db import invites as db_invites
from blendify_assets.db import users as db_users
from blendify_assets.db.music import listener as db_listener
from blendify_assets.web import reads
from blendify_assets.web.pages import flash, label, redirect, render, scrub_emails
from blendify_assets.web.routes.auth import spotify_publish_consent
from blendify_assets.web.security import NotFound, current_user, now_utc, parse_uuid, require_user, sha256

router = APIRouter(include_in_schema=False)

SIZES = (20, 30, 50, 100)
INVITE_DAYS = (1, 7, 30)
ALGORITHM_WORDS = {
    "balanced": "Balanced: equal seats, songs you share first",
    "weighted": "Weighted: seats follow each member's weight",
    "discovery": "Discovery: each member's finds the others have not heard",
}


def member_of(request: Request, blend_id: str, user: dict) -> tuple[dict, list[dict]]:
    """The blend and its members, only for a member; anyone else gets the same 404 as a blend
    that does not exist."""
    bid = parse_uuid(blend_id)
    with request.app.state.engine.connect() as conn:
        blend = db_blends.blend_for_member(conn, bid, user["id"])
        if blend is None:
            raise NotFound
        members = db_blends.blend_members(conn, bid)
    return blend, members


def regenerate(request: Request, blend_id: uuid.UUID) -> None:
    """A blend is generated again whenever its members or weights change (and daily by Dagster)."""
    try:
        result = generate_blend_tracks(request.app.state.engine, blend_id)
    except BlendNotFound:
        return
    except BlendifyError as exc:
        flash(request, f"The blend could not be generated: {exc}", "warning")
        return
    if result.note:
        flash(request, scrub_emails(result.note[:1].upper() + result.note[1:] + "."), "info")


# --- list and create -------------------------------------------------------------------------------------


@router.get("/blends")
def blends_page(request: Request, user: dict = Depends(require_user)) -> Response:
    with request.app.state.engine.connect() as conn:
        rows = db_blends.blends_of(conn, user["id"])
    return render(
        request, "blends.html", blends=rows, algorithms=ALGORITHM_WORDS, sizes=SIZES, nav="blends", form={}
    )


@router.post("/blends")
def create(
    request: Request,
    name: Annotated[str, Form()] = "",
    algorithm: Annotated[str, Form()] = "balanced",
    size: Annotated[int, Form()] = 50,
    user: dict = Depends(require_user),
) -> Response:
    try:
        if algorithm not in ALGORITHMS:
            raise BlendifyError("choose one of the algorithms listed")
        if len(name.strip()) > 80:
            raise BlendifyError("a blend name has at most 80 characters")
        blend_id = create_open_blend(request.app.state.engine, name, user["id"], algorithm, size)
    except BlendifyError as exc:
        with request.app.state.engine.connect() as conn:
            rows = db_blends.blends_of(conn, user["id"])
        return render(
            request,
            "blends.html",
            400,
            blends=rows,
            algorithms=ALGORITHM_WORDS,
            sizes=SIZES,
            nav="blends",
            error=str(exc)[:1].upper() + str(exc)[1:] + ".",
            form={"name": name, "algorithm": algorithm, "size": size},
        )
    flash(
        request, "Your blend is ready for friends: make an invite link below and send it to them.", "success"
    )
    return redirect(f"/blends/{blend_id}")


# --- the blend page --------------------------------------------------------------------------------------


def evidence_words(evidence: dict[str, Any]) -> str:
    """One member's hold on a track as stored in blend_metadata / shared tracks, in plain words."""
    bits = []
    order = {rng: i for i, rng in enumerate(RANGE_WORDS)}
    for rng, rank in sorted((evidence.get("top_ranks") or {}).items(), key=lambda kv: order.get(kv[0], 9)):
        bits.append(f"top #{rank} {RANGE_WORDS.get(rng, rng)}")
    plays = evidence.get("play_count")
    if plays:
        last = day(evidence.get("last_played_at"))
        bits.append(
            f"played {'once' if plays == 1 else f'{plays} times'}" + (f" (last {last})" if last else "")
        )
    if "saved_at" in evidence:
        saved = day(evidence.get("saved_at"))
        bits.append(f"liked on {saved}" if saved else "liked")
    if evidence.get("playlist_count"):
        n = evidence["playlist_count"]
        bits.append(f"in {n} playlists" if n > 1 else "in a playlist")
    return ", ".join(bits) or "in their library"


def track_view(row: dict[str, Any], people: dict[str, dict], emails: dict[str, str]) -> dict[str, Any]:
    meta = row["blend_metadata"] or {}
    names = {email: people[uid]["label"] for uid, email in emails.items() if uid in people}
    source = str(row["source_user_id"])
    holders = [people[u] for u in (meta.get("members") or {}) if u in people]
    return {
        **row,
        "kind": meta.get("kind", "personal"),
        "source": people.get(source, {"label": label(None), "id": source}),
        "holders": holders,
        "new_to": [people[u] for u in meta.get("new_to", []) if u in people],
        "reason": scrub_emails(str(meta.get("reason", "")), names),
        "match": (meta.get("match") or {}).get("method"),
    }


@router.get("/blends/{blend_id}")
def blend_page(
    request: Request, blend_id: str, generation: str | None = None, user: dict = Depends(require_user)
) -> Response:
    blend, members = member_of(request, blend_id, user)
    bid = blend["id"]
    new_invite = request.session.pop("new_invite", None)
    if not (isinstance(new_invite, dict) and new_invite.get("blend") == str(bid)):
        new_invite = None
    with request.app.state.engine.connect() as conn:
        generations = db_blends.blend_generations(conn, bid)
        chosen = generations[0]["created_at"] if generations else None
        if generation:
            try:
                wanted = datetime.fromisoformat(generation)
            except ValueError:
                raise NotFound from None
            if wanted not in {g["created_at"] for g in generations}:
                raise NotFound
            chosen = wanted
        rows = db_blends.generation_rows(conn, bid, chosen) if chosen else []
        ids = {str(m["user_id"]) for m in members} | {str(r["source_user_id"]) for r in rows}
        for r in rows:
            ids |= set((r["blend_metadata"] or {}).get("members", {})) | set(
                (r["blend_metadata"] or {}).get("new_to", [])
            )
        people_rows = db_users.people(conn, sorted(ids))
        emails = db_users.emails_of(conn, [uuid.UUID(i) for i in ids])
        invites = db_invites.open_invites(conn, bid, now_utc())
        musical = db_listener.with_music(conn, [m["user_id"] for m in members])
    people = {
        str(p["id"]): {"id": str(p["id"]), "label": label(p["display_name"]), "member": False}
        for p in people_rows
    }
    for m in members:
        people[str(m["user_id"])]["member"] = True
    tracks = [track_view(r, people, emails) for r in rows]
    counts: dict[str, int] = {}
    for t in tracks:
        counts[t["source"]["id"]] = counts.get(t["source"]["id"], 0) + 1
    member_views = [
        {
            **people[str(m["user_id"])],
            "weight": m["weight"],
            "joined_at": m["joined_at"],
            "you": m["user_id"] == user["id"],
            "tracks": counts.get(str(m["user_id"]), 0),
        }
        for m in members
    ]
    me = next(m for m in member_views if m["you"])
    engine = request.app.state.engine
    services = {x["user_id"]: str(x["provider"]) for x in playlist_links(engine, bid) if x["provider"]}
    others_on = [  # fellow members' services only, as plain text: their links are theirs
        {"label": m["label"], "service": SERVICE_NAMES[services[m["id"]]]}
        for m in member_views
        if not m["you"] and services.get(m["id"])
    ]
    silent = [m["label"] for m in member_views if m["id"] not in musical]
    return render(
        request,
        "blend.html",
        blend=blend,
        members=member_views,
        me=me,
        tracks=tracks,
        generations=generations,
        chosen=chosen,
        latest=chosen == (generations[0]["created_at"] if generations else None),
        shared=sum(1 for t in tracks if t["kind"] == "shared"),
        invites=invites,
        new_invite=new_invite,
        seats_left=MAX_MEMBERS - len(members),
        min_members=MIN_MEMBERS,
        invite_days=INVITE_DAYS,
        algorithm_words=ALGORITHM_WORDS,
        silent=silent,
        publishing=member_publishing(engine, bid, user["id"]),
        others_on=others_on,
        service_names=SERVICE_NAMES,
        nav="blends",
    )


# --- membership --------------------------------------------------------------------------------------------


@router.post("/blends/{blend_id}/invites")
def make_invite(
    request: Request,
    blend_id: str,
    uses: Annotated[int, Form()] = 1,
    days: Annotated[int, Form()] = 7,
    user: dict = Depends(require_user),
) -> Response:
    """A new link, shown once: only its SHA-256 is stored."""
    blend, members = member_of(request, blend_id, user)
    seats = MAX_MEMBERS - len(members)
    if seats < 1:
        raise BlendifyError(f"this blend already has {MAX_MEMBERS} members")
    if days not in INVITE_DAYS or not 1 <= uses <= seats:
        raise BlendifyError(f"an invite admits 1 to {seats} people and lasts 1, 7 or 30 days")
    token = secrets.token_urlsafe(32)
    with request.app.state.engine.begin() as conn:
        db_invites.create_invite(
            conn, blend["id"], user["id"], sha256(token), now_utc() + timedelta(days=days), uses
        )
    url = f"{request.app.state.config.base_url}/invite/{token}"
    request.session["new_invite"] = {"blend": str(blend["id"]), "url": url, "uses": uses, "days": days}
    return redirect(f"/blends/{blend['id']}#invite")


@router.post("/blends/{blend_id}/invites/{invite_id}/revoke")
def revoke(request: Request, blend_id: str, invite_id: str, user: dict = Depends(require_user)) -> Response:
    blend, _ = member_of(request, blend_id, user)
    with request.app.state.engine.begin() as conn:
        if db_invites.revoke_invite(conn, parse_uuid(invite_id), blend["id"], now_utc()):
            flash(request, "The invite link no longer works.", "success")
    return redirect(f"/blends/{blend['id']}#invite")


@router.post("/blends/{blend_id}/leave")
def leave(request: Request, blend_id: str, user: dict = Depends(require_user)) -> Response:
    blend, members = member_of(request, blend_id, user)
    remove_member(request.app.state.engine, blend["id"], user["id"])
    if len(members) - 1 >= MIN_MEMBERS:
        with contextlib.suppress(BlendifyError):  # the remaining members see the note on their page
            generate_blend_tracks(request.app.state.engine, blend["id"])
    flash(request, f"You left “{blend['name']}”. Your music is no longer picked for it.", "success")
    return redirect("/blends")


@router.post("/blends/{blend_id}/weight")
def weight(
    request: Request,
    blend_id: str,
    weight: Annotated[float, Form()] = 1.0,
    user: dict = Depends(require_user),
) -> Response:
    blend, _ = member_of(request, blend_id, user)
    if blend["algorithm_type"] != "weighted":
        raise BlendifyError("only a weighted blend has weights")
    if not 0.1 <= weight <= 10:
        raise BlendifyError("your weight must be from 0.1 to 10")
    set_member_weight(request.app.state.engine, blend["id"], user["id"], weight)
    regenerate(request, blend["id"])
    flash(request, f"Your weight is now {weight:g}; the blend was generated again.", "success")
    return redirect(f"/blends/{blend['id']}")


@router.post("/blends/{blend_id}/publishing")
def publishing(
    request: Request,
    blend_id: str,
    publish: Annotated[str, Form()] = "",
    service: Annotated[str, Form()] = "",
    user: dict = Depends(require_user),
) -> Response:
    """Opt in to or out of publishing this blend. Opting in on Spotify goes through Spotify's
    consent for the playlist write scopes (only here; the normal connect asks for reading only)."""
    blend, _ = member_of(request, blend_id, user)
    if publish == "off":
        set_publishing(request.app.state.engine, user["id"], blend["id"], False)
        flash(request, "This blend is no longer put in your Spotify or Apple Music.", "success")
        return redirect(f"/blends/{blend['id']}#publishing")
    if publish != "on" or service not in PUBLISHABLE:
        raise BlendifyError("choose Spotify or Apple Music to publish to")
    if service == "spotify":
        return spotify_publish_consent(request, f"/blends/{blend['id']}", blend["id"])
    with request.app.state.engine.connect() as conn:
        connected = {r["provider"]: r for r in reads.listener_connections(conn, user["id"])}
    if service not in connected or connected[service]["status"] != "active":
        flash(request, "Connect Apple Music first, then opt in to publishing.", "warning")
        return redirect("/connections")
    set_publishing(request.app.state.engine, user["id"], blend["id"], True, service)
    flash(request, "This blend goes to your Apple Music after its next generation.", "success")
    return redirect(f"/blends/{blend['id']}#publishing")


# --- invites ------------------------------------------------------------------------------------------------


def _live_invite(request: Request, token: str) -> dict[str, Any]:
    """The invite behind a link, or a page saying why it no longer works."""
    if not token or len(token) > 200:
        raise NotFound
    with request.app.state.engine.connect() as conn:
        found = reads.invite(conn, sha256(token))
    if found is None:
        raise NotFound
    return found


def _dead_reason(invite: dict[str, Any]) -> str | None:
    if invite["revoked_at"] is not None:
        return "This invite link was withdrawn. Ask for a new one."
    if invite["expires_at"] <= now_utc():
        return "This invite link has expired. Ask for a new one."
    if invite["uses"] >= invite["max_uses"]:
        return "This invite link has already been used. Ask for a new one."
    if invite["members"] >= MAX_MEMBERS:
        return f"This blend is full: a blend has at most {MAX_MEMBERS} members."
    return None


@router.get("/invite/{token}")
def invite_page(request: Request, token: str) -> Response:
    invite = _live_invite(request, token)
    user = current_user(request)
    if user is not None:
        with request.app.state.engine.connect() as conn:
            if db_blends.blend_for_member(conn, invite["blend_id"], user["id"]):
                return redirect(f"/blends/{invite['blend_id']}")
    reason = _dead_reason(invite)
    if reason:
        return render(request, "error.html", 410, title="Invite link not valid", message=reason)
    return render(
        request,
        "invite.html",
        invite=invite,
        token=token,
        here=f"/invite/{token}",
        algorithm_words=ALGORITHM_WORDS,
    )


@router.post("/invite/{token}")
def join(request: Request, token: str, user: dict = Depends(require_user)) -> Response:
    invite = _live_invite(request, token)
    bid = invite["blend_id"]
    engine = request.app.state.engine
    with engine.begin() as conn:
        if db_blends.blend_for_member(conn, bid, user["id"]):
            return redirect(f"/blends/{bid}")
        if db_invites.use_invite(conn, sha256(token), now_utc()) is None:
            reason = _dead_reason(invite) or "This invite link has already been used. Ask for a new one."
            return render(request, "error.html", 410, title="Invite link not valid", message=reason)
        add_member(conn, bid, user["id"])  # raises (and rolls the use back) when the blend is full
    regenerate(request, bid)
    flash(request, f"You joined “{invite['blend_name']}”. Here is what your tastes make together.", "success")
    return redirect(f"/blends/{bid}")
