"""A provider is one declaration: Test FM (declared only in tests/orchestration/testfm.py, served
over HTTP by a tiny server here) gets its assets, checks, job, schedule, pool and partitions from the
factory, its connection is picked up by the sensor, and its run stores rows like any provider's."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
import sqlalchemy as sa

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user
from blendify_assets.orchestration.factory import build_definitions, pool_limits
from blendify_assets.orchestration.runner import dagster_instance
from blendify_assets.orchestration.runs import QUIET_LOGS
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.security.vault import Vault
from tests.conftest import TEST_KEY
from tests.orchestration.testfm import TESTFM

TOKEN = "loved-token"
LOVED = [
    {"id": "fm1", "title": "Blinding Lights", "artist": "The Weeknd", "duration_ms": 200040, "isrc": "USUG11904206"},
    {"id": "fm2", "title": "Levitating", "artist": "Dua Lipa", "duration_ms": 203064, "isrc": None},
    {"id": "fm3", "title": "Heat Waves", "artist": "Glass Animals", "duration_ms": 238805, "isrc": None},
]  # fmt: skip
SPECS = [*PROVIDERS, TESTFM]


@pytest.fixture
def testfm_url() -> Iterator[str]:
    """Test FM's API: GET /me/loved with the bearer token, 401 without it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"error": "unauthorized"})
            elif self.path == "/me/loved":
                self._send(200, {"items": LOVED, "total": len(LOVED)})
            else:
                self._send(404, {"error": "not found"})

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def testfm_enum(engine: sa.engine.Engine) -> None:
    """A real provider adds its enum value in a migration; this test adds it to its own database."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ALTER TYPE provider ADD VALUE 'testfm'"))


def test_a_third_provider_declared_in_one_module_is_wired_and_syncs(
    blendify_env, testfm_url, testfm_enum, make_resources, engine
) -> None:
    defs = build_definitions(SPECS, make_resources({"testfm": {"api_url": testfm_url}}, SPECS))

    key = dg.AssetKey(["testfm", "loved_tracks"])
    assets_def = defs.resolve_assets_def(key)
    spec = next(s for s in assets_def.specs if s.key == key)
    assert spec.group_name == "testfm" and isinstance(spec.freshness_policy, dg.FreshnessPolicy)
    assert assets_def.op.pool == "testfm_api" and pool_limits(SPECS)["testfm_api"] == 2
    assert {c.name for c in assets_def.check_specs} == {
        "no_duplicate_items",
        "counts_match_totals",
        "connection_healthy",
    }
    assert isinstance(assets_def.partitions_def, dg.DynamicPartitionsDefinition)
    assert assets_def.partitions_def.name == "testfm_users"
    job = defs.resolve_job_def("testfm_sync")
    assert {s.name for s in defs.schedules or []} >= {"testfm_daily_resync", "spotify_daily_resync"}
    assert next(s for s in defs.schedules or [] if s.name == "testfm_daily_resync").job_name == job.name

    user = str(add_user(engine, "fm@example.com"))
    connections.upsert(
        engine, Vault([TEST_KEY]), "fm@example.com", "testfm", TokenPayload(TOKEN, None, None, None)
    )
    sensor = next(s for s in defs.sensors or [] if s.name == "connection_sensor")
    with dagster_instance(WarehouseSettings.from_env(), SPECS) as instance:
        assert instance.event_log_storage.get_concurrency_info("testfm_api").slot_count == 2
        with dg.build_sensor_context(
            instance=instance, resources=make_resources(), definitions=defs
        ) as context:
            result = sensor(context)
        [request] = result.run_requests
        assert (request.job_name, request.partition_key) == ("testfm_sync", user)
        for add in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
        run = job.execute_in_process(
            instance=instance,
            partition_key=user,
            tags=request.tags,
            run_config=QUIET_LOGS,
            raise_on_error=False,
        )
        assert run.success
        checks = {e.check_name: e.passed for e in run.get_asset_check_evaluations()}
        assert checks == {"no_duplicate_items": True, "counts_match_totals": True, "connection_healthy": True}

    with engine.connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT track_id FROM latest_user_saved_tracks WHERE provider = 'testfm' ORDER BY track_id"
            )
        ).all()
        logged = conn.execute(
            sa.text("SELECT provider::text, endpoint, status, rows_appended FROM sync_log")
        ).all()
    assert [r[0] for r in stored] == ["fm1", "fm2", "fm3"]
    assert [tuple(r) for r in logged] == [("testfm", "loved_tracks", "success", 3)]
