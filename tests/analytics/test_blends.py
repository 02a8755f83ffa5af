"""Blends through the service against a real warehouse, with answers known from the hand-built data."""

from __future__ import annotations

import re
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from blendify_assets.analytics.blends import (
    add_member,
    create_blend,
    create_open_blend,
    generate_blend_tracks,
    latest_generation,
    remove_member,
    set_member_weight,
)
from blendify_assets.core.errors import BlendifyError
from blendify_assets.db.engine import create_engine
from blendify_assets.db.users import add_user
from tests.fixtures.warehouse import count
from tests.fixtures.world import World

ALICE, BOB, CAROL, DAVE = (f"{n}@example.com" for n in ("alice", "bob", "carol", "dave"))


def test_balanced_blend_of_spotify_and_apple_users_puts_shared_songs_first(
    engine: Engine, world: World
) -> None:
    blend_id = create_blend(engine, "Alice + Bob", [ALICE, BOB], "balanced", size=10)
    result = generate_blend_tracks(engine, blend_id)
    assert (result.tracks, result.shared, result.cross_provider) == (10, 2, 2)
    assert result.per_member == {"Alice": 5, "Bob": 5}

    gen = latest_generation(engine, blend_id)
    tracks = gen.tracks
    songs = {str(t["track_name"]).replace("Rapsody", "Rhapsody") for t in tracks[:2]}
    assert songs == {"Blinding Lights", "Bohemian Rhapsody"}, "the two shared songs come first"
    first_two = {t["blend_metadata"]["cluster_id"]: t["blend_metadata"] for t in tracks[:2]}
    methods = sorted(m["match"]["method"] for m in first_two.values())
    assert methods == ["fuzzy", "isrc"], "one song matched by ISRC, the other only by its (misspelt) name"
    for meta in first_two.values():
        assert meta["kind"] == "shared" and meta["shared_by"] == 2
        assert {m["provider"] for m in meta["members"].values()} == {"spotify", "apple"}
        assert re.match(r"shared by (Alice and Bob|Bob and Alice): ", meta["reason"]), meta["reason"]
        assert world.alice not in meta["reason"], "reasons name people, not ids"
    assert all(t["blend_metadata"]["kind"] == "personal" for t in tracks[2:])
    assert [t["position"] for t in tracks] == list(range(1, 11))
    # Personal picks alternate, so no member dominates a stretch.
    assert [t["source_label"] for t in tracks[2:6]] in (["Alice", "Bob"] * 2, ["Bob", "Alice"] * 2)

    with engine.connect() as conn:
        total, updated, created = conn.execute(
            sa.text("SELECT total_tracks, updated_at, created_at FROM blends WHERE id = :b"), {"b": blend_id}
        ).one()
    assert total == 10 and updated == gen.created_at and updated > created


def test_generations_append_with_one_created_at_each_and_are_deterministic(
    engine: Engine, world: World
) -> None:
    blend_id = create_blend(engine, "Again", [ALICE, BOB, CAROL], "balanced", size=12)
    first = generate_blend_tracks(engine, blend_id)
    one = latest_generation(engine, blend_id)
    second = generate_blend_tracks(engine, blend_id)
    two = latest_generation(engine, blend_id)
    assert first.created_at < second.created_at
    assert count(engine, "SELECT count(*) FROM blend_tracks WHERE blend_id = :b", b=blend_id) == 24
    assert (
        count(engine, "SELECT count(DISTINCT created_at) FROM blend_tracks WHERE blend_id = :b", b=blend_id)
        == 2
    )

    def key(gen):
        return [
            (t["position"], t["track_id"], t["source_provider"], t["similarity_score"]) for t in gen.tracks
        ]

    assert key(one) == key(two)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        conn.execute(sa.text("UPDATE blend_tracks SET position = 0"))


def test_weighted_blend_gives_seats_in_proportion_to_weights(engine: Engine, world: World) -> None:
    blend_id = create_blend(engine, "Mostly Carol", [CAROL, DAVE], "weighted", weights=[3, 1], size=8)
    result = generate_blend_tracks(engine, blend_id)
    assert result.per_member == {"Carol": 6, "Dave": 2}
    sources = Counter(t["source_label"] for t in latest_generation(engine, blend_id).tracks)
    assert sources == {"Carol": 6, "Dave": 2}


