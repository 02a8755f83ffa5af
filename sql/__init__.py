"""The migrations, shipped inside the package as `blendify_assets.sql` (see pyproject.toml)."""
