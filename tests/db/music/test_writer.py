"""The snapshot writer: one transaction per check, change detection, dedupe, nothing partial."""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.fetch import EndpointFetch, FetchStats, ScopeSnapshot
from blendify_assets.db.music.state import load_state
from blendify_assets.db.music.tables import TABLES
from blendify_assets.db.music.writer import Check, content_hash, store_fetch, store_fetches
from blendify_assets.db.sync_log import record_failure

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def track(i: int, **extra) -> dict:
    return {
        "track_id": f"t{i}", "track_name": f"Song {i}", "artist_name": f"Artist {i % 7}", "album_name": "A",
        "album_art_url": f"https://img/{i}?sig=1", "duration_ms": 200_000 + i, "isrc": f"USX{i:09d}",
        "track_metadata": {"id": f"t{i}", "name": f"Song {i}"},
    } | extra  # fmt: skip


def top(ids_by_range: dict[str, list[int]], **extra) -> EndpointFetch:
    return EndpointFetch(
        "top_tracks", "user_top_tracks",
        scopes=[
            ScopeSnapshot(tr, [track(i, time_range=tr, rank=r, **extra) for r, i in enumerate(ids, 1)])
            for tr, ids in ids_by_range.items()
        ],
        stats=FetchStats(requests=3, pages=3),
    )  # fmt: skip


@pytest.fixture
def user(engine: sa.engine.Engine) -> uuid.UUID:
    with engine.begin() as conn:
        return conn.execute(
            sa.text("INSERT INTO users (email) VALUES ('u@example.com') RETURNING id")
        ).scalar()


def store(engine, user, fetch, table="user_top_tracks"):
    return store_fetch(engine, TABLES[table], user_id=user, provider="spotify", fetch=fetch, started_at=NOW)


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


RANGES = {"short_term": [1, 2, 3], "medium_term": [4, 5], "long_term": [6]}


def test_a_snapshot_shares_one_fetched_at_and_is_logged(engine, user) -> None:
    result = store(engine, user, top(RANGES))
    assert result.rows_appended == 6 and result.changed
    assert scalar(engine, "SELECT count(DISTINCT fetched_at) FROM user_top_tracks") == 1
    log = None
    with engine.connect() as conn:
        log = conn.execute(sa.text("SELECT * FROM sync_log")).mappings().one()
    assert (log["status"], log["requests"], log["rows_appended"], log["changed"]) == ("success", 3, 6, True)
    assert scalar(engine, "SELECT count(*) FROM snapshots WHERE sync_log_id = :l", l=log["id"]) == 3


def test_an_unchanged_fetch_appends_nothing_but_is_still_logged(engine, user) -> None:
    store(engine, user, top(RANGES))
    again = store(
        engine, user, top(RANGES, album_art_url="https://img/new-signature")
    )  # only a volatile field
    assert again.rows_appended == 0 and not again.changed
    assert scalar(engine, "SELECT count(*) FROM user_top_tracks") == 6
    assert scalar(engine, "SELECT count(*) FROM sync_log") == 2
    assert scalar(engine, "SELECT bool_or(changed) FROM sync_log WHERE rows_appended = 0") is False


def test_only_the_scope_that_changed_is_appended(engine, user) -> None:
    store(engine, user, top(RANGES))
    changed = store(engine, user, top(RANGES | {"short_term": [2, 1, 3]}))  # a rank swap
    assert changed.scopes_changed == ["short_term"] and changed.rows_appended == 3
    with engine.connect() as conn:
        latest = (
            conn.execute(
                sa.text(
                    "SELECT track_id FROM latest_user_top_tracks WHERE time_range = 'short_term' ORDER BY rank"
                )
            )
            .scalars()
            .all()
        )
        assert latest == ["t2", "t1", "t3"]
        assert conn.execute(sa.text("SELECT count(*) FROM latest_user_top_tracks")).scalar() == 6


def test_an_emptied_list_is_a_current_state(engine, user) -> None:
    saved = TABLES["user_saved_tracks"]
    rows = [track(i, saved_at=NOW - timedelta(days=i), popularity=None) for i in range(3)]
    fetch = EndpointFetch("saved_tracks", saved.name, scopes=[ScopeSnapshot("", rows)])
    store(engine, user, fetch, saved.name)
    store(engine, user, EndpointFetch("saved_tracks", saved.name, scopes=[ScopeSnapshot("", [])]), saved.name)
    assert scalar(engine, "SELECT count(*) FROM latest_user_saved_tracks") == 0
    assert scalar(engine, "SELECT count(*) FROM user_saved_tracks") == 3  # history kept


