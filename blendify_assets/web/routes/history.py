"""Your history: where to request each service's export, an upload form per provider, the import's
result and the files imported before. Only ever the signed-in user's own history.

The upload is spooled to a private temporary file during the request (Starlette has already spooled
the form; the copy is read in 1 MB chunks), then imported on one background thread: a decade of
history (500,000 plays) takes one to two minutes (README Benchmarks: history_import), longer than a
page should wait or a proxy keeps a request open. The page it redirects to refreshes itself until
the import is done, as the taste-match page does. The import is one transaction: a failure writes
nothing.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.engine import Engine

from blendify_assets.core.settings import Settings
from blendify_assets.db import history_imports as db_history_imports
from blendify_assets.ingest.history import (
    ImportReport,
    Lookup,
    apple_lookup,
    import_history,
    spool_upload,
    spotify_lookup,
)
from blendify_assets.providers.history import MAX_FILE_BYTES, ExportError
from blendify_assets.security.vault import Vault
from blendify_assets.web.pages import redirect, render
from blendify_assets.web.security import NotFound, require_user

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

PROVIDERS = ("spotify", "apple")
UPLOAD_PATH = "/music/history/{provider}"
MAX_UPLOAD_BYTES = MAX_FILE_BYTES + (1 << 20)
"""The largest request body taken: one export file (1 GiB) and the form's few other bytes."""

REFRESH_SECONDS = 2
_JOBS: OrderedDict[str, dict[str, Any]] = OrderedDict()
_JOBS_MAX = 256
_JOBS_LOCK = threading.Lock()
# One import at a time per process: each is CPU and I/O for a minute or two on a small machine.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blendify-history-import")

FILTER_NAMES = {
    "episode": "podcast episodes",
    "audiobook": "audiobooks",
    "incognito": "private-session plays",
    "short_skip": "skipped under 30 seconds",
    "short": "under 30 seconds",
    "no_track": "no track named",
    "not_play_end": "not a finished play",
    "video": "music videos",
    "unreadable": "unreadable rows",
}


def summary(report: ImportReport) -> dict[str, Any]:
    """The numbers the page shows: appended, already stored (API / earlier import), filtered by
    reason, unidentified, and the files that had been imported before."""
    filtered: dict[str, int] = {}
    for f in report.files:
        for reason, n in f.filtered.items():
            filtered[reason] = filtered.get(reason, 0) + n
    return {
        "provider": report.provider,
        "appended": report.appended,
        "plays": report.total("plays"),
        "duplicates_api": report.total("duplicates_api"),
        "duplicates_stored": report.total("duplicates_stored"),
        "filtered": {FILTER_NAMES.get(k, k.replace("_", " ")): v for k, v in sorted(filtered.items()) if v},
        "unidentified": sum(int(f.enrichment.get("unidentified", 0)) for f in report.files),
        "before": [f for f in report.files if f.already_imported_at is not None],
        "files": report.files,
        "ignored": report.ignored,
        "lookups": report.lookups,
    }


def _page(request: Request, user_id: uuid.UUID, status_code: int = 200, **context: Any) -> Response:
    with request.app.state.engine.connect() as conn:
        past = db_history_imports.for_user(conn, user_id)
    return render(
        request,
        "music_history.html",
        status_code,
        past=past,
        max_mib=MAX_FILE_BYTES >> 20,
        refresh_seconds=REFRESH_SECONDS,
        nav="music",
        tab="history",
        **context,
    )


def _job(job_id: str | None, user_id: uuid.UUID) -> dict[str, Any] | None:
    """This user's import job; another person's id reads as one this process does not know."""
    if not job_id:
        return None
    with _JOBS_LOCK:
        job = _JOBS.get(job_id)
        if job is None or job["user"] != str(user_id):
            return {"state": "unknown"}
        return dict(job)


@router.get("/music/history")
def history_page(request: Request, job: str | None = None, user: dict = Depends(require_user)) -> Response:
    found = _job(job, user["id"])
    context: dict[str, Any] = {"job": found}
    if found and found["state"] == "done":
        context["result"] = found["result"]
    elif found and found["state"] == "failed":
        context["error"] = found["error"]
    return _page(request, user["id"], **context)


@router.post(UPLOAD_PATH)
def upload(
    request: Request, provider: str, export: UploadFile = File(...), user: dict = Depends(require_user)
) -> Response:
    """Take the signed-in user's export (never a user id from the form): copy it out of the
    request, import it in the background and show its page, which refreshes until it is done."""
    if provider not in PROVIDERS:
        raise NotFound
    folder = Path(tempfile.mkdtemp(prefix="blendify-upload-"))
    try:
        path = spool_upload(export.file, export.filename or "upload", folder)
    except ExportError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return _page(request, user["id"], 400, error=str(exc))
    finally:
        export.file.close()
    job_id = secrets.token_urlsafe(16)
    with _JOBS_LOCK:
        _JOBS[job_id] = {"user": str(user["id"]), "provider": provider, "file": path.name, "state": "running"}
        while len(_JOBS) > _JOBS_MAX:
            _JOBS.popitem(last=False)
    state = request.app.state
    _WORKER.submit(
        _run, state.engine, state.vault, state.config.settings, job_id, user["id"], provider, folder, path
    )
    return redirect(f"/music/history?job={job_id}")


def _run(
    engine: Engine,
    vault: Vault,
    settings: Settings,
    job_id: str,
    user_id: uuid.UUID,
    provider: str,
    folder: Path,
    path: Path,
) -> None:
    """One import, its ISRCs looked up through the user's own connection as `blendify import` does;
    its outcome kept for the page; the spooled copy is removed whatever happens."""
    outcome: dict[str, Any]
    try:
        lookup: Lookup | None
        if provider == "spotify":
            lookup, why_not = spotify_lookup(engine, vault, settings.provider("spotify"), user_id)
        else:
            lookup, why_not = apple_lookup(engine, vault, settings.provider("apple"), user_id)
        report = import_history(engine, user_id, provider, path, None, lookup, why_not)
        outcome = {"state": "done", "result": summary(report)}
    except ExportError as exc:
        outcome = {"state": "failed", "error": str(exc)}
    except Exception:
        log.exception("a history import failed")
        outcome = {"state": "failed", "error": "The import failed on Blendify's side; try again later."}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    with _JOBS_LOCK:
        if job_id in _JOBS:
            _JOBS[job_id].update(outcome)
