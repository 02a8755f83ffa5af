"""Members' tastes from the latest-state views, across every provider a user has.

The rows come from `db.music.reads.taste_rows` (one query per view); here they become one
`MemberTaste` per user for the pure blend package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy.engine import Connection

from blendify_assets.blend import MemberTaste, build_member_taste
from blendify_assets.db.music.reads import Rows, taste_rows


def build_tastes(
    rows_by_user: Mapping[str, Rows], user_ids: Iterable[str] | None = None
) -> list[MemberTaste]:
    """One taste per user, sorted by user id (the order the algorithms use)."""
    ids = sorted(rows_by_user) if user_ids is None else sorted(map(str, user_ids))
    return [build_member_taste(uid, rows_by_user.get(uid, {})) for uid in ids]


def load_tastes(conn: Connection, user_ids: Sequence[str] | None = None) -> list[MemberTaste]:
    """Members' tastes from the latest state of all their providers."""
    return build_tastes(taste_rows(conn, user_ids), user_ids)
