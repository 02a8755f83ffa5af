"""`blendify blends create|show`, `profile`, `overlap`, `recent` through the real command."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from blendify_assets.cli import main
from tests.fixtures.world import World


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def env(blendify_env, world: World) -> World:
    return world


def test_blends_create_then_show_lists_tracks_with_reasons(env: World) -> None:
    created = run("blends", "create", "Road trip", "--users", "alice@example.com,bob@example.com",
                  "--algorithm", "balanced", "--size", "10")  # fmt: skip
    assert created.exit_code == 0, created.output
    blend_id = created.output.splitlines()[0]
    assert re.fullmatch(r"[0-9a-f-]{36}", blend_id)
    assert "10 tracks (balanced): 2 shared" in created.output
    assert "2 matched across providers" in created.output

    shown = run("blends", "show", blend_id)
    assert shown.exit_code == 0, shown.output
    assert "Road trip · balanced · Alice, Bob" in shown.output
    lines = shown.output.splitlines()
    row1 = next(line for line in lines if line.lstrip().startswith("1 "))
    assert "shared by" in row1 and ("isrc 1.0" in row1 or "fuzzy 0.8" in row1)
    assert "Alice (spotify)" in shown.output and "Bob (apple)" in shown.output
    assert "Alice's pick: top #" in shown.output, "personal picks say whose they are and why"


def test_weighted_create_with_weights(env: World) -> None:
    created = run("blends", "create", "Mostly Carol", "--users", "carol@example.com,dave@example.com",
                  "--algorithm", "weighted", "--weights", "3,1", "--size", "8")  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "by member: Carol 6, Dave 2" in created.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["blends", "create", "X", "--users", "alice@example.com,zed@example.com", "--algorithm", "balanced"],
         1, "no such user: zed@example.com"),
        (["blends", "create", "X", "--users", "alice@example.com", "--algorithm", "balanced"], 1, "2 to 10 members"),
        (["blends", "create", "X", "--users", "alice@example.com,bob@example.com", "--algorithm", "weighted",
          "--weights", "2,x"], 2, "not a number"),
        (["blends", "create", "X", "--users", "alice@example.com,bob@example.com", "--algorithm", "fair"],
         2, "Invalid value"),
        (["blends", "create", "X", "--algorithm", "balanced"], 2, "Missing option '--users'"),
        (["blends", "show", "not-a-uuid"], 1, "not a blend id"),
        (["blends", "show", "00000000-0000-4000-8000-000000000000"], 1, "no blend with id"),
        (["profile", "zed@example.com"], 1, "no user with email zed@example.com"),
        (["overlap", "alice@example.com", "alice@example.com"], 1, "two different users"),
    ],
)  # fmt: skip
def test_failures_exit_1_with_one_line_and_usage_exits_2(env: World, args, code, message) -> None:
    result = run(*args)
    assert result.exit_code == code, result.output
    assert message in result.output
    if code == 1:
        assert len(result.output.strip().splitlines()) == 1


def test_profile_counts_current_and_stored_rows(env: World) -> None:
    result = run("profile", "alice@example.com")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.strip().startswith("top_tracks"))
    assert row.split()[1:] == ["spotify", "30", "30"]
    assert "recently_played" in result.output


def test_overlap_explains_the_cross_provider_match(env: World) -> None:
    result = run("overlap", "alice@example.com", "bob@example.com")
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"taste match alice@example.com ~ bob@example.com: \d+\.\d / 100", out)
    assert "the song that brings you together: Blinding Lights by The Weeknd" in out
    assert "isrc 1.0" in out and "fuzzy 0.8" in out
    assert "formula: match = 100 x" in out
    assert "shared artists (2): The Weeknd, Queen" in out or "shared artists (2): Queen, The Weeknd" in out
    assert "same top tracks on the same provider" not in out, "Spotify ids never equal Apple ids"


def test_overlap_of_strangers_is_zero(env: World) -> None:
    result = run("overlap", "carol@example.com", "dave@example.com")
    assert result.exit_code == 0
    assert "0.0 / 100" in result.output


def test_recent_lists_plays_newest_first(env: World) -> None:
    result = run("recent", "alice@example.com", "--limit", "2")
    assert result.exit_code == 0, result.output
    body = [line for line in result.output.splitlines() if "2026-03-01" in line]
    assert len(body) == 2
    assert "Alice Song 2" in body[0] and "Alice Song 1" in body[1]


def test_an_empty_generation_says_what_happened(env: World, engine) -> None:
    """Issue 10 (9): members with music and nothing new to discover is not "no synced music"."""
    created = run("blends", "create", "Nothing new", "--users", "carol@example.com,dave@example.com",
                  "--algorithm", "discovery")  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "none of the members has synced music" not in created.output
    assert "no tracks yet: no discoveries: beyond each member's 20 most relevant tracks" in created.output

    from tests.fixtures.warehouse import add_user

    add_user(engine, "new@example.com", "Newbie")
    created = run("blends", "create", "Half", "--users", "carol@example.com,new@example.com",
                  "--algorithm", "balanced", "--size", "4")  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "4 tracks (balanced)" in created.output
    assert "Newbie has no synced music yet, so no tracks are theirs" in created.output
