"""Opaque, time-ordered ids and RFC 3339 timestamps."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime


def new_id(prefix: str) -> str:
    # Millisecond time first so ids sort by creation; random tail so they cannot be guessed.
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
