"""The one resource every Blendify asset needs: the warehouse, the token vault and the settings.

Everything comes from the environment at run time, so no URL, key or token is ever part of a
Dagster config, snapshot or the UI.
"""

import functools

import dagster as dg

from blendify_assets.core.settings import Settings, load_settings
from blendify_assets.db.engine import get_engine
from blendify_assets.ingest.sync import SyncContext
from blendify_assets.security.vault import vault_from_settings


@functools.cache
def _parts_for(settings: Settings) -> tuple[object, object]:
    return get_engine(settings), vault_from_settings(settings)


def _context_parts() -> tuple[Settings, object, object]:
    """Settings are read on every call (cheap); the engine and vault are built once per settings."""
    settings = load_settings()
    return (settings, *_parts_for(settings))


class BlendifyResource(dg.ConfigurableResource):
    """Warehouse access for assets, built once per process."""

    user_concurrency: int = 16

    def sync_context(self, run_id: str | None = None) -> SyncContext:
        settings, engine, vault = _context_parts()
        return SyncContext(settings, engine, vault, run_id=run_id, user_concurrency=self.user_concurrency)

    @property
    def engine(self):
        return _context_parts()[1]

    @property
    def settings(self) -> Settings:
        return _context_parts()[0]
