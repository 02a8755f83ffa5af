"""How a provider call fails. Messages are shown to operators: they name the provider, endpoint and
cause, never a token."""

from __future__ import annotations


class ProviderError(Exception):
    """A provider call failed; `retryable` says whether trying again later may help."""

    retryable = True


class NeedsReauth(ProviderError):
    """The user must authorise again (Spotify invalid_grant, Apple Music-User-Token 403)."""

    retryable = False


class QuotaExceeded(ProviderError):
    """The developer account's quota is spent (Spotify 429 reason QUOTA_EXCEEDED): stop, don't wait.
    `retry_after` is the provider's hint (seconds) when it sent one."""

    retryable = False

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(ProviderError):
    """Still rate limited after the bounded waits; `retry_after` is the provider's last hint."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(ProviderError):
    """5xx, timeouts or unparseable bodies that outlasted the retries."""


class UnreadableResponse(ProviderError):
    """Every item of a non-empty list failed to parse: the provider answers in a shape Blendify
    does not read. Storing the empty result would erase the current state and report success."""

    retryable = False


class Forbidden(ProviderError):
    """403 on one resource (e.g. a playlist the user neither owns nor collaborates on)."""

    retryable = False
