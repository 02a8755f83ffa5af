"""The output of every blend algorithm: one pick per playlist position, mapping onto blend_tracks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from blendify_assets.blend.group import Holding
from blendify_assets.blend.identity import TrackInfo
from blendify_assets.blend.model import parse_time


@dataclass(frozen=True)
class BlendPick:
    """One blend track: the chosen copy, whose taste put it there, and why (JSON-ready metadata)."""

    position: int
    track: TrackInfo
    source_user_id: str
    similarity_score: float
    """0-100: how strongly the people it is there for are into it now (see ``blend.fair`` and
    ``blend.discovery``)."""
    blend_metadata: Mapping[str, Any]  # JSON, stored as blend_tracks.blend_metadata

    @property
    def cluster_id(self) -> str:
        return str(self.blend_metadata["cluster_id"])

    def to_row(self) -> dict[str, object]:
        """The blend_tracks columns this pick fills (the asset adds blend_id and created_at)."""
        return {
            **self.track.display(),
            "position": self.position,
            "source_provider": self.track.provider,
            "source_user_id": self.source_user_id,
            "similarity_score": self.similarity_score,
            "blend_metadata": dict(self.blend_metadata),
        }


RANGE_WORDS = {
    "short_term": "this month",
    "medium_term": "in the last six months",
    "long_term": "of all time",
}
"""Spotify's time ranges as a listener says them (~4 weeks, ~6 months, all their history)."""


def top_phrase(time_range: str, rank: int, provider: str = "spotify") -> str:
    """ "top #3 this month"; Apple's only top list is Replay (its ``long_term``), so it says so."""
    if provider == "apple" and time_range == "long_term":
        return f"#{rank} in their Apple Music Replay"
    return f"top #{rank} {RANGE_WORDS.get(time_range, time_range.replace('_', ' '))}"


def day(iso: object) -> str | None:
    """ "12 Mar 2026" from an ISO timestamp, or None."""
    when = parse_time(iso)
    return f"{when.day} {when:%b %Y}" if when else None


def names(ids: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    ids = list(ids)
    if len(ids) < 2:
        return "".join(ids)
    return f"{', '.join(ids[:-1])} and {ids[-1]}"


def describe(h: Holding) -> str:
    """One member's hold on a track, in plain words.

    "top #3 this month, played 12 times (last on 2 Mar 2026), liked on 12 Jan 2026".
    """
    e = h.evidence
    order = {rng: i for i, rng in enumerate(RANGE_WORDS)}
    bits = [
        top_phrase(rng, rank, e.top_providers.get(rng, h.info.provider))
        for rng, rank in sorted(e.top_ranks.items(), key=lambda kv: order.get(kv[0], 9))
    ]
    if e.play_count:
        last = day(e.last_played_at)
        if e.play_count == 1:
            bits.append(f"played once{f' on {last}' if last else ''}")
        else:
            count = "twice" if e.play_count == 2 else f"{e.play_count} times"
            bits.append(f"played {count}{f' (last on {last})' if last else ''}")
    if e.lifetime_plays:
        n = e.lifetime_plays
        bits.append(
            f"played {'once' if n == 1 else 'twice' if n == 2 else f'{n} times'} in their imported history"
        )
    if e.saved:
        when = day(e.saved_at)
        if h.info.provider == "apple":
            bits.append(f"in their library since {when}" if when else "in their library")
        else:
            bits.append(f"liked on {when}" if when else "liked")
    if e.playlists:
        n = len(e.playlists)
        bits.append("in one of their playlists" if n == 1 else f"in {n} of their playlists")
    return ", ".join(bits) or "in their library"
