"""The listeners' web app (`blendify web`): sign up, connect Spotify and Apple Music, see your music,
match with the people you share blends with, and make blends together.

FastAPI with server-rendered Jinja2 pages (forms work without JavaScript) and a small JSON API
under /api/v1 described by /api/openapi.json. Every SQL statement is in ``queries.py``; writes to
users, connections, blends and their members go through the owners the command line uses.
"""
