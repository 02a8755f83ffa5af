"""Deterministic identifiers: the same seed and index always give the same id on every machine.

Python's `hash()` is salted per process, so ids come from BLAKE2b instead.
"""

from __future__ import annotations

import base64
import hashlib

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ALNUM_UPPER = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def digest(*parts: object, size: int = 16) -> int:
    """A stable integer digest of the parts."""
    text = ":".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=size).digest(), "big")


def base62(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 62)
        out.append(_B62[rem])
    return "".join(out)


def spotify_id(seed: int, kind: str, index: int) -> str:
    """A 22-character base62 Spotify id."""
    return base62(digest(seed, "spotify", kind, index), 22)


def account_id(seed: int, index: int) -> str:
    """A 10-character base62 `account_id` like Spotify's example aB3dE5fG7h."""
    return base62(digest(seed, "account", index), 10)


def apple_catalog_id(seed: int, kind: str, index: int) -> str:
    """A numeric Apple catalog id (songs, albums, artists are 9-10 digit numbers)."""
    return str(1_000_000_000 + digest(seed, "apple", kind, index) % 800_000_000)


def apple_library_id(seed: int, prefix: str, *parts: object) -> str:
    """Library ids: i.xxxx songs, l.xxxx albums, r.xxxx artists, p.xxxx playlists."""
    length = 14 if prefix in ("i", "p") else 7
    return f"{prefix}.{base62(digest(seed, 'library', prefix, *parts), length)}"


def isrc(seed: int, index: int) -> str:
    """A well-formed ISRC: country, registrant, year, designation (unique per index)."""
    d = digest(seed, "isrc", index)
    country = ("US", "GB", "SE", "DE", "FR", "JP", "KR", "CA", "AU", "NL")[d % 10]
    d //= 10
    registrant = "".join(_ALNUM_UPPER[(d >> (6 * i)) % 36] for i in range(3))
    year = 60 + (d >> 20) % 66
    return f"{country}{registrant}{year % 100:02d}{index % 100_000:05d}"


def snapshot_id(playlist_id: str, version: int) -> str:
    """Spotify-like opaque snapshot id that changes whenever the version does."""
    raw = hashlib.blake2b(f"{playlist_id}:{version}".encode(), digest_size=24).digest()
    return base64.b64encode(raw).decode()


def version_hash(playlist_id: str, version: int) -> str:
    return hashlib.blake2b(f"apple:{playlist_id}:{version}".encode(), digest_size=8).hexdigest()
