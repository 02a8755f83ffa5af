"""What the warehouse already holds for one (user, provider, endpoint): the incremental inputs a
sync hands its provider (`SyncState`)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from blendify_assets.core.fetch import PlaylistRef, SyncState
from blendify_assets.core.time import aware_utc
from blendify_assets.db import poll_state
from blendify_assets.db.music.tables import TableSpec


def load_state(
    engine: Engine, spec: TableSpec, *, user_id: uuid.UUID, provider: str, endpoint: str
) -> SyncState:
    params = {"u": user_id, "p": provider, "t": spec.name, "e": endpoint}
    with engine.connect() as conn:
        versions: dict[str, str] = dict(
            conn.execute(
                sa.text(
                    "SELECT scope, version FROM latest_snapshots WHERE user_id = :u "
                    "AND provider = CAST(:p AS provider) AND table_name = :t AND version IS NOT NULL"
                ),
                params,
            ).all()
        )
        state = SyncState(scope_versions=versions)
        if spec.events:
            state.last_played_at = aware_utc(
                conn.execute(
                    sa.text(
                        "SELECT max(played_at) FROM user_recently_played "
                        "WHERE user_id = :u AND provider = CAST(:p AS provider)"
                    ),
                    params,
                ).scalar()
            )
        if spec.name == "user_playlist_tracks":
            state.playlists = [
                PlaylistRef(r.playlist_id, r.snapshot_id, r.is_owner, bool(r.collaborative), r.track_count)
                for r in conn.execute(
                    sa.text(
                        "SELECT playlist_id, snapshot_id, is_owner, track_count, "
                        "coalesce((playlist_metadata->>'collaborative')::boolean, false) AS collaborative "
                        "FROM latest_user_playlists WHERE user_id = :u AND provider = CAST(:p AS provider) "
                        "ORDER BY playlist_id"
                    ),
                    params,
                )
            ]
        found = poll_state.load(conn, user_id, provider, endpoint)
        if found is not None:
            state.poll_state, state.poll_state_log_id = found
    return state
