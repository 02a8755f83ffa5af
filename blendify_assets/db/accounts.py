"""Users and provider connections: the rows the web app also writes, and the token store over them."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import BlendifyError
from ..providers.base import Tokens
from ..security.passwords import hash_password, password_problem
from ..security.vault import Vault

PROVIDERS = ("spotify", "apple")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


class NotFound(BlendifyError):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


def naive_utc(moment: datetime | None) -> datetime | None:
    """`timestamp` columns hold UTC without a zone."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def aware_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise BlendifyError(f"not a valid email address: {email!r}")
    return email


# --- users -------------------------------------------------------------------------------------------


def add_user(
    engine: Engine, email: str, display_name: str | None = None, password: str | None = None
) -> uuid.UUID:
    email = normalise_email(email)
    problem = password_problem(password, email) if password is not None else None
    if problem:
        raise BlendifyError(problem)
    password_hash = hash_password(password) if password is not None else None
    with engine.begin() as conn:
        row = conn.execute(
            sa.text(
                "INSERT INTO users (email, display_name, password_hash) VALUES (:e, :n, :p) "
                "ON CONFLICT (email) DO NOTHING RETURNING id"
            ),
            {"e": email, "n": display_name, "p": password_hash},
        ).first()
    if row is None:
        raise BlendifyError(f"a user with email {email} already exists")
    return row[0]


def user_id_for(conn: Connection, email: str) -> uuid.UUID:
    email = normalise_email(email)
    found = conn.execute(sa.text("SELECT id FROM users WHERE email = :e"), {"e": email}).scalar()
    if found is None:
        raise NotFound(f"no user with email {email} (add one with `blendify users add {email}`)")
    return found


def list_users(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """
                SELECT u.id, u.email, u.display_name, u.created_at,
                       coalesce(string_agg(c.provider::text || ':' || c.status::text, ', '
                                           ORDER BY c.provider), '') AS connections
                FROM users u LEFT JOIN provider_connections c ON c.user_id = u.id
                GROUP BY u.id ORDER BY u.created_at, u.email
                """
            )
        ).mappings()
        return [dict(r) for r in rows]


# --- connections -------------------------------------------------------------------------------------


MAX_EXPIRES_IN = 10 * 365 * 24 * 3600  # no provider token lives longer; beyond it is a mistake


@dataclass(frozen=True)
class TokenPayload:
    """What `connections add --tokens-json -` accepts."""

    access_token: str
    refresh_token: str | None
    expires_in: int | None
    provider_user_id: str | None

    def __repr__(self) -> str:
        return f"TokenPayload(expires_in={self.expires_in!r}, provider_user_id={self.provider_user_id!r})"

    @classmethod
    def parse(cls, text: str) -> TokenPayload:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BlendifyError(
                f"--tokens-json is not valid JSON (line {exc.lineno}, column {exc.colno})"
            ) from None
        if not isinstance(data, dict):
            raise BlendifyError("--tokens-json must be a JSON object with at least access_token")

        def text_field(name: str, required: bool = False) -> str | None:
            value = data.get(name)
            if value is None and not required:
                return None
            if not isinstance(value, str) or not value.strip():
                raise BlendifyError(f"--tokens-json: {name} must be a non-empty string")
            return value.strip()

        expires_in = data.get("expires_in")
        if expires_in is not None and (
            isinstance(expires_in, bool)
            or not isinstance(expires_in, int)
            or not 0 < expires_in <= MAX_EXPIRES_IN
        ):
            raise BlendifyError(
                f"--tokens-json: expires_in must be a whole number of seconds from 1 to {MAX_EXPIRES_IN} (ten years)"
            )
        return cls(
            access_token=text_field("access_token", required=True) or "",
            refresh_token=text_field("refresh_token"),
            expires_in=expires_in,
            provider_user_id=text_field("provider_user_id"),
        )


def check_provider(provider: str) -> str:
    """A bad provider is bad input the user can fix (exit 1), named with the choices."""
    if provider not in PROVIDERS:
        raise BlendifyError(f"unknown provider {provider!r}: choose one of {', '.join(PROVIDERS)}")
    return provider


