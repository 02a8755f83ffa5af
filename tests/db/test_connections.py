"""`keys rotate` against a token writer in flight (issue 11): a token encrypted under the key the
rotation retires must still be re-encrypted, even when its row is new to the rotation."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload, rotate_tokens
from blendify_assets.db.users import add_user
from blendify_assets.security.vault import Vault, read_local_keys, rotate_local_key, vault_from_settings


def test_a_token_written_during_a_rotation_stays_decryptable(engine, tmp_path) -> None:
    settings = WarehouseSettings.from_env({"BLENDIFY_HOME": str(tmp_path / "home")})
    vault = vault_from_settings(settings)  # the local key file, as a long-lived process holds it
    add_user(engine, "slow@example.com")
    with engine.begin() as conn:  # the insert pauses after its tokens were encrypted
        conn.execute(
            sa.text(
                "CREATE FUNCTION pause_insert() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$; "
                "CREATE TRIGGER pause_insert BEFORE INSERT ON provider_connections "
                "FOR EACH ROW EXECUTE FUNCTION pause_insert()"
            )
        )
    payload = TokenPayload("written-mid-rotation", None, 3600, None)
    writer = threading.Thread(
        target=connections.upsert, args=(engine, vault, "slow@example.com", "spotify", payload)
    )
    writer.start()
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while not conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")
        ).scalar():
            assert time.monotonic() < deadline, "the insert never started"
            time.sleep(0.05)
    rotate_local_key(settings, lambda new: rotate_tokens(engine, new))  # retires the key the writer used
    writer.join()

    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT access_token_encrypted FROM provider_connections")).scalar_one()
    assert Vault(read_local_keys(settings.local_key_file)).decrypt(stored) == "written-mid-rotation"
