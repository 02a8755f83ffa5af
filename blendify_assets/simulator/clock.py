"""The simulated clock tests move forward; the world evolves as it moves."""

from __future__ import annotations

from datetime import datetime, timedelta

from blendify_assets.simulator.world import World


class SimClock:
    """Simulated time. Frozen until advanced, so tests see the same world every run."""

    def __init__(self, world: World) -> None:
        self._world = world

    def now(self) -> datetime:
        return self._world.now

    @property
    def now_ms(self) -> int:
        return self._world.now_ms

    def advance(self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> int:
        """Move forward; new plays, saves, unsaves and playlist edits appear. Returns events applied."""
        delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if delta.total_seconds() < 0:
            raise ValueError("the simulated clock only moves forward")
        return self._world.advance_to(self._world.now_ms + int(delta.total_seconds() * 1000))

    def advance_to(self, when: datetime) -> int:
        return self._world.advance_to(when)
