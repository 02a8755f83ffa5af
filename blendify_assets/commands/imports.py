"""`blendify import spotify-history | apple-history`: a user's lifetime listening from the
provider's privacy export (docs/history-import.md)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from blendify_assets.commands._app import App, out, pass_app, print_table
from blendify_assets.db.users import user_id_for
from blendify_assets.ingest.history import ImportReport, Lookup, apple_lookup, import_history, spotify_lookup


@click.group("import")
def import_group() -> None:
    """Import a user's lifetime listening history from a privacy export."""


def _run(app: App, email: str, provider: str, files: tuple[Path, ...], lookups: bool) -> None:
    with app.engine.connect() as conn:
        uid = user_id_for(conn, email)
    lookup: Lookup | None = None
    why_not = "--no-lookups"
    if lookups and provider == "spotify":
        lookup, why_not = spotify_lookup(app.engine, app.vault, app.settings.provider("spotify"), uid)
    elif lookups:
        lookup, why_not = apple_lookup(app.engine, app.vault, app.settings.provider("apple"), uid)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("validating the export")

        def progress(name: str, rows: int) -> None:
            bar.update(task, description=f"{name}: {rows:,} records read")

        report = import_history(app.engine, uid, provider, list(files), progress, lookup, why_not)
    _print(email, report)


def _print(email: str, report: ImportReport) -> None:
    rows: list[tuple[object, ...]] = []
    for f in report.files:
        if f.already_imported_at is not None:
            rows.append((f.file, f.schema, "", "", f"already imported {f.already_imported_at:%Y-%m-%d %H:%M} UTC",
                         "", "", ""))  # fmt: skip
            continue
        filtered = ", ".join(f"{k} {v}" for k, v in f.filtered.items())
        rows.append((f.file, f.schema, f.records, f.plays, f.appended, f.duplicates_api, f.duplicates_stored,
                     filtered))  # fmt: skip
    print_table(
        ["file", "schema", "records", "plays", "appended", "already from API", "already stored", "filtered"],
        rows,
        title=f"{report.provider} history of {email}",
    )
    for name, why in report.ignored.items():
        out.print(f"not read: {name} ({why})")
    out.print(report.lookups)
    if report.provider == "spotify":
        methods = f"{report.enriched('isrc_from_lookup'):,} by lookup"
    else:
        methods = (
            f"{report.enriched('isrc_from_catalogue'):,} from the catalogue, "
            f"{report.enriched('isrc_from_search'):,} by search"
        )
    out.print(
        f"{report.appended:,} plays appended; {report.total('duplicates_api'):,} were already stored from the "
        f"API, {report.total('duplicates_stored'):,} by an earlier import or repeated; "
        f"ISRCs: {report.enriched('isrc_from_warehouse'):,} from the warehouse, {methods}; "
        f"{report.enriched('unidentified'):,} unidentified (stored without an ISRC)"
    )


FILES = click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
USER = click.option("--user", "email", required=True, help="The user's email.")
LOOKUPS = click.option(
    "--lookups/--no-lookups",
    default=True,
    help="Look up ISRCs the warehouse lacks through the user's connection (default), or reuse the warehouse's only.",
)


@import_group.command("spotify-history")
@USER
@LOOKUPS
@FILES
@pass_app
def spotify_history(app: App, email: str, lookups: bool, files: tuple[Path, ...]) -> None:
    """Spotify's Extended streaming history or Account data: the zip, or its JSON files."""
    _run(app, email, "spotify", files, lookups)


@import_group.command("apple-history")
@USER
@LOOKUPS
@FILES
@pass_app
def apple_history(app: App, email: str, lookups: bool, files: tuple[Path, ...]) -> None:
    """Apple's privacy export: the zip, or its 'Apple Music Play Activity.csv'."""
    _run(app, email, "apple", files, lookups)
