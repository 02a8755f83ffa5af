"""The providers Blendify syncs: one line each. Add a provider here (and its enum value in a
migration: see docs/architecture.md); everything else reads this list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blendify_assets.core.errors import BlendifyError
from blendify_assets.providers.apple_music.provider import PROVIDER as APPLE_MUSIC
from blendify_assets.providers.spec import ProviderSpec
from blendify_assets.providers.spotify.provider import PROVIDER as SPOTIFY

PROVIDERS: tuple[ProviderSpec[Any], ...] = (SPOTIFY, APPLE_MUSIC)


def get(name: str, specs: Sequence[ProviderSpec[Any]] = PROVIDERS) -> ProviderSpec[Any]:
    """The provider whose warehouse name is `name`; a BlendifyError naming the choices otherwise."""
    for spec in specs:
        if spec.name == name:
            return spec
    raise BlendifyError(f"unknown provider {name!r}: choose one of {', '.join(names(specs))}")


def names(specs: Sequence[ProviderSpec[Any]] = PROVIDERS) -> tuple[str, ...]:
    return tuple(spec.name for spec in specs)


def settings_types(specs: Sequence[ProviderSpec[Any]] = PROVIDERS) -> dict[str, type[Any]]:
    """Each provider's settings type by name, for `core.settings.load_settings`."""
    return {spec.name: spec.settings for spec in specs}
