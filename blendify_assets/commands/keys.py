"""`blendify keys rotate`."""

from __future__ import annotations

import click

from blendify_assets.commands._app import App, out, pass_app
from blendify_assets.db.connections import rotate_tokens
from blendify_assets.security.vault import Vault, rotate_local_key


@click.group()
def keys() -> None:
    """Manage the token encryption keys."""


@keys.command("rotate")
@pass_app
def keys_rotate(app: App) -> None:
    """Re-encrypt every stored token under the current first key.

    With BLENDIFY_ENCRYPTION_KEY set, put the new key first (keep the old ones after it), run this,
    then drop the old keys. With the generated local key, a new local key is made and the old one
    retired once every token is re-encrypted.
    """
    settings = app.settings.warehouse
    engine = app.engine
    if settings.encryption_keys:
        count = rotate_tokens(engine, Vault(settings.encryption_keys))
        out.print(
            f"re-encrypted the tokens of {count} connection(s) under the first BLENDIFY_ENCRYPTION_KEY key"
        )
        return
    count = rotate_local_key(settings, lambda vault: rotate_tokens(engine, vault))
    out.print(
        f"re-encrypted the tokens of {count} connection(s) under a new local key in {settings.local_key_file}"
    )
