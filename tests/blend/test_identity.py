"""Track identity: the matches a user would see as "the same song", and the near misses they would not."""

from __future__ import annotations

from rapidfuzz import fuzz, process

from blendify_assets.blend import TrackInfo, build_identity, match_tracks
from blendify_assets.blend.identity import FUZZY_THRESHOLD, _similar_pairs
from blendify_assets.blend.normalize import normalize_isrc, primary_artist_key, title_key


def info(**kw: object) -> TrackInfo:
    base = {
        "provider": "spotify",
        "track_id": "x",
        "track_name": "",
        "artist_name": "",
        "duration_ms": 200_000,
    }
    return TrackInfo(**{**base, **kw})  # type: ignore[arg-type]


def test_isrc_matches_across_providers_whatever_the_case_and_dashes() -> None:
    sp = info(track_id="s1", track_name="Blinding Lights", artist_name="The Weeknd", isrc="usug11904206")
    ap = info(
        provider="apple",
        track_id="a1",
        track_name="Blinding Lights",
        artist_name="The Weeknd",
        isrc="US-UG1-19-04206",
    )
    m = match_tracks(sp, ap)
    assert m is not None and (m.method, m.confidence) == ("isrc", 1.0)


def test_remaster_and_feat_decorations_match_exactly_without_isrc() -> None:
    sp = info(
        track_id="s1", track_name="Hey Jude - Remastered 2015", artist_name="The Beatles", duration_ms=431_000
    )
    ap = info(
        provider="apple", track_id="a1", track_name="Hey Jude", artist_name="Beatles", duration_ms=430_200
    )
    m = match_tracks(sp, ap)
    assert m is not None and m.method == "exact" and m.confidence >= 0.9

    feat_sp = info(
        track_id="s2", track_name="Stay (feat. Justin Bieber)", artist_name="The Kid LAROI, Justin Bieber"
    )
    feat_ap = info(
        provider="apple", track_id="a2", track_name="Stay", artist_name="The Kid LAROI & Justin Bieber"
    )
    assert match_tracks(feat_sp, feat_ap) is not None


def test_fuzzy_name_match_carries_a_lower_confidence() -> None:
    sp = info(track_id="s1", track_name="Livin' on a Prayer", artist_name="Bon Jovi", duration_ms=249_000)
    ap = info(
        provider="apple",
        track_id="a1",
        track_name="Living On A Prayer",
        artist_name="Bon Jovi",
        duration_ms=250_100,
    )
    m = match_tracks(sp, ap)
    assert m is not None and m.method == "fuzzy"
    assert 0.7 <= m.confidence < 0.95


def test_near_misses_do_not_match() -> None:
    base = info(track_id="s1", track_name="Yesterday", artist_name="The Beatles", duration_ms=125_000)
    live = info(
        provider="apple",
        track_id="a1",
        track_name="Yesterday - Live",
        artist_name="The Beatles",
        duration_ms=125_000,
    )
    assert match_tracks(base, live) is None, "a live version is another recording, even at the same length"
    part1 = info(
        track_id="p1", track_name="Symphony No. 5 Part 1", artist_name="Orchestra", duration_ms=300_000
    )
    part2 = info(
        track_id="p2", track_name="Symphony No. 5 Part 2", artist_name="Orchestra", duration_ms=300_500
    )
    assert match_tracks(part1, part2) is None
    far = info(
        provider="apple",
        track_id="a2",
        track_name="Yesterday",
        artist_name="The Beatles",
        duration_ms=128_500,
    )
    assert match_tracks(base, far) is None, "same title and artist but 3.5 s apart is another recording"
    other_artist = info(provider="apple", track_id="a3", track_name="Yesterday", artist_name="Boyz II Men")
    assert match_tracks(base, other_artist) is None


def test_fuzzy_needs_a_known_duration() -> None:
    a = info(track_id="s1", track_name="Livin' on a Prayer", artist_name="Bon Jovi", duration_ms=None)
    b = info(provider="apple", track_id="a1", track_name="Living On A Prayer", artist_name="Bon Jovi")
    assert match_tracks(a, b) is None


def test_clusters_are_transitive_stable_and_carry_the_weakest_link() -> None:
    tracks = [
        info(
            track_id="s1",
            track_name="Hey Jude - Remastered 2015",
            artist_name="The Beatles",
            isrc="GBAYE0601498",
        ),
        info(
            provider="apple",
            track_id="a1",
            track_name="Hey Jude",
            artist_name="The Beatles",
            isrc="gbaye0601498",
        ),
        info(
            provider="apple",
            track_id="a2",
            track_name="Hey Jude",
            artist_name="The Beatles",
            duration_ms=201_500,
        ),
        info(track_id="s9", track_name="Let It Be", artist_name="The Beatles"),
    ]
    index = build_identity(tracks)
    again = build_identity(reversed(tracks))
    assert index.cluster_of == again.cluster_of
    cid = index.cluster(("spotify", "s1"))
    assert cid == "isrc:GBAYE0601498"
    assert index.cluster(("apple", "a2")) == cid
    assert index.match[cid].method == "exact"
    assert index.cluster(("spotify", "s9")) != cid
    assert index.match[index.cluster(("spotify", "s9"))].method == "single"


