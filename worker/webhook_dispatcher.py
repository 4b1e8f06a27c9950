"""Sends webhook deliveries from the worker's main process, beside training, never in it.

A few threads take due deliveries from Redis (leased, see `core.webhooks.deliveries`), sign them
with every live secret of the tenant, POST them to the address that was just checked (so the
SSRF guard sees what the connection uses), and record the attempt: a 2xx ends the delivery,
anything else schedules the next retry until the schedule runs out.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
import redis

from core.ids import now
from core.logging import get_logger
from core.settings import Settings
from core.webhooks.deliveries import DeliveryStore
from core.webhooks.signing import SecretStore, signature_header
from core.webhooks.targets import AllowList, Resolver, Target, TargetRefused, check, system_resolver

log = get_logger("worker.webhooks")
SENDERS = 4
USER_AGENT = "lstm-doctor-webhooks/1"


class Dispatcher:
    def __init__(self, settings: Settings, client: redis.Redis, resolve: Resolver = system_resolver) -> None:
        self.resolve = resolve
        self.deliveries = DeliveryStore(client)
        self.secrets = SecretStore(client)
        self.allow = AllowList.parse(settings.webhook_allow_hosts)
        self.delays = settings.webhook_retry_delays
        self.timeout_s = settings.webhook_timeout_s
        # Longer than one attempt can take: a delivery is only handed out again if its sender died.
        self.lease_s = settings.webhook_timeout_s * 2 + 30
        self.poll_s = min(1.0, settings.heartbeat_s)
        self.http = httpx.Client(
            timeout=settings.webhook_timeout_s,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )
        self.pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook")
        self._busy = threading.Semaphore(SENDERS)
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="webhook-dispatcher", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                free = self._free_senders()
                taken = self.deliveries.lease(self.lease_s, most=free) if free else []
                for tenant, job_id, ident in taken:
                    self._busy.acquire()
                    self.pool.submit(self._deliver_then_release, tenant, job_id, ident)
            except redis.RedisError as exc:
                log.warning("webhook_poll_failed", error=str(exc))
            except RuntimeError:  # the pool shut down: the worker is stopping
                return
            except Exception:  # noqa: BLE001 - the dispatcher must outlive any one bad poll
                log.exception("webhook_poll_crashed")
            self._stop.wait(self.poll_s)

    def _free_senders(self) -> int:
        free = 0
        while self._busy.acquire(blocking=False):
            free += 1
        for _ in range(free):
            self._busy.release()
        return free

    def _deliver_then_release(self, tenant: str, job_id: str, ident: str) -> None:
        try:
            self.deliver(tenant, job_id, ident)
        except Exception:  # noqa: BLE001 - one delivery's trouble must not stop the others; it is retried
            log.exception("webhook_delivery_crashed", delivery_id=ident)
        finally:
            self._busy.release()

    def deliver(self, tenant: str, job_id: str, ident: str) -> None:
        record = self.deliveries.get(tenant, job_id, ident)
        if record is None or record["status"] != "pending":
            self.deliveries.forget(tenant, job_id, ident)  # the job was deleted, or a duplicate lease
            return
        started = time.monotonic()
        attempt: dict = {"at": now(), "ok": False, "status_code": None, "error": None}
        permanent = False
        try:
            target = check(record["url"], self.allow, self.resolve)
            status = self._post(target, record, tenant)
            attempt.update(status_code=status, ok=200 <= status < 300)
            if not attempt["ok"]:
                attempt["error"] = f"the receiver answered {status}"
        except TargetRefused as exc:
            attempt["error"], permanent = f"refused: {exc}", True
        except httpx.HTTPError as exc:
            attempt["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        attempt["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        done = int(record.get("attempt_count", 0))
        retry = None if attempt["ok"] or permanent or done >= len(self.delays) else self.delays[done]
        self.deliveries.record_attempt(tenant, job_id, ident, attempt, retry)
        log.info(
            "webhook_attempt",
            delivery_id=ident,
            job_id=job_id,
            ok=attempt["ok"],
            status_code=attempt["status_code"],
            error=attempt["error"],
            retry_in_s=retry,
        )

    def _post(self, target: Target, record: dict, tenant: str) -> int:
        parts = urlsplit(record["url"])
        address = target.addresses[0]
        pinned = f"[{address}]" if ":" in address else address
        url = urlunsplit((parts.scheme, f"{pinned}:{target.port}", parts.path or "/", parts.query, ""))
        moment = datetime.now(UTC)
        secrets_ = [entry["secret"] for entry in self.secrets.active(tenant)]
        headers = {
            "Host": parts.netloc.rsplit("@", 1)[-1],
            "Content-Type": "application/json",
            "webhook-id": record["id"],
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature_header(secrets_, record["id"], moment, record["body"]),
        }
        # The connection goes to the checked address; TLS still verifies the certificate of the name.
        response = self.http.post(
            url,
            content=record["body"].encode(),
            headers=headers,
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        return response.status_code
