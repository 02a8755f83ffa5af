"""A token response with an absurd lifetime is read as "expiry unknown", never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blendify_assets.providers.spotify.auth import tokens_from_response

NOW = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize("expires_in", [1e300, float("nan"), float("inf"), -5, 0, 10**15])
def test_absurd_expires_in_means_unknown_expiry(expires_in) -> None:
    tokens = tokens_from_response(
        {"access_token": "AT", "expires_in": expires_in}, previous_refresh="RT", now=NOW
    )
    assert tokens.expires_at is None and tokens.refresh_token == "RT"


def test_an_ordinary_lifetime_is_kept() -> None:
    tokens = tokens_from_response({"access_token": "AT", "expires_in": 3600}, previous_refresh=None, now=NOW)
    assert tokens.expires_at == NOW + timedelta(hours=1)
