"""Text normalisation shared by track identity, taste models and overlap.

Spotify and Apple Music spell the same song differently ("Hey Jude - Remastered 2015" vs
"Hey Jude", "Beyoncé" vs "Beyonce", "Florence + The Machine" vs "Florence and the Machine").
These functions map such spellings onto one key. They only remove decorations that do not change
the recording (featured-artist credits, remaster tags, "- Single"); version words that do change
it (live, remix, acoustic, …) are kept, because a false match is worse than a missed one.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_FEAT_BRACKET = re.compile(r"[\(\[]\s*(?:feat\.?|ft\.?|featuring|with)\s[^\)\]]*[\)\]]", re.IGNORECASE)
_FEAT_TAIL = re.compile(r"\s(?:feat\.?|ft\.|featuring)\s.*$", re.IGNORECASE)
# Decorations that name the same recording: "(Remastered 2011)", "[2009 Remaster]", "(Original Mix)".
_SAME_RECORDING = (
    r"(?:\d{4}\s+)?(?:digital(?:ly)?\s+)?remaster(?:ed)?(?:\s+version)?(?:\s+\d{4})?"
    r"|original\s+mix|album\s+version|explicit|clean"
)
_DECORATION_BRACKET = re.compile(rf"[\(\[]\s*(?:{_SAME_RECORDING})\s*[\)\]]", re.IGNORECASE)
_DECORATION_DASH = re.compile(rf"\s+-\s+(?:{_SAME_RECORDING})\s*$", re.IGNORECASE)
_APOSTROPHES = re.compile(r"['\u2018\u2019`\u00b4]")
_NON_WORD = re.compile(r"[^\w]+")
_PRIMARY_SPLIT = re.compile(
    r",|;|\s&\s|\s(?:x|vs\.?|with|feat\.?|ft\.?|featuring)\s",
    re.IGNORECASE,
)
_ISRC_JUNK = re.compile(r"[^A-Z0-9]")
_ISRC_CLEAN = re.compile(r"[A-Z0-9]{12}")

# Words that mark a different recording of the same song; titles that differ in them never match.
VERSION_WORDS = frozenset(
    {
        "live",
        "remix",
        "mix",
        "acoustic",
        "demo",
        "instrumental",
        "edit",
        "karaoke",
        "cover",
        "unplugged",
        "reprise",
        "session",
        "sessions",
        "version",
        "extended",
        "slowed",
        "sped",
        "rework",
        "orchestral",
        "piano",
        "radio",
        "dub",
        "mono",
        "stereo",
    }
)
_ALBUM_SUFFIX = re.compile(r"\s+-\s+(?:single|ep)\s*$", re.IGNORECASE)


def _fold(text: str) -> str:
    """Lower-case, strip accents from Latin letters, turn '&'/'+' into 'and', drop apostrophes,
    squash punctuation.

    Only Latin letters lose their marks ("Beyoncé" = "Beyonce"): in other scripts a combining mark
    is part of the letter (Japanese カゲ is not カケ, Thai tone marks and the Devanagari virama
    change the word), so those marks are kept and count as word characters.
    """
    if text.isascii():
        plain = text.lower().replace("&", " and ").replace("+", " and ")
        plain = _APOSTROPHES.sub("", plain)
        return " ".join(_NON_WORD.sub(" ", plain).replace("_", " ").split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    decomposed = _APOSTROPHES.sub("", decomposed.replace("&", " and ").replace("+", " and "))
    out: list[str] = []
    latin_base = False
    for ch in decomposed:
        if unicodedata.category(ch)[0] == "M":
            if not latin_base:
                out.append(ch)
            continue
        latin_base = _is_latin(ch)
        out.append(ch if ch.isalnum() else " ")
    return " ".join(unicodedata.normalize("NFC", "".join(out)).split())


@lru_cache(maxsize=4_096)
def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN ")


@lru_cache(maxsize=262_144)
def title_key(title: str) -> str:
    """Normalised track title: no featured credits, no remaster tags, folded punctuation."""
    text = _FEAT_BRACKET.sub(" ", title or "")
    text = _DECORATION_BRACKET.sub(" ", text)
    text = _DECORATION_DASH.sub("", text.strip())
    text = _FEAT_TAIL.sub("", text)
    return _fold(text)


@lru_cache(maxsize=262_144)
def artist_key(name: str) -> str:
    """Normalised name of one artist ("The Beatles" -> "beatles", "Beyoncé" -> "beyonce")."""
    folded = _fold(name or "")
    return folded[4:] if folded.startswith("the ") else folded


def primary_artist(artist_name: str) -> str:
    """The first credited artist as written ("A, B" / "A & B" / "A feat. B" -> "A")."""
    return _PRIMARY_SPLIT.split(artist_name or "", maxsplit=1)[0].strip()


@lru_cache(maxsize=262_144)
def primary_artist_key(artist_name: str) -> str:
    """Key of the first credited artist, for blocking and per-artist caps.

    Rows join artists with ", " but Apple's `artistName` is a free string ("A & B"), so the split is
    aggressive; it is the same on both providers, which is what a blocking key needs.
    """
    return artist_key(primary_artist(artist_name)) or artist_key(artist_name or "")


@lru_cache(maxsize=262_144)
def credited_artist_keys(artist_name: str) -> tuple[str, ...]:
    """Keys of every credited artist, split on the rows' ", " convention, primary first."""
    keys = [artist_key(part) for part in (artist_name or "").split(", ")]
    return tuple(dict.fromkeys(k for k in keys if k))