def test_a_version_that_moves_without_the_content_is_recorded_without_rows(engine, user) -> None:
    """A renamed playlist: new snapshot_id, same tracks. The version is stored (so the playlist is
    not re-read on every later sync), no track row is appended, and the current state still reads."""
    spec = TABLES["user_playlist_tracks"]
    rows = [
        track(i, playlist_id="p1", added_at=NOW, added_by="me", track_position=i, item_type="track")
        for i in range(4)
    ]

    def tracks(version: str) -> EndpointFetch:
        return EndpointFetch(
            "playlist_tracks", spec.name, scopes=[ScopeSnapshot("p1", rows, version=version)]
        )

    def versions() -> dict[str, str]:
        state = load_state(engine, spec, user_id=user, provider="spotify", endpoint="playlist_tracks")
        return state.scope_versions

    store(engine, user, tracks("v1"), spec.name)
    renamed = store(engine, user, tracks("v2"), spec.name)
    assert renamed.rows_appended == 0 and not renamed.changed
    assert versions() == {"p1": "v2"}
    assert scalar(engine, "SELECT count(*) FROM user_playlist_tracks") == 4
    assert store(engine, user, tracks("v2"), spec.name).rows_appended == 0
    assert scalar(engine, "SELECT count(*) FROM snapshots") == 2  # v1 with its rows, v2 pointing at them
    # The current state reads the v1 rows through the v2 row; a real change still appends.
    playlist = {"playlist_id": "p1", "playlist_name": "Renamed", "snapshot_id": "v2", "is_owner": True}
    store(engine, user, EndpointFetch("playlists", "user_playlists", scopes=[ScopeSnapshot("", [playlist])]),
          "user_playlists")  # fmt: skip
    with engine.connect() as conn:
        current = conn.execute(
            sa.text("SELECT track_id FROM latest_user_playlist_tracks ORDER BY track_position")
        )
        assert list(current.scalars()) == ["t0", "t1", "t2", "t3"]
    moved = store(engine, user, EndpointFetch("playlist_tracks", spec.name,
                                              scopes=[ScopeSnapshot("p1", rows[::-1], version="v3")]), spec.name)  # fmt: skip
    assert moved.rows_appended == 4 and versions() == {"p1": "v3"}


def test_plays_are_appended_once_across_overlapping_fetches(engine, user) -> None:
    spec = TABLES["user_recently_played"]

    def plays(indices):
        return EndpointFetch(
            "recently_played", spec.name,
            events=[track(i, played_at=NOW - timedelta(minutes=10 * i)) for i in indices],
        )  # fmt: skip

    assert store(engine, user, plays(range(5)), spec.name).rows_appended == 5
    overlapping = store(engine, user, plays(range(3, 8)), spec.name)
    assert overlapping.rows_appended == 3 and overlapping.changed
    assert store(engine, user, plays(range(8)), spec.name).rows_appended == 0  # a retry changes nothing
    assert scalar(engine, "SELECT count(*) FROM user_recently_played") == 8


def test_a_failure_is_logged_without_touching_music_tables(engine, user) -> None:
    record_failure(
        engine, user_id=user, provider="spotify", endpoint="top_tracks", started_at=NOW,
        status="needs_reauth", error="Spotify refused the refresh token (invalid_grant)",
    )  # fmt: skip
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT status, error FROM latest_sync_status")).one()
    assert row.status == "needs_reauth" and "invalid_grant" in row.error
    assert scalar(engine, "SELECT count(*) FROM user_top_tracks") == 0


def test_a_connection_dropped_mid_write_leaves_nothing_behind(engine, user) -> None:
    """Kill the backend while COPY streams a 3,000-row snapshot: no row, snapshot or log survives."""
    spec = TABLES["user_saved_tracks"]

    class Killing(list):
        def __iter__(self):
            for index, row in enumerate(super().__iter__()):
                if index == 1_500:
                    killer = threading.Thread(target=_kill_writers, args=(engine,))
                    killer.start()
                    killer.join()
                yield row

    rows = Killing(track(i, saved_at=NOW, popularity=None) for i in range(3_000))
    fetch = EndpointFetch("saved_tracks", spec.name, scopes=[ScopeSnapshot("", rows)])
    with pytest.raises(sa.exc.SQLAlchemyError):
        store(engine, user, fetch, spec.name)
    engine.dispose()
    for table in ("user_saved_tracks", "snapshots", "sync_log"):
        assert scalar(engine, f"SELECT count(*) FROM {table}") == 0
    assert store(engine, user, EndpointFetch("saved_tracks", spec.name, scopes=[ScopeSnapshot("", list(rows))]),
                 spec.name).rows_appended == 3_000  # fmt: skip


