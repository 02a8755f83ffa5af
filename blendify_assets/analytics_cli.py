"""`blendify blends create|show`, `profile`, `overlap`, `recent`: blends and the schema's three queries.

`blendify.cli` imports this module while it is being built, so its helpers are imported inside
the commands, never at module level.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import click

from blendify_assets.blend import ALGORITHMS
from blendify_assets.blend.picks import top_phrase

COMMANDS: list[click.Command] = []


def _app() -> Any:
    from blendify_assets.cli import App

    return click.get_current_context().ensure_object(App)


def _user(conn: Any, email: str) -> uuid.UUID:
    from blendify_assets.db.users import user_id_for

    return user_id_for(conn, email)


def _split(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(",") if p.strip()]


def _weights(value: str | None) -> list[float] | None:
    if value is None:
        return None
    out = []
    for part in _split(value):
        try:
            out.append(float(part))
        except ValueError:
            raise click.BadParameter(f"not a number: {part!r}", param_hint="--weights") from None
    return out


# --- blends -------------------------------------------------------------------------------------------


@click.group()
def blends() -> None:
    """Create blends of several people's tastes and show why each track is there."""


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
def blends_create(
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
    from blendify_assets.analytics.blends import create_and_generate
    from blendify_assets.cli import out

    result = create_and_generate(
        _app().engine, name, _split(users_), algorithm, _weights(weights), size, description, creator
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
def blends_show(blend_id: str) -> None:
    """The latest generation: position, track, artist, whose taste, score, and why.

    The score (0-100) is how strongly the people a track is there for are into it now: 100 is
    their most relevant track; for a discovery, how close it is to the taste of those it is new to.
    """
    from blendify_assets.analytics.blends import latest_generation
    from blendify_assets.cli import out, print_table

    gen = latest_generation(_app().engine, blend_id)
    b = gen.blend
    members = ", ".join(
        str(m["label"]) + (f" (x{float(m['weight']):g})" if b["algorithm_type"] == "weighted" else "")  # type: ignore[arg-type]
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


# --- the schema's three query patterns ------------------------------------------------------------------


@click.command("profile")
@click.argument("email")
def profile(email: str) -> None:
    """A user's music profile: rows per type and provider, current and stored over time."""
    from blendify_assets.cli import out, print_table
    from blendify_assets.db.music.reads import profile as profile_rows
    from blendify_assets.db.sync_log import last_syncs

    with _app().engine.connect() as conn:
        uid = _user(conn, email)
        rows = profile_rows(conn, uid)
        syncs = last_syncs(conn, uid)
    if not rows:
        out.print(f"{email}: no music stored yet (connect a provider, then `blendify sync --user {email}`)")
        return
    print_table(
        ["type", "provider", "current", "stored (all snapshots)"],
        [(r["type"], r["provider"], r["current"], r["stored"]) for r in rows],
        title=f"music profile of {email}",
    )
    for s in syncs:
        failing = f", {s['failing']} endpoint(s) failing" if s["failing"] else ""
        out.print(f"last {s['provider']} sync: {s['finished_at']:%Y-%m-%d %H:%M} UTC{failing}")


@click.command("overlap")
@click.argument("email1")
@click.argument("email2")
@click.option("--limit", type=click.IntRange(1, 200), default=15, show_default=True, help="Rows per list.")
def overlap(email1: str, email2: str, limit: int) -> None:
    """What two users share: the taste match across providers, explained, and their common top tracks."""
    from blendify_assets.analytics.matches import taste_match
    from blendify_assets.cli import out, print_table
    from blendify_assets.core.errors import BlendifyError
    from blendify_assets.db.music.reads import same_provider_overlap
    from blendify_assets.db.taste_matches import pair_history

    with _app().engine.connect() as conn:
        a, b = _user(conn, email1), _user(conn, email2)
        if a == b:
            raise BlendifyError("overlap needs two different users")
        match = taste_match(conn, a, b)
        common = same_provider_overlap(conn, a, b)
        history = pair_history(conn, a, b)
    names = {str(a): email1, str(b): email2}

    out.print(f"taste match {email1} ~ {email2}: {match.score:.1f} / 100")
    for comp, c in match.components.items():
        if not c["max_points"]:
            out.print(f"  {comp}: no data for one of you (its weight goes to the other parts)")
            continue
        out.print(
            f"  {comp}: {c['points']:.1f} of {c['max_points']:.1f} possible points, {c['shared']} shared"
        )
    song = match.song_that_brings_you_together
    if song:
        out.print(f"the song that brings you together: {song['track_name']} by {song['artist_name']}")
    out.print(f"formula: {match.formula}")
    if match.shared_tracks:
        print_table(
            ["track", "artist", "matched by", *(names[u] for u in (str(a), str(b))), "points"],
            [
                (
                    t["track_name"],
                    t["artist_name"],
                    f"{t['match']['method']} {t['match']['confidence']}",  # type: ignore[index]
                    *(_held(t["members"][u]) for u in (str(a), str(b))),  # type: ignore[index]
                    t["points"],
                )
                for t in match.shared_tracks[:limit]
            ],
            title=f"shared tracks across providers ({len(match.shared_tracks)})",
        )
    _line("shared artists", [x["artist"] for x in match.shared_artists], limit)
    _line("shared genres", [x["genre"] for x in match.shared_genres], limit)
    if common:
        print_table(
            ["provider", "track", "artist", f"rank {email1}", f"rank {email2}"],
            [
                (r["provider"], r["track_name"], r["artist_name"], r["rank_a"], r["rank_b"])
                for r in common[:limit]
            ],
            title=f"same top tracks on the same provider ({len(common)})",
        )
    if history:
        steps = " -> ".join(f"{h['score']:.1f} ({h['computed_at']:%Y-%m-%d})" for h in history[-6:])
        out.print(f"match over time: {steps}")


def _held(member: dict[str, Any]) -> str:
    """One member's hold on a shared track (a ``Holding.to_dict()``), in a few words."""
    bits = [member["provider"]]
    ranks = member.get("top_ranks") or {}
    if ranks:
        rng, rank = min(ranks.items(), key=lambda kv: kv[1])
        bits.append(top_phrase(rng, rank, member["provider"]))
    if member.get("play_count"):
        plays = member["play_count"]
        bits.append(f"{plays} play" if plays == 1 else f"{plays} plays")
    if "saved_at" in member:
        bits.append("in their library" if member["provider"] == "apple" else "liked")
    if member.get("playlist_count"):
        bits.append(f"{member['playlist_count']} playlists")
    return ", ".join(bits)


def _line(title: str, items: Sequence[str], limit: int) -> None:
    from blendify_assets.cli import out

    if items:
        more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
        out.print(f"{title} ({len(items)}): {', '.join(items[:limit])}{more}")


@click.command("recent")
@click.argument("email")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
def recent(email: str, limit: int) -> None:
    """A user's latest plays across all providers, newest first."""
    from blendify_assets.cli import out, print_table
    from blendify_assets.db.music.reads import recent as recent_rows

    with _app().engine.connect() as conn:
        rows = recent_rows(conn, _user(conn, email), limit)
    if not rows:
        out.print(f"{email}: no plays stored yet")
        return
    print_table(
        ["played at (UTC)", "track", "artist", "album", "provider"],
        [
            (
                f"{r['played_at']:%Y-%m-%d %H:%M}",
                r["track_name"],
                r["artist_name"],
                r["album_name"],
                r["provider"],
            )
            for r in rows
        ],
    )


COMMANDS.extend([blends, profile, overlap, recent])
