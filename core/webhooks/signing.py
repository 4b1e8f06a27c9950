"""Per-tenant webhook secrets and Standard Webhooks signatures.

A tenant's first secret is made when it is first needed. Rotating makes a new one at once and
keeps the previous one signing too until its overlap ends, so a receiver can switch secrets
without missing a delivery: during the overlap `webhook-signature` carries one `v1,` signature
per live secret (the spec's space-separated list), newest first.

Secrets are kept in Redis as they are: HMAC needs the secret itself to sign.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import redis
from standardwebhooks.webhooks import Webhook

from core import keys
from core.ids import now

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SecretStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def _load(self, tenant: str) -> list[dict[str, Any]]:
        raw = self.r.get(keys.webhook_secrets(tenant))
        return json.loads(raw) if raw else []

    def active(self, tenant: str) -> list[dict[str, Any]]:
        """The secrets that sign now, newest first; makes the first one if there is none."""
        moment = datetime.now(UTC)
        live = [s for s in self._load(tenant) if s["expires_at"] is None or _parse_time(s["expires_at"]) > moment]
        if live:
            return live
        first = [{"secret": new_secret(), "created_at": now(), "expires_at": None}]
        # NX: two processes making the first secret at once agree on one.
        if not self.r.set(keys.webhook_secrets(tenant), json.dumps(first), nx=True):
            return self.active(tenant) if self._load(tenant) else first
        return first

    def rotate(self, tenant: str, overlap_s: int) -> list[dict[str, Any]]:
        """A new current secret; the ones signing now keep signing for ``overlap_s`` more seconds."""
        key = keys.webhook_secrets(tenant)
        moment = datetime.now(UTC)
        ends = _iso(datetime.fromtimestamp(moment.timestamp() + overlap_s, UTC))
        with self.r.pipeline() as p:
            while True:
                try:
                    p.watch(key)
                    current = self.active(tenant)
                    kept = [
                        {**s, "expires_at": min(s["expires_at"] or ends, ends, key=_parse_time)}
                        for s in current
                        if overlap_s > 0
                    ]
                    rotated = [{"secret": new_secret(), "created_at": now(), "expires_at": None}, *kept]
                    p.multi()
                    p.set(key, json.dumps(rotated))
                    p.execute()
                    return rotated
                except redis.WatchError:
                    continue


def signature_header(secrets_: list[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """`webhook-signature`: a `v1,<base64 HMAC-SHA256>` per secret, space-separated."""
    return " ".join(Webhook(secret).sign(msg_id, timestamp, body) for secret in secrets_)
