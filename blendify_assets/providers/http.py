"""The async HTTP layer every provider shares: connection reuse, a concurrency bound, retries.

Provider specifics stay out of this module: a `ProviderProfile` says how to read that provider's
error bodies (Spotify `{"error": {...}}`, Apple `{"errors": [...]}`) and how to spot a quota stop,
and an `Authenticator` supplies auth headers and recovers from a 401. Retries use tenacity;
the timings live in `RetryPolicy` so tests can shrink them to milliseconds.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx
from orjson import loads as _loads  # ~3x the stdlib on large pages; its JSONDecodeError is json's
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from blendify_assets.core.collector import collector_paused
from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.errors import (
    Forbidden,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    TransientError,
)

log = logging.getLogger(__name__)

Params = Mapping[str, str | int | float | None]


@dataclass
class RequestTally:
    """Requests sent by one piece of work, whichever `FetchStats` they were counted in."""

    requests: int = 0


_TALLY: contextvars.ContextVar[RequestTally | None] = contextvars.ContextVar("request_tally", default=None)


@contextmanager
def tally_requests() -> Iterator[RequestTally]:
    """Count every request sent in this context (and the tasks it starts), so a check that fails,
    and so never returns its stats, can still say how many requests it cost."""
    tally = RequestTally()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


class ClientError(ProviderError):
    """A 4xx other than 401/429 (e.g. 400, 404): trying again will not help."""

    retryable = False

    def __init__(self, message: str, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code  # provider error code from the body, e.g. 'invalid_grant'


class Unauthorized(ProviderError):
    """401 with no authenticator, or again after the authenticator refreshed the token once."""

    retryable = False


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. Defaults suit production; tests pass tiny numbers.

    A Retry-After longer than `rate_limit_max_wait` is not waited at all: `RateLimited` carries it
    (`retry_after`) so the caller can reschedule instead of holding a worker for hours.
    """

    transient_attempts: int = 5  # total tries for 5xx / timeouts / bad JSON
    backoff_initial: float = 0.5  # seconds; doubles each try, full jitter
    backoff_max: float = 30.0
    rate_limit_max_wait: float = 60.0  # cap for one Retry-After wait
    rate_limit_total_wait: float = 300.0  # cap for all 429 waits of one request
    rate_limit_attempts: int = 10


@dataclass(frozen=True)
class ErrorInfo:
    """What a provider's error body says, safe to show (never contains tokens)."""

    code: str | None = None
    message: str | None = None
    quota_exceeded: bool = False


class ProviderProfile:
    """Provider-specific reading of responses. Subclass per provider."""

    name = "provider"

    def error_info(self, response: httpx.Response) -> ErrorInfo:
        """Read the error body; the default understands nothing."""
        return ErrorInfo()

    def permanent(self, status: int, info: ErrorInfo) -> bool:
        """A 5xx that says trying again will not help (Apple's 50001 on a read-only playlist)."""
        return False

    def retry_after(self, response: httpx.Response) -> float | None:
        """Seconds to wait before the next try, from the Retry-After header (seconds or HTTP date)."""
        value = response.headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class Authenticator(Protocol):
    """Supplies auth headers and gets one chance to recover from a 401."""

    async def headers(self, stats: FetchStats) -> dict[str, str]:
        """Headers for the next request (refreshing proactively if needed, counted in `stats`)."""
        ...

    async def on_unauthorized(self, sent: Mapping[str, str], stats: FetchStats) -> None:
        """The request sent with `sent` got a 401: refresh (raise if that is impossible)."""
        ...


# Internal signals between one attempt and tenacity; never leave this module.
class _RetryRateLimited(Exception):
    def __init__(self, message: str, wait: float | None) -> None:
        super().__init__(message)
        self.wait = wait


class _RetryTransient(Exception):
    pass


