"""Entity tags, the one place they are made and compared.

JSON resources get a weak tag hashed from the body they send (ConditionalGetMiddleware); plots
get a tag derived from their cache key alone, so a conditional GET is answered without rendering.
Both are compared the way If-None-Match requires (weak comparison, RFC 9110 §13.1.2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable


def etag_of(body: bytes) -> str:
    # Weak: equal bodies are equivalent representations, and a compressing proxy may re-encode them.
    return 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_for(key: Hashable) -> str:
    """The tag of whatever ``key`` identifies (a plot: resource, epochs, metric, format, verdict)."""
    return '"' + hashlib.sha256(repr(key).encode()).hexdigest()[:32] + '"'


def matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), as If-None-Match requires."""
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))