def album_key(album: str) -> str:
    """Normalised album name without Apple's " - Single" / " - EP" suffix (publish matching's tie-break)."""
    return _fold(_ALBUM_SUFFIX.sub("", album or ""))


def normalize_isrc(value: object) -> str | None:
    """ISRC trimmed, upper-cased, dashes removed; None unless it has the 12 characters of an ISRC."""
    if not isinstance(value, str):
        return None
    if _ISRC_CLEAN.fullmatch(value):
        return value  # already normal (most rows, and every TrackInfo.isrc): skip the rewrite
    code = _ISRC_JUNK.sub("", value.upper())
    return code if len(code) == 12 else None


@lru_cache(maxsize=65_536)
def genre_key(genre: str) -> str:
    """Normalised genre label ("Hip-Hop" and "hip hop" are one genre); memoised, as every
    artist row repeats a handful of labels (#17)."""
    return _fold(genre or "")


# Numbers that tell parts, volumes and sequels apart ("Part I" vs "Part II", "Vol. Two", "2nd
# Movement"): each spelling counts as its value, so "Part II" = "Part 2" but never "Part 1".
_ROMAN = re.compile(r"^x{0,3}(?:ix|iv|v?i{0,3})$")
_ROMAN_VALUE = {"i": 1, "v": 5, "x": 10}
_ORDINAL_DIGITS = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
# fmt: off
_CARDINALS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
)
_ORDINALS = (
    "zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
    "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
    "seventeenth", "eighteenth", "nineteenth", "twentieth",
)
# fmt: on
_NUMBER_WORDS = {w: str(i) for words in (_CARDINALS, _ORDINALS) for i, w in enumerate(words)}
# A lone "I", "V" or "X" is a pronoun or a letter more often than a number: it counts only after
# a word that numbers something ("Part I", "Vol. V", "Episode X").
NUMBERING_WORDS = frozenset({
    "part", "pt", "vol", "volume", "chapter", "chap", "ch", "act", "book", "movement", "mvt", "no",
    "nr", "number", "op", "opus", "episode", "phase", "scene", "side", "suite", "symphony", "level",
    "round", "track", "day",
})  # fmt: skip


def _roman(token: str) -> int | None:
    """Value of a Roman numeral of I, V and X (1-39), else None."""
    if not token or not _ROMAN.match(token):
        return None
    values = [_ROMAN_VALUE[c] for c in token]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def number_value(token: str, previous: str = "") -> str | None:
    """The number a title word stands for ("2", "02", "ii", "two", "second", "2nd" -> "2"), else None."""
    if token.isdigit():
        return str(int(token))
    if token[:1].isdigit():
        ordinal = _ORDINAL_DIGITS.match(token)
        return str(int(ordinal.group(1))) if ordinal else None
    if token in _NUMBER_WORDS:
        return _NUMBER_WORDS[token]
    if not token.strip("ivx") and (len(token) > 1 or previous in NUMBERING_WORDS):
        value = _roman(token)
        if value is not None:
            return str(value)
    return None


@lru_cache(maxsize=262_144)
def version_words(key: str) -> frozenset[str]:
    """Version words and numbers in a normalised title; they must agree for a fuzzy match.

    Numbers are kept as values, whatever their spelling, so "Part I" and "Part II" never become
    one recording while "Part II" and "Part 2" still can.
    """
    out: set[str] = set()
    previous = ""
    for word in key.split():
        if word in VERSION_WORDS:
            out.add(word)
        else:
            value = number_value(word, previous)
            if value is not None:
                out.add(f"#{value}")
        previous = word
    return frozenset(out)


def clear_caches() -> None:
    """Forget memoised keys (benchmarks use it to time a cold start)."""
    for fn in (title_key, artist_key, primary_artist_key, credited_artist_keys, version_words, genre_key):
        fn.cache_clear()
