"""Importing a lifetime-history export into the warehouse (ingest/history.py) on a real Postgres:
one transaction, nothing twice, API plays not repeated, ISRCs reused, bad input writes nothing."""

from __future__ import annotations

import gc
import io
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from blendify_assets.core.settings import load_settings
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.engine import create_engine
from blendify_assets.ingest.history import apple_lookup, import_history, import_upload, spotify_lookup
from blendify_assets.providers import registry
from blendify_assets.providers.apple_music import history as apple_history
from blendify_assets.providers.history import ExportError
from blendify_assets.providers.http import RetryPolicy
from blendify_assets.providers.spotify import history as spotify_history
from blendify_assets.security.vault import Vault
from blendify_assets.simulator import exports
from tests.conftest import TEST_KEY, app_url
from tests.fixtures.warehouse import add_user, count, store_top_tracks, track
from tests.history_support import FIXTURES, folder_files, read_all, write_zip, zip_bytes

SPOTIFY = FIXTURES / "spotify"
APPLE = FIXTURES / "apple"


@pytest.fixture
def app_engine(database_url: str):
    """The warehouse as the app role: imports must work within its grants and the triggers."""
    engine = create_engine(app_url(database_url))
    yield engine
    engine.dispose()


def plays(engine: Engine, user_id: str) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT played_at, track_id, isrc, track_metadata->'_blendify'->>'source', "
                    "track_metadata->'_blendify'->>'isrc_from' FROM user_recently_played WHERE user_id = :u "
                    "ORDER BY played_at, track_id"
                ),
                {"u": user_id},
            )
        ]


def distinct_plays(path: Path) -> set[tuple]:
    rows = read_all(spotify_history.open_export(path))
    return {(r["played_at"].replace(tzinfo=None), r["track_id"]) for file in rows.values() for r in file}


def test_an_export_lands_once_with_start_times_source_and_ledger(engine: Engine, app_engine: Engine) -> None:
    uid = add_user(engine, "ann@example.com")
    report = import_history(app_engine, uuid.UUID(uid), "spotify", SPOTIFY / "endsong")
    stored = plays(engine, uid)
    expected = distinct_plays(SPOTIFY / "endsong")
    assert {(at, tid) for at, tid, *_ in stored} == expected  # the duplicate record stored once
    assert report.appended == len(expected)
    assert {source for *_, source, _ in stored} == {"export"}
    # ts 14:28:00 minus 215 s: the play's start, not its end
    assert (datetime(2019, 11, 5, 14, 24, 25), "4uLU6hMCjMI75M1A2tKUQC") in expected
    first = report.files[0]
    assert first.duplicates_stored == 1 and first.filtered  # the repeated record; the filters counted
    assert count(engine, "SELECT count(*) FROM history_imports WHERE user_id = :u", u=uid) == 2

    again = import_history(app_engine, uuid.UUID(uid), "spotify", SPOTIFY / "endsong")
    assert again.appended == 0
    assert all(f.already_imported_at is not None for f in again.files)
    assert plays(engine, uid) == stored
    assert count(engine, "SELECT count(*) FROM history_imports WHERE user_id = :u", u=uid) == 2


def test_the_same_plays_in_another_file_append_nothing(
    engine: Engine, app_engine: Engine, tmp_path: Path
) -> None:
    """Another download of the same history (a new hash) still adds no play twice: the play key."""
    uid = add_user(engine, "ann@example.com")
    import_history(app_engine, uuid.UUID(uid), "spotify", SPOTIFY / "endsong")
    before = plays(engine, uid)
    zipped = write_zip(tmp_path / "my_spotify_data.zip", folder_files(SPOTIFY / "endsong"))
    report = import_history(app_engine, uuid.UUID(uid), "spotify", zipped)
    assert report.appended == 0
    assert report.total("duplicates_stored") == sum(f.plays for f in report.files)
    assert plays(engine, uid) == before


