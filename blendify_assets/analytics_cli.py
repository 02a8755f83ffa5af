"""`blendify blends …`, `profile`, `overlap`, `recent` (issue 7). Filled in by the analytics work."""

import click

COMMANDS: list[click.Command] = []
