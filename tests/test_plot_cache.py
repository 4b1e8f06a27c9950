"""The in-process plot cache: hits, eviction, and one render for simultaneous misses."""
from __future__ import annotations

import threading
import time

from service.etags import etag_for
from service.plot_cache import PlotCache


def test_simultaneous_misses_render_once():
    cache = PlotCache()
    renders = []

    def render() -> bytes:
        renders.append(1)
        time.sleep(0.2)
        return b"png"

    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_render("k", render))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"png"] * 16 and len(renders) == 1


def test_least_recently_used_is_evicted():
    cache = PlotCache(max_items=2)
    for key in ("a", "b"):
        cache.get_or_render(key, lambda key=key: key.encode())
    cache.get_or_render("a", lambda: b"again")  # a hit: "a" is now the most recent
    cache.get_or_render("c", lambda: b"c")
    assert cache.get_or_render("a", lambda: b"re-rendered") == b"a"
    assert cache.get_or_render("b", lambda: b"re-rendered") == b"re-rendered"


def test_etag_follows_the_key():
    assert etag_for(("job", (3,), "loss")) == etag_for(("job", (3,), "loss"))
    assert etag_for(("job", (3,), "loss")) != etag_for(("job", (4,), "loss"))
