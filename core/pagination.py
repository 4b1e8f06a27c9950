"""Cursor pagination over the per-tenant indexes (sorted sets of time-ordered ids).

Ids start with their creation time in fixed-width hex, so lexicographic order is creation order
and the cursor is simply the last id a page returned: stable under inserts, no offsets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis

BATCH = 200
Item = TypeVar("Item")


def newest_first(
    client: redis.Redis,
    index_key: str,
    load: Callable[[list[str]], list[Item | None]],
    *,
    limit: int,
    cursor: str | None,
    keep: Callable[[Item], bool] = lambda _: True,
) -> tuple[list[Item], str | None]:
    """One page of items, newest first, and the cursor of the next page (None at the end)."""
    items: list[Item] = []
    upper = f"({cursor}" if cursor else "+"
    while len(items) < limit:
        ids = client.zrevrangebylex(index_key, upper, "-", start=0, num=BATCH)
        if not ids:
            return items, None
        for item_id, item in zip(ids, load(ids)):
            upper = f"({item_id}"
            if item is not None and keep(item):
                items.append(item)
                if len(items) == limit:
                    more = client.zrevrangebylex(index_key, upper, "-", start=0, num=1)
                    return items, (item_id if more else None)
    return items, None
