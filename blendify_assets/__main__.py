"""`python -m blendify_assets` is the `blendify` command."""

from .cli import main

main()
