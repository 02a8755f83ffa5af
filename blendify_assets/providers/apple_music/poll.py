"""What an Apple check remembers for the next one (stored as `poll_state`, opaque to the warehouse).

Apple has no "since" for library lists and no play times, so:

- a library list remembers when it was last read in full (`LibraryPoll`): the weekly full read
  catches edits the change signals cannot see;
- recently played remembers the list as it stood (`RecentPoll`): the next poll's new head items are
  the plays in between.

The JSON shape is the one these notes had in `sync_log.details` before they had their own table
(migration 0007 carried them over as they were).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blendify_assets.providers.rows import parse_time


@dataclass(frozen=True)
class LibraryPoll:
    full_read_at: datetime | None = None  # None: never read in full

    @classmethod
    def from_json(cls, state: Mapping[str, Any]) -> LibraryPoll:
        return cls(parse_time(state.get("full_read_at")))

    def to_json(self) -> dict[str, Any]:
        return {"full_read_at": self.full_read_at.isoformat() if self.full_read_at else None}


@dataclass(frozen=True)
class RecentPoll:
    recent: list[str] | None = None  # ids newest first as the last poll saw them; None: no poll yet
    polled_at: datetime | None = None
    complete_read: bool = True  # whether that poll read the whole window (or stopped once sure)

    @classmethod
    def from_json(cls, state: Mapping[str, Any]) -> RecentPoll:
        recent = state.get("recent")
        return cls(
            [i for i in recent if isinstance(i, str)] if isinstance(recent, list) else None,
            parse_time(state.get("polled_at")),
            state.get("complete_read") is not False,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "recent": self.recent,
            "polled_at": self.polled_at.isoformat() if self.polled_at else None,
            "complete_read": self.complete_read,
        }
