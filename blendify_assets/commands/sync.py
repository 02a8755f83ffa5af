"""`blendify sync`: materialise one user's partitions now, through Dagster, in this process."""

from __future__ import annotations

import os

import click
from rich.status import Status

from blendify_assets.assets.resources import resources_from_env
from blendify_assets.commands._app import App, check_provider_settings, out, pass_app, print_table
from blendify_assets.core.errors import BlendifyError
from blendify_assets.db import connections, provider_budget
from blendify_assets.db.sync_log import summary_for_runs
from blendify_assets.db.users import user_id_for
from blendify_assets.orchestration.factory import build_definitions
from blendify_assets.orchestration.runner import dagster_instance, run_sync_in_process
from blendify_assets.providers import registry
from blendify_assets.providers.registry import PROVIDERS


@click.command()
@click.option("--user", "email", required=True, help="The user's email.")
@click.option("--provider", help=f"Only this provider: {' or '.join(registry.names())}.")
@click.option("--endpoint", help="Only this endpoint (e.g. top_tracks, playlist_tracks).")
@pass_app
def sync(app: App, email: str, provider: str | None, endpoint: str | None) -> None:
    """Materialise the user's partitions now, through Dagster, in this process."""
    if provider is not None:
        registry.get(provider)
    engine = app.engine
    with engine.connect() as conn:
        user_id = str(user_id_for(conn, email))
    connected = connections.providers_for_user(engine, user_id)
    if provider and provider not in connected:
        raise BlendifyError(f"{email} has no {provider} connection (add one with `blendify connections add`)")
    chosen = [registry.get(provider)] if provider else [s for s in PROVIDERS if s.name in connected]
    if not chosen:
        raise BlendifyError(f"{email} has no provider connections to sync")
    for spec in chosen:
        if endpoint and endpoint not in spec.endpoint_names:
            raise click.UsageError(
                f"unknown {spec.name} endpoint {endpoint!r}: choose one of {', '.join(spec.endpoint_names)}"
            )
        check_provider_settings(app, spec)
    # Built from this command's environment (the CLI's contract); its resources read it again
    # as the runs start, as `EnvVar`s.
    defs = build_definitions(PROVIDERS, resources_from_env(PROVIDERS, os.environ))
    instance = dagster_instance(app.settings.warehouse, PROVIDERS)
    run_ids = []
    try:
        for spec in chosen:
            with out.status(f"syncing {spec.name} for {email}…") as status:

                def waiting(message: str, name: str = spec.name, status: Status = status) -> None:
                    click.echo(message, err=True)
                    status.update(f"syncing {name} for {email}: waiting for a pool slot (Ctrl-C stops)…")

                results = run_sync_in_process(
                    instance, defs, spec, [user_id], [endpoint] if endpoint else None, on_wait=waiting
                )
            run_ids += [r.run_id for r in results]
    finally:
        instance.dispose()
    rows, failed = summary_for_runs(engine, run_ids)
    print_table(["provider", "endpoint", "status", "requests", "rows appended", "changed", "error"], rows)
    paused = [pause for pause in (provider_budget.paused(engine, spec.name) for spec in chosen) if pause]
    if paused:  # its checks were left for later, not failed: say why and when they can go
        raise BlendifyError("; ".join(p.describe() for p in paused) + " (what was not synced goes after it)")
    if failed:
        raise BlendifyError(f"{failed} endpoint check(s) failed; see the error column")
