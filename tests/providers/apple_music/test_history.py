"""Apple's Play Activity export read into play rows: time zones, filters, the files not read, bad input."""

from __future__ import annotations

import csv
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blendify_assets.core.errors import BlendifyError
from blendify_assets.providers.apple_music import history
from blendify_assets.providers.history import ExportError, synthetic_track_id
from blendify_assets.simulator import SimulatorConfig, UserProfile, World, exports
from tests.history_support import FIXTURES, folder_files, key, read_all, write_zip, zip_bytes

APPLE = FIXTURES / "apple"
EXPORT = APPLE / "export"
ACTIVITY = "Apple_Media_Services/Apple Music Activity/Apple Music Play Activity.csv"
DAILY = "Apple_Media_Services/Apple Music Activity/Apple Music - Play History Daily Tracks.csv"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_play_activity_rows_are_play_ends_at_their_utc_start() -> None:
    export = history.open_export(EXPORT)
    assert export.ignored == {
        DAILY: "daily tracks: the same plays as Play Activity again (would double-count)"
    }
    (file,) = export.files
    assert file.schema == history.PLAY_ACTIVITY and file.name == ACTIVITY
    rows = list(file.plays())
    marker = [r["track_metadata"]["_blendify"] for r in rows]
    assert [(r["track_name"], r["artist_name"], r["played_at"], m["utc_offset_s"]) for r, m in zip(rows, marker, strict=True)] == [
        ("Golden Hour", "Neon Tides", utc(2021, 3, 28, 0, 55), 3600),  # Berlin, 01:55 CET
        ("Summer Rain", "Neon Tides", utc(2021, 3, 28, 1, 5), 7200),  # 03:05 CEST: clocks jumped, 10 min later
        ("Hello, Goodbye", "", utc(2021, 7, 4, 18, 29, 41, 574000), 0),  # a station play: no artist
        ("Lonely Highway", "Iron Dunes", utc(2021, 7, 4, 18, 56, 40), 0),  # no start: end - played
        ("Intro", "Iron Dunes", utc(2021, 7, 4, 19, 1), 0),  # 25 s, ran to its end: a listen
        ("Golden Hour", "Neon Tides", utc(2021, 3, 28, 0, 55), 3600),  # the duplicate row
        ("Quiet Meadow", "Paper Embers", utc(2021, 8, 1, 12), 0),  # no zone: read as UTC, marked
        ("Repeat Hour", "Cosmic Pilots", utc(2021, 11, 7, 5, 30), -14400),  # New York 01:30 EDT
        ("Repeat Hour", "Cosmic Pilots", utc(2021, 11, 7, 6, 30), -18000),  # the same 01:30 again, EST
    ]  # fmt: skip
    assert key(rows[0]) == key(rows[5]) and key(rows[7]) != key(rows[8])
    assert marker[3]["time_from"] == "end_minus_played" and marker[0]["time_from"] == "start"
    assert marker[6]["zone"] == "assumed_utc" and "zone" not in marker[0]
    assert file.summary.filtered == {
        "not_play_end": 1,
        "short_skip": 1,
        "video": 1,
        "no_track": 1,
        "unreadable": 1,
    }
    assert file.summary.records == 14 and file.summary.plays == 9 and file.summary.complete
    assert "line 12 has 20 cells for 19 columns" in (file.summary.first_unreadable or "")

    row = rows[0]
    assert row["track_id"] == synthetic_track_id("Golden Hour", "Golden Hour")  # (title, album)
    assert row["album_name"] == "Golden Hour" and row["duration_ms"] == 200000 and row["isrc"] is None
    meta = row["track_metadata"]
    assert meta["_blendify"] == {
        "source": "export", "file": ACTIVITY, "schema": history.PLAY_ACTIVITY, "ms_played": 200000,
        "utc_offset_s": 3600, "time_from": "start", "track_id_from": "synthetic",
    }  # fmt: skip
    with (EXPORT / ACTIVITY).open(newline="") as handle:
        original = list(csv.DictReader(handle))[1]
    assert {k: v for k, v in meta.items() if k != "_blendify"} == {k: v for k, v in original.items() if v}


def test_a_catalog_id_column_is_used_when_a_file_has_one(tmp_path: Path) -> None:
    with (EXPORT / ACTIVITY).open(newline="") as handle:
        rows = list(csv.reader(handle))
    rows[0].append("Apple Music Track Identifier")
    for i, row in enumerate(rows[1:]):
        row.append("1440857781" if i == 1 else "")
    path = tmp_path / "Apple Music Play Activity.csv"
    with path.open("w", newline="") as out:
        csv.writer(out).writerows(rows)
    first = next(iter(read_all(history.open_export(path)).values()))[0]
    assert first["track_id"] == "1440857781"
    assert first["track_metadata"]["_blendify"]["track_id_from"] == "catalog"