def test_a_later_download_overlapping_an_import_appends_only_its_new_plays(
    engine: Engine, app_engine: Engine, tmp_path: Path
) -> None:
    """A year later the user downloads their history again: a new file (new hash) holding the plays
    already imported and one more. The direct COPY meets the stored plays and falls back to staging."""
    uid = add_user(engine, "ann@example.com")
    import_history(app_engine, uuid.UUID(uid), "spotify", SPOTIFY / "endsong")
    before = plays(engine, uid)
    records = json.loads((SPOTIFY / "endsong" / "MyData" / "endsong_1.json").read_text())
    records.append({**records[0], "ts": "2023-02-01T10:00:00Z"})
    later = tmp_path / "endsong_1.json"
    later.write_text(json.dumps(records))
    report = import_history(app_engine, uuid.UUID(uid), "spotify", later)
    assert report.appended == 1
    assert report.total("duplicates_stored") == report.total("plays") - 1
    assert len(plays(engine, uid)) == len(before) + 1


def _late_2024(i: int, track: int | None = None) -> dict[str, Any]:
    """Play i of a late-2024 Extended history, four minutes after play i - 1."""
    t = i if track is None else track
    return {
        "ts": (datetime(2019, 1, 1, tzinfo=UTC) + timedelta(minutes=4 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": "ios", "ms_played": 200_000, "conn_country": "DE", "ip_addr": "192.0.2.10",
        "master_metadata_track_name": f"Song {t}", "master_metadata_album_artist_name": "Artist",
        "master_metadata_album_album_name": "Album", "spotify_track_uri": f"spotify:track:{t:022d}",
        "episode_name": None, "episode_show_name": None, "spotify_episode_uri": None, "audiobook_title": None,
        "audiobook_uri": None, "audiobook_chapter_uri": None, "audiobook_chapter_title": None,
        "reason_start": "trackdone", "reason_end": "trackdone", "shuffle": False, "skipped": False,
        "offline": False, "offline_timestamp": None, "incognito_mode": False,
    }  # fmt: skip


def _history_folder(folder: Path, files: dict[str, list[dict[str, Any]]]) -> Path:
    folder.mkdir()
    for name, records in files.items():
        (folder / f"Streaming_History_Audio_{name}.json").write_text(json.dumps(records))
    return folder


def test_a_middle_file_overlapping_stored_plays_is_staged_and_the_files_after_it_still_land(
    engine: Engine, app_engine: Engine, tmp_path: Path
) -> None:
    """The files are read ahead across their boundaries; a file that meets stored plays is read again
    on its own (the staged path) and reading goes on with the file after it."""
    uid = uuid.UUID(add_user(engine, "ann@example.com"))
    import_history(
        app_engine,
        uid,
        "spotify",
        _history_folder(tmp_path / "first", {"2020_1": [_late_2024(i) for i in range(100, 150)]}),
    )
    later = {
        "2019_0": [_late_2024(i) for i in range(50)],
        "2020_1": [_late_2024(i) for i in range(100, 151)],  # a new download of that year: one play more
        "2021_2": [_late_2024(i) for i in range(200, 250)],
    }
    report = import_history(app_engine, uid, "spotify", _history_folder(tmp_path / "later", later))
    by_year = {f.file.split("_")[-2]: (f.appended, f.duplicates_stored) for f in report.files}
    assert by_year == {"2019": (50, 0), "2020": (1, 50), "2021": (50, 0)}
    assert len(plays(engine, str(uid))) == 50 + 51 + 50


def test_two_files_of_the_same_name_in_one_upload_are_both_imported(
    engine: Engine, app_engine: Engine, tmp_path: Path
) -> None:
    """Two downloads zipped together hold files of the same path with different plays: each is
    imported and recorded under its own digest. Before, the digests were keyed by name: the second
    file was reported already imported and its plays lost, and the first was recorded under the
    second's digest, so that download could never be imported later."""
    uid = uuid.UUID(add_user(engine, "ann@example.com"))
    name = "Spotify Extended Streaming History/Streaming_History_Audio_2019_0.json"
    first = json.dumps([_late_2024(i) for i in range(10)]).encode()
    second = json.dumps([_late_2024(i) for i in range(100, 110)]).encode()
    both = write_zip(
        tmp_path / "downloads.zip",
        [
            ("my_spotify_data_2024.zip", zip_bytes([(name, first)])),
            ("my_spotify_data_2025.zip", zip_bytes([(name, second)])),
        ],
    )
    report = import_history(app_engine, uid, "spotify", both)
    assert [(f.appended, f.already_imported_at) for f in report.files] == [(10, None), (10, None)]
    assert len(plays(engine, str(uid))) == 20
    again = write_zip(tmp_path / "again.zip", [(name, second)])
    assert import_history(app_engine, uid, "spotify", again).files[0].already_imported_at is not None


def test_plays_waiting_for_the_warehouse_isrc_lookup_are_all_stored_with_theirs(
    engine: Engine, app_engine: Engine, tmp_path: Path
) -> None:
    """Rows of songs not seen yet wait (up to 5,000) for one ISRC query; past that many, and at the
    end of the file, every waiting row is stored, with the warehouse's ISRC where it knows one."""
    uid, other = add_user(engine, "ann@example.com"), add_user(engine, "bob@example.com")
    records = [_late_2024(i) for i in range(7_000)] + [_late_2024(7_000 + i, track=i) for i in range(10)]
    known = [track(f"{t:022d}", f"Song {t}", "Artist", isrc=f"GBAYE{t:07d}") for t in (3, 5_500, 6_999)]
    store_top_tracks(engine, other, "spotify", known)
    report = import_history(
        app_engine, uuid.UUID(uid), "spotify", _history_folder(tmp_path / "h", {"2019_0": records})
    )
    stored = plays(engine, uid)
    assert report.appended == len(stored) == 7_010
    with_isrc = sorted((tid, isrc, how) for _, tid, isrc, _, how in stored if isrc)
    assert with_isrc == sorted([(f"{t:022d}", f"GBAYE{t:07d}", "warehouse") for t in (3, 3, 5_500, 6_999)])
    assert report.enriched("isrc_from_warehouse") == 4
    assert report.enriched("unidentified") == 7_010 - 4


def test_plays_stored_from_the_api_are_not_stored_again(
    engine: Engine, app_engine: Engine, tmp_path: Path
) -> None:
    uid = add_user(engine, "ann@example.com")
    rows = read_all(spotify_history.open_export(SPOTIFY / "endsong"))["MyData/endsong_0.json"]
    first = rows[0]  # Velvet Harbor, started 14:24:25, 215 s
    start = first["played_at"].replace(tzinfo=None)
    api = [
        (start + timedelta(seconds=0.4), first["track_id"]),  # the API's start time, in milliseconds
        (
            start + timedelta(seconds=215 + 30),
            first["track_id"],
        ),  # a client that reports the end: within 60 s
        (start + timedelta(hours=2), first["track_id"]),  # a later, separate play
    ]
    with engine.begin() as conn:
        for at, tid in api:
            conn.execute(
                sa.text(
                    "INSERT INTO user_recently_played (user_id, provider, track_id, track_name, artist_name, "
                    "played_at, fetched_at, track_metadata) VALUES (:u, 'spotify', :t, 'Velvet Harbor', 'x', :p, :p, "
                    "'{}')"
                ),
                {"u": uid, "t": tid, "p": at},
            )
    report = import_history(app_engine, uuid.UUID(uid), "spotify", SPOTIFY / "endsong")
    # the file holds that play twice (a duplicate record): each pairs with one API play, one to one
    assert report.total("duplicates_api") == 2
    stored = [(at, tid) for at, tid, *_ in plays(engine, uid) if tid == first["track_id"]]
    assert (start, first["track_id"]) not in stored
    assert len(stored) == len(api) + sum(
        1 for r in rows if r["track_id"] == first["track_id"] and r["played_at"] != first["played_at"]
    )


def test_isrcs_the_warehouse_knows_are_reused_and_the_method_kept(engine: Engine, app_engine: Engine) -> None:
    uid = add_user(engine, "ann@example.com")
    other = add_user(engine, "bob@example.com")
    known = track("4uLU6hMCjMI75M1A2tKUQC", "Velvet Harbor", "x", isrc="GBAYE0601498")
    store_top_tracks(engine, other, "spotify", [known])
    report = import_history(app_engine, uuid.UUID(uid), "spotify", SPOTIFY / "endsong")
    enriched = [(tid, isrc, how) for _, tid, isrc, _, how in plays(engine, uid) if isrc]
    assert enriched and {e for e in enriched} == {("4uLU6hMCjMI75M1A2tKUQC", "GBAYE0601498", "warehouse")}
    # staged rows, the file's repeated record included
    assert sum(f.enrichment["isrc_from_warehouse"] for f in report.files) >= len(enriched)


def test_a_file_that_breaks_mid_import_writes_nothing_at_all(
    engine: Engine, app_engine: Engine, tmp_path: Path
) -> None:
    """The first file is fine, the second ends early inside the zip (found only while reading it):
    the whole import rolls back, the first file included, and the ledger stays empty."""
    uid = add_user(engine, "ann@example.com")
    files = folder_files(SPOTIFY / "endsong")
    broken = [(n, d[: len(d) // 2] if n.endswith("endsong_1.json") else d) for n, d in files]
    zipped = write_zip(tmp_path / "export.zip", broken)
    with pytest.raises(ExportError, match="ends early"):
        import_history(app_engine, uuid.UUID(uid), "spotify", zipped)
    assert plays(engine, uid) == []
    assert count(engine, "SELECT count(*) FROM history_imports") == 0


def test_an_import_leaves_the_collector_as_it_found_it(
    engine: Engine, app_engine: Engine, tmp_path: Path
) -> None:
    """Imports collect cycles less often while they run (the web app's process shares the setting)."""
    before = gc.get_threshold()
    uid = add_user(engine, "ann@example.com")
    import_history(app_engine, uuid.UUID(uid), "spotify", SPOTIFY / "endsong")
    assert gc.get_threshold() == before
    broken = [(n, d[:-20]) for n, d in folder_files(SPOTIFY / "extended-2024")]
    with pytest.raises(ExportError):
        import_history(app_engine, uuid.UUID(uid), "spotify", write_zip(tmp_path / "broken.zip", broken))
    assert gc.get_threshold() == before


def test_another_accounts_export_is_refused(engine: Engine, app_engine: Engine) -> None:
    uid = add_user(engine, "ann@example.com")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO provider_connections (user_id, provider, provider_user_id, access_token_encrypted) "
                "VALUES (:u, 'spotify', 'ann_on_spotify', 'x')"
            ),
            {"u": uid},
        )
    with pytest.raises(ExportError, match=r"'alice_old'.*connected as 'ann_on_spotify'"):
        import_history(app_engine, uuid.UUID(uid), "spotify", SPOTIFY / "endsong")
    assert plays(engine, uid) == []


def test_an_apple_upload_stream_imports_like_a_file(engine: Engine, app_engine: Engine) -> None:
    """The web app's entry point: one call with the uploaded stream."""
    uid = add_user(engine, "ann@example.com")
    csv = APPLE / "export" / "Apple_Media_Services" / "Apple Music Activity" / "Apple Music Play Activity.csv"
    report = import_upload(
        app_engine, uuid.UUID(uid), "apple", io.BytesIO(csv.read_bytes()), "../../activity.csv"
    )
    assert report.appended > 0 and report.files[0].schema == "apple-play-activity"
    assert report.appended == len(plays(engine, uid))
    again = import_upload(app_engine, uuid.UUID(uid), "apple", io.BytesIO(csv.read_bytes()), "activity.csv")
    assert again.appended == 0
    with pytest.raises(ExportError, match="empty"):
        import_upload(app_engine, uuid.UUID(uid), "apple", io.BytesIO(b""), "x.csv")


def test_track_metadata_keeps_the_whole_record(engine: Engine, app_engine: Engine) -> None:
    uid = add_user(engine, "ann@example.com")
    import_history(app_engine, uuid.UUID(uid), "spotify", SPOTIFY / "endsong")
    original = json.loads((SPOTIFY / "endsong" / "MyData" / "endsong_0.json").read_text())[0]
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT track_metadata FROM user_recently_played WHERE user_id = :u AND track_metadata->>'ts' = :ts"
            ),
            {"u": uid, "ts": original["ts"]},
        ).scalar_one()
    marker = stored.pop("_blendify")
    assert stored == original
    assert marker["source"] == "export" and marker["file"] == "MyData/endsong_0.json"
    assert marker["schema"] == "spotify-endsong"
    assert datetime.fromisoformat(original["ts"]).astimezone(UTC)  # the end time, kept as exported


def test_apple_plays_pair_with_api_plays_by_title_within_hours(engine: Engine, app_engine: Engine) -> None:
    """Apple's API plays have estimated times and catalog ids; the export has neither: same title
    within three hours is the same play, once."""
    uid = add_user(engine, "ann@example.com")
    folder = APPLE / "export"
    rows = [r for f in read_all(apple_history.open_export(folder)).values() for r in f]
    first = rows[0]
    start = first["played_at"].replace(tzinfo=None)
    with engine.begin() as conn:
        for at in (start + timedelta(hours=2), start + timedelta(hours=30)):  # estimated; another day
            conn.execute(
                sa.text(
                    "INSERT INTO user_recently_played (user_id, provider, track_id, track_name, artist_name, "
                    "played_at, fetched_at, track_metadata) VALUES (:u, 'apple', '1440857781', :n, '', :p, :p, '{}')"
                ),
                {"u": uid, "n": first["track_name"].upper(), "p": at},
            )
    repeats = sum(
        1 for r in rows if (r["played_at"], r["track_id"]) == (first["played_at"], first["track_id"])
    )
    report = import_history(app_engine, uuid.UUID(uid), "apple", folder)
    assert report.total("duplicates_api") == repeats  # the play, and the export's repeats of it
    assert report.appended == len({(r["played_at"], r["track_id"]) for r in rows}) - 1
    assert (start, first["track_id"]) not in {(at, tid) for at, tid, *_ in plays(engine, uid)}


# --- enrichment: ISRCs looked up through the provider's API (issue 15 item 3) ---------------------------


def _connected(engine: Engine, simulator) -> tuple[str, str, Vault]:
    """The simulator's first Spotify user, connected (tokens in the vault), never synced."""
    sim_user = next(u for u in simulator.world.users if u.on_spotify)
    uid = add_user(engine, sim_user.email)
    vault = Vault([TEST_KEY])
    payload = TokenPayload.parse(json.dumps(simulator.spotify.issue_tokens(sim_user.uid)))
    connections.upsert(engine, vault, sim_user.email, "spotify", payload)
    return uid, sim_user.uid, vault


def _lookup(engine: Engine, vault: Vault, uid: str):
    settings = load_settings(providers=registry.settings_types()).provider("spotify")
    policy = RetryPolicy(transient_attempts=2, backoff_initial=0.01, backoff_max=0.05)
    lookup, why_not = spotify_lookup(engine, vault, settings, uuid.UUID(uid), policy)
    assert lookup is not None, why_not
    return lookup


def _export(simulator, sim_uid: str, tmp_path: Path) -> Path:
    path = tmp_path / "my_spotify_data.zip"
    path.write_bytes(exports.spotify_export(simulator.world, sim_uid, years=0.1))
    return path


def _track_ids(path: Path) -> set[str]:
    rows = read_all(spotify_history.open_export(path))
    return {
        str(r["track_id"])
        for file in rows.values()
        for r in file
        if r["track_metadata"]["_blendify"]["track_id_from"] == "uri"
    }


def _truth_isrc(simulator, track_id: str) -> str:
    catalog = simulator.world.catalog
    isrc: str = catalog.tracks[catalog.track_by_sid[track_id]].spotify_isrc
    return isrc.strip().upper()  # as the sync stores it


def test_lookups_give_isrcs_to_tracks_never_synced_each_looked_up_once(
    sim_env, simulator, engine: Engine, app_engine: Engine, tmp_path: Path
) -> None:
    uid, sim_uid, vault = _connected(engine, simulator)
    export = _export(simulator, sim_uid, tmp_path)
    ids = _track_ids(export)
    assert len(ids) > 10
    simulator.request_log.clear()

    report = import_history(app_engine, uuid.UUID(uid), "spotify", export, lookup=_lookup(engine, vault, uid))

    lookups = [r.path for r in simulator.request_log.filter("/tracks", provider="spotify")]
    assert sorted(lookups) == sorted(f"/tracks/{i}" for i in ids)  # one single-track GET per distinct track
    stored = plays(engine, uid)
    assert report.appended == len(stored) > len(ids)  # tracks recur: lookups are per track, not per play
    by_id = [row for row in stored if row[1] in ids]
    for _, track_id, isrc, _, isrc_from in by_id:
        assert (isrc, isrc_from) == (_truth_isrc(simulator, track_id), "lookup"), track_id
    assert report.enriched("isrc_from_lookup") == len(by_id)
    # local files and plays the export names only by title and artist: stored without an ISRC, counted
    assert report.enriched("unidentified") == len(stored) - len(by_id) > 0
    assert f"looked up {len(ids):,} tracks" in report.lookups

    simulator.request_log.clear()
    again = import_history(app_engine, uuid.UUID(uid), "spotify", export, lookup=_lookup(engine, vault, uid))
    assert again.appended == 0 and simulator.request_log.count("/tracks", provider="spotify") == 0


def test_a_rate_limited_lookup_is_waited_out(
    sim_env, simulator, engine: Engine, app_engine: Engine, tmp_path: Path
) -> None:
    uid, sim_uid, vault = _connected(engine, simulator)
    export = _export(simulator, sim_uid, tmp_path)
    simulator.faults.add("/tracks/*", "rate_limit", count=1, retry_after=1)

    report = import_history(app_engine, uuid.UUID(uid), "spotify", export, lookup=_lookup(engine, vault, uid))

    assert simulator.request_log.count("/tracks", provider="spotify", status=429) == 1
    assert "waited out 1 rate limits" in report.lookups
    ids = _track_ids(export)
    assert {isrc_from for _, tid, *_, isrc_from in plays(engine, uid) if tid in ids} == {"lookup"}


def test_a_revoked_token_stores_the_plays_unidentified_and_counted(
    sim_env, simulator, engine: Engine, app_engine: Engine, tmp_path: Path
) -> None:
    uid, sim_uid, vault = _connected(engine, simulator)
    export = _export(simulator, sim_uid, tmp_path)
    simulator.faults.add("/tracks/*", "revoke_token", count=1)

    report = import_history(app_engine, uuid.UUID(uid), "spotify", export, lookup=_lookup(engine, vault, uid))

    stored = plays(engine, uid)
    assert report.appended == len(stored) == len({(at, tid) for at, tid in distinct_plays(export)})
    without = [row for row in stored if row[2] is None]
    assert without and report.enriched("unidentified") == len(without)
    assert "stopped early" in report.lookups
    assert count(engine, "SELECT count(*) FROM history_imports WHERE user_id = :u", u=uid) >= 1


def test_apple_plays_get_isrcs_by_catalogue_search_each_track_once(
    sim_env, simulator, engine: Engine, app_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apple's Play Activity has no catalog id: each distinct song is searched once by title and
    artist, and a candidate blend/identity judges the same recording gives the play its ISRC."""
    key = tmp_path / "AuthKey_SIM.p8"
    key.write_text(simulator.apple.private_key_pem)
    monkeypatch.setenv("APPLE_MUSIC_PRIVATE_KEY_PATH", str(key))
    sim_user = next(u for u in simulator.world.users if u.on_apple)
    uid = add_user(engine, sim_user.email)
    vault = Vault([TEST_KEY])
    payload = TokenPayload.parse(json.dumps({"access_token": simulator.apple.issue_user_token(sim_user.uid)}))
    connections.upsert(engine, vault, sim_user.email, "apple", payload)
    export = tmp_path / "Apple_Media_Services.zip"
    export.write_bytes(exports.apple_export(simulator.world, sim_user.uid, years=0.1))
    settings = load_settings(providers=registry.settings_types()).provider("apple")
    lookup, why_not = apple_lookup(engine, vault, settings, uuid.UUID(uid), RetryPolicy(backoff_initial=0.01))
    assert lookup is not None, why_not
    simulator.request_log.clear()

    report = import_history(app_engine, uuid.UUID(uid), "apple", export, lookup=lookup)

    stored = plays(engine, uid)
    distinct = {tid for _, tid, *_ in stored}
    searches = [
        r for r in simulator.request_log.filter("/v1/catalog/", provider="apple") if "search" in r.path
    ]
    assert len(searches) == len(distinct)  # one search per distinct song, not per play
    catalog = simulator.world.catalog
    isrcs = {t.isrc for t in catalog.tracks} | {r.isrc for r in simulator.world.cross.releases if r.isrc}
    found = [row for row in stored if row[4] == "search"]
    assert len(found) > len(stored) // 2 and all(row[2] in isrcs for row in found)
    assert report.enriched("isrc_from_search") == len(found)
    assert report.enriched("unidentified") == len(stored) - len(found)


# --- the stored rows, pinned ----------------------------------------------------------------------------

PINNED = FIXTURES / "pinned" / "stored_rows.json"
"""Every column of every row the imports below store, and their reports, as the code stored them when
the import was rewritten for speed (issue 15's benchmark): any change to what lands is a change here.
Regenerate (after checking the difference is intended) with BLENDIFY_REGENERATE_PINNED=1."""


def _awkward_file() -> bytes:
    """Extended-history records that exercise the write path's escaping and JSON handling: COPY's
    special characters in names, U+0000, an integer a double cannot hold, a float, a time zone offset, a
    record that has its own `_blendify` key, and a record repeated."""
    base = {
        "ts": "2022-05-01T10:00:00Z", "platform": "ios", "ms_played": 200_000, "conn_country": "DE",
        "master_metadata_track_name": "Tab\there", "master_metadata_album_artist_name": "Back\\slash",
        "master_metadata_album_album_name": "Line\nbreak\r", "spotify_track_uri": "spotify:track:0aaaaaaaaaaaaaaaaaaaaa",
        "episode_name": None, "spotify_episode_uri": None, "reason_start": "trackdone", "reason_end": "trackdone",
        "shuffle": False, "skipped": None, "offline": False, "offline_timestamp": 1651399200000,
        "incognito_mode": False,
    }  # fmt: skip
    records = [
        base,
        base,  # repeated
        {**base, "ts": "2022-05-01T12:30:00+02:00", "master_metadata_track_name": "Zero\u0000byte",
         "spotify_track_uri": "spotify:track:0bbbbbbbbbbbbbbbbbbbbb", "offline_timestamp": 9007199254740993},
        {**base, "ts": "2022-05-01T11:00:00", "ms_played": 95_000.5, "master_metadata_track_name": "Émoji 🎧 \\N",
         "spotify_track_uri": "spotify:track:0ccccccccccccccccccccc", "_blendify": {"source": "forged"}},
        {**base, "ts": "2022-05-01T11:10:00Z", "spotify_track_uri": None, "master_metadata_track_name": "No uri",
         "master_metadata_album_artist_name": None, "master_metadata_album_album_name": None},
        {**base, "ts": "2022-05-01T11:20:00Z", "ms_played": 5_000, "reason_end": "fwdbtn"},  # filtered
        {**base, "ts": "2022-05-01T11:30:00Z", "spotify_track_uri": "spotify:local:A+B:Al%2Fbum:T%C3%ADtle:200",
         "master_metadata_track_name": None},
    ]  # fmt: skip
    return json.dumps(records).encode()


def _stored_rows(engine: Engine, user_ids: list[str]) -> list[list[str | None]]:
    with engine.connect() as conn:
        return [
            list(r)
            for r in conn.execute(
                sa.text(
                    "SELECT u.email, provider::text, track_id, track_name, artist_name, album_name, album_art_url, "
                    "duration_ms::text, played_at::text, isrc, track_metadata::text, "
                    "(fetched_at = min(fetched_at) OVER (PARTITION BY p.user_id, provider))::text "
                    "FROM user_recently_played p JOIN users u ON u.id = p.user_id WHERE p.user_id = ANY(:u) "
                    "ORDER BY u.email, provider, played_at, track_id, track_metadata::text"
                ),
                {"u": [uuid.UUID(u) for u in user_ids]},
            )
        ]


def _report(report: Any) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in vars(f).items() if k != "already_imported_at"}
        | {"again": f.already_imported_at is not None}
        for f in report.files
    ]


def test_the_stored_rows_and_reports_are_pinned(engine: Engine, app_engine: Engine, tmp_path: Path) -> None:
    """Every export version and the awkward cases, with an API play to pair, a warehouse ISRC to reuse,
    a re-import (nothing appended) and a new download overlapping the first (the staged path)."""
    ann, bob, cy = (add_user(engine, f"{n}@example.com") for n in ("ann", "bob", "cy"))
    store_top_tracks(
        engine, bob, "spotify", [track("2QjOHCTQ1Jl3zawyYOpxh6", "Morning Static", "x", isrc="DEX123456789")]
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO user_recently_played (user_id, provider, track_id, track_name, artist_name, "
                "played_at, fetched_at, track_metadata) VALUES (:u, 'spotify', '0aaaaaaaaaaaaaaaaaaaaa', 'Tab', "
                "'x', '2022-05-01 09:56:50.4', '2022-05-01 10:00', '{}')"
            ),
            {"u": ann},
        )
    awkward = tmp_path / "awkward" / "Streaming_History_Audio_2022_0.json"
    awkward.parent.mkdir()
    awkward.write_bytes(_awkward_file())
    reports: list[Any] = []
    for folder in ("endsong", "extended-2023", "extended-2024"):
        reports.append(_report(import_history(app_engine, uuid.UUID(ann), "spotify", SPOTIFY / folder)))
    reports.append(_report(import_history(app_engine, uuid.UUID(ann), "spotify", awkward.parent)))
    reports.append(_report(import_history(app_engine, uuid.UUID(ann), "spotify", awkward.parent)))  # again
    reports.append(_report(import_history(app_engine, uuid.UUID(cy), "spotify", SPOTIFY / "account-data")))
    # a later download: the same plays and one more, under a new hash: only the new play lands
    later = json.loads(awkward.read_bytes())
    later.append({**later[0], "ts": "2022-06-01T10:00:00Z"})
    awkward.write_bytes(json.dumps(later).encode())
    reports.append(_report(import_history(app_engine, uuid.UUID(ann), "spotify", awkward.parent)))
    reports.append(_report(import_history(app_engine, uuid.UUID(cy), "apple", APPLE / "export")))
    got = {"rows": _stored_rows(engine, [ann, cy]), "reports": reports}
    got = json.loads(json.dumps(got, default=str))
    if os.environ.get("BLENDIFY_REGENERATE_PINNED"):
        PINNED.parent.mkdir(exist_ok=True)
        PINNED.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads(PINNED.read_text())
