"""Apple Music authentication: developer token (ES256 JWT) and Music-User-Tokens (`sim.apple`).

A developer token passes when it is an ES256 JWT signed by the configured key, with header `kid`
equal to the key id, `iss` equal to the team id, `iat` present and `exp` in the future but at most
180 days ahead (wall time; Apple itself checks against its own clock). Anything else: 401.
Music-User-Tokens have no refresh; a revoked, unknown or missing one gives 403 code 40300.
"""

from __future__ import annotations

import secrets
import threading
import time

import jwt

from blendify_assets.simulator.apple_keys import (
    MAX_DEVELOPER_TOKEN_AGE,
    generate_test_key,
    sign_developer_token,
)
from blendify_assets.simulator.world import World


class AppleAuth:
    """Developer-token verification and the Music-User-Token store."""

    def __init__(self, world: World, public_key_pem: str | None, team_id: str, key_id: str) -> None:
        self.world = world
        self.team_id = team_id
        self.key_id = key_id
        self.private_key_pem: str | None = None
        if public_key_pem is None:
            self.private_key_pem, public_key_pem = generate_test_key()
        self.public_key_pem = public_key_pem
        self._verified: dict[str, int] = {}  # token -> exp, so ECDSA runs once per token
        self._user_tokens: dict[str, str] = {}  # token -> sim user id
        self._revoked: set[str] = set()
        self._lock = threading.Lock()

    def developer_token(self, lifetime: int = 3600) -> str:
        """A valid developer token signed with the simulator's own key (when it made one)."""
        if self.private_key_pem is None:
            raise RuntimeError("the simulator was given a public key; sign with your private key")
        return sign_developer_token(self.private_key_pem, self.team_id, self.key_id, lifetime)

    def check_developer_token(self, token: str) -> bool:
        now = time.time()
        exp = self._verified.get(token)
        if exp is not None:
            return exp > now
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, self.public_key_pem, algorithms=["ES256"],
                                options={"require": ["iss", "iat", "exp"]})  # fmt: skip
        except jwt.PyJWTError:
            return False
        if (
            header.get("alg") != "ES256"
            or header.get("kid") != self.key_id
            or claims.get("iss") != self.team_id
        ):
            return False
        exp = int(claims["exp"])
        if exp - now > MAX_DEVELOPER_TOKEN_AGE + 60:
            return False
        self._verified[token] = exp
        return True

    def issue_user_token(self, sim_user_id: str) -> str:
        """A Music-User-Token for the user, as MusicKit's authorize() would hand one to the app."""
        user = self.world.user(sim_user_id)
        if not user.on_apple:
            raise ValueError(f"{sim_user_id} has no Apple Music account in this world")
        token = secrets.token_urlsafe(96)
        with self._lock:
            self._user_tokens[token] = sim_user_id
        return token

    def revoke(self, sim_user_id: str) -> None:
        """Every Music-User-Token of the user now answers 403 / 40300 (no refresh exists)."""
        with self._lock:
            for token, uid in self._user_tokens.items():
                if uid == sim_user_id:
                    self._revoked.add(token)

    def user_for(self, token: str | None) -> str | None:
        if not token or token in self._revoked:
            return None
        return self._user_tokens.get(token)

    def user_of(self, token: str) -> str | None:
        return self._user_tokens.get(token)
