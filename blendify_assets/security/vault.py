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
        self._state = _key_state(keys)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keys={len(self._state[0])})"

    def _for_encrypt(self) -> MultiFernet:
        return self._state[1]

    def _for_decrypt(self) -> MultiFernet:
        return self._state[1]

    def _reload(self) -> bool:
        """Look for keys that changed since they were read; True if they did (a retry may work)."""
        return False

    def encrypt(self, secret: str) -> str:
        return self._for_encrypt().encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._with_reload(lambda fernet: fernet.decrypt(token.encode())).decode()
        except InvalidToken:
            raise VaultError(
                "a stored token cannot be decrypted with the configured keys "
                "(was BLENDIFY_ENCRYPTION_KEY changed without keeping the old key?)"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt under the first key (decrypting with any)."""
        try:
            return self._with_reload(lambda fernet: fernet.rotate(token.encode())).decode()
        except InvalidToken:
            raise VaultError("a stored token cannot be decrypted with the configured keys") from None

    def _with_reload(self, work: Callable[[MultiFernet], bytes]) -> bytes:
        try:
            return work(self._for_decrypt())
        except InvalidToken:
            if not self._reload():
                raise
            return work(self._state[1])


def _key_state(keys: list[str] | tuple[str, ...]) -> tuple[tuple[str, ...], MultiFernet]:
    if not keys:
        raise VaultError("the vault needs at least one encryption key")
    try:
        return tuple(keys), MultiFernet([Fernet(k) for k in keys])
    except ValueError:
        raise VaultError("an encryption key is not a valid Fernet key (32 url-safe base64 bytes)") from None


class LocalKeyVault(Vault):
    """The vault of the generated local key file, which follows `keys rotate` in another process.

    A long-lived process (Dagster's daemon and code server, a long `blendify sync`) would otherwise
    keep encrypting with a key the rotation retires, and fail on every token written after it (issue
    11). Encrypting re-reads the file (tokens are written rarely; a stale key there loses the token
    for good); decrypting re-reads it when its inode, times or size changed, and once more when a
    token does not decrypt. The file is only ever replaced whole (`os.replace`), so a read sees the
    old keys or the new, never half; a file that cannot be read or parsed keeps the keys in hand.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, ...] | None = None
        super().__init__(read_local_keys(path))
        self._stamp = self._stamp_now()

    def _stamp_now(self) -> tuple[int, ...] | None:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    def _load(self, *, force: bool) -> bool:
        stamp = self._stamp_now()
        if stamp is None or (stamp == self._stamp and not force):
            return False
        try:
            state = _key_state(read_local_keys(self._path))
        except (OSError, VaultError):
            return False
        changed = state[0] != self._state[0]
        self._state, self._stamp = state, stamp  # one assignment: threads see old keys or new
        return changed

    def _for_encrypt(self) -> MultiFernet:
        self._load(force=True)
        return self._state[1]

    def _for_decrypt(self) -> MultiFernet:
        self._load(force=False)
        return self._state[1]

    def _reload(self) -> bool:
        return self._load(force=True)


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
    local_keys(settings)  # creates the file on first use
    return LocalKeyVault(settings.local_key_file)
