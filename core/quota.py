"""What a store raises when a write would pass a tenant's cap. The check and the write are one
Redis transaction (WATCH on the counted keys, then MULTI), so racing writes never overshoot; the
HTTP layer turns this into problem details (``service.quotas``)."""

from __future__ import annotations


class Full(Exception):
    def __init__(self, what: str, count: int) -> None:
        # ``what``: "datasets" / "diagnoses" (a count at its cap) or "dataset_bytes" (the bytes
        # stored, which this write would take past the cap); ``count``: the tenant's figure now.
        super().__init__(what, count)
        self.what = what
        self.count = count
