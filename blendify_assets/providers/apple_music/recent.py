"""Inferring plays from Apple's recently-played list, which has no timestamps (pure functions).

The list is a de-duplicated recency list: a play puts the song at the head (moving it up if it was
already listed). So the plays since the last poll are the head items that come before the previous
list resumes, in its order, with those items taken out. Repeats of the song already at the head are
invisible, and so are plays that scrolled past the window between two polls.

Times: plays since the last poll are laid back to back, walking back from this poll by their
durations; if that would cross the previous poll, they are spread evenly between the two polls
instead. The first poll has no previous poll, so it walks back from now through the whole list.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

DEFAULT_DURATION_MS = 210_000  # a typical song, for items without durationInMillis
MIN_OVERLAP = 10  # items of the previous list that must follow the new head to trust a diff early
STATE_DEPTH = 120  # ids kept between polls (Apple's window is at least 60 deep)


def new_head_length(current: Sequence[str], previous: Sequence[str], *, complete: bool) -> int | None:
    """How many items at the head of `current` are plays since `previous` was seen.

    `current` may be a prefix of the list (pages still unread): an answer is given only when at
    least MIN_OVERLAP items after the head confirm it, or when `complete`. None: read more pages.
    When no split fits (more plays than the window holds), every item is new.
    """
    for k in range(len(current) + 1):
        played = set(current[:k])
        rest = [item for item in previous if item not in played]
        tail = list(current[k:])
        if tail != rest[: len(tail)]:
            continue
        if complete or len(tail) >= MIN_OVERLAP or (tail and len(tail) == len(rest)):
            return k
        return None  # consistent so far, but too little overlap to be sure
    return len(current) if complete else None


def merged_state(head: Sequence[str], previous: Sequence[str]) -> list[str]:
    """The list as it now stands (new head, then the previous list without the moved items)."""
    moved = set(head)
    return [*head, *(item for item in previous if item not in moved)][:STATE_DEPTH]


def infer_times(
    durations_ms: Sequence[int | None], now: datetime, since: datetime | None
) -> tuple[list[datetime], str]:
    """Estimated start times for plays listed newest first, and the method used.

    'durations_back_from_poll': back to back, ending at `now`.
    'spread_between_polls': evenly spaced in (since, now) when back to back would cross `since`.
    """
    starts: list[datetime] = []
    moment = now
    for duration in durations_ms:
        moment -= timedelta(milliseconds=duration or DEFAULT_DURATION_MS)
        starts.append(moment)
    if since is None or not starts or starts[-1] > since:
        return starts, "durations_back_from_poll"
    step = (now - since) / (len(durations_ms) + 1)
    return [now - step * (i + 1) for i in range(len(durations_ms))], "spread_between_polls"
