"""Server-side request forgery guard: a webhook may not make us call into our own network.

A URL is refused when its host is, or resolves to, a private, loopback, link-local, multicast,
reserved or unspecified address, unless the operator listed the host, the address or a network
holding it in LSTM_DOCTOR_WEBHOOK_ALLOW_HOSTS. Checked at submit time (a 422 naming the URL) and
again at every send, on the addresses the connection will use, so a name that changes what it
resolves to after the check (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class TargetRefused(ValueError):
    """The URL may not be called; the message says why, for the client."""


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, setting: str) -> AllowList:
        hosts, networks = set(), []
        for entry in (part.strip().lower() for part in setting.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: Address) -> bool:
        return host in self.hosts or any(address in network for network in self.networks)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    addresses: list[str]  # checked addresses to connect to, in the resolver's order


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check(url: str, allow: AllowList, resolve: Resolver = system_resolver) -> Target:
    """The URL's target with its checked addresses; TargetRefused when it may not be called."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"the URL is not valid: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(f"the URL must start with http:// or https://, not {parts.scheme or 'nothing'!r}")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise TargetRefused("the URL names no host")
    if parts.username or parts.password:
        raise TargetRefused("the URL may not carry credentials; verify deliveries by their signature instead")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [host] if _is_address(host) else resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"the host {host!r} cannot be resolved ({exc})") from None
    if not addresses:
        raise TargetRefused(f"the host {host!r} resolves to no address")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _internal(address) and not allow.allows(host, address):
            raise TargetRefused(
                f"{host!r} is (or resolves to) {address}, a private, loopback or link-local address; webhooks "
                "may only call public addresses unless the operator allows the host in "
                "LSTM_DOCTOR_WEBHOOK_ALLOW_HOSTS"
            )
    return Target(parts.scheme, host, port, addresses)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _internal(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _internal(address.ipv4_mapped)
    return not address.is_global or address.is_multicast
