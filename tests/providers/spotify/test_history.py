"""Spotify's privacy exports read into play rows: every version, the filters, bad input, flat memory."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blendify_assets.core.errors import BlendifyError
from blendify_assets.providers import history as history_files
from blendify_assets.providers.history import ExportError, synthetic_track_id
from blendify_assets.providers.spotify import history
from tests.history_support import FIXTURES, folder_files, key, read_all, write_zip, zip_bytes

SPOTIFY = FIXTURES / "spotify"
ENDSONG_0 = "MyData/endsong_0.json"
ENDSONG_1 = "MyData/endsong_1.json"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_endsong_plays_start_at_ts_minus_ms_played_and_filters_are_counted() -> None:
    export = history.open_export(SPOTIFY / "endsong")
    assert export.account == "alice_old"
    assert export.ignored == {"MyData/endvideo.json": "videos, not music"}  # Userdata.json is no history
    files = {f.name: f for f in export.files}
    rows = read_all(export)

    assert [f.schema for f in files.values()] == [history.ENDSONG, history.ENDSONG]
    first = rows[ENDSONG_0]
    assert [(r["track_id"], r["track_name"], r["played_at"]) for r in first] == [
        ("4uLU6hMCjMI75M1A2tKUQC", "Velvet Harbor", utc(2019, 11, 5, 14, 24, 25)),  # ts 14:28:00 - 215 s
        ("4uLU6hMCjMI75M1A2tKUQC", "Velvet Harbor", utc(2019, 11, 5, 14, 24, 25)),  # the duplicate record
        ("0VjIjW4GlUZAMYd2vXMi3b", "Midnight Parade", utc(2019, 12, 31, 23, 58)),  # started last year
        ("2takcwOaAZWiXQijPHIx7B", "Intro", utc(2020, 1, 1, 0, 5, 35)),  # 25 s, but ran to its end
        ("6rqhFgbbKwnb9MLmUQDhG6", "", utc(2020, 1, 2, 9, 56, 40)),  # a track URI with null names
    ]
    assert key(first[0]) == key(first[1])  # the warehouse's unique key stores it once
    summary = files[ENDSONG_0].summary
    assert summary.complete and summary.records == 12 and summary.plays == 5
    assert summary.filtered == {"short_skip": 3, "episode": 1, "incognito": 1, "no_track": 1, "unreadable": 1}
    assert summary.first_unreadable == "no readable ts or ms_played"

    row = first[0]
    assert row["artist_name"] == "The Signals" and row["album_name"] == "Night Drive"
    assert row["isrc"] is None and row["duration_ms"] is None and row["album_art_url"] is None
    meta = row["track_metadata"]
    assert meta["_blendify"] == {
        "source": "export", "file": ENDSONG_0, "schema": history.ENDSONG, "ms_played": 215000,
        "ended_at": "2019-11-05T14:28:00Z", "track_id_from": "uri",
    }  # fmt: skip
    original = json.loads((SPOTIFY / "endsong" / ENDSONG_0).read_text())[0]
    assert {k: v for k, v in meta.items() if k != "_blendify"} == original  # the whole record is kept


def test_records_without_a_track_id_are_kept_under_a_local_uri_or_a_stable_synthetic_id() -> None:
    rows = read_all(history.open_export(SPOTIFY / "endsong"))[ENDSONG_1]
    local, removed, normal = rows
    assert local["track_id"] == "spotify:local:Sam+Berg:Home+Tapes:Demo+Song%2C+Take+2:215"
    assert (local["track_name"], local["artist_name"], local["album_name"]) == (
        "Demo Song, Take 2",
        "Sam Berg",
        "Home Tapes",
    )
    assert local["track_metadata"]["_blendify"]["track_id_from"] == "local_uri"
    assert removed["track_id"] == synthetic_track_id("Velvet Harbor", "Bootleg Live Take")
    assert removed["track_id"] == synthetic_track_id(
        " velvet  HARBOR", "Bootleg Live Take"
    )  # same text, same id
    assert removed["track_id"].startswith("synthetic:")
    assert removed["track_metadata"]["_blendify"]["track_id_from"] == "synthetic"
    assert normal["track_id"] == "2nLtzopw4rPReszdYBJU6h"


def test_streaming_history_audio_with_and_without_username() -> None:
    old = history.open_export(SPOTIFY / "extended-2023")
    assert old.account == "alice"
    assert {f.schema for f in old.files} == {history.EXTENDED_2023}
    assert list(old.ignored) == ["Spotify Extended Streaming History/Streaming_History_Video_2020-2023.json"]
    rows = read_all(old)
    plays = [r for file in rows.values() for r in file]
    assert [(r["track_name"], r["played_at"]) for r in plays] == [
        ("Northern Lights", utc(2019, 3, 31, 0, 56, 10)),
        ("Slow Tides", utc(2021, 10, 31, 1, 26, 30)),
        ("Countdown", utc(2022, 12, 31, 23, 59, 29)),  # exactly 30 s: a listen
    ]
    second = old.files[1].summary
    assert second.filtered == {"episode": 1, "short_skip": 1} and second.plays == 0 and second.complete

    new = history.open_export(SPOTIFY / "extended-2024")
    assert new.account is None  # the 2024 format names no user
    (file,) = new.files
    assert file.schema == history.EXTENDED_2024
    rows = list(file.plays())
    assert [r["track_name"] for r in rows] == ["Morning Static", "Offline Song"]
    assert file.summary.filtered == {"audiobook": 1, "episode": 1, "incognito": 1}
    assert rows[1]["track_metadata"]["offline_timestamp"] == 1710064000


def test_account_data_is_minute_precise_utc_and_drops_plays_under_30_seconds() -> None:
    export = history.open_export(SPOTIFY / "account-data")
    assert export.ignored == {"Spotify Account Data/StreamingHistory_podcast_0.json": "podcasts, not music"}
    (file,) = export.files
    assert file.schema == history.ACCOUNT_DATA
    rows = list(file.plays())
    assert [(r["track_name"], r["artist_name"], r["played_at"]) for r in rows] == [
        ("Velvet Harbor", "The Signals", utc(2024, 3, 31, 1, 26, 25)),  # endTime 01:30 UTC - 215 s
        ("Untitled Demo", "", utc(2024, 4, 1, 12, 2, 30)),
    ]
    assert rows[0]["track_id"] == synthetic_track_id("The Signals", "Velvet Harbor")
    assert rows[0]["track_metadata"]["_blendify"]["time_precision"] == "minute"
    assert file.summary.filtered == {"short": 1, "no_track": 1}


def test_account_data_beside_the_extended_history_is_not_read_twice() -> None:
    export = history.open_export([SPOTIFY / "extended-2024", SPOTIFY / "account-data"])
    assert [f.schema for f in export.files] == [history.EXTENDED_2024]
    assert "already holds" in export.ignored["Spotify Account Data/StreamingHistory_music_0.json"]
    export.close()


def test_a_zip_a_nested_zip_and_the_folder_give_the_same_rows(tmp_path: Path) -> None:
    files = folder_files(SPOTIFY / "endsong")
    junk = [("__MACOSX/MyData/._endsong_0.json", b"\x00\x05\x16\x07 not json")]  # macOS resource fork
    flat = write_zip(tmp_path / "my_spotify_data.zip", files + junk)
    nested = write_zip(tmp_path / "outer.zip", [("my_spotify_data.zip", flat.read_bytes())])
    expected = read_all(history.open_export(SPOTIFY / "endsong"))
    assert read_all(history.open_export(flat)) == expected
    assert read_all(history.open_export(nested)) == expected
    individually = read_all(
        history.open_export([SPOTIFY / "endsong" / ENDSONG_0, SPOTIFY / "endsong" / ENDSONG_1])
    )
    assert list(individually) == ["endsong_0.json", "endsong_1.json"]  # given alone, a file is its name
    for name, rows in individually.items():
        assert [r["track_metadata"]["_blendify"].pop("file") for r in rows] == [name] * len(rows)
        assert [r["track_metadata"]["_blendify"].pop("file") for r in expected[f"MyData/{name}"]] == [
            f"MyData/{name}"
        ] * len(rows)
        assert rows == expected[f"MyData/{name}"]


def test_a_history_file_under_another_name_is_recognised_by_its_records(tmp_path: Path) -> None:
    source = (
        SPOTIFY
        / "extended-2024"
        / "Spotify Extended Streaming History"
        / "Streaming_History_Audio_2021-2024_0.json"
    )
    renamed = tmp_path / "my history.json"
    renamed.write_bytes(source.read_bytes())
    (file,) = history.open_export(renamed).files
    assert file.schema == history.EXTENDED_2024 and len(list(file.plays())) == 2


@pytest.mark.parametrize("offset", [200, 64 + 65_536 - 3])  # the second: split across two reads
def test_nul_characters_never_reach_a_row(tmp_path: Path, offset: int) -> None:
    """Postgres text and jsonb reject U+0000; the raw JSON's escape may fall across read chunks."""
    head = '[{"ts": "2024-01-01T00:10:00Z", "ms_played": 200000, "spotify_track_uri": "spotify:track:2QjOHCTQ1Jl3zawyYOpxh6", "master_metadata_track_name": "'
    pad = "x" * (offset - len(head))
    text = head + pad + '\\u0000Song"}]'
    assert text.index("\\u0000") == offset
    path = tmp_path / "Streaming_History_Audio_2024_0.json"
    path.write_text(text)
    (file,) = history.open_export(path).files
    (row,) = list(file.plays())
    assert row["track_name"] == pad + "Song"
    assert "\\u0000" not in json.dumps(row["track_metadata"])  # how json.dumps spells U+0000


