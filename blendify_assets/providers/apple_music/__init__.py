"""Apple Music: declared in `provider.py`; settings, the developer token, the HTTP session, endpoint
fetchers, poll state and parsers beside it (no Dagster, no SQL)."""
