"""`blendify db upgrade | status`."""

from __future__ import annotations

import click

from blendify_assets.commands._app import App, out, pass_app, print_table
from blendify_assets.core.errors import BlendifyError
from blendify_assets.db import migrations
from blendify_assets.db.engine import describe, warehouse_url


@click.group()
def db() -> None:
    """Apply or show the warehouse migrations."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Apply pending migrations (idempotent; concurrent runs queue on a lock)."""
    applied = migrations.upgrade(app.owner_engine)
    for m in applied:
        out.print(f"applied {m.path.name}")
    total = len(migrations.discover())
    out.print(
        f"database is up to date ({total} migrations)"
        if not applied
        else f"applied {len(applied)} migration(s)"
    )


@db.command("status")
@pass_app
def db_status(app: App) -> None:
    """Show applied and pending migrations."""
    rows = migrations.status(app.raw_engine)
    out.print(f"database: {describe(warehouse_url(app.settings.warehouse))}")
    print_table(
        ["version", "name", "state", "applied at"],
        [
            (
                s.migration.version,
                s.migration.name,
                "pending"
                if s.applied_at is None
                else ("applied" if s.checksum_ok else "EDITED SINCE APPLIED"),
                s.applied_at,
            )
            for s in rows
        ],
    )
    pending = sum(1 for s in rows if s.applied_at is None)
    out.print(f"{len(rows) - pending} applied, {pending} pending")
    if any(not s.checksum_ok for s in rows):
        raise BlendifyError(
            "an applied migration file was edited; restore it and add a new migration instead"
        )
