"""Matching a blend track to a target service: the rules one by one, then against the simulator's truth."""

from __future__ import annotations

import pytest

from blendify_assets.blend.matching import (
    ISRC,
    METADATA,
    NOT_FOUND,
    OWN_ID,
    REJECTED,
    Candidate,
    SourceTrack,
    content_words,
    match_track,
)
from blendify_assets.blend.normalize import title_key


def apple(track_id: str, name: str, artist: str = "Red Hot Chili Peppers", **kw: object) -> Candidate:
    return Candidate(provider="apple", track_id=track_id, name=name, artist_name=artist, **kw)  # type: ignore[arg-type]


SOURCE = SourceTrack(title="Dani California", artist_name="Red Hot Chili Peppers", album_name="Stadium Arcadium",
                     duration_ms=282_000, isrc="USWB10601553", explicit=False)  # fmt: skip


def test_a_members_own_copy_needs_no_lookup() -> None:
    source = SourceTrack(
        title="Song", artist_name="A", copies={"apple": "1440833098", "spotify": "4uLU6hMCjMI75M1A2tKUQC"}
    )
    choice = match_track(source, "apple", [])
    assert (choice.track_id, choice.method, choice.confidence) == ("1440833098", OWN_ID, 1.0)
    library_only = SourceTrack(title="Song", artist_name="A", copies={"apple": "i.PkdJNdAIrQozOW"})
    assert (
        match_track(library_only, "apple", []).reason == NOT_FOUND
    )  # another member's library id is useless


def test_isrc_ignores_case_and_breaks_ties_by_album_then_duration_then_explicitness_then_id() -> None:
    lower = SourceTrack(title="Dani California", artist_name="Red Hot Chili Peppers", isrc="uswb10601553")
    assert match_track(lower, "apple", [apple("9", "Dani California", isrc="USWB10601553")]).method == ISRC
    candidates = [
        apple("3", "Dani California", album_name="Greatest Hits", duration_ms=282_000, isrc="USWB10601553"),
        apple(
            "5", "Dani California", album_name="Stadium Arcadium", duration_ms=283_500, isrc="USWB10601553"
        ),
        apple(
            "4", "Dani California", album_name="Stadium Arcadium", duration_ms=282_400, isrc="USWB10601553"
        ),
        apple(
            "2",
            "Dani California",
            album_name="Dani California - Single",
            duration_ms=282_000,
            isrc="USWB10601553",
        ),
    ]
    choice = match_track(SOURCE, "apple", candidates)
    assert (choice.track_id, choice.method, choice.confidence) == ("4", ISRC, 1.0)  # same album, nearest
    tie = [apple(i, "Dani California", duration_ms=282_000, isrc="USWB10601553", explicit=e) for i, e in
           (("7", True), ("8", False), ("6", True))]  # fmt: skip
    assert match_track(SOURCE, "apple", tie).track_id == "8"  # the same explicitness as the track
    assert match_track(SOURCE, "apple", list(reversed(tie))).track_id == "8"  # whatever the order
    no_pref = SourceTrack(title="Dani California", artist_name="Red Hot Chili Peppers", isrc="USWB10601553")
    assert match_track(no_pref, "apple", tie).track_id == "6"  # then the smallest id


def test_an_isrc_on_another_version_or_length_is_not_trusted() -> None:
    reused = [apple("1", "Dani California (Live)", duration_ms=282_000, isrc="USWB10601553"),
              apple("2", "Dani California", duration_ms=300_000, isrc="USWB10601553")]  # fmt: skip
    choice = match_track(SOURCE, "apple", reused)
    assert not choice.matched and choice.reason == REJECTED


def test_metadata_matches_the_same_song_spelled_differently() -> None:
    drifted = [apple("1", "Dani California (Remastered)", artist="Red Hot Chili Peppers & Someone",
                     duration_ms=281_200, isrc="GXFEC2500003")]  # fmt: skip
    choice = match_track(SOURCE, "apple", drifted)
    assert choice.method == METADATA and choice.track_id == "1"
    assert 0.8 <= choice.confidence < 0.95  # different ISRCs lower it
    no_isrc = SourceTrack(title="Dani California", artist_name="Red Hot Chili Peppers", duration_ms=282_000)
    assert (
        match_track(no_isrc, "apple", [apple("1", "Dani California", duration_ms=282_900)]).confidence == 0.95
    )


@pytest.mark.parametrize(
    ("decoy", "why"),
    [
        (apple("1", "Californication", duration_ms=282_000), "no title word in common"),
        (apple("2", "Dani California (Live)", duration_ms=282_000), "another version (live)"),
        (apple("3", "Dani California - Remix", duration_ms=281_500), "another version (remix)"),
        (apple("4", "Dani California, Pt. 2", duration_ms=282_000), "another version (#2)"),
        (apple("5", "Dani California", artist="Tanya Cover Band", duration_ms=282_000), "another artist"),
        (apple("6", "Dani California", duration_ms=290_000), "durations differ by 8.0 s"),
    ],
)
def test_look_alikes_are_refused_with_a_reason(decoy: Candidate, why: str) -> None:
    choice = match_track(SOURCE, "apple", [decoy])
    assert not choice.matched and choice.reason == REJECTED
    assert why in choice.detail  # type: ignore[operator]


def test_a_one_letter_title_needs_a_shared_word() -> None:
    """ "Stars" and "Stairs" are 91 % alike to rapidfuzz and last the same: only the word rule tells."""
    stars = SourceTrack(title="Stars", artist_name="Velvet Harbor", duration_ms=200_000)
    choice = match_track(
        stars, "spotify", [Candidate("spotify", "s1", "Stairs", "Velvet Harbor", duration_ms=200_500)]
    )
    assert not choice.matched and "no title word in common" in choice.detail  # type: ignore[operator]
    assert content_words(title_key("The Night of the Hunter, Part 2 (Live)")) == {"night", "hunter"}


def test_the_right_song_wins_over_its_decoys_and_nothing_means_not_found() -> None:
    candidates = [apple("1", "Californication", duration_ms=282_000),
                  apple("2", "Dani California (Live)", duration_ms=282_000),
                  apple("3", "Dani California", duration_ms=282_100, isrc="GXFEC2500003")]  # fmt: skip
    assert match_track(SOURCE, "apple", candidates).track_id == "3"
    assert match_track(SOURCE, "apple", []).reason == NOT_FOUND
    assert match_track(SourceTrack(title=" ", artist_name="A"), "apple", candidates).reason == "no_title"


def test_a_blend_row_gives_its_isrc_and_every_members_usable_copy() -> None:
    row = {"track_id": "i.LibraryOnly", "source_provider": "apple", "track_name": "Song (feat. B)",
           "artist_name": "A & B", "album_name": "LP", "duration_ms": 200_000,
           "blend_metadata": {"cluster_id": "isrc:usabc1234567", "members": {
               "u1": {"provider": "apple", "track_id": "i.LibraryOnly"},
               "u2": {"provider": "spotify", "track_id": "6rqhFgbbKwnb9MLmUQDhG6"},
               "u3": {"provider": "spotify", "track_id": "spotify:local:A:B:Song:200"}}}}  # fmt: skip
    source = SourceTrack.from_blend_row(row)
    assert source.isrc == "USABC1234567" and source.copies == {"spotify": "6rqhFgbbKwnb9MLmUQDhG6"}
    assert source.search_terms() == ("song", "A")
    assert match_track(source, "spotify", []).method == OWN_ID
