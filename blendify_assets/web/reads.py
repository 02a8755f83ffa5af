"""Page reads that combine more than one table owner (no SQL here: each part is its owner's, in db/)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.engine import Connection

from blendify_assets.db import blends, connections, invites, sync_log, taste_matches


def listener_connections(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The user's connections (no tokens), with when the latest sync of each started (a re-sync
    request waits until one starts after it)."""
    started = sync_log.last_started(conn, user_id)
    return [
        {**row, "last_sync_started": started.get(row["provider"])}
        for row in connections.for_listener(conn, user_id)
    ]


def friends(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Everyone who shares a blend with the user, with the blends and the stored match (if any)."""
    scores = taste_matches.stored_scores(conn, user_id)
    return [
        {**row, "stored_score": scores.get(str(row["id"]))} for row in blends.fellow_members(conn, user_id)
    ]


def invite(conn: Connection, token_sha256: str) -> dict[str, Any] | None:
    """An invite by its token's hash, with what the invitee is shown before joining."""
    found = invites.by_token(conn, token_sha256)
    if found is None:
        return None
    summary = blends.invite_summary(conn, found["blend_id"])
    return None if summary is None else {**found, **summary}
