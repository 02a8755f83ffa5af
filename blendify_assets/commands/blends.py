"""`blendify blends create | show | publish | publishing`: blends of several people's tastes, why
each track is there, and the blend as a playlist in each member's own service."""

from __future__ import annotations

import uuid
from typing import Any

import click

from blendify_assets.analytics.blends import BlendNotFound, create_and_generate, latest_generation
from blendify_assets.analytics.publish import PUBLISHABLE, MemberReport, publish_blend, set_publishing
from blendify_assets.blend import ALGORITHMS
from blendify_assets.commands._app import App, out, pass_app, print_table
from blendify_assets.db.users import normalise_email, user_id_for


def _split(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(",") if p.strip()]


def _weights(value: str | None) -> list[float] | None:
    if value is None:
        return None
    numbers = []
    for part in _split(value):
        try:
            numbers.append(float(part))
        except ValueError:
            raise click.BadParameter(f"not a number: {part!r}", param_hint="--weights") from None
    return numbers


@click.group()
def blends() -> None:
    """Create blends of several people's tastes, show why each track is there, publish them."""


@blends.command("create")
@click.argument("name")
@click.option("--users", "users_", required=True, help="Members' emails, comma-separated (2 to 10).")
@click.option("--algorithm", required=True, type=click.Choice(ALGORITHMS), help="How tracks are chosen.")
@click.option("--weights", help="Weighted blends: one positive number per member, in --users order.")
@click.option(
    "--size", type=click.IntRange(1, 500), default=50, show_default=True, help="Tracks per generation."
)
@click.option("--description", help="Shown with the blend.")
@click.option("--creator", help="The creating user's email (default: the first member).")
@pass_app
def blends_create(
    app: App,
    name: str,
    users_: str,
    algorithm: str,
    weights: str | None,
    size: int,
    description: str | None,
    creator: str | None,
) -> None:
    """Create a blend, generate its first tracks now, and print its id.

    Blend and first generation are one transaction, so the new-blends sensor (``blendify dev``)
    finds it generated and only schedules its daily refresh.
    """
    result = create_and_generate(
        app.engine, name, _split(users_), algorithm, _weights(weights), size, description, creator
    )
    blend_id = result.blend_id
    click.echo(blend_id)
    if not result.tracks:
        out.print(f"no tracks yet: {result.note}", style="yellow")
        return
    members = ", ".join(f"{label} {n}" for label, n in result.per_member.items())
    out.print(
        f"{result.tracks} tracks ({algorithm}): {result.shared} shared, {result.discovery} discoveries, "
        f"{result.cross_provider} matched across providers; by member: {members}"
    )
    if result.note:
        out.print(result.note, style="yellow")
    out.print(f"see them with `blendify blends show {blend_id}`")


@blends.command("show")
@click.argument("blend_id")
@pass_app
def blends_show(app: App, blend_id: str) -> None:
    """The latest generation: position, track, artist, whose taste, score, and why.

    The score (0-100) is how strongly the people a track is there for are into it now: 100 is
    their most relevant track; for a discovery, how close it is to the taste of those it is new to.
    """

    gen = latest_generation(app.engine, blend_id)
    b = gen.blend
    members = ", ".join(
        str(m["label"]) + (f" (x{float(m['weight']):g})" if b["algorithm_type"] == "weighted" else "")
        for m in gen.members
    )
    out.print(f"{b['name']} · {b['algorithm_type']} · {members}")
    if gen.created_at is None:
        out.print("not generated yet")
        return
    out.print(f"generation of {gen.created_at:%Y-%m-%d %H:%M:%S} UTC, {len(gen.tracks)} tracks")
    print_table(
        ["#", "track", "artist", "from", "score", "match", "why"],
        [
            (
                t["position"],
                t["track_name"],
                t["artist_name"],
                f"{t['source_label']} ({t['source_provider']})",
                f"{t['similarity_score']:.0f}" if t["similarity_score"] is not None else None,
                _match(t["blend_metadata"]),
                _reason(t["blend_metadata"]),
            )
            for t in gen.tracks
        ],
    )


def _reason(metadata: Any) -> str:
    return str(metadata.get("reason", "")) if isinstance(metadata, dict) else ""


def _match(metadata: Any) -> str:
    """How the members' copies were judged one recording (only when several members hold it)."""
    if not isinstance(metadata, dict) or metadata.get("shared_by", 1) < 2:
        return ""
    match = metadata.get("match") or {}
    return f"{match.get('method')} {match.get('confidence')}"


@blends.command("publish")
@click.argument("blend_id")
@pass_app
def blends_publish(app: App, blend_id: str) -> None:
    """Publish the latest generation to each member's own Spotify or Apple Music.

    Tracks are matched to each member's service (their own copy, the ISRC, then title, artist and
    duration); Spotify's playlist is replaced in place, Apple gets one playlist per generation.
    Publishing a generation already published changes nothing. Members who opted out, have no
    connection, need to reconnect or did not grant the write scopes are reported; the others
    still get theirs (exit 1 only when a member's publish failed)."""
    settings = {name: app.settings.provider(name) for name in PUBLISHABLE}
    report = publish_blend(app.engine, app.vault, settings, blend_id)
    if report.generation_at is None:
        out.print(f"{report.name}: not generated yet; nothing to publish")
        return
    out.print(f"{report.name} · generation of {report.generation_at:%Y-%m-%d %H:%M:%S} UTC")
    print_table(
        ["member", "service", "status", "tracks", "matched", "unmatched", "playlist"],
        [
            (
                m.label,
                m.provider or "",
                m.status,
                m.tracks_published or "",
                _methods(m),
                len(m.unmatched) or "",
                m.url or m.detail or "",
            )
            for m in report.members
        ],
    )
    for m in report.members:
        for u in m.unmatched:
            out.print(f"  not on {m.provider} for {m.label}: #{u['position']} {u['title']} - {u['artist']} "
                      f"({u['reason']}{': ' + u['detail'] if u.get('detail') else ''})")  # fmt: skip
    if any(m.status == "failed" for m in report.members):
        raise SystemExit(1)


def _methods(member: MemberReport) -> str:
    return ", ".join(f"{method} {n}" for method, n in member.matched.items())


@blends.command("publishing")
@click.argument("blend_id", required=False)
@click.option("--user", "email", required=True, help="The member's email.")
@click.option("--on/--off", "publish", required=True, help="Publish this member's blends, or not.")
@click.option(
    "--service", type=click.Choice(PUBLISHABLE), help="Which of their services (default: the one connected)."
)
@pass_app
def blends_publishing(app: App, blend_id: str | None, email: str, publish: bool, service: str | None) -> None:
    """A member opts in or out of publishing, for one blend (BLEND_ID) or all their blends."""
    with app.engine.connect() as conn:
        user_id = user_id_for(conn, normalise_email(email))
    bid = None
    if blend_id is not None:
        try:
            bid = uuid.UUID(blend_id)
            latest_generation(app.engine, bid)
        except (ValueError, BlendNotFound):
            raise click.BadParameter(f"no blend with id {blend_id}", param_hint="BLEND_ID") from None
    set_publishing(app.engine, user_id, bid, publish, service)
    where = f"blend {bid}" if bid else "all their blends"
    out.print(f"{email}: {'publishing' if publish else 'not publishing'} {where}"
              + (f" to {service}" if service and publish else ""))  # fmt: skip
