"""Every table has one owner: SQL that names a table appears only in its owning module under db/
(any db/ module may JOIN `users` read-only, for labels). Changing a table then means reading one file."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "blendify_assets"
MUSIC = (
    "user_top_tracks", "user_top_artists", "user_recently_played", "user_playlists", "user_playlist_tracks",
    "user_saved_tracks", "user_saved_albums", "user_followed_artists",
)  # fmt: skip
OWNERS: dict[str, str] = {
    "users": "db/users.py",
    "provider_connections": "db/connections.py",
    **{t: "db/music/" for t in MUSIC},
    **{f"latest_{t}": "db/music/" for t in MUSIC if t != "user_recently_played"},
    "snapshots": "db/music/",
    "latest_snapshots": "db/music/",
    "sync_log": "db/sync_log.py",
    "latest_sync_status": "db/sync_log.py",
    "poll_state": "db/poll_state.py",
    "poll_schedule": "db/poll_schedule.py",
    "provider_usage": "db/provider_budget.py",
    "provider_pauses": "db/provider_budget.py",
    "history_imports": "db/history_imports.py",
    "blends": "db/blends.py",
    "blend_participants": "db/blends.py",
    "blend_tracks": "db/blends.py",
    "latest_blend_tracks": "db/blends.py",
    "taste_match_runs": "db/taste_matches.py",
    "user_taste_matches": "db/taste_matches.py",
    "latest_taste_match_run": "db/taste_matches.py",
    "latest_user_taste_matches": "db/taste_matches.py",
    "taste_match_buckets": "db/taste_matches.py",
    "complete_taste_match_runs": "db/taste_matches.py",
    "taste_vectors": "db/taste_vectors.py",
    "taste_track_clusters": "db/taste_vectors.py",
    "schema_migrations": "db/migrations.py",
    "track_matches": "db/track_matches.py",
    "publish_preferences": "db/publishing.py",
    "blend_playlists": "db/publishing.py",
    "blend_publications": "db/publishing.py",
    "login_attempts": "db/login_attempts.py",
    "blend_invites": "db/invites.py",
    "web_sessions": "db/web_sessions.py",
}
NAMED = re.compile(r"\b(?P<verb>FROM|JOIN|INTO|UPDATE|TABLE|COPY)\s+(?:ONLY\s+)?\"?(?P<table>[a-z_]+)\b")


def _strings(tree: ast.AST) -> list[str]:
    """String constants of a module, docstrings left out (prose, not SQL)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def sql_mentions() -> list[tuple[str, str, str]]:
    """(module path relative to the package, verb, table) for every table named in SQL text."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        for text in _strings(ast.parse(path.read_text(), str(path))):
            for match in NAMED.finditer(text):
                if match["table"] in OWNERS:
                    found.append((module, match["verb"], match["table"]))
    return found


def test_every_table_is_named_only_by_its_owner() -> None:
    mentions = sql_mentions()
    assert {table for _, _, table in mentions} >= {"users", "provider_connections", "sync_log", "blends"}
    strays = sorted(
        {
            (module, verb, table)
            for module, verb, table in mentions
            if not module.startswith(OWNERS[table])
            and not (table == "users" and verb == "JOIN" and module.startswith("db/"))
        }
    )
    assert strays == [], "SQL outside the table's owner module (move it there):\n" + "\n".join(
        f"  {m}: {v} {t} (owner {OWNERS[t]})" for m, v, t in strays
    )


def test_the_scan_sees_sql_in_fstrings_and_joins() -> None:
    tree = ast.parse('x = f"SELECT a FROM sync_log s JOIN users u ON u.id = s.user_id WHERE n = {n}"')
    hits = [(m["verb"], m["table"]) for text in _strings(tree) for m in NAMED.finditer(text)]
    assert hits == [("FROM", "sync_log"), ("JOIN", "users")]
