"""The one Definitions object of the `blendify` code location: every registered provider, with
resources read from the environment when a run or tick starts."""

from blendify_assets.assets.resources import resources_from_env
from blendify_assets.orchestration.factory import build_definitions
from blendify_assets.providers.registry import PROVIDERS

defs = build_definitions(PROVIDERS, resources_from_env(PROVIDERS))
