"""The CLI's and the service's per-user queries can be answered from indexes (no sequential scans).

Tiny test tables make a sequential scan the cheapest plan, so sequential scans are priced out
(``enable_seqscan = off``): a query whose filter no index can serve still gets one, and fails here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from blendify_assets.db.music import reads as queries
from blendify_assets.db.music.reads import SOURCE_QUERIES, _per_user

U = "00000000-0000-4000-8000-000000000001"
V = "00000000-0000-4000-8000-000000000002"

CASES = {
    "profile": (queries.PROFILE_SQL, {"u": U}),
    "overlap": (queries.SAME_PROVIDER_OVERLAP_SQL, {"a": U, "b": V}),
    "recent": (queries.RECENT_SQL, {"u": U, "n": 50}),
    **{f"taste {name}": (_per_user(sql), {"ids": [U, V]}) for name, sql in SOURCE_QUERIES.items()},
    "neighbours": (
        "SELECT * FROM user_taste_matches WHERE user_id = :u "
        "AND computed_at = (SELECT max(computed_at) FROM taste_match_runs) ORDER BY rank",
        {"u": U},
    ),
    "pair history": (
        "SELECT * FROM user_taste_matches WHERE (user_id = :u AND other_user_id = :v) "
        "OR (user_id = :v AND other_user_id = :u)",
        {"u": U, "v": V},
    ),
    "latest generation": (
        "SELECT * FROM blend_tracks WHERE blend_id = :u "
        "AND created_at = (SELECT max(created_at) FROM blend_tracks WHERE blend_id = :u) ORDER BY position",
        {"u": U},
    ),
}


def test_per_user_queries_use_indexes(engine: Engine) -> None:
    failures = {}
    with engine.connect() as conn:
        conn.execute(sa.text("SET enable_seqscan = off"))
        for name, (sql, params) in CASES.items():
            plan = "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN {sql}"), params))
            if "Seq Scan" in plan:
                failures[name] = plan
    assert not failures, "sequential scans in:\n" + "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


def test_imported_plays_are_read_as_one_count_per_track_and_api_plays_one_by_one(engine: Engine) -> None:
    """Issue 15: ten years of history cost the taste model one row per song."""
    with engine.begin() as conn:
        uid = conn.execute(
            sa.text("INSERT INTO users (email) VALUES ('h@example.com') RETURNING id")
        ).scalar_one()
        for i, (track, source) in enumerate([("t1", "export")] * 3 + [("t2", "export"), ("t1", None)]):
            conn.execute(
                sa.text(
                    "INSERT INTO user_recently_played (user_id, provider, track_id, track_name, artist_name, "
                    "played_at, fetched_at, track_metadata) VALUES (:u, 'spotify', :t, :t, 'A', "
                    "timestamp '2020-01-01' + make_interval(days => :i), now(), CAST(:m AS jsonb))"
                ),
                {
                    "u": uid,
                    "t": track,
                    "i": i,
                    "m": '{"_blendify": {"source": "export"}}' if source else "{}",
                },
            )
        rows = queries.taste_rows(conn, [str(uid)])[str(uid)]
    assert sorted((r["track_id"], r["plays"], str(r["last_played_at"])) for r in rows["history_plays"]) == [
        ("t1", 3, "2020-01-03 00:00:00"),
        ("t2", 1, "2020-01-04 00:00:00"),
    ]
    assert [(r["track_id"], str(r["played_at"])) for r in rows["recently_played"]] == [
        ("t1", "2020-01-05 00:00:00")
    ]


def _scans(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from _scans(child)


def test_a_page_of_users_reads_only_its_own_snapshots(engine: Engine) -> None:
    """Issue 18 (w18a): the taste read of a page of 25 users sorted every user's snapshots of each
    view (the user filter stopped before the DISTINCT ON of latest_snapshots), so preparing a
    computation read users² snapshots. Each scan of `snapshots` in a page query is now an index
    probe on the page's user."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email) SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, "
                "'u' || g || '@example.com' FROM generate_series(1, 2000) g"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO snapshots (user_id, provider, table_name, scope, fetched_at, row_count, content_hash) "
                "SELECT u.id, 'spotify', t, s, timestamp '2020-01-01' + make_interval(days => d), 1, 'h' "
                "FROM users u, unnest(CAST(:tables AS text[])) t, "
                "unnest(ARRAY['short_term', 'medium_term', 'long_term', '']) s, generate_series(1, 2) d"
            ),
            {"tables": [t for _, t, view in queries.PROFILE_TABLES if view.startswith("latest_")]},
        )
        conn.execute(sa.text("ANALYZE snapshots"))
        page = [f"00000000-0000-4000-8000-{i:012d}" for i in range(1, 26)]
        unfiltered = {}
        for name, sql in SOURCE_QUERIES.items():
            [[plan]] = conn.execute(sa.text(f"EXPLAIN (FORMAT JSON) {_per_user(sql)}"), {"ids": page}).all()
            for node in _scans(plan[0]["Plan"]):
                if node.get("Relation Name") != "snapshots":
                    continue
                cond = node.get("Index Cond", "") + node.get("Recheck Cond", "")
                if "user_id = u.id" not in cond:
                    unfiltered[name] = f"{node['Node Type']}: {cond or node.get('Filter', '')}"
    assert not unfiltered, f"scans of every user's snapshots: {unfiltered}"


def test_a_source_name_that_does_not_exist_is_refused_not_skipped(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(ValueError, match="top_trakcs"):
        queries.taste_rows(conn, [], ["top_trakcs"])
