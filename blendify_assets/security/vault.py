"""Tokens at rest: Fernet encryption under MultiFernet (the first key encrypts, every key decrypts).

Production sets BLENDIFY_ENCRYPTION_KEY. A laptop without it gets a key generated once into
$BLENDIFY_HOME/encryption.key (mode 0600) and a warning that production must set the variable.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ..errors import BlendifyError
from ..settings import Settings

log = logging.getLogger(__name__)

LOCAL_KEY_WARNING = (
    "BLENDIFY_ENCRYPTION_KEY is not set: tokens are encrypted with the local key in {path}. "
    "Fine for a laptop; production must set BLENDIFY_ENCRYPTION_KEY."
)


class VaultError(BlendifyError):
    pass


class Vault:
    """Encrypts and decrypts token strings; never logs or shows them."""

    def __init__(self, keys: list[str] | tuple[str, ...]) -> None:
        if not keys:
            raise VaultError("the vault needs at least one encryption key")
        self._keys = tuple(keys)
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def __repr__(self) -> str:
        return f"Vault(keys={len(self._keys)})"

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise VaultError(
                "a stored token cannot be decrypted with the configured keys "
                "(was BLENDIFY_ENCRYPTION_KEY changed without keeping the old key?)"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt under the first key (decrypting with any)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise VaultError("a stored token cannot be decrypted with the configured keys") from None

    def encrypted_with_first_key(self, token: str) -> bool:
        try:
            Fernet(self._keys[0]).decrypt(token.encode())
        except InvalidToken:
            return False
        return True


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_local_keys(path: Path) -> list[str]:
    return [k.strip() for k in path.read_text().split(",") if k.strip()]


def local_keys(settings: Settings, *, create: bool = True) -> list[str]:
    """The generated local keys, creating the file (mode 0600) on first use."""
    path = settings.local_key_file
    if not path.exists():
        if not create:
            return []
        _write_private(path, Fernet.generate_key().decode())
    return read_local_keys(path)


def write_local_keys(settings: Settings, keys: list[str]) -> None:
    _write_private(settings.local_key_file, ",".join(keys))


_warned: set[Path] = set()


def vault_from_settings(settings: Settings) -> Vault:
    if settings.encryption_keys:
        return Vault(settings.encryption_keys)
    if settings.local_key_file not in _warned:  # once per process, however many vaults it builds
        _warned.add(settings.local_key_file)
        log.warning(LOCAL_KEY_WARNING.format(path=settings.local_key_file))
    return Vault(local_keys(settings))
