"""Local Spotify and Apple Music APIs over a deterministic world, for tests, demos and benchmarks.

    with Simulator.running(SimulatorConfig(users=5, seed=7)) as sim:
        tokens = sim.spotify.issue_tokens("user0001")
        httpx.get(f"{sim.spotify_api_url}/me/tracks", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        sim.world.spotify_truth("user0001")   # what a perfect sync stores

Ground-truth formats are documented in `world.py`; fault kinds in `faults.py`.
"""

from blendify_assets.simulator.config import SimulatorConfig, UserProfile
from blendify_assets.simulator.server import Simulator
from blendify_assets.simulator.world import World

__all__ = ["Simulator", "SimulatorConfig", "UserProfile", "World"]
