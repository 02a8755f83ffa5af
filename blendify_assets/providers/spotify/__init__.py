"""Spotify: declared in `provider.py`; settings, OAuth, the HTTP session, endpoint fetchers and
parsers beside it (no Dagster, no SQL)."""