def upsert_connection(
    engine: Engine, vault: Vault, email: str, provider: str, payload: TokenPayload
) -> tuple[uuid.UUID, bool]:
    """Store (encrypted) tokens for the user's connection to `provider`; returns (id, created).

    A second call for the same (user, provider) is a re-authorisation: tokens are replaced, the
    status returns to active and the connection sensor sees it again.
    """
    check_provider(provider)
    expires_at = utcnow() + timedelta(seconds=payload.expires_in) if payload.expires_in else None
    with engine.begin() as conn:
        user_id = user_id_for(conn, email)
        row = conn.execute(
            sa.text(
                """
                INSERT INTO provider_connections
                    (user_id, provider, provider_user_id, access_token_encrypted, refresh_token_encrypted,
                     token_expires_at, status, status_reason, authorized_at)
                VALUES (:u, CAST(:p AS provider), :pid, :at, :rt, :exp, 'active', NULL, clock_timestamp())
                ON CONFLICT (user_id, provider) DO UPDATE SET
                    provider_user_id = COALESCE(:pid_update, provider_connections.provider_user_id),
                    access_token_encrypted = EXCLUDED.access_token_encrypted,
                    refresh_token_encrypted = EXCLUDED.refresh_token_encrypted,
                    token_expires_at = EXCLUDED.token_expires_at,
                    status = 'active', status_reason = NULL, authorized_at = clock_timestamp()
                RETURNING id, (xmax = 0) AS created
                """
            ),
            {
                "u": user_id,
                "p": provider,
                "pid": payload.provider_user_id or "",
                "pid_update": payload.provider_user_id,
                "at": vault.encrypt(payload.access_token),
                "rt": vault.encrypt(payload.refresh_token) if payload.refresh_token else None,
                "exp": naive_utc(expires_at),
            },
        ).one()
    return row.id, bool(row.created)


def list_connections(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """
                SELECT c.id, u.email, c.provider::text AS provider, c.status::text AS status,
                       c.status_reason, c.token_expires_at, c.authorized_at, c.provider_user_id
                FROM provider_connections c JOIN users u ON u.id = c.user_id
                ORDER BY u.email, c.provider
                """
            )
        ).mappings()
        return [dict(r) for r in rows]


RESYNC_COOLDOWN = timedelta(minutes=10)


def request_resync(engine: Engine, user_id: uuid.UUID, provider: str) -> datetime | None:
    """Ask for a fresh sync of an active connection: `resync_requested_at` moves, which gives the
    row a new `change_seq` (sql/0008_web.sql), so the connection sensor requests one sync run.

    Returns when the request was stored, or None when there is no active connection. A request
    within RESYNC_COOLDOWN of the previous one is refused (one sync at a time is plenty).
    """
    check_provider(provider)
    now = naive_utc(utcnow())
    with engine.begin() as conn:
        row = conn.execute(
            sa.text(
                "SELECT status::text AS status, resync_requested_at FROM provider_connections "
                "WHERE user_id = :u AND provider = CAST(:p AS provider) FOR UPDATE"
            ),
            {"u": user_id, "p": provider},
        ).first()
        if row is None or row.status != "active":
            return None
        if row.resync_requested_at and now - row.resync_requested_at < RESYNC_COOLDOWN:
            wait = RESYNC_COOLDOWN - (now - row.resync_requested_at)
            minutes = max(1, round(wait.total_seconds() / 60))
            raise BlendifyError(
                f"a re-sync was requested a moment ago; you can ask again in {minutes} minute(s)"
            )
        conn.execute(
            sa.text(
                "UPDATE provider_connections SET resync_requested_at = :t "
                "WHERE user_id = :u AND provider = CAST(:p AS provider)"
            ),
            {"t": now, "u": user_id, "p": provider},
        )
    return now


def disconnect(engine: Engine, vault: Vault, user_id: uuid.UUID, provider: str) -> bool:
    """Stop syncing: the connection is marked revoked and its tokens are overwritten (an empty
    secret, still encrypted, so key rotation goes on working). Every row already synced is kept,
    as the append-only principle says; connecting again makes it active. False: nothing to do."""
    check_provider(provider)
    with engine.begin() as conn:
        updated = conn.execute(
            sa.text(
                "UPDATE provider_connections SET status = 'revoked', status_reason = :why, "
                "access_token_encrypted = :blank, refresh_token_encrypted = NULL, token_expires_at = NULL "
                "WHERE user_id = :u AND provider = CAST(:p AS provider) AND status <> 'revoked'"
            ),
            {"why": "disconnected by the user", "blank": vault.encrypt(""), "u": user_id, "p": provider},
        ).rowcount
    return bool(updated)


def rotate_tokens(engine: Engine, vault: Vault) -> int:
    """Re-encrypt every stored token under the vault's first key; returns connections rewritten."""
    with engine.begin() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, access_token_encrypted, refresh_token_encrypted FROM provider_connections FOR UPDATE"
            )
        ).all()
        for row in rows:
            conn.execute(
                # updated_at moves; change_seq does not (rotation is not a re-authorisation)
                sa.text(
                    "UPDATE provider_connections SET access_token_encrypted = :a, refresh_token_encrypted = :r "
                    "WHERE id = :id"
                ),
                {
                    "id": row.id,
                    "a": vault.rotate(row.access_token_encrypted),
                    "r": vault.rotate(row.refresh_token_encrypted) if row.refresh_token_encrypted else None,
                },
            )
    return len(rows)


