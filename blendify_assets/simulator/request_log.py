"""Every API request the simulator answered, for tests that count calls."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import overload


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str  # below the provider base: "/me/tracks", "/v1/me/library/songs", "/api/token"
    query: str
    status: int
    time: float  # wall clock (epoch seconds) when the request arrived
    sim_time: datetime  # simulated time when it arrived
    provider: str  # "spotify", "spotify-accounts" or "apple"
    user: str | None  # sim user id, when a token identified one
    fault: str | None  # the fault kind that answered instead of the API, if any
    duration_ms: float


class RequestLog(Sequence[RequestRecord]):
    """A thread-safe, list-like log with counting helpers."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    @overload
    def __getitem__(self, index: int) -> RequestRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[RequestRecord]: ...
    def __getitem__(self, index: int | slice) -> RequestRecord | list[RequestRecord]:
        with self._lock:
            return self._records[index]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        with self._lock:
            return iter(list(self._records))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def filter(self, prefix: str = "", *, provider: str | None = None, status: int | None = None,
               user: str | None = None, method: str | None = None) -> list[RequestRecord]:  # fmt: skip
        """Records whose path starts with `prefix` and that match every other given field."""
        return [r for r in self if r.path.startswith(prefix) and (provider is None or r.provider == provider)
                and (status is None or r.status == status) and (user is None or r.user == user)
                and (method is None or r.method == method)]  # fmt: skip

    def count(self, prefix: str = "", **filters: object) -> int:
        return len(self.filter(prefix, **filters))  # type: ignore[arg-type]

    def counts_by_path(self, provider: str | None = None) -> Counter[str]:
        return Counter(r.path for r in self if provider is None or r.provider == provider)
