"""One JSON encoder for every response: compact separators, UTF-8, bytes out."""

from __future__ import annotations

import json
from typing import Any

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> bytes:
    return _encoder.encode(obj).encode()