def test_the_export_zip_nested_zips_and_the_csv_alone_give_the_same_rows(tmp_path: Path) -> None:
    expected = read_all(history.open_export(EXPORT))[ACTIVITY]
    activity = folder_files(EXPORT / "Apple_Media_Services" / "Apple Music Activity")
    inner = zip_bytes(activity)
    middle = zip_bytes([("Apple_Media_Services/Apple Music Activity.zip", inner)])
    download = write_zip(tmp_path / "download.zip", [("Apple_Media_Services.zip", middle)])
    export = history.open_export(download)
    assert list(export.ignored) == ["Apple Music - Play History Daily Tracks.csv"]
    (rows,) = read_all(export).values()
    strip = lambda rs: [{**r, "track_metadata": {**r["track_metadata"], "_blendify": {  # noqa: E731
        k: v for k, v in r["track_metadata"]["_blendify"].items() if k != "file"}}} for r in rs]  # fmt: skip
    assert strip(rows) == strip(expected)
    (alone,) = read_all(history.open_export(EXPORT / ACTIVITY)).values()
    assert strip(alone) == strip(expected)


def one_line(exc: pytest.ExceptionInfo[ExportError]) -> str:
    message = str(exc.value)
    assert isinstance(exc.value, BlendifyError) and "\n" not in message
    return message


def test_a_csv_missing_a_column_is_refused_naming_it() -> None:
    with pytest.raises(ExportError) as exc:
        history.open_export(APPLE / "missing-column")
    assert "'Play Duration Milliseconds' is missing" in one_line(exc)
    assert "missing-column/Apple Music Play Activity.csv" in one_line(exc)


def test_the_daily_tracks_file_alone_is_refused_not_counted_as_plays() -> None:
    with pytest.raises(ExportError) as exc:
        history.open_export(APPLE / "daily-only")
    assert "no 'Apple Music Play Activity.csv'" in one_line(exc)
    renamed = APPLE / "daily-only" / "Apple Music - Play History Daily Tracks.csv"
    with pytest.raises(ExportError, match="Play Activity"):
        history.open_export(renamed)  # given alone: recognised by its columns, still not read


def test_two_accounts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError) as exc:
        history.open_export([EXPORT, APPLE / "other-account"])
    assert "two Apple accounts" in one_line(exc)
    text = (EXPORT / ACTIVITY).read_text()
    lines = text.splitlines(keepends=True)
    lines[5] = lines[5].replace("1234567890", "9999999999")
    path = tmp_path / "Apple Music Play Activity.csv"
    path.write_text("".join(lines))
    (file,) = history.open_export(path).files
    with pytest.raises(ExportError, match="line 6 is another Apple account's activity"):
        list(file.plays())
    assert not file.summary.complete


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("Apple Music Play Activity.csv", b"", "empty"),
        ("upload.json", b'[{"ts": "2020-01-01T00:00:00Z"}]', "not an Apple Music Play Activity file"),
        ("notes.csv", b"Title,Artist\nA,B\n", "not an Apple Music Play Activity file"),
    ],
)
def test_a_file_that_is_not_play_activity_is_refused(
    tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ExportError) as exc:
        history.open_export(path)
    assert str(path) in one_line(exc) and problem in one_line(exc)


def test_a_truncated_export_zip_is_refused(tmp_path: Path) -> None:
    whole = zip_bytes(folder_files(EXPORT))
    path = tmp_path / "Apple_Media_Services.zip"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ExportError) as exc:
        history.open_export(path)
    assert "truncated or corrupt" in one_line(exc)


@pytest.mark.slow
def test_memory_stays_flat_reading_a_heavy_users_nested_export(tmp_path: Path) -> None:
    """Nested zips are spooled to disk and the CSV streamed: memory does not grow with the file."""
    world = World(SimulatorConfig(users=1, seed=4, profiles=(UserProfile.heavy(spotify=False, apple=True),)))
    path = tmp_path / "download.zip"
    path.write_bytes(exports.apple_export(world, "user0001", years=3))
    with history.open_export(path) as export, export.files[0].member.open() as stream:
        size = sum(len(chunk) for chunk in iter(lambda: stream.read(1 << 20), b""))
    tracemalloc.start()
    try:
        with history.open_export(path) as export:
            (file,) = export.files
            plays = sum(1 for _ in file.plays())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plays > 30_000 and size > 15_000_000
    assert peak < size / 8, f"peak {peak / 1e6:.1f} MB reading a {size / 1e6:.0f} MB CSV"
