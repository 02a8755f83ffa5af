"""Shared fixtures for provider tests: where the captured reference responses live."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from blendify_assets.core.fetch import PlaylistRef

REPO = Path(__file__).resolve().parents[2]


def reference_dir() -> Path:
    """BLENDIFY_REFERENCE_DIR, else <repo>/../shared/reference (never copied into the repo)."""
    env = os.environ.get("BLENDIFY_REFERENCE_DIR")
    return Path(env) if env else REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def captured_dir() -> Path:
    path = reference_dir() / "spotify" / "captured"
    if not path.is_dir():
        pytest.skip(f"captured Spotify responses not found at {path} (set BLENDIFY_REFERENCE_DIR)")
    return path


@pytest.fixture(scope="session")
def captured(captured_dir: Path):
    def load(name: str) -> Any:
        return json.loads((captured_dir / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (anyio's pytest plugin; mark modules with pytest.mark.anyio)."""
    return "asyncio"


def _playlist_refs(rows: list[dict[str, Any]]) -> list[PlaylistRef]:
    return [
        PlaylistRef(
            row["playlist_id"],
            row.get("snapshot_id"),
            bool(row.get("is_owner")),
            (row.get("playlist_metadata") or {}).get("collaborative") is True,
            row.get("track_count"),
        )
        for row in rows
    ]


@pytest.fixture
def playlist_refs():
    """`playlist_refs(rows)`: the PlaylistRefs the ingest engine reads back from stored playlists rows."""
    return _playlist_refs
