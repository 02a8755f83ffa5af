"""Row conventions shared by every provider's parsers (one place, so every table agrees).

- Strings and stored JSON have U+0000 removed: Postgres text and jsonb reject it.
- Timestamps are timezone-aware UTC datetimes.
- ISRCs are stripped and upper-cased; empty means None.
- A malformed item raises `Malformed`; `parse_items` skips and counts it, never the whole page,
  unless every item of a non-empty list is malformed: that fails the check (`UnreadableResponse`).

"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from blendify_assets.core.fetch import FetchStats, Row
from blendify_assets.providers.errors import UnreadableResponse
from blendify_assets.providers.http import strip_nul


class Malformed(ValueError):
    """An item lacks a required key or has the wrong type."""


def obj(value: Any, what: str) -> dict[str, Any]:
    """`value` as a JSON object, or Malformed naming `what`."""
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not an object")
    return value


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (for optional nested objects)."""
    return value if isinstance(value, dict) else {}


def req_str(mapping: dict[str, Any], key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str):
        raise Malformed(f"missing or non-string {key!r}")
    return strip_nul(value)


def opt_str(value: Any) -> str | None:
    return strip_nul(value) if isinstance(value, str) else None


def opt_int(value: Any) -> int | None:
    # bool is an int subclass
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 (with 'Z' or an offset) -> aware UTC datetime; None for null/unparseable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def normalise_isrc(value: Any) -> str | None:
    """' usum71703861 ' -> 'USUM71703861'; anything empty or non-string -> None."""
    if not isinstance(value, str):
        return None
    cleaned = strip_nul(value).strip().upper()
    return cleaned or None


def string_list(value: Any) -> list[str] | None:
    """A JSON list of strings (e.g. genres), non-strings dropped; None when not a list."""
    if not isinstance(value, list):
        return None
    return [strip_nul(v) for v in value if isinstance(v, str)]


def unreadable(count: int, reason: str | None) -> UnreadableResponse:
    """The failure for a list none of whose `count` items could be read."""
    why = f" (first: {reason})" if reason else ""
    return UnreadableResponse(
        f"none of the {count} items of a list could be read{why}: the response is not in the shape "
        "Blendify reads, so nothing was stored and the current state was kept"
    )


def parse_items(
    items: Iterable[Any],
    parse_one: Callable[[Any, int], Row],
    stats: FetchStats,
    *,
    start: int = 0,
    is_null: Callable[[Any], bool] = lambda item: item is None,
) -> list[Row]:
    """Parse one list; `parse_one(item, index)` gets the absolute 0-based index (start + i).

    Null and malformed items are skipped and counted in `stats`; indexes keep counting over them
    so positions and ranks stay the provider's. If the list has items and every one of them is
    malformed, UnreadableResponse is raised: an empty result would pass for an emptied list.
    """
    rows: list[Row] = []
    malformed = 0
    reason: str | None = None
    for index, item in enumerate(items, start=start):
        if is_null(item):
            stats.skipped_null += 1
            continue
        try:
            rows.append(parse_one(item, index))
        except (Malformed, KeyError, TypeError, AttributeError, ValueError) as exc:
            stats.skipped_malformed += 1
            malformed += 1
            if reason is None:
                reason = str(exc) if isinstance(exc, Malformed) else f"{type(exc).__name__}: {exc}"
    stats.items += len(rows)
    if malformed and not rows:
        raise unreadable(malformed, reason)
    return rows
