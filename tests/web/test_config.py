"""The web app's configuration: Secure cookies and the hosted callback in a deployment."""

from __future__ import annotations

from blendify_assets.core.settings import load_settings
from blendify_assets.providers.registry import settings_types
from blendify_assets.web.config import web_config


def test_a_deployment_sets_secure_cookies(web_env, monkeypatch) -> None:
    monkeypatch.setenv("BLENDIFY_WEB_URL", "https://blendify.example")
    monkeypatch.setenv("BLENDIFY_SESSION_SECRET", "s" * 40)
    config = web_config(load_settings(providers=settings_types()), "0.0.0.0", 8000)
    assert (
        config.secure_cookies
        and config.spotify_redirect_uri == "https://blendify.example/auth/spotify/callback"
    )
    assert "s" * 40 not in repr(config)