def strip_nul(value: Any) -> Any:
    """Remove U+0000 from every string in a JSON value (keys too): Postgres text and jsonb reject it."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_surrogates(value: Any, top: bool) -> tuple[Any, int]:
    """(value with every lone surrogate replaced by U+FFFD, repaired count). While `top`, no list has
    been entered yet: the elements of the first list (a page's items) are what gets counted."""
    if isinstance(value, str):
        return (_SURROGATE.sub("\ufffd", value), 1) if _SURROGATE.search(value) else (value, 0)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        found = 0
        for key, item in value.items():
            new_key, a = _replace_surrogates(key, top)
            out[new_key], b = _replace_surrogates(item, top)
            found += a + b
        return out, found
    if isinstance(value, list):
        items, found = [], 0
        for item in value:
            new, n = _replace_surrogates(item, False)
            items.append(new)
            found += (1 if n else 0) if top else n
        return items, found
    return value, 0


def decode_json(content: bytes) -> tuple[Any, int] | None:
    """(body, items repaired) from a JSON response body, or None when it is not JSON at all.

    Decoding is lenient: bytes that are not UTF-8 and unpaired surrogates (`"\\ud800"`, which
    strict decoders refuse) become U+FFFD, so one broken name costs a character, not the page. An
    item counts once however many of its strings were repaired: an element of the body's first
    list (a page's items), or the whole body when it has none. U+0000 is removed (Postgres rejects
    it); JSON can only carry it escaped, so a byte search decides whether that walk is needed.
    """
    try:
        with collector_paused():  # a page is ~50,000 objects and no cycles (core/collector.py)
            body = _loads(content)
        repaired = 0
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        try:  # invalid bytes become lone surrogates too, so one pass below repairs both
            body = json.loads(content.decode("utf-8", "surrogateescape"))
        except (json.JSONDecodeError, ValueError):
            return None
        body, repaired = _replace_surrogates(body, True)
        if repaired and not isinstance(body, list) and not _has_list(body):
            repaired = 1
    return (strip_nul(body) if b"\\u0000" in content else body), repaired


def _has_list(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(v, list) or _has_list(v) for v in value.values())


def json_body(response: httpx.Response) -> Any:
    """The response's JSON (decoded leniently, without U+0000), or None when it is not JSON."""
    decoded = decode_json(response.content)
    return decoded[0] if decoded else None


HAND_OVER_TURNS = 6
"""Event-loop turns from a released connection to the waiting request's bytes on the socket: six
with httpx 0.28 / httpcore 1.0 / anyio 4 (semaphore wake-up, pool event, connection and state
locks, the stream's checkpoint). Too few only loses the gain; each turn costs microseconds."""


async def _hand_over() -> None:
    """Let the request that was waiting for the connection just released go out before this
    response is decoded and parsed: otherwise, when several pages arrive together, each waiting
    request is sent only after every page ahead of it was decoded, and the provider's concurrency
    sits partly idle for that long (issue 17: the heavy-user sync's wall time)."""
    for _ in range(HAND_OVER_TURNS):
        await asyncio.sleep(0)


class HttpClient:
    """One provider's connection pool, concurrency bound and retry loop.

    `request_json` is the only entry point: it returns the parsed body or raises one of the
    `ProviderError` subclasses from `base.py`. Statistics go into the `FetchStats` the caller passes,
    so each endpoint fetch can report its own numbers while sharing the pool.
    """

    def __init__(
        self,
        profile: ProviderProfile,
        *,
        concurrency: int = 8,
        timeout: float = 20.0,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.profile = profile
        self.policy = policy or RetryPolicy()
        self._semaphore = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self._sleep = sleep
        self._paused_until = 0.0  # monotonic; a 429 pauses every request of this provider
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"HttpClient(provider={self.profile.name!r}, concurrency={self.concurrency})"

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        stats: FetchStats,
        params: Params | None = None,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: Authenticator | None = None,
        label: str | None = None,
        idempotent: bool = True,
    ) -> Any:
        """Send one logical request, retrying as the policy allows; return the JSON body.

        `data` is sent as a form, `json` as a JSON body (writes). After a 5xx or a timeout the
        provider may have applied the request, so a write that is not idempotent (a create, an
        append) passes `idempotent=False`: it is not resent, `TransientError` is raised at once and
        the caller reconciles (analytics/publish.py). 429s are resent either way: a refused request
        was not applied.

        `label` names the endpoint in error messages (defaults to the URL path, without the
        query string, so no cursor or token-like value leaks into messages).
        """
        path = label or httpx.URL(url).path
        policy = self.policy
        # None, not {}: httpx replaces a URL's query string with an empty params mapping, which
        # would silently turn a `next` link back into the first page.
        clean_params = {k: v for k, v in (params or {}).items() if v is not None} or None
        state: dict[str, Any] = {
            "rate_waited": 0.0,
            "rate_tries": 0,
            "transient_tries": 0,
            "refreshed": False,
            "own_pause": 0.0,
        }

        def wait(retry_state: RetryCallState) -> float:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            if isinstance(exc, _RetryRateLimited):
                if exc.wait is None:  # no Retry-After (Apple never sends one): back off, equal jitter
                    ceiling = min(
                        policy.rate_limit_max_wait, policy.backoff_initial * 2 ** (state["rate_tries"] - 1)
                    )
                    return random.uniform(ceiling / 2, ceiling)
                return min(exc.wait, policy.rate_limit_max_wait)
            tries = state["transient_tries"]
            ceiling = min(policy.backoff_max, policy.backoff_initial * 2 ** (tries - 1))
            return random.uniform(0, ceiling)  # full jitter

        def stop(retry_state: RetryCallState) -> bool:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            if isinstance(exc, _RetryRateLimited):
                return (
                    (exc.wait or 0.0) > policy.rate_limit_max_wait  # hours away: fail now, say when
                    or state["rate_waited"] + retry_state.upcoming_sleep > policy.rate_limit_total_wait
                    or state["rate_tries"] >= policy.rate_limit_attempts
                )
            return not idempotent or state["transient_tries"] >= policy.transient_attempts

        async def before_sleep(retry_state: RetryCallState) -> None:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            seconds = retry_state.upcoming_sleep
            if isinstance(exc, _RetryRateLimited):
                stats.rate_limit_waits += 1
                stats.rate_limit_wait_seconds += seconds
                state["rate_waited"] += seconds
                state["own_pause"] = time.monotonic() + seconds
                self._paused_until = max(self._paused_until, state["own_pause"])
            else:
                stats.retries += 1
            log.info("%s %s: %s; retrying in %.2fs", self.profile.name, path, exc, seconds)

        async def attempt() -> Any:
            # Another request's 429 pauses this provider for everyone (this request's own wait
            # was already slept by tenacity).
            delay = self._paused_until - time.monotonic()
            if delay > 0 and self._paused_until > state["own_pause"]:
                await self._sleep(delay)
            while True:
                send_headers = dict(headers or {})
                if auth is not None:
                    send_headers.update(await auth.headers(stats))
                response = await self._send(
                    method, url, clean_params, data, json, send_headers, path, state, stats
                )
                await _hand_over()
                if response.status_code == 401 and auth is not None and not state["refreshed"]:
                    # One refresh and an immediate resend: not a backoff-worthy failure.
                    state["refreshed"] = True
                    await auth.on_unauthorized(send_headers, stats)
                    continue
                return self._interpret(response, path, state, stats)

        try:
            async for try_ in AsyncRetrying(
                retry=retry_if_exception_type((_RetryRateLimited, _RetryTransient)),
                wait=wait,
                stop=stop,
                sleep=self._sleep,
                before_sleep=before_sleep,
                reraise=True,
            ):
                with try_:
                    return await attempt()
        except _RetryRateLimited as exc:
            raise RateLimited(
                f"{exc} (gave up after {state['rate_waited']:.1f}s of waiting)", exc.wait
            ) from None
        except _RetryTransient as exc:
            raise TransientError(f"{exc} (gave up after {state['transient_tries']} tries)") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        data: Mapping[str, str] | None,
        json_body: Any,
        headers: Mapping[str, str],
        path: str,
        state: dict[str, Any],
        stats: FetchStats,
    ) -> httpx.Response:
        """One HTTP exchange inside the concurrency bound; network failures become retry signals."""
        async with self._semaphore:
            stats.requests += 1
            tally = _TALLY.get()
            if tally is not None:
                tally.requests += 1
            try:
                return await self._client.request(
                    method, url, params=params, data=data, json=json_body, headers=headers
                )
            except httpx.TimeoutException as exc:
                state["transient_tries"] += 1
                raise _RetryTransient(self._message(path, None, f"timeout ({type(exc).__name__})")) from None
            except httpx.TransportError as exc:
                state["transient_tries"] += 1
                raise _RetryTransient(
                    self._message(path, None, f"connection error ({type(exc).__name__})")
                ) from None

    def _interpret(
        self, response: httpx.Response, path: str, state: dict[str, Any], stats: FetchStats
    ) -> Any:
        """Map a response onto a body, a retry signal or a final `ProviderError`."""
        status = response.status_code
        if 200 <= status < 300:
            if status == 204 or not response.content:
                return None
            decoded = decode_json(response.content)
            if decoded is None:
                state["transient_tries"] += 1
                raise _RetryTransient(self._message(path, status, "unparseable JSON body"))
            body, repaired = decoded
            if repaired:
                stats.repaired_items += repaired
                log.warning(
                    "%s %s: %d item(s) with undecodable text kept, repaired",
                    self.profile.name,
                    path,
                    repaired,
                )
            return body
        info = self.profile.error_info(response)
        if status == 401:
            raise Unauthorized(self._message(path, status, "unauthorized", info))
        if status == 429:
            if info.quota_exceeded:
                raise QuotaExceeded(
                    self._message(path, status, "quota exceeded; not waiting", info),
                    self.profile.retry_after(response),
                )
            state["rate_tries"] += 1
            wait = self.profile.retry_after(response)
            raise _RetryRateLimited(self._message(path, status, "rate limited", info), wait)
        if status >= 500 and self.profile.permanent(status, info):
            raise ClientError(self._message(path, status, "request failed", info), status, info.code)
        if status >= 500:
            state["transient_tries"] += 1
            raise _RetryTransient(self._message(path, status, "server error", info))
        if status == 403:
            raise Forbidden(self._message(path, status, "forbidden", info))
        raise ClientError(self._message(path, status, "request failed", info), status, info.code)

    def _message(self, path: str, status: int | None, what: str, info: ErrorInfo | None = None) -> str:
        """'spotify /me/tracks: HTTP 503 server error (server_error: try later)'. Never a token."""
        head = f"{self.profile.name} {path}: " + (f"HTTP {status} " if status is not None else "") + what
        detail = ": ".join(p for p in (info.code, info.message) if p) if info else ""
        return f"{head} ({detail})" if detail else head


class ProviderSession:
    """Base of one user's provider client: an async context manager that closes its HttpClient only
    when it created it (a shared one belongs to the run)."""

    http: HttpClient
    _owns_http: bool

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
