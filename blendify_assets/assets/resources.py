"""The resources every Blendify asset, sensor and schedule needs: the warehouse, and each provider's
settings. Configuration reaches Dagster code only through these.

- `resources_from_env` (the code location, `blendify dev`, `blendify sync`) makes every set
  variable an `EnvVar`, resolved when a run or tick starts, so no URL, key or token is ever part of
  a job snapshot, run config or the UI. An unset variable takes its declared default instead (an
  `EnvVar` on an unset variable fails the whole run, even for an optional field).
- `resources_for` (tests, `blendify demo`) takes values directly. A secret may be a literal only
  when the caller says so (`allow_literal_secrets`, for test fixtures): a literal is stored as a
  config default in the job snapshot.

The engine is built when a run or a sensor/schedule evaluation starts and disposed when it ends.
(No `from __future__ import annotations` here: Dagster reads these annotations at runtime.)
"""

import os
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from pydantic import PrivateAttr
from sqlalchemy.engine import Engine

from blendify_assets.core.errors import SettingsError
from blendify_assets.core.settings import EnvField, WarehouseSettings
from blendify_assets.db.engine import open_engine
from blendify_assets.providers.spec import ProviderSpec
from blendify_assets.security.vault import Vault, vault_from_settings


def _config(fields: tuple[EnvField, ...], env: Mapping[str, str]) -> dict[str, Any]:
    """`EnvVar`s for the variables that are set (and not blank)."""
    return {f.field: dg.EnvVar(f.env) for f in fields if env.get(f.env, "").strip()}


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse (an engine as the app role), the token vault and the warehouse settings."""

    home: str = ".blendify"
    database_url: str | None = None  # an EnvVar: it may hold a password
    encryption_key: str | None = None  # an EnvVar
    user_concurrency: int = 16

    _settings: WarehouseSettings | None = PrivateAttr(default=None)
    _engine: Engine | None = PrivateAttr(default=None)
    _vault: Vault | None = PrivateAttr(default=None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "WarehouseResource":
        fields = tuple(f for f in WarehouseSettings.ENV if f.field != "owner_database_url")  # migrations only
        return cls(**_config(fields, os.environ if env is None else env))

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        values = {"home": self.home, "database_url": self.database_url, "encryption_key": self.encryption_key}
        self._settings = WarehouseSettings.from_values({k: v for k, v in values.items() if v})
        self._engine = open_engine(self._settings)  # starts or attaches the embedded server if no URL
        self._vault = vault_from_settings(self._settings)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def settings(self) -> WarehouseSettings:
        assert self._settings is not None, "WarehouseResource used before Dagster set it up"
        return self._settings

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "WarehouseResource used before Dagster set it up"
        return self._engine

    @property
    def vault(self) -> Vault:
        assert self._vault is not None, "WarehouseResource used before Dagster set it up"
        return self._vault


class ProviderResource(dg.ConfigurableResource):
    """One provider's settings: field name -> value (an `EnvVar`, or a literal that is no secret)."""

    provider: str  # the spec's name, so a resource cannot be bound to another provider's assets
    values: dict[str, str] = {}

    _built: Any = PrivateAttr(default=None)

    @classmethod
    def from_env(cls, spec: ProviderSpec[Any], env: Mapping[str, str] | None = None) -> "ProviderResource":
        fields: tuple[EnvField, ...] = spec.settings.ENV
        return cls(provider=spec.name, values=_config(fields, os.environ if env is None else env))

    def settings(self, spec: ProviderSpec[Any]) -> Any:
        """The provider's settings, validated (SettingsError names the variable), built once."""
        if spec.name != self.provider:
            raise SettingsError(f"the {self.provider} resource was given to the {spec.name} assets")
        if self._built is None:
            self._built = spec.settings.from_values(dict(self.values))
        return self._built


def _is_literal(value: object) -> bool:
    return isinstance(value, str) and not isinstance(value, dg.EnvVar)


def resources_from_env(
    specs: Sequence[ProviderSpec[Any]], env: Mapping[str, str] | None = None
) -> dict[str, dg.ConfigurableResource]:
    """The deployed resources: everything read from the environment when a run or tick starts."""
    return {
        "warehouse": WarehouseResource.from_env(env),
        **{spec.group: ProviderResource.from_env(spec, env) for spec in specs},
    }


def resources_for(
    warehouse: WarehouseResource,
    providers: Mapping[str, Mapping[str, str]],
    specs: Sequence[ProviderSpec[Any]],
    *,
    allow_literal_secrets: bool = False,
) -> dict[str, dg.ConfigurableResource]:
    """Resources from values (`providers`: spec name -> field -> value). Secrets must be `EnvVar`s
    unless `allow_literal_secrets` (test fixtures: a throwaway key and database)."""
    configured = vars(warehouse)  # the raw values: reading an EnvVar field outside a run raises
    literal = [f.env for f in WarehouseSettings.ENV if f.secret and _is_literal(configured.get(f.field))]
    for spec in specs:
        fields: tuple[EnvField, ...] = spec.settings.ENV
        given = providers.get(spec.name, {})
        literal += [f.env for f in fields if f.secret and _is_literal(given.get(f.field))]
    if literal and not allow_literal_secrets:
        raise SettingsError(f"{', '.join(literal)}: pass secrets as dagster.EnvVar, never as literal config")
    return {
        "warehouse": warehouse,
        **{
            spec.group: ProviderResource(provider=spec.name, values=dict(providers.get(spec.name, {})))
            for spec in specs
        },
    }