# --- the token store the providers use -----------------------------------------------------------------


class DatabaseTokenSource:
    """One connection's tokens in `provider_connections`, decrypted on read, encrypted on write.

    Every write is a compare-and-set: it lands only if the row still holds the tokens the writer
    read (compared decrypted, so a key rotation in between is no conflict). A re-authorisation that
    commits while a sync refreshes or gives up on the old grant therefore always wins. The row lock
    is held only to compare and write, never across the provider's HTTP retries (issue 11), so a
    user's `connections add` never waits for a refresh. An asyncio lock per connection still keeps
    one refresh at a time inside a process; across processes a lost race costs one extra refresh,
    and the loser adopts the winner's tokens.
    """

    _locks: dict[tuple[int, uuid.UUID], asyncio.Lock] = {}  # per event loop: a lock belongs to one loop

    def __init__(self, engine: Engine, vault: Vault, connection_id: uuid.UUID) -> None:
        self.engine = engine
        self.vault = vault
        self.connection_id = connection_id

    def __repr__(self) -> str:
        return f"DatabaseTokenSource(connection_id={self.connection_id})"

    def _decode(self, row: Any) -> Tokens:
        return Tokens(
            access_token=self.vault.decrypt(row.access_token_encrypted),
            refresh_token=self.vault.decrypt(row.refresh_token_encrypted)
            if row.refresh_token_encrypted
            else None,
            expires_at=aware_utc(row.token_expires_at),
        )

    _SELECT = (
        "SELECT access_token_encrypted, refresh_token_encrypted, token_expires_at, status::text AS status "
        "FROM provider_connections WHERE id = :id"
    )

    def current(self) -> Tokens:
        with self.engine.connect() as conn:
            row = conn.execute(sa.text(self._SELECT), {"id": self.connection_id}).one()
        return self._decode(row)

    def compare_and_set(self, expected: Tokens, changes: dict[str, Any]) -> bool:
        """Apply `changes` (column -> value) only if the row still holds `expected`'s tokens.

        The row is locked for this read-compare-write alone (milliseconds); False means someone
        else (a re-authorisation, another process's refresh) wrote first, and nothing was written.
        """
        assignments = ", ".join(
            f"{column} = CAST(:{column} AS connection_status)"
            if column == "status"
            else f"{column} = :{column}"
            for column in changes
        )
        with self.engine.begin() as conn:
            row = conn.execute(sa.text(self._SELECT + " FOR UPDATE"), {"id": self.connection_id}).first()
            if row is None or not _same_grant(self._decode(row), expected):
                return False
            conn.execute(
                sa.text(f"UPDATE provider_connections SET {assignments} WHERE id = :id"),
                changes | {"id": self.connection_id},
            )
        return True

    async def refresh(self, exchange: Callable[[Tokens], Awaitable[Tokens]], stale: Tokens) -> Tokens:
        key = (id(asyncio.get_running_loop()), self.connection_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            current = await asyncio.to_thread(self.current)
            if current.access_token != stale.access_token:
                return current  # someone else refreshed while we waited
            fresh = await exchange(current)  # HTTP and its retries: no database lock held
            refresh_token = fresh.refresh_token or current.refresh_token
            stored = await asyncio.to_thread(
                self.compare_and_set,
                current,
                {
                    "access_token_encrypted": self.vault.encrypt(fresh.access_token),
                    "refresh_token_encrypted": self.vault.encrypt(refresh_token) if refresh_token else None,
                    "token_expires_at": naive_utc(fresh.expires_at),
                },
            )
            if not stored:  # a re-authorisation or another process's refresh came first: theirs stands
                return await asyncio.to_thread(self.current)
            return Tokens(fresh.access_token, refresh_token, fresh.expires_at, fresh.scope)

    def mark_needs_reauth(self, reason: str, tokens: Tokens) -> bool:
        """Flag the connection, unless it no longer holds `tokens` (the user re-authorised since)."""
        return self.compare_and_set(tokens, {"status": "needs_reauth", "status_reason": reason})

    def set_provider_user_id(self, provider_user_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE provider_connections SET provider_user_id = :p WHERE id = :id AND provider_user_id <> :p"
                ),
                {"p": provider_user_id, "id": self.connection_id},
            )


def _same_grant(stored: Tokens, expected: Tokens) -> bool:
    return (stored.access_token, stored.refresh_token) == (expected.access_token, expected.refresh_token)
