"""API keys → tenants. Keys are kept only as SHA-256 digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from pathlib import Path

from core.settings import Settings

OPEN_TENANT = "default"


class KeyConfigError(ValueError):
    pass


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class Keyring:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._entries = [(_digest(key), tenant) for tenant, key in pairs]

    @property
    def open(self) -> bool:
        """No keys configured: single tenant, loopback only."""
        return not self._entries

    def tenant_for(self, key: str) -> str | None:
        digest = _digest(key)
        found = None
        for known, tenant in self._entries:
            # Look at every entry, so timing does not tell how far down the list a key is.
            if hmac.compare_digest(known, digest):
                found = tenant
        return found

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        text = settings.api_keys
        if settings.api_keys_file:
            text += "\n" + Path(settings.api_keys_file).read_text()
        pairs = []
        for raw in text.replace(",", "\n").splitlines():
            item = raw.strip()
            if not item or item.startswith("#"):
                continue
            tenant, sep, key = item.partition(":")
            if not sep or not tenant.strip() or not key.strip():
                raise KeyConfigError(f"API key entries are 'tenant:KEY'; got {item[:20]!r}…")
            if not tenant.strip().replace("-", "").replace("_", "").isalnum():
                raise KeyConfigError(f"tenant names are letters, digits, '-' and '_'; got {tenant.strip()!r}")
            pairs.append((tenant.strip(), key.strip()))
        return cls(pairs)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, keyring: Keyring) -> None:
    """Refuses to serve without keys anywhere but loopback (docs/api.md, Auth)."""
    if keyring.open and not is_loopback(settings.host):
        raise KeyConfigError(
            f"refusing to listen on {settings.host} without API keys: set LSTM_DOCTOR_API_KEYS "
            "(e.g. 'acme:SECRET') or LSTM_DOCTOR_API_KEYS_FILE, or bind 127.0.0.1"
        )
