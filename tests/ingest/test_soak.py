"""The soak test of issue 11: many users synced by real `blendify sync` processes while runs are
SIGKILLed at random moments, users re-authorise (some revoking the old grant first) while syncs
refresh, and `blendify keys rotate` replaces the local key twice, all at once against the embedded
server and the simulator over real HTTP.

It ends with what a user would notice: no pool slot or queued claim left behind, no run left
STARTED, no snapshot stored twice, every connection active with the grant its user gave last (and
that grant good), every token decrypting with the key file as it is now, and every row the
simulator serves stored exactly once. The schedule comes from one seed, printed on failure
(`BLENDIFY_SOAK_SEED=<seed>` replays it; process timing is the machine's own).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user
from blendify_assets.orchestration.factory import pool_limits
from blendify_assets.orchestration.instance import open_instance
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.security.vault import Vault, read_local_keys, vault_from_settings
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile

SEED = int(os.environ.get("BLENDIFY_SOAK_SEED", "1130"))
SPOTIFY_USERS, APPLE_USERS = 12, 8  # each on one provider: a sync process costs ~6 s of CPU per provider
PARALLEL = 4  # sync processes at once (the machine has two cores)
EXTRA_SYNCS = 6  # syncs beyond one per user: a user synced again, often beside its own killed run
KILL_SHARE = 0.3  # of the chaos syncs, SIGKILLed at a random moment
REAUTHS = 8
SPOTIFY_TOKEN_SECONDS = 2  # every sync refreshes, so refreshes meet re-authorisations and rotations

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # ~2 CPU-minutes; 10 min at load 20


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    profiles = (UserProfile.tiny(spotify=True, apple=False),) * SPOTIFY_USERS + (
        UserProfile.tiny(spotify=False, apple=True),
    ) * APPLE_USERS
    return SimulatorConfig(users=len(profiles), seed=SEED, profiles=profiles, catalog_tracks=3_000)


@dataclass
class Grant:
    """What the user gave last: the token the connection must hold at the end."""

    provider: str
    uid: str
    email: str
    token: str  # Spotify: the refresh token (not rotated); Apple: the Music-User-Token


@dataclass
class Soak:
    sim: Simulator
    env: dict[str, str]
    logs: Path
    rng: random.Random
    journal: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def note(self, what: str) -> None:
        self.journal.append(f"{time.monotonic():.1f} {what}")

    def blendify(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "blendify_assets", *args], env=self.env, input=stdin,
            capture_output=True, text=True, timeout=240,
        )  # fmt: skip

    def start_sync(self, email: str) -> subprocess.Popen:
        err = open(self.logs / f"sync-{len(self.procs)}.err", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "blendify_assets", "sync", "--user", email],
            env=self.env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
        err.close()
        self.procs.append(proc)
        return proc

    def failure(self, what: str) -> str:
        return f"{what}\nreplay with BLENDIFY_SOAK_SEED={SEED}; what happened:\n" + "\n".join(
            self.journal[-60:]
        )


def issue(sim: Simulator, provider: str, uid: str) -> tuple[dict[str, object], str]:
    if provider == "spotify":
        tokens = sim.spotify.issue_tokens(uid, expires_in=SPOTIFY_TOKEN_SECONDS)
        return tokens, str(tokens["refresh_token"])
    token = sim.apple.issue_user_token(uid)
    return {"access_token": token}, token


@pytest.fixture
def soak_procs() -> Iterator[list[subprocess.Popen]]:
    """The soak's processes, killed at teardown if a failure left any running."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_soak_kills_reauthorisations_and_key_rotations(
    sim_env, simulator, engine, tmp_path, monkeypatch, soak_procs
) -> None:
    sim = simulator
    monkeypatch.delenv("BLENDIFY_ENCRYPTION_KEY")  # the generated local key: `keys rotate` replaces it
    key = tmp_path / "AuthKey_SIM.p8"
    key.write_text(sim.apple.private_key_pem)
    monkeypatch.setenv("APPLE_MUSIC_PRIVATE_KEY_PATH", str(key))
    env = {k: v for k, v in os.environ.items()}
    settings = WarehouseSettings.from_env(env)
    logs = tmp_path / "logs"
    logs.mkdir()
    soak = Soak(sim, env, logs, random.Random(SEED), procs=soak_procs)
    rng = soak.rng

    # Everyone connects (through the package, to save time); Spotify tokens expire within seconds.
    vault = vault_from_settings(settings)
    grants: dict[tuple[str, str], Grant] = {}
    for user in sim.world.users:
        add_user(engine, user.email)
        for provider, on in (("spotify", user.on_spotify), ("apple", user.on_apple)):
            if on:
                tokens, token = issue(sim, provider, user.uid)
                connections.upsert(
                    engine, vault, user.email, provider, TokenPayload.parse(json.dumps(tokens))
                )
                grants[(user.email, provider)] = Grant(provider, user.uid, user.email, token)
    emails = [u.email for u in sim.world.users]
    assert {g.provider for g in grants.values()} == {"spotify", "apple"}, "the world needs both providers"

    # The chaos: a queue of syncs (each user once, some again), a share of them killed at a random
    # moment of their life (a fraction of how long a whole sync takes on this machine now); events
    # keyed to progress (after the k-th sync ends, while others are mid-run, whatever the load):
    # re-authorisations, and two key rotations.
    queue = emails + [rng.choice(emails) for _ in range(EXTRA_SYNCS)]
    rng.shuffle(queue)
    chaos_syncs = len(queue)
    events: list[tuple[int, str]] = sorted(
        [(rng.randrange(chaos_syncs - PARALLEL), "reauth") for _ in range(REAUTHS)]
        + [(chaos_syncs // 4, "rotate"), (chaos_syncs * 3 // 5, "rotate")]
    )
    durations: list[float] = []  # of whole syncs so far
    running: list[tuple[subprocess.Popen, str, float | None]] = []
    last_ok_start: dict[str, float] = {}  # email -> start time of the latest sync that exited 0
    last_reauth: dict[str, float] = {}
    started_at: dict[int, float] = {}
    ended = 0
    revoked: dict[str, list[tuple[float, float]]] = {}  # email -> (revoked, reconnected) times
    unexplained: list[str] = []
    began = time.monotonic()
    deadline = began + 1200  # a hang guard only
    while queue or running or events:
        now = time.monotonic() - began
        assert time.monotonic() < deadline, soak.failure("the chaos phase ran out of time")
        while queue and len(running) < PARALLEL:
            email = queue.pop()
            proc = soak.start_sync(email)
            life = sorted(durations)[len(durations) // 2] if durations else 8.0
            kill_at = now + rng.uniform(0.1, 1.0) * life if rng.random() < KILL_SHARE else None
            running.append((proc, email, kill_at))
            started_at[proc.pid] = now
            soak.note(
                f"sync {email} pid {proc.pid}" + (f", to be killed at {kill_at:.1f}" if kill_at else "")
            )
        for proc, email, kill_at in list(running):
            if proc.poll() is None and kill_at is not None and now >= kill_at:
                proc.send_signal(signal.SIGKILL)
                soak.note(f"SIGKILL pid {proc.pid} ({email})")
            if proc.poll() is not None:
                running.remove((proc, email, kill_at))
                soak.note(f"pid {proc.pid} ({email}) exited {proc.returncode}")
                ended += 1
                if proc.returncode not in (0, -signal.SIGKILL) and not any(
                    gone <= now and back >= started_at[proc.pid] for gone, back in revoked.get(email, [])
                ):  # only a dead grant during its run (revoked, not yet replaced) excuses a failure
                    said = (logs / f"sync-{soak.procs.index(proc)}.err").read_text()[-1500:]
                    unexplained.append(f"pid {proc.pid} ({email}) exited {proc.returncode}: {said}")
                if proc.returncode == 0:
                    last_ok_start[email] = max(last_ok_start.get(email, -1.0), started_at[proc.pid])
                if kill_at is None:
                    durations.append(now - started_at[proc.pid])
        if events and events[0][0] <= ended:
            _, kind = events.pop(0)
            if kind == "rotate":
                done = soak.blendify("keys", "rotate")
                assert done.returncode == 0, soak.failure(f"keys rotate failed: {done.stderr}")
                soak.note("keys rotate")
            else:
                grant = grants[rng.choice(sorted(grants))]
                gone = None
                if rng.random() < 0.5:  # the user revoked the app first: the old grant is dead
                    (sim.spotify if grant.provider == "spotify" else sim.apple).revoke(grant.uid)
                    gone = time.monotonic() - began
                tokens, token = issue(sim, grant.provider, grant.uid)
                mark = time.monotonic() - began
                added = soak.blendify(
                    "connections", "add", "--user", grant.email, "--provider", grant.provider,
                    "--tokens-json", "-", stdin=json.dumps(tokens),
                )  # fmt: skip
                assert added.returncode == 0, soak.failure(f"connections add failed: {added.stderr}")
                grant.token = token
                last_reauth[grant.email] = mark
                if gone is not None:
                    revoked.setdefault(grant.email, []).append((gone, time.monotonic() - began))
                soak.note(f"reauth {grant.email} {grant.provider}")
        time.sleep(0.1)
    chaos_seconds = time.monotonic() - began
    killed = sum(1 for p in soak.procs if p.returncode == -signal.SIGKILL)
    assert unexplained == [], soak.failure(
        "syncs failed for no reason of the chaos:\n" + "\n".join(unexplained)
    )

    # Settle: a user whose last good sync began before its last re-authorisation is synced again,
    # unkilled (a run killed mid-write must leave nothing a later sync trips over).
    # The last command is always a whole sync: the runs of killed commands are reclaimed by the
    # next command that opens the instance, and no later one exists to do it.
    settle = [e for e in emails if last_ok_start.get(e, -1.0) < last_reauth.get(e, 0.0)] or [
        rng.choice(emails)
    ]
    for batch in range(0, len(settle), PARALLEL):
        procs = [(e, soak.start_sync(e)) for e in settle[batch : batch + PARALLEL]]
        for email, proc in procs:
            proc.wait(timeout=240)
            said = (logs / f"sync-{soak.procs.index(proc)}.err").read_text()[-2000:]
            assert proc.returncode == 0, soak.failure(f"the settling sync of {email} failed: {said}")

    # No slot, queued claim or unfinished run left behind (the instance opened without reclaiming).
    with open_instance(settings, pool_limits(PROVIDERS)) as instance:
        for pool in pool_limits(PROVIDERS):
            info = instance.event_log_storage.get_concurrency_info(pool)
            assert (info.claimed_slots, info.pending_steps) == ([], []), soak.failure(f"{pool} leaked")
        unfinished = instance.get_runs(
            RunsFilter(
                statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.QUEUED]
            )
        )
        assert unfinished == [], soak.failure(f"{len(unfinished)} run(s) never finished")

    # No two snapshots in a row with the same content and version for one scope.
    with engine.connect() as conn:
        repeats = conn.execute(
            sa.text(
                """
                SELECT user_id, provider::text, table_name, scope, count(*) FROM (
                    SELECT *, lag(content_hash) OVER w AS prev_hash, lag(version) OVER w AS prev_version,
                           lag(id) OVER w AS prev_id
                    FROM snapshots
                    WINDOW w AS (PARTITION BY user_id, provider, table_name, scope ORDER BY fetched_at)
                ) s
                WHERE prev_id IS NOT NULL AND content_hash = prev_hash
                  AND version IS NOT DISTINCT FROM prev_version
                GROUP BY 1, 2, 3, 4
                """
            )
        ).all()
    assert repeats == [], soak.failure(f"snapshots stored twice: {repeats[:5]}")

    # Every connection active, holding the grant its user gave last, that grant good, decrypting
    # with the key file as it is now (one key: the rotations retired the others).
    keys = read_local_keys(settings.local_key_file)
    assert len(keys) == 1
    now_vault = Vault(keys)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT u.email, c.provider::text AS provider, c.status::text AS status, c.status_reason, "
                "c.access_token_encrypted, c.refresh_token_encrypted FROM provider_connections c "
                "JOIN users u ON u.id = c.user_id"
            )
        ).all()
    assert len(rows) == len(grants)
    for row in rows:
        grant = grants[(row.email, row.provider)]
        who = f"{row.email} on {row.provider}"
        assert (row.status, row.status_reason) == ("active", None), soak.failure(f"{who} is {row.status}")
        access = now_vault.decrypt(row.access_token_encrypted)
        if row.provider == "spotify":
            refresh = now_vault.decrypt(row.refresh_token_encrypted)
            assert refresh == grant.token, soak.failure(f"{who} lost its latest grant")
            answer = httpx.post(
                f"{sim.spotify_accounts_url}/api/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "blendify-test"},
            )
            assert answer.status_code == 200, soak.failure(f"{who}: the stored grant is dead")
        else:
            assert access == grant.token and sim.apple.user_for(access) == grant.uid, soak.failure(
                f"{who} lost its latest grant"
            )

    # Every row the simulator serves is stored exactly once (the world's clock never moved, so one
    # snapshot per scope holds it all), and the current views show exactly it.
    mismatches: list[str] = []
    with engine.connect() as conn:
        for (email, provider), grant in sorted(grants.items()):
            for table, expected in served(sim, provider, grant.uid).items():
                stored = stored_rows(conn, table, email, provider)
                latest = stored_rows(conn, f"latest_{table}" if table != "user_recently_played" else table,
                                     email, provider)  # fmt: skip
                if stored != expected or latest != expected:
                    mismatches.append(
                        f"{email} {provider} {table}: served {sum(expected.values())}, "
                        f"stored {sum(stored.values())}, current {sum(latest.values())}"
                    )
    assert mismatches == [], soak.failure("\n".join(mismatches[:10]))
    print(
        f"soak seed {SEED}: {len(emails)} users, {len(grants)} connections, {chaos_syncs} chaos syncs "
        f"({killed} SIGKILLed), {REAUTHS} re-authorisations, 2 key rotations, {len(settle)} settling syncs; "
        f"chaos phase {chaos_seconds:.0f} s"
    )


