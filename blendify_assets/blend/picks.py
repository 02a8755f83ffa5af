"""The output of every blend algorithm: one pick per playlist position, mapping onto blend_tracks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from blendify_assets.blend.group import Holding
from blendify_assets.blend.identity import TrackInfo


@dataclass(frozen=True)
class BlendPick:
    """One blend track: the chosen copy, whose taste put it there, and why (JSON-ready metadata)."""

    position: int
    track: TrackInfo
    source_user_id: str
    similarity_score: float
    blend_metadata: Mapping[str, object]

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


def describe(h: Holding) -> str:
    """A short human reason for one member's hold on a track ("top #3 short term, 12 plays, liked")."""
    e = h.evidence
    bits = [f"top #{rank} {rng.replace('_term', ' term')}" for rng, rank in sorted(e.top_ranks.items())]
    if e.play_count:
        bits.append(f"{e.play_count} play{'s' if e.play_count != 1 else ''}")
    if e.saved:
        bits.append("liked")
    if e.playlists:
        bits.append(f"in {len(e.playlists)} playlist{'s' if len(e.playlists) != 1 else ''}")
    return ", ".join(bits) or "in their library"
