"""Test Apple developer keys: an EC P-256 pair like a MusicKit .p8, and ES256 token signing."""

from __future__ import annotations

import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

MAX_DEVELOPER_TOKEN_AGE = 180 * 24 * 3600  # Apple rejects tokens that expire more than ~180 days ahead


def generate_test_key() -> tuple[str, str]:
    """(private_pem, public_pem): a fresh P-256 key pair in the PKCS#8 form Apple's .p8 files use."""
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def sign_developer_token(private_pem: str, team_id: str, key_id: str, lifetime: int = 3600) -> str:
    """An ES256 developer token as Apple specifies: header kid, claims iss/iat/exp."""
    now = int(time.time())
    return jwt.encode({"iss": team_id, "iat": now, "exp": now + lifetime}, private_pem, algorithm="ES256",
                      headers={"kid": key_id})  # fmt: skip
