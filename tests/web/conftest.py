"""Web app fixtures: the app on a free 127.0.0.1 port beside the simulator, a real database, and
Debian's Chromium driven by Playwright (skipped with a reason when either is missing)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from blendify_assets.core.settings import Settings, load_settings
from blendify_assets.db.engine import create_engine
from blendify_assets.definitions import defs
from blendify_assets.providers import registry
from blendify_assets.security.vault import Vault
from blendify_assets.simulator.config import SimulatorConfig
from blendify_assets.web.server import RunningWeb, running
from tests.conftest import TEST_KEY, step_sync

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
PASSWORD = "correct horse battery"


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    return SimulatorConfig(users=4, seed=7, profile_mix="tiny", catalog_tracks=3_000)


@pytest.fixture
def web_env(sim_env, simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a deployment pointed at the simulator (Apple's signing key in a file)."""
    key = tmp_path / "apple.p8"
    key.write_text(simulator.apple.private_key_pem)
    key.chmod(0o600)
    monkeypatch.setenv("APPLE_MUSIC_PRIVATE_KEY_PATH", str(key))
    return sim_env | {"APPLE_MUSIC_PRIVATE_KEY_PATH": str(key)}


@pytest.fixture
def app_engine(web_env) -> Iterator[sa.engine.Engine]:
    """The warehouse as the app role sees it (what the web app connects as)."""
    engine = create_engine(web_env["BLENDIFY_DATABASE_URL"])
    yield engine
    engine.dispose()


def web_settings() -> Settings:
    """What `blendify web` reads from this test's environment."""
    return load_settings(providers=registry.settings_types())


@pytest.fixture
def web(web_env, app_engine) -> Iterator[RunningWeb]:
    with running(web_settings(), engine=app_engine, vault=Vault([TEST_KEY])) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module: Playwright's sync API keeps an event loop running in the test's
    thread while it is open, which a later module's own `sync_playwright()` (tests/commands/test_dev.py)
    cannot share."""
    if CHROMIUM is None:
        pytest.skip("no Chromium: install Debian's `chromium` (.ci/run does) to run the browser tests")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser) -> Iterator[Callable[[], object]]:
    """new_page() -> a page in a fresh browser context (its own cookies); all closed afterwards."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def sign_up(
    page, web: RunningWeb, email: str, name: str, password: str = PASSWORD, start: str = "/signup"
) -> None:
    page.goto(web.url + start)
    page.fill("#display_name", name)
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#signup-submit")
    page.wait_for_selector("#signed-in-as")


def sign_in(page, web: RunningWeb, email: str, password: str = PASSWORD) -> None:
    page.goto(web.url + "/signin")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#signin-submit")


def connect_spotify(page, web: RunningWeb, sim_user_id: str) -> None:
    """Connections → Connect Spotify → the simulator's consent page → back to Connections."""
    page.goto(web.url + "/connections")
    page.click("#spotify-connect")
    page.wait_for_selector("#agree")
    page.select_option("#user", sim_user_id)
    page.click("#agree")
    page.wait_for_url(web.url + "/connections")


def user_id(engine: sa.engine.Engine, email: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT id FROM users WHERE email = :e"), {"e": email}).scalar_one())


def off_loop(fn: Callable, *args: object) -> object:
    """Run `fn` on another thread: Playwright's sync API keeps an event loop in the test's thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def sync_now(engine: sa.engine.Engine, uid: str, provider: str = "spotify") -> None:
    """What the sensor's run does for one user, without Dagster: every endpoint, in order."""
    for endpoint in registry.get(provider).endpoints:
        [outcome] = off_loop(step_sync, engine, provider, endpoint.name, [uid])
        assert outcome.status == "success", (endpoint.name, outcome.error)


def sensor_tick(resources: dict, instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    sensor = next(s for s in defs.sensors or [] if s.name == "connection_sensor")
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=resources, definitions=defs
    ) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


@pytest.fixture
def dagster_instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def dagster_resources(web_env, resources) -> dict[str, object]:
    """The resources the sensor runs with: this test's warehouse."""
    return resources


def assert_no_secrets(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, "a secret or another person's email appears in a response"


class WebClient:
    """A browserless visitor over real HTTP (its own cookie jar), for the security tests."""

    CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

    def __init__(self, web: RunningWeb) -> None:
        self.web = web
        self.http = httpx.Client(base_url=web.url, follow_redirects=False, timeout=30)

    def close(self) -> None:
        self.http.close()

    def csrf(self, path: str = "/signin") -> str:
        """This session's CSRF token: from a page's form, or (signed in) from /api/v1/me."""
        response = self.http.get(path)
        found = self.CSRF.search(response.text) if response.status_code == 200 else None
        if found:
            return found.group(1)
        me = self.http.get("/api/v1/me")
        assert me.status_code == 200, f"no form on {path} and not signed in"
        return me.json()["csrf_token"]

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(
        self, path: str, data: dict | None = None, *, token: bool = True, **kwargs: object
    ) -> httpx.Response:
        form = dict(data or {})
        if token:
            form["csrf_token"] = self.csrf()
        headers = {"origin": self.web.url, **kwargs.pop("headers", {})}
        return self.http.post(path, data=form, headers=headers, **kwargs)

    def sign_up(self, email: str, name: str, password: str = PASSWORD) -> httpx.Response:
        response = self.post("/signup", {"email": email, "display_name": name, "password": password})
        assert response.status_code == 303, response.text
        return response

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return self.post("/signin", {"email": email, "password": password})


@pytest.fixture
def client(web) -> Iterator[Callable[[], WebClient]]:
    """client() -> a new visitor with its own cookies."""
    made: list[WebClient] = []

    def make() -> WebClient:
        made.append(WebClient(web))
        return made[-1]

    yield make
    for c in made:
        c.close()
