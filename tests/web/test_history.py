"""The "Your history" page: uploading a privacy export in a real browser, re-uploads, bad files,
forged and signed-out uploads, and the upload size limit."""

from __future__ import annotations

import socket
import time
import uuid
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from blendify_assets.db.music.history import lock_plays
from tests.history_support import FIXTURES
from tests.web.conftest import WebClient, sign_up, user_id

pytestmark = [pytest.mark.browser]

SPOTIFY_FILE = (
    FIXTURES / "spotify" / "extended-2024" / "Spotify Extended Streaming History"
    / "Streaming_History_Audio_2021-2024_0.json"
)  # fmt: skip
MISSING_COLUMN = FIXTURES / "apple" / "missing-column" / "Apple Music Play Activity.csv"


def plays(engine: sa.engine.Engine, uid: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM user_recently_played WHERE user_id = :u"), {"u": uid}
            ).scalar_one()
        )


def upload(page, provider: str, path) -> None:
    page.set_input_files(f"#{provider}-file", str(path))
    page.click(f"#{provider}-upload")
    page.wait_for_selector("#import-result, #import-error", timeout=60_000)  # refreshes until done


def finished(visitor: WebClient, location: str) -> str:
    """The import page's text once its background import is done."""
    for _ in range(120):
        text = visitor.get(location).text
        if 'id="import-running"' not in text:
            return text
        time.sleep(0.5)
    raise AssertionError("the import did not finish within a minute")


def test_upload_an_export_see_the_counts_and_the_plays_and_a_reupload_adds_nothing(
    web, page, app_engine
) -> None:
    sign_up(page, web, "ada@example.com", "Ada Lovelace")
    uid = user_id(app_engine, "ada@example.com")
    page.goto(web.url + "/music")
    page.click("#history-tab")
    assert "Extended streaming history" in page.inner_text("#spotify-history")
    assert "privacy.apple.com" in page.inner_text("#apple-history")

    upload(page, "spotify", SPOTIFY_FILE)
    stored = plays(app_engine, uid)
    assert stored > 0
    assert page.inner_text("#count-appended") == f"{stored:,}"
    assert "Left out:" in page.inner_text("#import-result")  # the fixture's episodes and skips
    # Ada has no Spotify connection: the upload says its ISRCs came from the warehouse only, and why
    assert "no Spotify connection" in page.inner_text("#lookups")
    assert SPOTIFY_FILE.name in page.inner_text("#past-imports")

    with app_engine.connect() as conn:
        newest = conn.execute(
            sa.text(
                "SELECT track_name FROM user_recently_played WHERE user_id = :u AND track_name IS NOT NULL "
                "ORDER BY played_at DESC LIMIT 1"
            ),
            {"u": uid},
        ).scalar_one()
    page.goto(web.url + "/music/recent")
    assert newest in page.inner_text("#plays")

    page.goto(web.url + "/music/history")
    upload(page, "spotify", SPOTIFY_FILE)
    assert page.inner_text("#count-appended") == "0"
    assert "was imported before" in page.inner_text("#imported-before")
    assert plays(app_engine, uid) == stored


def test_a_bad_file_shows_one_line_and_writes_nothing(web, page, app_engine) -> None:
    sign_up(page, web, "ada@example.com", "Ada Lovelace")
    uid = user_id(app_engine, "ada@example.com")
    page.goto(web.url + "/music/history")
    upload(page, "apple", MISSING_COLUMN)
    error = page.inner_text("#import-error")
    assert "Nothing was imported" in error and "column" in error
    assert page.locator("#import-result").count() == 0
    assert plays(app_engine, uid) == 0
    assert "No history uploaded yet" in page.inner_text("#past-imports")


def test_an_upload_without_csrf_or_signed_out_is_refused(web, client, app_engine) -> None:
    ada = client()
    ada.sign_up("ada@example.com", "Ada")
    uid = user_id(app_engine, "ada@example.com")
    files = {"export": (SPOTIFY_FILE.name, SPOTIFY_FILE.read_bytes(), "application/json")}
    origin = {"origin": web.url}

    forged = ada.http.post("/music/history/spotify", files=files, headers=origin)
    assert forged.status_code == 403
    stranger = client()
    token = stranger.csrf()  # a session of its own, signed out
    signed_out = stranger.http.post(
        "/music/history/spotify", data={"csrf_token": token}, files=files, headers=origin
    )
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/signin")
    assert plays(app_engine, uid) == 0

    sent = ada.http.post(
        "/music/history/spotify", data={"csrf_token": ada.csrf()}, files=files, headers=origin
    )  # the same upload, properly sent, works: the refusals above were the protections
    assert sent.status_code == 303
    assert 'id="import-result"' in finished(ada, sent.headers["location"]) and plays(app_engine, uid) > 0


def test_an_import_runs_off_the_request_and_the_page_refreshes_until_it_is_done(
    client, app_engine, engine
) -> None:
    """While a sync holds this user's plays (the writer's lock), the upload still answers at once;
    the page says the import is running and refreshes itself; once the lock goes, the result shows.
    Another person cannot see the job."""
    ada = client()
    ada.sign_up("ada@example.com", "Ada")
    uid = user_id(app_engine, "ada@example.com")
    files = {"export": (SPOTIFY_FILE.name, SPOTIFY_FILE.read_bytes(), "application/json")}
    with engine.begin() as conn:
        lock_plays(conn, uuid.UUID(uid), "spotify")
        sent = ada.http.post(
            "/music/history/spotify",
            data={"csrf_token": ada.csrf()},
            files=files,
            headers={"origin": ada.web.url},
            timeout=20,
        )
        assert sent.status_code == 303
        running = ada.get(sent.headers["location"]).text
        assert 'id="import-running"' in running and 'http-equiv="refresh"' in running
        bob = client()
        bob.sign_up("bob@example.com", "Bob")
        assert "Importing" not in bob.get(sent.headers["location"]).text
    done = finished(ada, sent.headers["location"])
    assert 'id="import-result"' in done and 'http-equiv="refresh"' not in done
    assert plays(app_engine, uid) > 0


def test_an_upload_claiming_more_than_an_export_is_refused_before_it_is_read(web) -> None:
    """A 2 GiB Content-Length is answered at once: the body is never waited for."""
    address = urlsplit(web.url)
    with socket.create_connection((address.hostname, address.port), timeout=20) as sock:
        sock.sendall(
            b"POST /music/history/spotify HTTP/1.1\r\nHost: " + address.netloc.encode() + b"\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 2147483648\r\n\r\n--x\r\n"
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"at most 1 GiB" in answer
