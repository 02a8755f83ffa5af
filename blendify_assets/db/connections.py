"""The `provider_connections` table, its one owner: tokens (encrypted), statuses, and the reads the
sync, the sensor and the schedules make of it.

A sync reads a connection row once (`for_sync`, one query for a step's users); its tokens then
live in a `DatabaseTokenSource`, which writes back only by compare-and-set.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.text import user_label
from blendify_assets.core.time import aware_utc, naive_utc, utcnow
from blendify_assets.core.tokens import Tokens
from blendify_assets.db.users import user_id_for
from blendify_assets.security.vault import Vault

MAX_EXPIRES_IN = 10 * 365 * 24 * 3600  # no provider token lives longer; beyond it is a mistake

# Token writers hold this shared, `keys rotate` exclusively: a token encrypted under a key that is
# about to be retired commits before the rotation reads the rows, so the rotation re-encrypts it.
TOKEN_KEYS_LOCK = 0x626C656E6404


def _writing_tokens(conn: sa.Connection) -> None:
    """Enter a transaction that encrypts tokens: after this, the vault's keys are read (issue 11)."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": TOKEN_KEYS_LOCK})


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


def upsert(
    engine: Engine, vault: Vault, email: str, provider: str, payload: TokenPayload
) -> tuple[uuid.UUID, bool]:
    """Store (encrypted) tokens for the user's connection to `provider`; returns (id, created).

    A second call for the same (user, provider) is a re-authorisation: tokens are replaced, the
    status returns to active and the connection sensor sees it again. `provider` is a value of the
    warehouse's `provider` enum (the command line checks it against the registered providers).
    """
    expires_at = utcnow() + timedelta(seconds=payload.expires_in) if payload.expires_in else None
    with engine.begin() as conn:
        _writing_tokens(conn)
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