def test_normalisers() -> None:
    assert normalize_isrc(" us-ug1-19-04206 ") == "USUG11904206"
    assert normalize_isrc("not an isrc") is None
    assert title_key("Blue Monday - 1988 Remaster") == title_key("Blue Monday")
    assert title_key("Song - Live") != title_key("Song")
    assert primary_artist_key("Calvin Harris & Dua Lipa") == primary_artist_key("Calvin Harris, Dua Lipa")
    assert primary_artist_key("Beyoncé") == primary_artist_key("Beyonce")


def test_parts_numbered_in_roman_numerals_or_words_stay_apart() -> None:
    """Issue 10 (4): "Part I" and "Part II" are two recordings, however the number is spelt."""
    one = info(track_id="s1", track_name="Another Brick in the Wall, Part I", artist_name="Pink Floyd",
               duration_ms=190_000)  # fmt: skip
    two = info(provider="apple", track_id="a2", track_name="Another Brick in the Wall, Part II",
               artist_name="Pink Floyd", duration_ms=190_500)  # fmt: skip
    assert match_tracks(one, two) is None
    index = build_identity([one, two])
    assert index.cluster(one.key) != index.cluster(two.key), "two parts became one recording"
    for a, b in [
        ("Suite, Part One", "Suite, Part Two"),
        ("Concerto: First Movement", "Concerto: Second Movement"),
        ("Concerto: 1st Movement", "Concerto: 2nd Movement"),
        ("Rocky III Theme", "Rocky IV Theme"),
        ("Saga, Vol. I", "Saga, Vol. V"),
    ]:
        x = info(track_id="s1", track_name=a, artist_name="Band")
        y = info(provider="apple", track_id="a1", track_name=b, artist_name="Band")
        assert match_tracks(x, y) is None, (a, b)
    # The same part spelt two ways is still one recording.
    same = info(provider="apple", track_id="a3", track_name="Another Brick in the Wall, Pt. 2",
                artist_name="Pink Floyd", duration_ms=190_200)  # fmt: skip
    assert match_tracks(two, same) is not None
    pronoun = info(track_id="s4", track_name="I Will Always Love You", artist_name="Whitney Houston")
    pronoun_apple = info(provider="apple", track_id="a4", track_name="I Will Always Love You",
                         artist_name="Whitney Houston")  # fmt: skip
    assert match_tracks(pronoun, pronoun_apple) is not None, "a lone 'I' is a word, not a number"


def test_accents_fold_on_latin_letters_only() -> None:
    """Issue 10 (5): marks that change a letter in other scripts keep titles apart."""
    for a, b in [
        ("カゲ", "カケ"),  # Japanese: the voicing mark makes another syllable
        ("ไก่", "ไก้"),  # Thai: two tone marks, two words
        ("ไก่", "ไก"),
        ("सत्य", "सतय"),  # Devanagari: the virama joins the consonants
        ("Йога", "Иога"),  # Cyrillic short i is its own letter
    ]:
        assert title_key(a) != title_key(b), (a, b)
        x = info(track_id="s1", track_name=a, artist_name="Artist")
        y = info(provider="apple", track_id="a1", track_name=b, artist_name="Artist")
        assert match_tracks(x, y) is None, (a, b)
    assert title_key("Pokémon Théme") == title_key("Pokemon Theme")
    assert title_key("Tiến Lên") == title_key("Tien Len")
    assert title_key("カゲ") == title_key("ｶｹﾞ"), "half-width katakana is the same word"


def test_small_blocks_score_fuzzy_pairs_exactly_as_cdist() -> None:
    """Small blocks skip cdist (#17): the pairs and the float32 scores (hence the confidences
    shown to members) must be the ones cdist gives."""
    labels = sorted(
        {
            "love night",
            "love nights",
            "lovee night",
            "love night 2",
            "fire road",
            "fire roads",
            "firer oad",
            "x",
        }
    )
    scores = process.cdist(labels, labels, scorer=fuzz.ratio, score_cutoff=FUZZY_THRESHOLD, dtype="float32")
    expected = [(r, c, float(scores[r, c])) for r, c in zip(*(scores > 0).nonzero(), strict=True) if r < c]
    assert len(expected) >= 3
    assert list(_similar_pairs(labels)) == expected
