"""Text that came from people and providers, made safe to show on a terminal."""

from __future__ import annotations

import re

# C0 and C1 control characters (ESC starts terminal escape sequences) and the bidi overrides that
# reorder what a terminal shows. Line breaks survive in messages, never inside a table cell.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BREAKS = re.compile("[\t\n\r]")


def printable(value: object, *, one_line: bool = False) -> str:
    """`value` as text a terminal only displays: control characters removed (a cell or an error
    line also loses its line breaks, which become spaces)."""
    text = _BREAKS.sub(" ", str(value)) if one_line else str(value)
    return _CONTROL.sub("", text)


def user_label(user_id: object, display_name: str | None) -> str:
    """How operators see a user in Dagster: display name and a short id ('Ana (1f3a9c2e)'), else
    'user 1f3a9c2e'. Never the email: Dagster's event log keeps it forever and shows it to anyone
    with the UI."""
    short = str(user_id)[:8]
    name = " ".join(printable(display_name or "", one_line=True).split())[:60]
    return f"{name} ({short})" if name else f"user {short}"