def list_all(engine: Engine) -> list[dict[str, Any]]:
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
    """Re-encrypt every stored token under the vault's first key; returns connections rewritten.

    Exclusive against token writers: one that encrypted under an older key commits first and is
    re-encrypted here; one that starts later reads the keys after the new one was put first.
    """
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": TOKEN_KEYS_LOCK})
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

    Built from the row a sync step read once (`for_sync`): `current()` is those tokens, never
    another query. Only a refresh reads the row again, and every write is a compare-and-set: it
    lands only if the row still holds the tokens the writer read (compared decrypted, so a key
    rotation in between is no conflict). A re-authorisation that commits while a sync refreshes or
    gives up on the old grant therefore always wins, and a write that loses adopts what it found.
    The row lock is held only to compare and write, never across the provider's HTTP retries (issue
    11), so a user's `connections add` never waits for a refresh. An asyncio lock per connection
    keeps one refresh at a time inside a process; across processes a lost race costs one extra
    refresh, and the loser adopts the winner's tokens.
    """

    _locks: dict[tuple[int, uuid.UUID], asyncio.Lock] = {}  # per event loop: a lock belongs to one loop

    def __init__(self, engine: Engine, vault: Vault, row: ConnectionRow) -> None:
        self.engine = engine
        self.vault = vault
        self.connection_id = row.id
        self._row: ConnectionRow | None = row  # decrypted on first use: a bad key fails that user only
        self._tokens: Tokens | None = None

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
        """The tokens as this source last read or wrote them (no query)."""
        if self._tokens is None:
            assert self._row is not None
            self._tokens, self._row = self._decode(self._row), None
        return self._tokens

    def _read(self) -> Tokens:
        with self.engine.connect() as conn:
            row = conn.execute(sa.text(self._SELECT), {"id": self.connection_id}).one()
        self._tokens = self._decode(row)
        return self._tokens

    def compare_and_set(
        self, expected: Tokens, changes: dict[str, Any], secrets: dict[str, str | None] | None = None
    ) -> bool:
        """Apply `changes` (column -> value) and `secrets` (column -> plaintext, encrypted here)
        only if the row still holds `expected`'s tokens.

        The row is locked for this read-compare-write alone (milliseconds); False means someone
        else (a re-authorisation, another process's refresh) wrote first, and nothing was written:
        this source then holds what it found. Secrets are encrypted inside the transaction, under
        the token-keys lock, so a concurrent `keys rotate` never leaves them under a retired key.
        """
        secrets = secrets or {}
        assignments = ", ".join(
            f"{column} = CAST(:{column} AS connection_status)"
            if column == "status"
            else f"{column} = :{column}"
            for column in [*changes, *secrets]
        )
        with self.engine.begin() as conn:
            if secrets:
                _writing_tokens(conn)
            row = conn.execute(sa.text(self._SELECT + " FOR UPDATE"), {"id": self.connection_id}).first()
            if row is None:
                return False
            stored = self._decode(row)
            if not _same_grant(stored, expected):
                self._tokens = stored
                return False
            encrypted = {k: self.vault.encrypt(v) if v else None for k, v in secrets.items()}
            conn.execute(
                sa.text(f"UPDATE provider_connections SET {assignments} WHERE id = :id"),
                changes | encrypted | {"id": self.connection_id},
            )
        return True

    async def refresh(self, exchange: Callable[[Tokens], Awaitable[Tokens]], stale: Tokens) -> Tokens:
        key = (id(asyncio.get_running_loop()), self.connection_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            current = await asyncio.to_thread(self._read)
            if current.access_token != stale.access_token:
                return current  # someone else refreshed while we waited
            fresh = await exchange(current)  # HTTP and its retries: no database lock held
            refresh_token = fresh.refresh_token or current.refresh_token
            stored = await asyncio.to_thread(
                self.compare_and_set,
                current,
                {"token_expires_at": naive_utc(fresh.expires_at)},
                {"access_token_encrypted": fresh.access_token, "refresh_token_encrypted": refresh_token},
            )
            if not stored:  # a re-authorisation or another process's refresh came first: theirs stands
                return self.current()
            self._tokens = Tokens(fresh.access_token, refresh_token, fresh.expires_at, fresh.scope)
            return self._tokens

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


# --- reads for the sync, the sensor and the schedules -------------------------------------------------


@dataclass(frozen=True)
class ConnectionRow:
    """One connection as a sync step reads it, once: status, identity and the encrypted tokens."""

    id: uuid.UUID
    user_id: str
    status: str
    status_reason: str | None
    provider_user_id: str | None
    access_token_encrypted: str
    refresh_token_encrypted: str | None
    token_expires_at: datetime | None
    display_name: str | None = None  # the user's, for operators (Dagster metadata); never the email

    def __repr__(self) -> str:
        return f"ConnectionRow(id={self.id}, user_id={self.user_id}, status={self.status!r})"

    @property
    def label(self) -> str:
        return user_label(self.user_id, self.display_name)


def for_sync(engine: Engine, provider: str, user_ids: Sequence[str]) -> dict[str, ConnectionRow]:
    """The connections of `provider` for these users, by user id (one query)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT c.id, c.user_id::text AS user_id, c.status::text AS status, c.status_reason, "
                "nullif(c.provider_user_id, '') AS provider_user_id, c.access_token_encrypted, "
                "c.refresh_token_encrypted, c.token_expires_at, u.display_name "
                "FROM provider_connections c JOIN users u ON u.id = c.user_id "
                "WHERE c.provider = CAST(:p AS provider) AND c.user_id = ANY(CAST(:u AS uuid[]))"
            ),
            {"p": provider, "u": [str(u) for u in user_ids]},
        ).mappings()
        return {row["user_id"]: ConnectionRow(**row) for row in rows}


def providers_for_user(engine: Engine, user_id: uuid.UUID | str) -> list[str]:
    """The providers the user has a connection to, whatever its status."""
    with engine.connect() as conn:
        return [
            p
            for (p,) in conn.execute(
                sa.text(
                    "SELECT provider::text FROM provider_connections WHERE user_id = CAST(:u AS uuid) "
                    "ORDER BY provider"
                ),
                {"u": str(user_id)},
            )
        ]


