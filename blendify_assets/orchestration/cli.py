"""`blendify dev` and `blendify demo` (issue 6). Filled in by the orchestration work."""

import click

COMMANDS: list[click.Command] = []
