"""`blendify import spotify-history | apple-history` through the real command: bad input is one
line and writes nothing; a simulated user's five-year export reaches `recent`, the taste match and
the blend, once."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from blendify_assets.cli import main
from blendify_assets.db.engine import create_engine
from blendify_assets.simulator import SimulatorConfig, UserProfile, exports
from tests.fixtures.cli import run_blendify
from tests.history_support import FIXTURES, folder_files, write_zip

SPOTIFY = FIXTURES / "spotify"
APPLE = FIXTURES / "apple"


def stored(env: dict[str, str]) -> tuple[int, int]:
    engine = create_engine(env["BLENDIFY_OWNER_DATABASE_URL"])
    with engine.connect() as conn:
        plays = conn.execute(sa.text("SELECT count(*) FROM user_recently_played")).scalar_one()
        files = conn.execute(sa.text("SELECT count(*) FROM history_imports")).scalar_one()
    engine.dispose()
    return plays, files


def oldest_api_play(env: dict[str, str]):
    engine = create_engine(env["BLENDIFY_OWNER_DATABASE_URL"])
    with engine.connect() as conn:
        oldest = conn.execute(
            sa.text(
                "SELECT min(played_at) FROM user_recently_played WHERE track_metadata->'_blendify' IS NULL"
            )
        ).scalar_one()
    engine.dispose()
    return oldest


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def _truncated_zip(tmp: Path) -> list[str]:
    data = (write_zip(tmp / "whole.zip", folder_files(SPOTIFY / "endsong"))).read_bytes()
    (tmp / "my_spotify_data.zip").write_bytes(data[: len(data) // 2])
    return ["spotify-history", str(tmp / "my_spotify_data.zip")]


def _two_gigabytes(tmp: Path) -> list[str]:
    big = tmp / "Streaming_History_Audio_2020_0.json"
    with big.open("wb") as f:  # sparse: no disk is used
        f.truncate(2 << 30)
    return ["spotify-history", str(big)]


BAD = {
    "not an export": (
        lambda tmp: ["spotify-history", str(SPOTIFY / "not-history" / "YourLibrary.json")],
        "not a Spotify streaming history file",
    ),
    "truncated zip": (_truncated_zip, "not a readable zip archive"),
    "csv missing a column": (
        lambda tmp: ["apple-history", str(APPLE / "missing-column" / "Apple Music Play Activity.csv")],
        "is missing",
    ),
    "2 GB file": (_two_gigabytes, "2.0 GiB is larger than any export file"),
    "mixed users": (
        lambda tmp: [
            "spotify-history",
            str(SPOTIFY / "extended-2023"),
            str(SPOTIFY / "other-user" / "Streaming_History_Audio_2023_0.json"),
        ],
        "two Spotify accounts",
    ),
    "daily tracks instead of play activity": (
        lambda tmp: ["apple-history", str(APPLE / "daily-only")],
        "Apple Music Play Activity.csv",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_writes_nothing(blendify_env, tmp_path: Path, case: str) -> None:
    assert run_blendify(["db", "upgrade"], blendify_env).returncode == 0
    assert run_blendify(["users", "add", "ann@example.com"], blendify_env).returncode == 0
    make, message = BAD[case]
    kind, *files = make(tmp_path)
    line = one_line(run_blendify(["import", kind, "--user", "ann@example.com", *files], blendify_env))
    assert message in line
    assert stored(blendify_env) == (0, 0)


def test_an_unknown_user_is_one_line(blendify_env) -> None:
    assert run_blendify(["db", "upgrade"], blendify_env).returncode == 0
    args = ["import", "spotify-history", "--user", "nobody@example.com", str(SPOTIFY / "endsong")]
    assert "no user with email" in one_line(run_blendify(args, blendify_env))


# --- done when: a simulated user's five-year export, through the command line ---------------------------


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    return SimulatorConfig(users=2, seed=15, catalog_tracks=3_000, profile_mix="tiny",
                           profiles=(UserProfile.medium(spotify=True, apple=False),))  # fmt: skip


def cli(*args: str, stdin: str | None = None):
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _connect(sim, uid: str) -> str:
    email = sim.world.spotify_truth(uid)["user"]["email"]
    cli("users", "add", email)
    tokens = json.dumps(sim.spotify.issue_tokens(uid))
    cli("connections", "add", "--user", email, "--provider", "spotify", "--tokens-json", "-", stdin=tokens)
    cli("sync", "--user", email)
    return email


def _match(output: str) -> list[str]:
    """The match's score and its components' points (the explanation's head)."""
    return [line.strip() for line in output.splitlines() if re.match(r"(taste match|  \w+: [\d.]+ of)", line)]


def _picks(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.match(r"\s*\d+\s", line)]


@pytest.mark.slow
def test_a_five_year_export_reaches_recent_the_match_and_the_blend_once(
    sim_env, simulator, tmp_path: Path
) -> None:
    cli("db", "upgrade")
    ann, bob = _connect(simulator, "user0001"), _connect(simulator, "user0002")
    api_plays, _ = stored(sim_env)
    match_before = _match(cli("overlap", ann, bob))
    blend = cli("blends", "create", "before", "--users", f"{ann},{bob}", "--algorithm", "balanced").split()[0]
    picks_before = _picks(cli("blends", "show", blend))

    export = tmp_path / "my_spotify_data.zip"
    export.write_bytes(exports.spotify_export(simulator.world, "user0001", years=5))
    env = {k: v for k, v in sim_env.items()}
    first = run_blendify(["import", "spotify-history", "--user", ann, str(export)], env)
    assert first.returncode == 0, first.stderr
    appended = int(re.search(r"([\d,]+) plays appended", first.stdout)[1].replace(",", ""))  # type: ignore[index]
    assert appended > 20_000  # five years of a medium listener
    assert re.search(r"[1-9][\d,]* were already stored from the API", first.stdout), first.stdout
    plays_after, files = stored(sim_env)
    assert plays_after == api_plays + appended and files >= 1

    recent = cli("recent", ann, "--limit", "500")
    listed = re.findall(r"^\s*(\d{4}-\d\d-\d\d \d\d:\d\d)", recent, re.M)
    assert len(listed) == 500  # more plays than the API ever showed: the export's, before them
    assert min(listed) < f"{oldest_api_play(sim_env):%Y-%m-%d %H:%M}"

    overlap = cli("overlap", ann, bob)
    match_after = _match(overlap)
    assert len(match_after) == 4 and match_after != match_before  # score or components moved
    assert "in history" in overlap  # the shared tracks say so
    blend_after = cli(
        "blends", "create", "after", "--users", f"{ann},{bob}", "--algorithm", "balanced"
    ).split()[0]
    picks_after = _picks(cli("blends", "show", blend_after))
    assert picks_after != picks_before
    assert "imported history" in "\n".join(picks_after)

    second = run_blendify(["import", "spotify-history", "--user", ann, str(export)], env)
    assert second.returncode == 0, second.stderr
    assert "0 plays appended" in second.stdout and "already imported" in second.stdout
    assert stored(sim_env) == (plays_after, files)
    assert os.path.getsize(export) > 0


@pytest.mark.parametrize(
    ("flags", "why"),
    [([], "no Spotify app credentials: SPOTIFY_CLIENT_ID is not set"), (["--no-lookups"], "--no-lookups")],
)
def test_without_lookups_the_import_works_and_says_so_in_one_line(blendify_env, flags, why) -> None:
    assert run_blendify(["db", "upgrade"], blendify_env).returncode == 0
    assert run_blendify(["users", "add", "ann@example.com"], blendify_env).returncode == 0
    env = {k: v for k, v in blendify_env.items() if k != "SPOTIFY_CLIENT_ID"}
    args = ["import", "spotify-history", "--user", "ann@example.com", *flags, str(SPOTIFY / "endsong")]
    result = run_blendify(args, env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "ISRCs from the warehouse only" in line]
    assert lines == [f"ISRCs from the warehouse only ({why})"]
    plays, files = stored(blendify_env)
    assert plays > 0 and files == 2
    assert re.search(r"ISRCs: 0 from the warehouse, 0 by lookup; [1-9][\d,]* unidentified", result.stdout)
