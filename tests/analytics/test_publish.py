"""Publishing a cross-provider blend to each member's own service, on the simulator over HTTP: the
right tracks in order, a regeneration in place on Spotify and a new playlist on Apple, resumes
after 5xx and 429 without duplicates, a revoked member reported while the others get theirs, the
same generation twice changing nothing, opt-outs and members without the write scope."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from blendify_assets.analytics.blends import latest_generation
from blendify_assets.analytics.publish import PublishReport, playlist_links, publish_blend, set_publishing
from blendify_assets.db import publishing as store
from blendify_assets.db import track_matches
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile
from tests.fixtures.publish import BlendWorld, build, regenerate
from tests.fixtures.warehouse import count


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """Two Spotify members and one Apple Music member (tiny libraries), Apple listing quickly."""
    profiles = (
        UserProfile.tiny(spotify=True, apple=False),
        UserProfile.tiny(spotify=False, apple=True),
        UserProfile.tiny(spotify=True, apple=False),
    )
    return SimulatorConfig(
        users=3, seed=7, catalog_tracks=3_000, profiles=profiles, apple_listing_delay_seconds=0.2
    )


@pytest.fixture
def blend(engine: Engine, simulator: Simulator, tmp_path: Path) -> BlendWorld:
    return build(engine, simulator, tmp_path)


def publish(engine: Engine, world: BlendWorld, **kw) -> PublishReport:
    return publish_blend(engine, world.vault, world.settings, world.blend_id, **kw)


def by_email(world: BlendWorld, report: PublishReport):
    ids = {u.user_id: u.email for u in world.users}
    return {ids[m.user_id]: m for m in report.members}


def spotify_playlists(world: BlendWorld, email: str) -> list[dict]:
    """The member's own playlists on the simulator that Blendify made (truth, not our API)."""
    uid = next(u.uid for u in world.sim.world.users if u.email == email)
    truth = world.sim.world.spotify_truth(uid)["playlists"]
    return [
        p for p in truth if p["is_owner"] and "[blendify:" in world.sim.world.playlists[p["id"]].description
    ]


def apple_playlists(world: BlendWorld, email: str) -> list[list[str | None]]:
    """Catalog ids of each of the member's library playlists Blendify made, oldest first."""
    uid = next(u.uid for u in world.sim.world.users if u.email == email)
    truth = world.sim.world.apple_truth(uid)
    catalog = {s["id"]: s.get("catalog_id") for s in truth["library_songs"]}
    user = next(u for u in world.sim.world.users if u.uid == uid)
    made = {p.id for p in user.apple.playlists if "[blendify:" in p.description}  # type: ignore[union-attr]
    return [[catalog.get(t) for t in p["track_ids"]] for p in truth["library_playlists"] if p["id"] in made]


def recordings(world: BlendWorld, service: str, ids: list) -> list[str | None]:
    return [world.sim.world.cross.recording(service, i) if i else None for i in ids]


def expected(engine: Engine, world: BlendWorld, member) -> list[str | None]:
    """The recordings of the blend's tracks that matched, in blend order (each once)."""
    rows = latest_generation(engine, world.blend_id).tracks
    skipped = {u["position"] for u in member.unmatched}
    out: list[str | None] = []
    apple_catalog = {}
    for u in world.sim.world.users:
        if u.on_apple:
            apple_catalog |= {
                s["id"]: s.get("catalog_id") for s in world.sim.world.apple_truth(u.uid)["library_songs"]
            }
    for row in rows:
        if row["position"] in skipped:
            continue
        track_id = row["track_id"]
        if row["source_provider"] == "apple":
            track_id = apple_catalog.get(track_id, track_id)
        rec = world.sim.world.cross.recording(row["source_provider"], track_id)
        if rec not in out:
            out.append(rec)
    return out


