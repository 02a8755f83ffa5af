"""Tokens at rest: Fernet encryption under MultiFernet (the first key encrypts, every key decrypts).

Production sets BLENDIFY_ENCRYPTION_KEY. A laptop without it gets a key generated once into
$BLENDIFY_HOME/encryption.key (mode 0600) and a warning that production must set the variable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import fasteners
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.settings import WarehouseSettings

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


def _write_private(path: Path, text: str) -> None:
    """Replace `path` atomically (mode 0600): readers see the old keys or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600, unique name
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _create_private(path: Path, text: str) -> None:
    """Create `path` (mode 0600) with `text` unless it exists: the first creator wins, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic, and refuses to replace a key another process made
    finally:
        os.unlink(tmp)


@contextlib.contextmanager
def local_key_lock(settings: WarehouseSettings) -> Iterator[None]:
    """One process at a time generates or rotates the local key (other processes only read it)."""
    settings.local_key_file.parent.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(settings.local_key_file.with_name(".encryption.key.lock"))):
        yield


def read_local_keys(path: Path) -> list[str]:
    return [k.strip() for k in path.read_text().split(",") if k.strip()]


def local_keys(settings: WarehouseSettings, *, create: bool = True) -> list[str]:
    """The generated local keys, creating the file (mode 0600) on first use.

    Two first commands at once must agree on one key: the file is created whole or not at all, and
    whoever loses the race reads the winner's key (issue 11: a token encrypted under a discarded
    key could never be decrypted).
    """
    path = settings.local_key_file
    if not path.exists():
        if not create:
            return []
        with local_key_lock(settings):
            return _local_keys_locked(settings)
    return read_local_keys(path)


def _local_keys_locked(settings: WarehouseSettings) -> list[str]:
    """`local_keys` for a caller that already holds the key lock (POSIX locks do not nest)."""
    path = settings.local_key_file
    if not path.exists():
        _create_private(path, Fernet.generate_key().decode())
    return read_local_keys(path)


def write_local_keys(settings: WarehouseSettings, keys: list[str]) -> None:
    _write_private(settings.local_key_file, ",".join(keys))


def rotate_local_key(settings: WarehouseSettings, reencrypt: Callable[[Vault], int]) -> int:
    """Make a new local key, re-encrypt every token under it, then retire the old keys.

    Under the key lock, so two rotations cannot interleave; a crash part-way leaves the new key
    first and the old ones after it, which still decrypts everything.
    """
    with local_key_lock(settings):
        old = _local_keys_locked(settings)
        new = Fernet.generate_key().decode()
        write_local_keys(settings, [new, *old])
        count = reencrypt(Vault([new, *old]))
        write_local_keys(settings, [new])
    return count


_warned: set[Path] = set()


def vault_from_settings(settings: WarehouseSettings) -> Vault:
    if settings.encryption_keys:
        return Vault(settings.encryption_keys)
    if settings.local_key_file not in _warned:  # once per process, however many vaults it builds
        _warned.add(settings.local_key_file)
        log.warning(LOCAL_KEY_WARNING.format(path=settings.local_key_file))
    return Vault(local_keys(settings))