def _kill_writers(engine) -> None:
    admin = sa.create_engine(engine.url)
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state <> 'idle'"
            )
        )
    admin.dispose()


def test_a_stored_hash_is_unchanged_by_the_faster_hashing() -> None:
    """Hashes already in a warehouse must still match: otherwise every scope is appended again once."""
    rows = [track(i, time_range="short_term", rank=i, saved_at=NOW) for i in range(3)] + [track(9, rank=None)]
    spec = TABLES["user_top_tracks"]

    def stable(v):
        return (
            "\x00" if v is None else v.replace(tzinfo=None).isoformat() if isinstance(v, datetime) else str(v)
        )

    text = "\x1e".join("\x1f".join(stable(r.get(c)) for c in spec.stable_columns) for r in rows)
    assert content_hash(spec, rows) == hashlib.sha256(text.encode()).hexdigest()


def users(engine, n: int) -> list[uuid.UUID]:
    with engine.begin() as conn:
        return [
            conn.execute(
                sa.text("INSERT INTO users (email) VALUES (:e) RETURNING id"), {"e": f"batch{i}@example.com"}
            ).scalar_one()
            for i in range(n)
        ]


def check(user_id, fetch) -> Check:
    return Check(user_id, "spotify", fetch, NOW)


def test_many_checks_are_stored_together_and_each_is_its_own(engine) -> None:
    """Several users' checks in one call: each gets its own sync log row, snapshots and counts, and a
    check whose content did not change appends nothing while the others append."""
    a, b, c = users(engine, 3)
    store_fetches(engine, TABLES["user_top_tracks"], [check(a, top(RANGES))])
    results = store_fetches(
        engine, TABLES["user_top_tracks"], [check(a, top(RANGES)), check(b, top(RANGES)), check(c, top({"short_term": [1]}))]
    )  # fmt: skip
    assert [(r.rows_appended, r.changed) for r in results] == [(0, False), (6, True), (1, True)]  # type: ignore[union-attr]
    with engine.connect() as conn:
        logged = conn.execute(sa.text("SELECT user_id, rows_appended FROM sync_log ORDER BY id")).all()
        latest = conn.execute(
            sa.text("SELECT user_id, count(*) FROM latest_user_top_tracks GROUP BY 1")
        ).all()
    assert [tuple(r) for r in logged] == [(a, 6), (a, 0), (b, 6), (c, 1)]
    assert dict(latest) == {a: 6, b: 6, c: 1}


def test_a_check_the_server_refuses_stores_nothing_and_the_others_are_stored(engine) -> None:
    """One user's rows break a constraint inside the shared write: that check stores nothing (no
    rows, no snapshot, no sync log) and reports why; the other users' checks are stored."""
    a, b, c = users(engine, 3)
    broken = top({"short_term": [1, 2]})
    broken.scopes[0].rows[1]["track_name"] = None  # NOT NULL
    results = store_fetches(
        engine, TABLES["user_top_tracks"], [check(a, top(RANGES)), check(b, broken), check(c, top(RANGES))]
    )
    assert isinstance(results[1], sa.exc.IntegrityError) and "track_name" in str(results[1])
    assert [r.rows_appended for r in (results[0], results[2])] == [6, 6]  # type: ignore[union-attr]
    for table in ("user_top_tracks", "snapshots", "sync_log"):
        assert scalar(engine, f"SELECT count(*) FROM {table} WHERE user_id = :u", u=b) == 0
    assert scalar(engine, "SELECT count(DISTINCT user_id) FROM latest_user_top_tracks") == 2


def test_a_check_whose_rows_cannot_be_converted_fails_before_anything_is_written(engine) -> None:
    a, b = users(engine, 2)
    odd = top({"short_term": [1]}, track_metadata={"not json": object()})
    results = store_fetches(engine, TABLES["user_top_tracks"], [check(a, odd), check(b, top(RANGES))])
    assert isinstance(results[0], BlendifyError) and "nothing was written" in str(results[0])
    assert results[1].rows_appended == 6  # type: ignore[union-attr]
    assert scalar(engine, "SELECT count(*) FROM sync_log WHERE user_id = :u", u=a) == 0


def current_in_view(engine, view: str, user_id: uuid.UUID) -> int:
    """What the user's current state holds, read from the view (what the metadata must match)."""
    return scalar(engine, f"SELECT count(*) FROM {view} WHERE user_id = :u", u=user_id)