def test_a_cross_provider_blend_reaches_a_spotify_and_an_apple_member_in_order(
    engine: Engine, blend: BlendWorld
) -> None:
    """Done when: each member's playlist holds the blend's tracks in order, matched across services,
    and a regeneration updates the Spotify playlist in place (Apple: a new playlist, dated)."""
    spotify_user, apple_user = blend.user("spotify").email, blend.user("apple").email
    report = publish(engine, blend)
    members = by_email(blend, report)
    assert {m.status for m in report.members} == {"published"}
    sp, ap = members[spotify_user], members[apple_user]
    rows = latest_generation(engine, blend.blend_id).tracks
    assert sp.tracks_published >= 0.9 * len(rows) and ap.tracks_published >= 0.9 * len(rows)
    assert {"own_id", "isrc"} <= set(sp.matched) and {"own_id", "isrc"} <= set(ap.matched)  # across services
    assert all(u["reason"] for u in sp.unmatched + ap.unmatched)

    (playlist,) = spotify_playlists(blend, spotify_user)
    uris = [i["uri"] for i in playlist["items"]]
    assert recordings(blend, "spotify", [u.split(":")[-1] for u in uris]) == expected(engine, blend, sp)
    assert playlist["name"] == "Cross blend" and sp.url and playlist["id"] in sp.url
    (songs,) = apple_playlists(blend, apple_user)
    assert recordings(blend, "apple", songs) == expected(engine, blend, ap)

    regenerate(engine, blend.blend_id)  # a new generation: the same Spotify playlist, replaced
    again = by_email(blend, publish(engine, blend))
    assert again[spotify_user].status == "published"
    (same,) = spotify_playlists(blend, spotify_user)
    assert same["id"] == playlist["id"]
    assert recordings(blend, "spotify", [i["uri"].split(":")[-1] for i in same["items"]]) == expected(
        engine, blend, again[spotify_user]
    )
    assert len(apple_playlists(blend, apple_user)) == 2  # Apple: one playlist per generation
    assert again[spotify_user].lookups == 0  # the cache answered every track it had seen
    assert [link["provider"] for link in playlist_links(engine, blend.blend_id)] == [
        m.provider for m in report.members
    ]


def test_publishing_the_same_generation_twice_sends_nothing_and_changes_nothing(
    engine: Engine, blend: BlendWorld
) -> None:
    publish(engine, blend)
    before = {u.email: spotify_playlists(blend, u.email) for u in blend.users if "spotify" in u.providers}
    playlists_before = count(engine, "SELECT count(*) FROM blend_playlists")
    again = publish(engine, blend)
    assert {m.status for m in again.members} == {"already_published"}
    assert sum(m.requests for m in again.members) == 0
    assert {
        u.email: spotify_playlists(blend, u.email) for u in blend.users if "spotify" in u.providers
    } == before
    assert count(engine, "SELECT count(*) FROM blend_playlists") == playlists_before


def test_a_lost_answer_mid_publish_resumes_without_a_second_playlist_or_item(
    engine: Engine, blend: BlendWorld, simulator: Simulator
) -> None:
    """The create's answer lost after Spotify made the playlist, an item POST applied but answered
    502, a 429 and a 503 on Apple's appends: every member still gets one playlist, each track once."""
    spotify_user, apple_user = blend.user("spotify").email, blend.user("apple").email
    simulator.faults.add("/me/playlists", "http_502", method="POST", after=True, count=1, provider="spotify")
    simulator.faults.add(
        "/playlists/*/items", "http_502", method="POST", after=True, count=1, provider="spotify"
    )
    simulator.faults.add("/playlists/*/items", "rate_limit", retry_after=0.1, count=1, provider="spotify")
    simulator.faults.add("*/tracks", "http_503", method="POST", after=True, count=1, provider="apple")
    simulator.faults.add("*/tracks", "rate_limit", count=1, provider="apple")
    report = publish(engine, blend, apple_listing_wait=timedelta(seconds=0))
    members = by_email(blend, report)
    assert members[spotify_user].status == "published", members[spotify_user].detail
    (playlist,) = spotify_playlists(blend, spotify_user)
    uris = [i["uri"] for i in playlist["items"]]
    assert len(uris) == len(set(uris)) == members[spotify_user].tracks_published
    assert recordings(blend, "spotify", [u.split(":")[-1] for u in uris]) == expected(
        engine, blend, members[spotify_user]
    )
    assert members[apple_user].status == "published", members[apple_user].detail
    (songs,) = apple_playlists(blend, apple_user)
    assert recordings(blend, "apple", songs) == expected(engine, blend, members[apple_user])