def _read_each_way(path: Path, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Rows and summaries read as a small file is (whole, by orjson), then as a large one (streamed)."""
    results: list[object] = []
    for limit in (history_files.WHOLE_FILE_BYTES, 0):
        monkeypatch.setattr(history_files, "WHOLE_FILE_BYTES", limit)
        try:
            export = history.open_export(path)
            results.append((read_all(export), [f.summary.as_dict() for f in export.files]))
        except ExportError as exc:
            results.append(str(exc))
    return results


@pytest.mark.parametrize("folder", ["endsong", "extended-2023", "extended-2024", "account-data", "truncated"])
def test_a_small_file_read_whole_gives_what_streaming_gives(
    folder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, streamed = _read_each_way(SPOTIFY / folder, monkeypatch)
    assert whole == streamed


@pytest.mark.parametrize("number", ["123456789012345678901234567890", "18446744073709551616", "1e400"])
def test_numbers_a_double_or_64_bits_cannot_hold_are_read_as_the_streaming_reader_reads_them(
    tmp_path: Path, number: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "Streaming_History_Audio_2024_0.json"
    record = (
        '{"ts": "2024-01-01T00:10:00Z", "ms_played": 200000, "offline_timestamp": %s, '
        '"spotify_track_uri": "spotify:track:2QjOHCTQ1Jl3zawyYOpxh6", "master_metadata_track_name": "Song"}'
    )
    path.write_text("[" + record % 1 + ", " + record % number + "]")  # the first record is validated up front
    whole, streamed = _read_each_way(path, monkeypatch)
    assert whole == streamed


def test_read_export_yields_one_file_at_a_time() -> None:
    names = [f.name for f in history.read_export(SPOTIFY / "extended-2023")]
    assert names == [
        "Spotify Extended Streaming History/Streaming_History_Audio_2019-2022_0.json",
        "Spotify Extended Streaming History/Streaming_History_Audio_2023_1.json",
    ]


# --- bad input: one clear line, nothing read as complete -------------------------------------------------


def one_line(exc: pytest.ExceptionInfo[ExportError]) -> str:
    message = str(exc.value)
    assert isinstance(exc.value, BlendifyError) and "\n" not in message and "Traceback" not in message
    return message


def test_a_truncated_json_file_fails_before_any_row() -> None:
    path = SPOTIFY / "truncated" / "Streaming_History_Audio_2024_0.json"
    with pytest.raises(ExportError) as exc:
        history.open_export(path)
    assert str(path) in one_line(exc) and "ends early" in one_line(exc)


def test_a_truncated_json_inside_a_zip_fails_the_file_and_never_marks_it_complete(tmp_path: Path) -> None:
    truncated = (SPOTIFY / "truncated" / "Streaming_History_Audio_2024_0.json").read_bytes()
    archive = write_zip(tmp_path / "export.zip", [("Streaming_History_Audio_2024_0.json", truncated)])
    (file,) = history.open_export(archive).files  # a zip entry's end cannot be checked without reading it
    seen = []
    with pytest.raises(ExportError) as exc:
        seen.extend(file.plays())
    assert "export.zip:Streaming_History_Audio_2024_0.json" in one_line(exc)
    assert "ends early" in one_line(exc)
    assert not file.summary.complete


def test_a_truncated_zip_fails_up_front(tmp_path: Path) -> None:
    whole = zip_bytes(folder_files(SPOTIFY / "endsong"))
    cut = tmp_path / "my_spotify_data.zip"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(ExportError) as exc:
        history.open_export(cut)
    assert "my_spotify_data.zip" in one_line(exc) and "truncated or corrupt" in one_line(exc)


def test_a_corrupt_zip_entry_fails_that_file(tmp_path: Path) -> None:
    record = json.loads((SPOTIFY / "endsong" / ENDSONG_0).read_text())[0]
    data = json.dumps([record] * 400).encode()
    archive = bytearray(zip_bytes([("endsong_0.json", data)]))
    middle = 30 + len("endsong_0.json") + 200  # inside the deflated data, past the local header
    archive[middle : middle + 16] = b"\xff" * 16
    path = tmp_path / "broken.zip"
    path.write_bytes(bytes(archive))
    with pytest.raises(ExportError) as exc:
        export = history.open_export(path)
        for file in export.files:
            list(file.plays())
    assert "broken.zip:endsong_0.json" in one_line(exc)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (json.dumps({"tracks": []}), "not a JSON array"),
        (json.dumps([{"artist": "x", "track": "y"}]), "expected records with ts and ms_played"),
        (json.dumps([1, 2, 3]), "not JSON objects"),
        ("\x89PNG\r\n\x1a\n", "not a JSON array"),
    ],
)
def test_a_file_that_is_not_a_history_export_is_refused(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "upload.json"
    path.write_text(content)
    with pytest.raises(ExportError) as exc:
        history.open_export(path)
    assert str(path) in one_line(exc) and problem in one_line(exc)


def test_an_export_without_history_files_or_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no Spotify streaming history"):
        history.open_export(SPOTIFY / "not-history")
    with pytest.raises(ExportError, match="no Spotify streaming history"):
        history.open_export(write_zip(tmp_path / "x.zip", [("Userdata.json", b"{}")]))
    with pytest.raises(ExportError, match="no such file"):
        history.open_export(tmp_path / "missing.zip")


def test_two_peoples_files_are_refused_before_any_row() -> None:
    with pytest.raises(ExportError) as exc:
        history.open_export([SPOTIFY / "extended-2023", SPOTIFY / "other-user"])
    message = one_line(exc)
    assert "'alice'" in message and "'bob'" in message and "Streaming_History_Audio_2023_0.json" in message


def test_a_file_that_changes_user_midway_fails_that_file(tmp_path: Path) -> None:
    records = json.loads((SPOTIFY / "extended-2023" / "Spotify Extended Streaming History" /
                          "Streaming_History_Audio_2019-2022_0.json").read_text())  # fmt: skip
    records[2]["username"] = "mallory"
    path = tmp_path / "Streaming_History_Audio_2019-2022_0.json"
    path.write_text(json.dumps(records))
    (file,) = history.open_export(path).files
    with pytest.raises(ExportError) as exc:
        list(file.plays())
    assert "record 3" in one_line(exc) and "'mallory'" in one_line(exc)
    assert not file.summary.complete


def test_a_file_whose_every_record_is_unreadable_fails(tmp_path: Path) -> None:
    path = tmp_path / "endsong_0.json"
    path.write_text(json.dumps([{"ts": "yesterday", "ms_played": 1000}, {"ts": None, "ms_played": "long"}]))
    (file,) = history.open_export(path).files
    with pytest.raises(ExportError, match="none of its 2 records could be read"):
        list(file.plays())


# --- memory -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_memory_stays_flat_on_a_50_mb_file(tmp_path: Path) -> None:
    """A file is streamed record by record: peak memory is a sliver of the file's size."""
    template = json.loads((SPOTIFY / "extended-2024" / "Spotify Extended Streaming History" /
                           "Streaming_History_Audio_2021-2024_0.json").read_text())[0]  # fmt: skip
    path = tmp_path / "Streaming_History_Audio_2014-2024_0.json"
    with path.open("w") as out:
        out.write("[\n")
        for i in range(30_000):
            record = dict(template, ts=f"2020-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                          platform="web_player windows 10;chrome 118.0.0.0;desktop " + "x" * 1_200)  # fmt: skip
            out.write(("," if i else "") + json.dumps(record, indent=2))
        out.write("\n]\n")
    size = path.stat().st_size
    assert size > 50_000_000
    tracemalloc.start()
    try:
        (file,) = history.open_export(path).files
        count = sum(1 for _ in file.plays())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 30_000 and file.summary.complete
    assert peak < size / 20, f"peak {peak / 1e6:.1f} MB reading a {size / 1e6:.0f} MB file"
