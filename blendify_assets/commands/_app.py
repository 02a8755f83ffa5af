"""What every command shares: the settings (validated at start), engines that are disposed when
the command ends, the token vault, and output that prints names as plain text."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine

from blendify_assets.core.errors import BlendifyError, SettingsError
from blendify_assets.core.settings import Settings, load_settings
from blendify_assets.core.text import printable
from blendify_assets.db.engine import open_engine, open_owner_engine
from blendify_assets.db.migrations import require_current
from blendify_assets.providers.registry import settings_types
from blendify_assets.providers.spec import ProviderSpec
from blendify_assets.security.vault import Vault, vault_from_settings


class TextConsole(Console):
    """A console for data: strings print as text (never rich markup or emoji codes), with control
    characters stripped, so a name like "[/oops]" or an escape sequence from a provider is inert."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(printable(o) if isinstance(o, str) else o for o in objects), **kwargs)


# Pipes and CI logs get wide tables rather than wrapped cells.
out = TextConsole(highlight=False, markup=False, emoji=False, width=None if sys.stdout.isatty() else 200)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    """Every header, title and cell is plain text (names come from people and providers)."""
    table = Table(
        box=box.SIMPLE_HEAD,
        title=Text(printable(title, one_line=True)) if title else None,
        title_justify="left",
        pad_edge=False,
    )
    for column in columns:
        table.add_column(Text(printable(column, one_line=True)))
    for row in rows:
        table.add_row(*(Text("" if v is None else printable(v, one_line=True)) for v in row))
    out.print(table)


def read_text(stream: IO[bytes], what: str) -> str:
    """All of a binary stream as UTF-8 text; anything else is bad input, said in one line."""
    try:
        return stream.read().decode("utf-8")
    except UnicodeDecodeError:
        raise BlendifyError(f"{what}: the input is not UTF-8 text") from None


class App:
    """What a command needs, built on first use; engines are disposed when the command ends."""

    @functools.cached_property
    def settings(self) -> Settings:
        return load_settings(providers=settings_types())

    def _closing(self, engine: Engine) -> Engine:
        click.get_current_context().call_on_close(engine.dispose)
        return engine

    @functools.cached_property
    def raw_engine(self) -> Engine:
        """The warehouse as the app role."""
        return self._closing(open_engine(self.settings.warehouse))

    @functools.cached_property
    def engine(self) -> Engine:
        """The warehouse as the app role, its migrations verified current."""
        engine = self.raw_engine
        require_current(engine)
        return engine

    @functools.cached_property
    def owner_engine(self) -> Engine:
        """As the role that owns the tables: migrations only."""
        return self._closing(open_owner_engine(self.settings.warehouse))

    @functools.cached_property
    def vault(self) -> Vault:
        return vault_from_settings(self.settings.warehouse)


pass_app = click.make_pass_decorator(App, ensure=True)


def check_provider_settings(app: App, spec: ProviderSpec[Any]) -> None:
    """Stop before any run when the provider's settings are missing or wrong (otherwise every
    endpoint fails alike); with no credentials at all, say how to use the local simulator."""
    settings = app.settings.provider(spec.name)
    try:
        settings.check()
    except SettingsError as exc:
        if settings.has_credentials():
            raise
        hint = (
            f"to try Blendify without a {spec.name} account, point it at the local simulator: while "
            f"`blendify dev --demo` runs, `set -a; . {app.settings.warehouse.simulator_env_file}; set +a` "
            "loads its settings (`blendify simulator serve` prints them too)"
        )
        raise SettingsError(f"{exc}; {hint}") from None