def test_each_check_reports_the_rows_in_the_users_current_state(engine) -> None:
    """`current_rows` (the materialisations' dagster/row_count) is what the latest-state view holds
    for the user once the check is stored: scopes not re-read keep counting, a playlist that left the
    user's playlists stops counting, plays add up, and users stored together each get their own."""
    a, b = users(engine, 2)
    tracks, playlists = TABLES["user_playlist_tracks"], TABLES["user_playlists"]

    def playlist_list(*ids: str) -> EndpointFetch:
        rows = [
            {"playlist_id": p, "playlist_name": p, "snapshot_id": f"{p}-v", "is_owner": True} for p in ids
        ]
        return EndpointFetch("playlists", playlists.name, scopes=[ScopeSnapshot("", rows)])

    def items(playlist: str, n: int, version: str) -> ScopeSnapshot:
        rows = [
            track(i, playlist_id=playlist, added_at=NOW, added_by="me", track_position=i, item_type="track")
            for i in range(n)
        ]
        return ScopeSnapshot(playlist, rows, version=version)

    def store_tracks(user_id, fetch, current: set[str]) -> int:
        stored = store_fetches(
            engine, tracks, [Check(user_id, "spotify", fetch, NOW, None, frozenset(current))]
        )
        assert not isinstance(stored[0], BaseException)
        assert stored[0].current_rows == current_in_view(engine, "latest_user_playlist_tracks", user_id)
        return stored[0].current_rows

    store(engine, a, playlist_list("p1", "p2"), playlists.name)
    both = EndpointFetch("playlist_tracks", tracks.name, scopes=[items("p1", 4, "1"), items("p2", 3, "1")])
    assert store_tracks(a, both, {"p1", "p2"}) == 7
    p1_grew = EndpointFetch(
        "playlist_tracks", tracks.name, scopes=[items("p1", 5, "2")], unchanged_scopes=["p2"]
    )
    assert store_tracks(a, p1_grew, {"p1", "p2"}) == 8  # p2 was not re-read and still counts
    store(engine, a, playlist_list("p1"), playlists.name)  # p2 left the user's playlists
    only_p1 = EndpointFetch("playlist_tracks", tracks.name, unchanged_scopes=["p1"])
    assert store_tracks(a, only_p1, {"p1"}) == 5

    top_tracks = TABLES["user_top_tracks"]
    results = store_fetches(
        engine, top_tracks, [check(a, top(RANGES)), check(b, top({"short_term": [1, 2]}))]
    )
    assert [r.current_rows for r in results] == [6, 2]  # type: ignore[union-attr]
    again = store_fetches(
        engine, top_tracks, [check(a, top(RANGES | {"long_term": [7, 8]})), check(b, top({}))]
    )
    assert [r.current_rows for r in again] == [7, 2]  # type: ignore[union-attr]  # b's range was not in the fetch
    assert [current_in_view(engine, "latest_user_top_tracks", u) for u in (a, b)] == [7, 2]

    plays = TABLES["user_recently_played"]

    def played(indices) -> EndpointFetch:
        return EndpointFetch(
            "recently_played", plays.name,
            events=[track(i, played_at=NOW - timedelta(minutes=10 * i)) for i in indices],
        )  # fmt: skip

    assert store(engine, a, played(range(5)), plays.name).current_rows == 5
    assert store(engine, a, played(range(3, 8)), plays.name).current_rows == 8
    assert current_in_view(engine, "user_recently_played", a) == 8


def test_a_check_finishes_once_its_rows_are_written(engine) -> None:
    """A check's `finished_at` comes after its rows' COPY (their `fetched_at` is taken before it), so
    the time spent storing a batch counts as the checks' own, not as time between checks (the sync
    benchmark's Dagster share is measured from these intervals)."""
    a, b = users(engine, 2)
    store_fetches(engine, TABLES["user_top_tracks"], [check(a, top(RANGES)), check(b, top(RANGES))])
    store(engine, a, EndpointFetch("recently_played", "user_recently_played", events=[track(1, played_at=NOW)]),
          "user_recently_played")  # fmt: skip
    for endpoint, table in (("top_tracks", "user_top_tracks"), ("recently_played", "user_recently_played")):
        later = scalar(
            engine,
            f"SELECT bool_and(l.finished_at > t.fetched_at) FROM sync_log l JOIN {table} t "
            "ON t.user_id = l.user_id WHERE l.endpoint = :e",
            e=endpoint,
        )
        assert later is True, endpoint
