"""The simulator's privacy exports: every version, deterministic, and consistent with the APIs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blendify_assets.providers.apple_music import history as apple_history
from blendify_assets.providers.spotify import history as spotify_history
from blendify_assets.simulator import SimulatorConfig, UserProfile, World, exports
from blendify_assets.simulator.world import ms_to_iso

CONFIG = SimulatorConfig(users=3, seed=21, catalog_tracks=3_000, profile_mix="tiny",
                         profiles=(UserProfile.medium(spotify=True, apple=True),))  # fmt: skip
UID = "user0001"
YEAR = timedelta(days=365)


@pytest.fixture(scope="module")
def world() -> World:
    world = World(CONFIG)
    world.advance_to(world.now + timedelta(days=2))  # plays made by the clock, on top of the initial ones
    return world


def read(reader: Any, data: bytes, tmp_path: Path, name: str = "export.zip") -> tuple[Any, list[dict]]:
    path = tmp_path / name
    path.write_bytes(data)
    export = reader.open_export(path)
    with export:
        rows = [row for file in export.files for row in file.plays()]
    return export, rows


def filtered(export: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for file in export.files:
        assert file.summary.complete
        for reason, count in file.summary.filtered.items():
            total[reason] = total.get(reason, 0) + count
    return total


def test_exports_are_the_same_for_the_same_seed() -> None:
    one, two = World(CONFIG), World(CONFIG)
    assert exports.spotify_export(one, UID, years=1) == exports.spotify_export(two, UID, years=1)
    assert exports.apple_export(one, UID, years=1) == exports.apple_export(two, UID, years=1)
    other = World(SimulatorConfig(users=3, seed=22, catalog_tracks=3_000, profile_mix="tiny",
                                  profiles=(UserProfile.medium(spotify=True, apple=True),)))  # fmt: skip
    assert exports.spotify_export(other, UID, years=1) != exports.spotify_export(one, UID, years=1)


@pytest.mark.parametrize(
    ("version", "schema", "reasons"),
    [
        ("endsong", spotify_history.ENDSONG, {"incognito", "episode", "short_skip", "no_track"}),
        ("extended-2023", spotify_history.EXTENDED_2023, {"incognito", "episode", "short_skip", "no_track"}),
        ("extended-2024", spotify_history.EXTENDED_2024, {"incognito", "episode", "audiobook", "short_skip", "no_track"}),
        ("account-data", spotify_history.ACCOUNT_DATA, {"short", "no_track"}),
    ],
)  # fmt: skip
def test_every_spotify_version_reads_back_with_the_records_importers_filter(
    world: World, tmp_path: Path, version: str, schema: str, reasons: set[str]
) -> None:
    export, rows = read(
        spotify_history, exports.spotify_export(world, UID, version=version, records_per_file=5_000), tmp_path
    )
    assert {f.schema for f in export.files} == {schema}
    assert len(export.files) >= 2 if version != "account-data" else len(export.files) >= 1
    assert set(filtered(export)) == reasons
    assert export.account == (world.user(UID).spotify_id if version in ("endsong", "extended-2023") else None)
    assert any(r["track_id"].startswith("synthetic:") for r in rows)
    if version != "account-data":
        assert any(r["track_id"].startswith("spotify:local:") for r in rows)
        assert len({r["track_metadata"]["_blendify"]["file"] for r in rows}) == len(export.files)


def test_the_spotify_export_holds_every_play_recently_played_showed_and_five_years_before(
    world: World, tmp_path: Path
) -> None:
    truth = world.spotify_truth(UID)["play_log"]  # every API play since the simulation began
    _, rows = read(spotify_history, exports.spotify_export(world, UID), tmp_path)
    by_track: dict[str, list] = {}
    for row in rows:
        by_track.setdefault(row["track_id"], []).append(row["played_at"])
    for play in truth:  # ts has whole seconds, so the start comes back within a second
        api_start = world.now.fromisoformat(play["played_at"])
        assert any(abs(t - api_start) < timedelta(seconds=1) for t in by_track[play["track_id"]]), play
    first_api = min(world.now.fromisoformat(p["played_at"]) for p in truth)
    in_window = [r for r in rows if r["played_at"] >= first_api - timedelta(seconds=1)]
    assert len(in_window) == len(truth)  # nothing the API did not show, in the API's window
    oldest = min(r["played_at"] for r in rows)
    assert first_api - 5 * YEAR <= oldest <= first_api - 4.9 * YEAR
    assert len(rows) > 20_000  # a medium listener's five years


def test_the_history_before_the_apis_window_does_not_change_with_the_clock(tmp_path: Path) -> None:
    world = World(CONFIG)
    before = exports.spotify_export(world, UID, years=1)
    first_api_ms = world.user(UID).spotify.plays[0][0]  # type: ignore[union-attr]
    world.advance_to(world.now + timedelta(days=1))
    _, old = read(spotify_history, before, tmp_path, "before.zip")
    _, new = read(spotify_history, exports.spotify_export(world, UID, years=1), tmp_path, "after.zip")
    cut = world.now.fromisoformat(ms_to_iso(first_api_ms))
    assert [r for r in new if r["played_at"] < cut - timedelta(seconds=1)] == [
        r for r in old if r["played_at"] < cut - timedelta(seconds=1)
    ]
    assert len(new) > len(old)  # a day of new plays


def test_account_data_covers_the_last_year(world: World, tmp_path: Path) -> None:
    _, rows = read(spotify_history, exports.spotify_export(world, UID, version="account-data"), tmp_path)
    assert min(r["played_at"] for r in rows) >= world.now - YEAR - timedelta(hours=2)


def test_the_apple_export_ends_with_the_recently_played_songs(world: World, tmp_path: Path) -> None:
    data = exports.apple_export(world, UID)
    export, rows = read(apple_history, data, tmp_path)
    assert list(export.ignored) == ["Apple Music - Play History Daily Tracks.csv"]
    assert set(filtered(export)) == {"not_play_end", "short_skip", "video", "no_track"}
    truth = world.apple_truth(UID)
    library = {s["id"]: s["name"] for s in truth["library_songs"]}
    catalog = world.catalog
    expected = [
        catalog.tracks[catalog.track_by_apple[item["id"]]].name
        if item["type"] == "songs"
        else library[item["id"]]
        for item in truth["recently_played"]
    ]
    newest_first = sorted(rows, key=lambda r: r["played_at"], reverse=True)[: len(expected)]
    assert [r["track_name"] for r in newest_first] == expected
    assert max(r["played_at"] for r in rows) <= world.now
    oldest = min(r["played_at"] for r in rows)
    assert world.now - 5 * YEAR - timedelta(days=1) <= oldest <= world.now - 4.9 * YEAR
    offsets = {r["track_metadata"]["_blendify"]["utc_offset_s"] for r in rows}
    assert len(offsets) == (1 if truth["user"]["storefront"] == "jp" else 2)  # summer and winter time
    assert sum(1 for r in rows if r["artist_name"] == "") > len(rows) / 5  # station and playlist plays
    _, flat = read(apple_history, exports.apple_export(world, UID, nested=False), tmp_path, "flat.zip")
    assert [(r["played_at"], r["track_id"]) for r in flat] == [(r["played_at"], r["track_id"]) for r in rows]


def test_a_user_not_on_a_service_has_no_export_from_it() -> None:
    world = World(SimulatorConfig(users=2, seed=3, profile_mix="tiny", catalog_tracks=3_000,
                                  profiles=(UserProfile.tiny(spotify=True, apple=False),
                                            UserProfile.tiny(spotify=False, apple=True))))  # fmt: skip
    with pytest.raises(ValueError, match="not on Apple Music"):
        exports.apple_export(world, "user0001")
    with pytest.raises(ValueError, match="not on Spotify"):
        exports.spotify_export(world, "user0002")
    with pytest.raises(ValueError, match="unknown Spotify export version"):
        exports.spotify_export(world, "user0001", version="endsong-2030")
