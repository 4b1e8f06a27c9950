"""Redis connections from ``LSTM_DOCTOR_REDIS_URL``: one server, or a master found through Sentinel.

    redis://[:password@]host:6379/0                                  one server
    redis+sentinel://[:password@]s1:26379,s2:26379,s3:26379/mymaster/0[?sentinel_password=…]

With Sentinel every client (records, pub/sub, Celery's broker and result backend) asks the
sentinels for the current master and asks again after a connection error, so a failover is
seen as a short outage: commands are retried with backoff for ``retry_s`` seconds, then fail.
The API keeps that short (it answers 503 rather than hang); a training process keeps it long
enough to ride through a failover without losing an epoch's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

from core.settings import Settings

SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
# Sent by Redis on every idle connection so a dead peer (a master that vanished without a FIN)
# is noticed in seconds, not after the kernel's two-hour keepalive.
HEALTH_CHECK_S = 10
SOCKET_TIMEOUT_S = 5.0
# A worker's commands wait out a failover (Sentinel's down-after-milliseconds plus an election,
# seconds to tens of seconds) rather than lose an epoch's record or a job's final state.
WORKER_RETRY_S = 60.0


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def required_url(settings: Settings) -> str:
    """LSTM_DOCTOR_REDIS_URL, for a process that cannot run without it (`serve` sets it for the
    processes it starts)."""
    if not settings.redis_url:
        raise RuntimeError("LSTM_DOCTOR_REDIS_URL is not set (`lstm-doctor serve` sets it for you).")
    return settings.redis_url


def parse_sentinel_url(url: str) -> SentinelTarget | None:
    """The sentinel target of a ``redis+sentinel://`` URL; None for a plain redis:// URL."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return None
    hosts = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        host, _, port = item.strip().rpartition(":") if ":" in item else (item.strip(), "", "")
        if not host:
            raise ValueError(f"{url!r}: empty sentinel address")
        hosts.append((host.strip("[]"), int(port) if port else DEFAULT_SENTINEL_PORT))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError(f"{url!r}: expected redis+sentinel://host:port[,host:port…]/<master name>[/<db>]")
    query = parse_qs(parts.query)
    return SentinelTarget(
        sentinels=tuple(hosts),
        service=path[0],
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        sentinel_password=query.get("sentinel_password", [None])[0],
    )


def _retry(retry_s: float) -> Retry:
    # 0.05, 0.1, 0.2 … capped at 1 s: retries enough to cover retry_s, at most one a second.
    retries = max(1, int(retry_s) + 5) if retry_s > 0 else 0
    return Retry(ExponentialBackoff(cap=1.0, base=0.05), retries)


def connect(url: str, *, retry_s: float = 3.0, socket_timeout: float = SOCKET_TIMEOUT_S, **options: Any) -> redis.Redis:
    """A client for ``url``; commands failing on a lost connection are retried for about ``retry_s``."""
    options = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": min(socket_timeout, 2.0),
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_S,
        "retry": _retry(retry_s),
        "retry_on_error": [ConnectionError, TimeoutError],
        **options,
    }
    target = parse_sentinel_url(url)
    if target is None:
        return redis.Redis.from_url(url, **options)
    sentinel = Sentinel(
        list(target.sentinels), sentinel_kwargs=_sentinel_kwargs(target, socket_timeout), socket_timeout=socket_timeout
    )
    return sentinel.master_for(
        target.service, db=target.db, username=target.username, password=target.password, **options
    )


def connect_async(url: str, *, socket_timeout: float | None = SOCKET_TIMEOUT_S, **options: Any) -> aioredis.Redis:
    """An asyncio client (pub/sub streams); the same URL forms as ``connect``."""
    options = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": 2.0,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_S,
        "retry": AsyncRetry(ExponentialBackoff(cap=1.0, base=0.05), 3),
        "retry_on_error": [ConnectionError, TimeoutError],
        **options,
    }
    target = parse_sentinel_url(url)
    if target is None:
        return aioredis.Redis.from_url(url, **options)
    sentinel = AsyncSentinel(
        list(target.sentinels),
        sentinel_kwargs=_sentinel_kwargs(target, socket_timeout or SOCKET_TIMEOUT_S),
        socket_timeout=socket_timeout,
    )
    return sentinel.master_for(
        target.service, db=target.db, username=target.username, password=target.password, **options
    )


def _sentinel_kwargs(target: SentinelTarget, socket_timeout: float) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"socket_timeout": min(socket_timeout, 2.0), "socket_connect_timeout": 1.0}
    if target.sentinel_password:
        kwargs["password"] = target.sentinel_password
    return kwargs


def celery_connection(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's broker/backend URL and the transport options that go with it.

    Kombu spells Sentinel as ``sentinel://h1:p;sentinel://h2:p`` plus ``master_name``; the
    password in the URL is the master's, ``sentinel_kwargs`` carries the sentinels' own.
    """
    target = parse_sentinel_url(url)
    if target is None:
        return url, {}
    auth = ""
    if target.password:
        auth = f"{quote(target.username or '', safe='')}:{quote(target.password, safe='')}@"
    broker = ";".join(f"sentinel://{auth}{host}:{port}/{target.db}" for host, port in target.sentinels)
    options: dict[str, Any] = {
        "master_name": target.service,
        "sentinel_kwargs": _sentinel_kwargs(target, SOCKET_TIMEOUT_S),
    }
    return broker, options


def describe(url: str) -> str:
    """The URL without credentials, for logs and error messages."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2], query="").geturl()


# The clients of the two sides, with their bounds (one home, so they cannot drift apart again).
API_TIMEOUT_S = 1.0


def api_client(url: str) -> redis.Redis:
    """For requests: one try with a 1 s timeout, plus one quick retry only when the connection
    itself broke (a pooled connection that died with a Redis restart); then the request answers
    503 with Retry-After (``service.problems``) instead of making its client wait."""
    return connect(
        url,
        decode_responses=True,
        socket_timeout=API_TIMEOUT_S,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.02), 1),
        retry_on_error=[ConnectionError],
    )


def api_async_client(url: str) -> aioredis.Redis:
    """For pub/sub streams: no read timeout (a subscriber waits for messages by design and polls
    with its own), a short connect timeout."""
    return connect_async(url, decode_responses=True, socket_timeout=None, socket_connect_timeout=API_TIMEOUT_S)


def worker_client(url: str, lease_ttl_s: float) -> redis.Redis:
    """For trainers and housekeeping: retries for about a lease, no longer. Past that the lease
    has lapsed anyway: the attempt is fenced and the job requeued, and the epochs a trainer could
    not store wait in its buffer (``worker.runner.EpochLog``), so waiting longer gains nothing."""
    return connect(
        url, decode_responses=True, socket_timeout=min(SOCKET_TIMEOUT_S, lease_ttl_s / 3), retry_s=lease_ttl_s
    )
