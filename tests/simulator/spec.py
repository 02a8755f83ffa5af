"""Validate simulator responses against the Spotify OpenAPI definition in the shared reference dir.

The spec is loaded from $BLENDIFY_REFERENCE_DIR (else <repo>/../shared/reference) and never copied.
It is adjusted in exactly these documented ways before validation, each because the real 2026 API
does it too (sources in reference/spotify-web-api.md):

* Development mode only: properties marked `deprecated` are not required. Spotify removed them for
  development-mode apps in February 2026 (popularity, available_markets, label...) but the spec still
  lists some as required. Extended-quota responses are checked with the spec's own `required`.
* Nulls the real API returns where the spec has no `nullable`: playlist entries whose item is
  unavailable (`item`/`track` null; `added_at`/`added_by` null on old playlists, per the spec's own
  descriptions), play-history `context` (null in the captured real response), cursor-paging
  `next`/`cursors`/`cursors.after|before` at the end of a list, and local files (track `id`/`href`,
  album `album_type`/`href`/`id`/`release_date`/`release_date_precision`/`uri`, artist
  `href`/`id`/`uri` are null; a local file's album has no `total_tracks`).
* `discriminator` is dropped from PlaylistTrackObject: its values ("track", "episode") are not the
  schema names the implicit mapping expects; `oneOf` over TrackObject/EpisodeObject (whose `type`
  enums differ) still decides.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

NULLABLE = {
    "PlaylistTrackObject": ("item", "track", "added_at", "added_by"),
    "PlayHistoryObject": ("context",),
    "CursorPagingObject": ("next", "cursors"),
    "CursorObject": ("after", "before"),
    "TrackObject": ("id", "href"),
    "AlbumBase": ("album_type", "href", "id", "release_date", "release_date_precision", "uri"),
    "SimplifiedArtistObject": ("href", "id", "uri"),
}
NOT_REQUIRED = {"AlbumBase": ("total_tracks",)}


def reference_dir() -> Path | None:
    env = os.environ.get("BLENDIFY_REFERENCE_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "reference"
    return path if (path / "spotify" / "openapi.yml").is_file() else None


def require_reference() -> Path:
    path = reference_dir()
    if path is None:
        pytest.skip(
            "Spotify OpenAPI reference not found: set BLENDIFY_REFERENCE_DIR or place it at ../shared/reference"
        )
    return path


def _nullable(schema: dict, prop: str) -> None:
    target = schema["properties"][prop]
    if "allOf" in target or "oneOf" in target:
        target.pop("discriminator", None)
        inner = {k: target.pop(k) for k in ("allOf", "oneOf") if k in target}
        target["anyOf"] = [inner, {"type": "object", "nullable": True, "enum": [None]}]
    else:
        target["nullable"] = True
        if "enum" in target:
            target["enum"] = [*target["enum"], None]


def _relax(spec: dict, dev_mode: bool) -> dict:
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]

    if dev_mode:
        # `deprecated` sits on a property; the `required` naming it may live on a sibling allOf part
        deprecated = {
            name
            for s in schemas.values()
            for part in [s, *s.get("allOf", [])]
            if isinstance(part, dict)
            for name, d in part.get("properties", {}).items()
            if isinstance(d, dict) and d.get("deprecated")
        }
        for s in schemas.values():
            for part in [s, *s.get("allOf", [])]:
                if isinstance(part, dict) and "required" in part:
                    part["required"] = [r for r in part["required"] if r not in deprecated]
                    if not part["required"]:
                        del part["required"]
    for name, props in NULLABLE.items():
        for prop in props:
            _nullable(schemas[name], prop)
    for name, props in NOT_REQUIRED.items():
        schemas[name]["required"] = [r for r in schemas[name]["required"] if r not in props]
    return spec


@functools.cache
def _openapi(dev_mode: bool) -> Any:
    import yaml
    from openapi_core import OpenAPI

    raw = yaml.safe_load((require_reference() / "spotify" / "openapi.yml").read_text())
    return OpenAPI.from_dict(_relax(raw, dev_mode))


def validate(
    api_path: str, status: int, body: bytes, *, dev_mode: bool, method: str = "get", sent: object = None
) -> None:
    """Raise if `body` is not a valid response of `method` https://api.spotify.com/v1{api_path}
    (`sent`: the JSON body of the request, for writes). An empty body is checked as "no content"."""
    from openapi_core.testing import MockRequest, MockResponse

    path, _, query = api_path.partition("?")
    args = dict(p.split("=", 1) for p in query.split("&") if p)
    data = json.dumps(sent).encode() if sent is not None else None
    request = MockRequest("https://api.spotify.com", method.lower(), f"/v1{path}", args=args, data=data)
    if body:
        json.loads(body)  # a clear error first if it is not JSON at all
    response = MockResponse(body, status_code=status, content_type="application/json" if body else None)
    _openapi(dev_mode).validate_response(request, response)
