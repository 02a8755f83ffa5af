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
_ALBUM_SUFFIX = re.compile(r"\s+-\s+(?:single|ep)\s*$", re.IGNORECASE)
_APOSTROPHES = re.compile(r"['\u2018\u2019`\u00b4]")
_NON_WORD = re.compile(r"[^\w]+")
_PRIMARY_SPLIT = re.compile(
    r",|;|\s&\s|\s(?:x|vs\.?|with|feat\.?|ft\.?|featuring)\s",
    re.IGNORECASE,
)
_ISRC_JUNK = re.compile(r"[^A-Z0-9]")

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


def _fold(text: str) -> str:
    """Lower-case, strip accents, turn '&'/'+' into 'and', drop apostrophes, squash punctuation."""
    if text.isascii():
        plain = text.lower()
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    plain = plain.replace("&", " and ").replace("+", " and ")
    plain = _APOSTROPHES.sub("", plain)
    return " ".join(_NON_WORD.sub(" ", plain).replace("_", " ").split())


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


@lru_cache(maxsize=262_144)
def primary_artist_key(artist_name: str) -> str:
    """Key of the first credited artist, for blocking and per-artist caps.

    Rows join artists with ", " but Apple's `artistName` is a free string ("A & B"), so the split is
    aggressive; it is the same on both providers, which is what a blocking key needs.
    """
    first = _PRIMARY_SPLIT.split(artist_name or "", maxsplit=1)[0]
    return artist_key(first) or artist_key(artist_name or "")


@lru_cache(maxsize=262_144)
def credited_artist_keys(artist_name: str) -> tuple[str, ...]:
    """Keys of every credited artist, split on the rows' ", " convention, primary first."""
    keys = [artist_key(part) for part in (artist_name or "").split(", ")]
    return tuple(dict.fromkeys(k for k in keys if k))


def album_key(album: str) -> str:
    """Normalised album name without Apple's " - Single" / " - EP" suffix."""
    return _fold(_ALBUM_SUFFIX.sub("", album or ""))


def normalize_isrc(value: object) -> str | None:
    """ISRC trimmed, upper-cased, dashes removed; None unless it has the 12 characters of an ISRC."""
    if not isinstance(value, str):
        return None
    code = _ISRC_JUNK.sub("", value.upper())
    return code if len(code) == 12 else None


def genre_key(genre: str) -> str:
    """Normalised genre label ("Hip-Hop" and "hip hop" are one genre)."""
    return _fold(genre or "")


def version_words(key: str) -> frozenset[str]:
    """Version words and numbers in a normalised title; they must agree for a fuzzy match."""
    return frozenset(w for w in key.split() if w in VERSION_WORDS or w.isdigit())


def clear_caches() -> None:
    """Forget memoised keys (benchmarks use it to time a cold start)."""
    for fn in (title_key, artist_key, primary_artist_key, credited_artist_keys):
        fn.cache_clear()
