"""Errors a user can act on: the CLI prints their message as one line and exits 1."""


class BlendifyError(Exception):
    """A failure with a message that tells the user what to do; never contains a secret."""


class SettingsError(BlendifyError):
    """A missing or malformed environment setting; the message names the variable."""

    retryable = False  # retrying a run cannot fix the environment
