"""`blendify demo`: everything headless in one process, with a summary."""

from __future__ import annotations

import click
from rich.text import Text

from blendify_assets.commands._app import out, print_table
from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.text import printable
from blendify_assets.demo.run import run_demo
from blendify_assets.providers.registry import PROVIDERS

DEMO_USERS = 8


@click.command()
@click.option(
    "--users", default=DEMO_USERS, show_default=True, type=click.IntRange(1, 2000), help="Simulated users."
)
@click.option("--seed", default=7, show_default=True, type=int, help="Simulator seed.")
@click.option(
    "--profile",
    type=click.Choice(["tiny", "light", "medium", "heavy"]),
    help="One library size for every user (default: the seeded mix).",
)
def demo(users: int, seed: int, profile: str | None) -> None:
    """Headless: embedded DB + simulator + N users (both providers) synced through Dagster + blends."""
    report = run_demo(users, out, PROVIDERS, seed=seed, profile_mix=profile)
    out.print()
    for provider, (ok, total) in report.synced.items():
        out.print(Text.assemble((provider, "bold"), f": {ok} of {total} users synced"))
    for provider, reason in report.not_synced.items():
        out.print(Text.assemble((provider, "bold"), f": not synced ({printable(reason)})"))
    print_table(["table", "rows"], sorted(report.rows.items()), title="Warehouse")
    if report.overlap:
        out.print(report.overlap)
    if report.blends:
        print_table(["blend", "name", "tracks"], report.blends, title="Blends built")
        print_table(["#", "track", "artist", "from"], report.preview, title="Preview of the first blend")
        print_table(["member", "service", "status", "tracks", "playlist"], report.published,
                    title="The first blend in each member's own service")  # fmt: skip
    else:
        out.print(report.blend_note or "blends: none built")
    out.print(
        f"{len(report.users)} users, {len(report.run_ids)} Dagster run(s), {report.seconds:.1f} s; "
        "see them with `blendify dev`"
    )
    failed = sum(total - ok for ok, total in report.synced.values())
    if failed:
        raise BlendifyError(
            f"{failed} user(s) did not sync completely; see `blendify dev` for the failed runs"
        )
