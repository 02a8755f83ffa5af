"""`python -m blendify_assets` is the `blendify` command."""

from blendify_assets.cli import main

main()
