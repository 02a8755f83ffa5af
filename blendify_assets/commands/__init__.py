"""One module per command group, each imported only when that command runs (see cli.py)."""
