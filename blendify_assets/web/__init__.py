"""The listeners' web app (`blendify web`): sign up, connect Spotify and Apple Music, see your music,
match with the people you share blends with, and make blends together.

FastAPI with server-rendered Jinja2 pages (forms work without JavaScript) and a small JSON API
under /api/v1 described by /api/openapi.json. No SQL here: pages read and write through the `db/`
owners and `analytics/`, as the command line does (`reads.py` combines owners for a page). Routes
are one module per area (`routes/`), so a new area (an upload page, say) is a new module.
"""