def summaries(engine: Engine) -> dict[str, str]:
    """'spotify:active, apple:needs_reauth' by user id, for listings."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT user_id::text, string_agg(provider::text || ':' || status::text, ', ' ORDER BY provider) "
                "FROM provider_connections GROUP BY user_id"
            )
        )
        return dict(rows.tuples().all())


@dataclass(frozen=True)
class ConnectionChange:
    """A connection that is new, re-authorised or back to active (its `change_seq` moved)."""

    connection_id: str
    user_id: str
    provider: str
    change_seq: int
    status: str

    @property
    def run_key(self) -> str:
        return f"{self.provider}-connection-{self.connection_id}-{self.change_seq}"


def changes_after(
    engine: Engine, provider: str, low: int, exclude: Collection[int], limit: int
) -> list[ConnectionChange]:
    """Rows of `provider` with change_seq > low, not in `exclude`, oldest first, at most `limit`."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """
                SELECT id::text, user_id::text, provider::text, change_seq, status::text
                FROM provider_connections
                WHERE provider = CAST(:p AS provider) AND change_seq > :low
                  AND NOT (change_seq = ANY(CAST(:exclude AS bigint[])))
                ORDER BY change_seq
                LIMIT :limit
                """
            ),
            {"p": provider, "low": low, "exclude": sorted(exclude), "limit": limit},
        ).all()
    return [ConnectionChange(*row) for row in rows]


def active_user_ids(engine: Engine, provider: str) -> set[str]:
    """Users whose `provider` connection is active (needs_reauth and revoked are left out)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT user_id::text FROM provider_connections "
                "WHERE provider = CAST(:p AS provider) AND status = 'active'"
            ),
            {"p": provider},
        )
        return {r[0] for r in rows}


# --- the web app's reads -------------------------------------------------------------------------------


def for_listener(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The user's connections for their own pages: statuses and times, never a token."""
    rows = conn.execute(
        sa.text(
            "SELECT provider::text AS provider, status::text AS status, status_reason, status_changed_at, "
            "authorized_at, created_at, resync_requested_at FROM provider_connections "
            "WHERE user_id = :u ORDER BY provider"
        ),
        {"u": user_id},
    ).mappings()
    return [dict(r) for r in rows]


def demo_users(conn: Connection, domain: str) -> list[dict[str, Any]]:
    """The simulator's users (their addresses end in `domain`), for the demo sign-in page."""
    rows = conn.execute(
        sa.text(
            "SELECT u.id, u.display_name, string_agg(c.provider::text, ',' ORDER BY c.provider) AS providers "
            "FROM provider_connections c RIGHT JOIN users u ON u.id = c.user_id "
            "WHERE u.email LIKE '%' || :d GROUP BY u.id ORDER BY u.email"
        ),
        {"d": domain},
    ).mappings()
    return [dict(r) for r in rows]


def spotify_account_owner(conn: Connection, account_id: str) -> uuid.UUID | None:
    """The Blendify user whose Spotify connection is this Spotify account (the oldest, if several)."""
    found = conn.execute(
        sa.text(
            "SELECT c.user_id FROM provider_connections c JOIN users u ON u.id = c.user_id "
            "WHERE c.provider = 'spotify' AND c.provider_user_id = :a ORDER BY u.created_at LIMIT 1"
        ),
        {"a": account_id},
    ).scalar()
    return None if found is None else uuid.UUID(str(found))


def connection_status(conn: Connection, user_id: uuid.UUID, provider: str) -> str | None:
    found = conn.execute(
        sa.text(
            "SELECT status::text FROM provider_connections WHERE user_id = :u AND provider = CAST(:p AS provider)"
        ),
        {"u": user_id, "p": provider},
    ).scalar()
    return None if found is None else str(found)


def provider_account(conn: Connection, user_id: uuid.UUID, provider: str) -> str | None:
    """The provider's id for the user's account ('' or None when not known yet): an imported
    export naming another account is someone else's history."""
    found = conn.execute(
        sa.text(
            "SELECT provider_user_id FROM provider_connections WHERE user_id = :u AND provider = CAST(:p AS provider)"
        ),
        {"u": user_id, "p": provider},
    ).scalar()
    return found or None


def active_among(engine: Engine, provider: str, user_ids: Sequence[str]) -> set[str]:
    """Of `user_ids`, those whose `provider` connection is active (by primary key, not a scan)."""
    if not user_ids:
        return set()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT user_id::text FROM provider_connections WHERE provider = CAST(:p AS provider) "
                "AND status = 'active' AND user_id = ANY(CAST(:u AS uuid[]))"
            ),
            {"p": provider, "u": list(user_ids)},
        )
        return {r[0] for r in rows}
