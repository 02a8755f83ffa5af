"""Pytest fixtures for tests that talk to the simulator.

Use from any test folder with `pytest_plugins = ["blendify_assets.simulator.pytest_plugin"]` in a
conftest.py. `simulator` is a fresh, small world per test (4 tiny users, seed 7): cheap enough to
start for every test (~0.1 s), so no test sees another's clock, faults or revoked tokens.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from blendify_assets.simulator.config import SimulatorConfig
from blendify_assets.simulator.server import Simulator

SMALL_WORLD = SimulatorConfig(users=4, seed=7, profile_mix="tiny", profiles=(), catalog_tracks=3_000)


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """Override in a conftest.py (or a test module) to change the world the `simulator` fixture runs."""
    return SMALL_WORLD


@pytest.fixture
def simulator(simulator_config: SimulatorConfig) -> Iterator[Simulator]:
    with Simulator.running(simulator_config) as sim:
        yield sim