def served(sim: Simulator, provider: str, uid: str) -> dict[str, Counter]:
    """table -> Counter of row keys a complete sync of this user stores (the simulator's truth)."""
    if provider == "spotify":
        truth = sim.world.spotify_truth(uid)
        playlist_items = Counter(
            (p["id"], str(item["position"]))
            for p in truth["playlists"]
            if p["readable"]
            for item in p["items"]
            if item["kind"] != "null"
        )
        return {
            "user_saved_tracks": Counter(t["track_id"] for t in truth["saved_tracks"]),
            "user_saved_albums": Counter(a["album_id"] for a in truth["saved_albums"]),
            "user_followed_artists": Counter(truth["followed_artists"]),
            "user_top_tracks": Counter((i, r) for r, ids in truth["top_tracks"].items() for i in ids),
            "user_top_artists": Counter((i, r) for r, ids in truth["top_artists"].items() for i in ids),
            "user_playlists": Counter(p["id"] for p in truth["playlists"]),
            "user_playlist_tracks": playlist_items,
            "user_recently_played": Counter(p["track_id"] for p in truth["recently_played"]),
        }
    truth = sim.world.apple_truth(uid)
    return {
        "user_saved_tracks": Counter(s["catalog_id"] or s["id"] for s in truth["library_songs"]),
        "user_saved_albums": Counter(a["id"] for a in truth["library_albums"]),
        "user_followed_artists": Counter(a["id"] for a in truth["library_artists"]),
        "user_playlists": Counter(p["id"] for p in truth["library_playlists"]),
        "user_playlist_tracks": Counter(
            (p["id"], str(position))
            for p in truth["library_playlists"]
            for position in range(len(p["track_ids"]))
        ),
    }


KEYS = {
    "user_saved_tracks": "track_id",
    "user_saved_albums": "album_id",
    "user_followed_artists": "artist_id",
    "user_top_tracks": "track_id, time_range::text",
    "user_top_artists": "artist_id, time_range::text",
    "user_playlists": "playlist_id",
    "user_playlist_tracks": "playlist_id, track_position::text",
    "user_recently_played": "track_id",
}


def stored_rows(conn: sa.Connection, relation: str, email: str, provider: str) -> Counter:
    key = KEYS[relation.removeprefix("latest_")]
    rows = conn.execute(
        sa.text(
            f"SELECT {key} FROM {relation} t JOIN users u ON u.id = t.user_id "
            "WHERE u.email = :e AND t.provider = CAST(:p AS provider)"
        ),
        {"e": email, "p": provider},
    ).all()
    return Counter(tuple(r) if len(r) > 1 else r[0] for r in rows)
