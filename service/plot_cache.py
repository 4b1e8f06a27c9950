"""Rendered plots, cached in-process by (resource, history length, metric, format, verdict).

Bounded in bytes, not items: one SVG of many long runs can weigh megabytes, a PNG tens of KiB.

The key changes whenever what the plot shows changes (a new epoch, a final verdict), so the
ETag is derived from the key alone (service/etags.py): a conditional GET is answered 304 without
rendering.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class PlotCache:
    def __init__(self, max_items: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.bytes = 0  # sum of the cached bodies' sizes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._rendering: dict[Hashable, threading.Lock] = {}

    def _lookup(self, key: Hashable) -> bytes | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def get_or_render(self, key: Hashable, render: Callable[[], bytes]) -> bytes:
        if (body := self._lookup(key)) is not None:
            return body
        # One render per key: simultaneous misses for the same plot wait for the first one
        # instead of all rendering it (64 pollers of a fresh plot would otherwise render 64 times).
        # Different plots still render in parallel.
        with self._lock:
            key_lock = self._rendering.setdefault(key, threading.Lock())
        with key_lock:
            if (body := self._lookup(key)) is None:
                body = render()
                # A body larger than the whole cache is served, not kept (it would evict everything).
                if len(body) <= self.max_bytes:
                    with self._lock:
                        self._items[key] = body
                        self.bytes += len(body)
                        self._items.move_to_end(key)
                        while len(self._items) > self.max_items or self.bytes > self.max_bytes:
                            _, evicted = self._items.popitem(last=False)
                            self.bytes -= len(evicted)
        with self._lock:
            self._rendering.pop(key, None)
        return body
