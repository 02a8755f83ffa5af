"""Names are data, never markup: users, tracks, artists and playlists from people and providers
print as text, and no control character (terminal escape sequences) reaches the terminal."""

from __future__ import annotations

import unicodedata

import pytest
from click.testing import CliRunner

from blendify_assets.cli import main
from tests.fixtures.warehouse import add_user, store_plays, store_saved_tracks, store_top_tracks, track

MARKUP = "[/oops] M"
STYLED = "[bold red]Loud[/bold red] :smile:"
ESCAPES = "\x1b]0;pwned\x07\x1b[31mRed\x1b[0m\x9b2J\u202eevil"


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def assert_plain(output: str) -> None:
    """No control character but the line breaks, no bidi override: nothing the terminal obeys."""
    bad = {ch for ch in output if unicodedata.category(ch) == "Cc" and ch != "\n"}
    assert not bad, f"control characters reached the terminal: {sorted(map(hex, map(ord, bad)))}"
    assert "\u202e" not in output


@pytest.fixture
def hostile(blendify_env, engine) -> tuple[str, str]:
    a = add_user(engine, "a@example.com", MARKUP)
    b = add_user(engine, "b@example.com", ESCAPES)
    shared = [
        track("sp-1", MARKUP, STYLED, isrc="USAAA0000001", album=ESCAPES),
        track("sp-2", ESCAPES, MARKUP, isrc="USAAA0000002"),
        track("sp-3", STYLED, ESCAPES, isrc="USAAA0000003"),
    ]
    mirrored = [dict(t, track_id=f"ap-{i}") for i, t in enumerate(shared)]
    store_top_tracks(engine, a, "spotify", shared)
    store_plays(engine, a, "spotify", shared)
    store_top_tracks(engine, b, "spotify", shared)
    store_saved_tracks(engine, b, "apple", mirrored)
    return "a@example.com", "b@example.com"


def test_users_list_prints_markup_and_escapes_as_text(hostile) -> None:
    result = run("users", "list")
    assert result.exit_code == 0, result.output
    assert MARKUP in result.output
    assert "]0;pwned" in result.output and "Red" in result.output  # the visible text survives
    assert_plain(result.output)


def test_recent_prints_provider_names_as_text(hostile) -> None:
    result = run("recent", hostile[0])
    assert result.exit_code == 0, result.output
    assert MARKUP in result.output and "[bold red]Loud[/bold red] :smile:" in result.output
    assert_plain(result.output)


def test_overlap_and_blends_print_names_as_text(hostile) -> None:
    overlap = run("overlap", *hostile)
    assert overlap.exit_code == 0, overlap.output
    assert MARKUP in overlap.output
    assert_plain(overlap.output)

    created = run("blends", "create", ESCAPES + MARKUP, "--users", ",".join(hostile), "--algorithm",
                  "balanced", "--size", "6")  # fmt: skip
    assert created.exit_code == 0, created.output
    assert_plain(created.output)
    shown = run("blends", "show", created.output.splitlines()[0])
    assert shown.exit_code == 0, shown.output
    assert MARKUP in shown.output and "[bold red]Loud[/bold red]" in shown.output
    assert_plain(shown.output)