def test_discovery_picks_only_tracks_new_to_the_others(engine: Engine, world: World) -> None:
    blend_id = create_blend(engine, "New to Bob", [ALICE, BOB], "discovery", size=10)
    result = generate_blend_tracks(engine, blend_id)
    tracks = latest_generation(engine, blend_id).tracks
    assert result.tracks == result.discovery == len(tracks) > 0
    with engine.connect() as conn:
        bobs = {
            r[0]
            for r in conn.execute(
                sa.text("SELECT track_name FROM user_saved_tracks WHERE user_id = :u"), {"u": world.bob}
            )
        }
    for t in tracks:
        meta = t["blend_metadata"]
        assert meta["kind"] == "discovery" and meta["new_to"] == [world.bob]
        assert t["source_label"] == "Alice" and t["track_name"] not in bobs
        assert meta["reason"].startswith("new to Bob, who likes Queen; from Alice: top #"), meta["reason"]
    assert {t["track_name"] for t in tracks} <= {f"Queen Deep Cut {i}" for i in range(8)}
    assert len(tracks) == 2, "two Queen deep cuts: the discovery artist cap"


def test_members_without_data_give_an_empty_generation_and_nothing_is_written(
    engine: Engine, world: World
) -> None:
    from tests.fixtures.warehouse import add_user

    add_user(engine, "new1@example.com")
    add_user(engine, "new2@example.com")
    blend_id = create_blend(engine, "Empty", ["new1@example.com", "new2@example.com"], "balanced")
    result = generate_blend_tracks(engine, blend_id)
    assert result.tracks == 0 and result.created_at is None
    assert result.note == "none of the members has synced music to pick from yet"
    assert latest_generation(engine, blend_id).tracks == []


@pytest.mark.parametrize(
    ("members", "algorithm", "kwargs", "message"),
    [
        ([ALICE], "balanced", {}, "2 to 10 members"),
        ([f"u{i}@example.com" for i in range(11)], "balanced", {}, "2 to 10 members"),
        ([ALICE, "zed@example.com"], "balanced", {}, "no such user: zed@example.com"),
        ([ALICE, BOB], "shuffle", {}, "unknown algorithm"),
        ([ALICE, ALICE.upper()], "balanced", {}, "listed twice"),
        ([ALICE, BOB], "balanced", {"weights": [2, 1]}, "only to the weighted"),
        ([ALICE, BOB], "weighted", {"weights": [2]}, "one weight per member"),
        ([ALICE, BOB], "weighted", {"weights": [2, -1]}, "positive"),
        ([ALICE, BOB], "balanced", {"size": 0}, "size must be"),
        ([ALICE, BOB], "balanced", {"creator_email": "zed@example.com"}, "no such user"),
        ([ALICE, "not-an-email"], "balanced", {}, "not a valid email"),
    ],
)
def test_invalid_blends_fail_with_one_clear_error_and_write_nothing(
    engine: Engine, world: World, members, algorithm, kwargs, message
) -> None:
    with pytest.raises(BlendifyError, match=message):
        create_blend(engine, "Bad", members, algorithm, **kwargs)
    assert count(engine, "SELECT count(*) FROM blends") == 0
    assert count(engine, "SELECT count(*) FROM blend_participants") == 0


def test_unknown_blend_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(BlendifyError, match="no blend with id"):
        generate_blend_tracks(engine, "00000000-0000-4000-8000-000000000000")
    with pytest.raises(BlendifyError, match="not a blend id"):
        latest_generation(engine, "nope")


def test_blend_membership_rules(blendify_env) -> None:
    engine = create_engine(blendify_env["BLENDIFY_DATABASE_URL"])  # as the app role: its grants suffice
    ids = [add_user(engine, f"m{i}@example.com", f"Member {i}") for i in range(11)]
    blend = create_open_blend(engine, "Open", ids[0], "weighted", 20)
    waiting = generate_blend_tracks(engine, blend)  # one member: a no-op that says why, not an error
    assert waiting.tracks == 0 and "waiting for members" in (waiting.note or "")
    with engine.begin() as conn:
        assert add_member(conn, blend, ids[1]) is True
        assert add_member(conn, blend, ids[1]) is False  # already in
        for uid in ids[2:10]:
            add_member(conn, blend, uid)
    with pytest.raises(BlendifyError, match="at most 10"), engine.begin() as conn:
        add_member(conn, blend, ids[10])
    set_member_weight(engine, blend, ids[1], 3.0)
    with pytest.raises(BlendifyError, match="weights must be"):
        set_member_weight(engine, blend, ids[1], 0)
    assert remove_member(engine, blend, ids[1]) is True
    assert remove_member(engine, blend, ids[1]) is False
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM blend_participants WHERE blend_id = :b"), {"b": blend}
            ).scalar()
            == 9
        )
    with pytest.raises(BlendifyError, match="a blend needs a name"):
        create_open_blend(engine, " ", ids[0], "balanced")
    with pytest.raises(BlendifyError, match="no such user"):
        create_open_blend(engine, "x", uuid.uuid4(), "balanced")
    engine.dispose()
