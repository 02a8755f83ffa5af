"""The data-quality checks endpoints declare (`Endpoint.checks`), reported as Dagster asset checks
(pure: no SQL, no Dagster)."""

from __future__ import annotations

from collections import Counter

from blendify_assets.core.fetch import EndpointFetch
from blendify_assets.providers.spec import Check, Endpoint


def _ranks_contiguous(fetch: EndpointFetch) -> str | None:
    for scope in fetch.scopes:
        ranks = [row.get("rank") for row in scope.rows]
        if ranks != list(range(1, len(ranks) + 1)):
            return f"{scope.scope}: ranks are not 1..{len(ranks)}"
    return None


def _id_column(fetch: EndpointFetch) -> str:
    return next(
        (c for c in ("track_id", "artist_id", "album_id", "playlist_id") if fetch.scopes and fetch.scopes[0].rows
         and c in fetch.scopes[0].rows[0]),
        "track_id",
    )  # fmt: skip


def _no_duplicates(fetch: EndpointFetch) -> str | None:
    column = _id_column(fetch)
    for scope in fetch.scopes:
        counts = Counter(row.get(column) for row in scope.rows)
        duplicated = [key for key, n in counts.items() if n > 1]
        if duplicated:
            return f"{scope.scope or 'list'}: {len(duplicated)} {column} value(s) appear twice, e.g. {duplicated[0]}"
    dropped = fetch.stats.skipped_duplicate
    if dropped:
        example = (fetch.notes.get("duplicates_dropped") or ["?"])[0]
        return f"the provider listed {dropped} item(s) twice; later copies were not stored, e.g. {column} {example}"
    return None


def drop_duplicate_items(endpoint: Endpoint, fetch: EndpointFetch) -> int:
    """Keep the first of items the provider listed twice in one list (same id), count the others.

    Only for lists where an item is unique (saved tracks, playlists, …: the endpoints checked by
    `no_duplicate_items`); a playlist may hold a track twice, and keeps both. The check then
    reports what was dropped, so a provider that repeats items is still seen.
    """
    if UNIQUE not in endpoint.checks:
        return 0
    column = _id_column(fetch)
    examples: list[str] = []
    for scope in fetch.scopes:
        seen: set[object] = set()
        kept = []
        for row in scope.rows:
            key = row.get(column)
            if key is not None and key in seen:
                fetch.stats.skipped_duplicate += 1
                if len(examples) < 5:
                    examples.append(str(key))
                continue
            seen.add(key)
            kept.append(row)
        scope.rows = kept
    if examples:
        fetch.notes["duplicates_dropped"] = examples
    return fetch.stats.skipped_duplicate


def _no_duplicate_plays(fetch: EndpointFetch) -> str | None:
    counts = Counter((row.get("played_at"), row.get("track_id")) for row in fetch.events or [])
    duplicated = sum(1 for n in counts.values() if n > 1)
    return f"{duplicated} play(s) fetched twice" if duplicated else None


def _counts_match_totals(fetch: EndpointFetch) -> str | None:
    """Rows read equal what the provider said the list holds, less the items skipped and counted."""
    expected = sum(s.expected_count for s in fetch.scopes if s.expected_count is not None)
    if not any(s.expected_count is not None for s in fetch.scopes):
        return None
    read = sum(len(s.rows) for s in fetch.scopes if s.expected_count is not None)
    skipped = fetch.stats.skipped_null + fetch.stats.skipped_malformed + fetch.stats.skipped_duplicate
    if read + skipped != expected:
        return f"read {read} rows + {skipped} skipped, but the provider reported {expected}"
    return None


RANKS = Check("ranks_contiguous", "Ranks run 1..n without gaps within each time range.", _ranks_contiguous)
UNIQUE = Check(
    "no_duplicate_items",
    "No item appears twice within one snapshot, and the provider listed none twice (later copies are "
    "dropped, first kept).",
    _no_duplicates,
)
PLAYS = Check("no_duplicate_plays", "No play (played_at, track) is fetched twice.", _no_duplicate_plays)
TOTALS = Check(
    "counts_match_totals",
    "Rows stored equal the provider's reported total less skipped (null, malformed or repeated) items.",
    _counts_match_totals,
)


def run_checks(endpoint: Endpoint, fetch: EndpointFetch) -> dict[str, str | None]:
    """Each declared check's finding: None when it passed."""
    return {check.name: check.run(fetch) for check in endpoint.checks}
