"""Helpers for the history-export tests: the hand-written fixtures and ways to pack them."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from blendify_assets.providers.history import Export

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "history"


def zip_bytes(files: Iterable[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return out.getvalue()


def folder_files(folder: Path) -> list[tuple[str, bytes]]:
    """(path relative to folder, bytes) of every file under it, sorted."""
    return [
        (p.relative_to(folder).as_posix(), p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()
    ]


def write_zip(path: Path, files: Iterable[tuple[str, bytes]]) -> Path:
    path.write_bytes(zip_bytes(files))
    return path


def read_all(export: Export) -> dict[str, list[dict[str, Any]]]:
    """Every file's rows, by file name (reading fills each file's summary)."""
    with export:
        return {f.name: list(f.plays()) for f in export.files}


def key(row: dict[str, Any]) -> tuple[Any, str]:
    """The warehouse's identity of a play (with user and provider): (played_at, track_id)."""
    return (row["played_at"], row["track_id"])
