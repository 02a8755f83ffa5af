"""Password hashing with Argon2id (memory-hard), via argon2-cffi, and the password policy."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_LENGTH = 8
MAX_LENGTH = 1024  # Argon2 takes any length; this only bounds the work a request can ask for
# The most used passwords in public breach lists: refused whatever their length (NIST SP 800-63B
# asks verifiers to refuse known-compromised values rather than impose composition rules).
COMMON = frozenset(
    {
        "password",
        "password1",
        "password12",
        "password123",
        "passw0rd",
        "12345678",
        "123456789",
        "1234567890",
        "12345678910",
        "qwertyuiop",
        "qwerty123",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "qwertyui",
        "iloveyou11",
        "iloveyou",
        "abc12345",
        "abcd1234",
        "11111111",
        "00000000",
        "88888888",
        "12341234",
        "11223344",
        "87654321",
        "123123123",
        "sunshine",
        "princess",
        "football",
        "baseball",
        "welcome1",
        "welcome123",
        "letmein1",
        "trustno1",
        "superman",
        "dragon123",
        "monkey123",
        "starwars",
        "computer",
        "michelle",
        "jennifer",
        "whatever",
        "changeme",
        "blendify",
        "spotify1",
        "spotify123",
        "applemusic",
    }
)


@cache
def _dummy_hash() -> str:
    """Made on first use, not at import: an Argon2 hash costs ~0.2 s of CPU and 64 MiB, and every
    process that imports the warehouse's user module (each Dagster run, every command) would pay it."""
    return _hasher.hash("an unguessable placeholder for unknown accounts")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def spend_verify_time(password: str) -> None:
    """As long as a real check, for an unknown address: the answer's timing says nothing."""
    verify_password(_dummy_hash(), password)


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why `password` is refused (one sentence), or None: at least 8 characters, not one of the
    most common passwords, not the email address; any characters, no composition rules."""
    if len(password) < MIN_LENGTH:
        return f"the password must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must be at most {MAX_LENGTH} characters"
    lowered = password.strip().lower()
    if lowered in COMMON or len(set(lowered)) == 1:
        return "that password is one of the most common ones; choose another"
    if email and lowered in {email.strip().lower(), email.strip().lower().split("@", 1)[0]}:
        return "the password must not be your email address"
    return None