def test_a_revoked_member_is_reported_and_the_others_still_get_theirs(
    engine: Engine, blend: BlendWorld, simulator: Simulator
) -> None:
    revoked = blend.user("spotify", 1)
    uid = next(u.uid for u in simulator.world.users if u.email == revoked.email)
    simulator.spotify.revoke(uid)
    report = publish(engine, blend)
    members = by_email(blend, report)
    assert members[revoked.email].status == "needs_reauth" and "reconnect" in str(
        members[revoked.email].detail
    )
    assert spotify_playlists(blend, revoked.email) == []
    others = [m for e, m in members.items() if e != revoked.email]
    assert {m.status for m in others} == {"published"}
    outcome = store.latest_publications(engine, blend.blend_id)
    assert {r["status"] for r in outcome} == {"published", "needs_reauth"}
    issued = [*simulator.spotify._access, *simulator.spotify._refresh]  # every token the member ever held
    stored = str(report) + str([dict(r) for r in outcome])
    assert issued and not any(token in stored for token in issued)


def test_a_member_without_the_write_scope_is_reported_not_failed(
    engine: Engine, simulator: Simulator, tmp_path: Path
) -> None:
    world = build(engine, simulator, tmp_path, without_write_scope=[simulator.world.users[0].email])
    members = by_email(world, publish(engine, world))
    reader = members[simulator.world.users[0].email]
    assert reader.status == "missing_scope" and "--publish" in str(reader.detail)
    assert {m.status for e, m in members.items() if e != simulator.world.users[0].email} == {"published"}


def test_opted_out_members_and_members_who_left_are_not_published_to(
    engine: Engine, blend: BlendWorld
) -> None:
    out, left = blend.user("spotify", 1), blend.user("spotify", 0)
    before = playlist_links(engine, blend.blend_id)
    assert all(link["url"] is None and link["provider"] is None for link in before)  # nothing published yet
    assert len(before) == len(blend.users)
    set_publishing(engine, uuid.UUID(out.user_id), uuid.UUID(blend.blend_id), False)
    with engine.begin() as conn:  # as the owner: the app never removes a member
        conn.exec_driver_sql(
            "DELETE FROM blend_participants WHERE blend_id = %s AND user_id = %s",
            (blend.blend_id, left.user_id),
        )
    members = by_email(blend, publish(engine, blend))
    assert members[out.email].status == "opted_out" and spotify_playlists(blend, out.email) == []
    assert left.email not in members and spotify_playlists(blend, left.email) == []
    assert members[blend.user("apple").email].status == "published"
    links = {link["user_id"]: link for link in playlist_links(engine, blend.blend_id)}
    assert (
        left.user_id not in links and links[out.user_id]["url"] is None
    )  # left: not shown; opted out: no link
    apple = links[blend.user("apple").user_id]
    assert apple["provider"] == "apple" and str(apple["url"]).startswith(
        "https://music.apple.com/library/playlist/"
    )
    set_publishing(engine, uuid.UUID(out.user_id), None, True)  # for all blends: the blend's own choice wins
    assert by_email(blend, publish(engine, blend))[out.email].status == "opted_out"


def test_the_match_cache_is_append_only_and_answers_a_regeneration(engine: Engine, blend: BlendWorld) -> None:
    publish(engine, blend)
    cached = count(engine, "SELECT count(*) FROM track_matches")
    assert cached > 0
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM track_matches")
    assert track_matches.UNMATCHED_TTL.days == 7


def test_a_lost_apple_create_is_adopted_once_listed_never_created_twice(
    engine: Engine, blend: BlendWorld, simulator: Simulator
) -> None:
    """Apple lists a new playlist seconds after creating it: a create whose answer was lost is not
    sent again while it may still appear; once listed, it is adopted and completed."""
    apple_user = blend.user("apple").email
    simulator.world.config = replace(simulator.world.config, apple_listing_delay_seconds=2.0)
    fault = simulator.faults.add("/v1/me/library/playlists", "http_502", method="POST", after=True, count=1)
    first = by_email(blend, publish(engine, blend))[apple_user]
    assert fault.hits == 1 and first.status == "failed"
    assert len(apple_playlists(blend, apple_user)) == 1  # Apple made it; its id never came back
    second = by_email(blend, publish(engine, blend))[apple_user]
    assert second.status == "failed" and "may not be listed yet" in str(second.detail)
    time.sleep(2.2)
    third = by_email(blend, publish(engine, blend))[apple_user]
    assert third.status == "published", third.detail
    (songs,) = apple_playlists(blend, apple_user)
    assert recordings(blend, "apple", songs) == expected(engine, blend, third)
