"""One JSON encoder for every response: compact separators, UTF-8, bytes out.

A string holding an unpaired surrogate (a name cut in the middle of a UTF-16 pair, as real APIs
sometimes serve) goes out as the JSON escape `\\ud800`, exactly as those APIs send it.
"""

from __future__ import annotations

import json
from typing import Any

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> bytes:
    return _encoder.encode(obj).encode("utf-8", "backslashreplace")
