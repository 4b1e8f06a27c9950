"""Rendered plots, cached in-process by (resource, history length, metric, format, verdict).

The key changes whenever what the plot shows changes (a new epoch, a final verdict), so the
ETag is derived from the key alone (service/etags.py): a conditional GET is answered 304 without
rendering.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class PlotCache:
    def __init__(self, max_items: int = 256) -> None:
        self.max_items = max_items
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
                with self._lock:
                    self._items[key] = body
                    self._items.move_to_end(key)
                    while len(self._items) > self.max_items:
                        self._items.popitem(last=False)
        with self._lock:
            self._rendering.pop(key, None)
        return body
