"""`blendify profile | overlap | recent`: the schema document's three query patterns, and the taste
match across providers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from blendify_assets.analytics.matches import taste_match
from blendify_assets.blend.picks import top_phrase
from blendify_assets.commands._app import App, out, pass_app, print_table
from blendify_assets.core.errors import BlendifyError
from blendify_assets.db.music.reads import profile as profile_rows
from blendify_assets.db.music.reads import recent as recent_rows
from blendify_assets.db.music.reads import same_provider_overlap
from blendify_assets.db.sync_log import last_syncs
from blendify_assets.db.taste_matches import pair_history
from blendify_assets.db.users import user_id_for


@click.command("profile")
@click.argument("email")
@pass_app
def profile(app: App, email: str) -> None:
    """A user's music profile: rows per type and provider, current and stored over time."""

    with app.engine.connect() as conn:
        uid = user_id_for(conn, email)
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
@pass_app
def overlap(app: App, email1: str, email2: str, limit: int) -> None:
    """What two users share: the taste match across providers, explained, and their common top tracks."""

    with app.engine.connect() as conn:
        a, b = user_id_for(conn, email1), user_id_for(conn, email2)
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
                    f"{t['match']['method']} {t['match']['confidence']}",
                    *(_held(t["members"][u]) for u in (str(a), str(b))),
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
    if member.get("lifetime_plays"):
        bits.append(f"{member['lifetime_plays']} plays in history")
    if "saved_at" in member:
        bits.append("in their library" if member["provider"] == "apple" else "liked")
    if member.get("playlist_count"):
        bits.append(f"{member['playlist_count']} playlists")
    return ", ".join(bits)


def _line(title: str, items: Sequence[str], limit: int) -> None:

    if items:
        more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
        out.print(f"{title} ({len(items)}): {', '.join(items[:limit])}{more}")


@click.command("recent")
@click.argument("email")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@pass_app
def recent(app: App, email: str, limit: int) -> None:
    """A user's latest plays across all providers, newest first."""

    with app.engine.connect() as conn:
        rows = recent_rows(conn, user_id_for(conn, email), limit)
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
