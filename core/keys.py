"""The Redis key layout. Nothing else in the code base spells a key.

Everything a tenant owns lives under ``ld:t:{tenant}:`` so that isolation is a property of the
key, not of a check someone might forget. Celery's own keys (broker queues, results) are Celery's.
"""

from __future__ import annotations

PREFIX = "ld"


def _tenant(tenant: str) -> str:
    return f"{PREFIX}:t:{tenant}"


# Datasets
def dataset(tenant: str, dataset_id: str) -> str:
    return f"{_tenant(tenant)}:ds:{dataset_id}"


def dataset_index(tenant: str) -> str:
    """Sorted set of dataset ids scored by creation time (newest-first listing)."""
    return f"{_tenant(tenant)}:ds-index"


def dataset_by_sha(tenant: str, sha256: str) -> str:
    return f"{_tenant(tenant)}:ds-sha:{sha256}"


def datasets_storing() -> str:
    """Sorted set of "tenant/dataset_id" whose bytes an upload is storing, scored by when it began:
    the record's transaction removes the entry, so one left past a grace is an orphan (the upload's
    process died between storing the bytes and writing the record): ``core.orphans``."""
    return f"{PREFIX}:ds-storing"


def blob_purges() -> str:
    """Set of blob prefixes to delete (a deleted job's model files), added by the script that
    deletes the record: whoever deletes the files removes the entry, and one left behind by a
    process that died in between is finished by ``core.orphans``."""
    return f"{PREFIX}:blob-purges"


def dataset_profile(tenant: str, dataset_id: str) -> str:
    """JSON of the table's column facts (and few-valued columns' labels) found at upload: what
    job configs are checked against at submit, without reading the file again."""
    return f"{_tenant(tenant)}:ds-profile:{dataset_id}"


def dataset_users(tenant: str, dataset_id: str) -> str:
    """Set of ids of queued/running jobs that use the dataset (it cannot be deleted meanwhile)."""
    return f"{_tenant(tenant)}:ds-users:{dataset_id}"


# Jobs
def job(tenant: str, job_id: str) -> str:
    """Hash: one field per job attribute, JSON-encoded, so API and worker update fields independently."""
    return f"{_tenant(tenant)}:job:{job_id}"


def job_index(tenant: str) -> str:
    return f"{_tenant(tenant)}:job-index"


def job_history(tenant: str, job_id: str, run: int) -> str:
    """List of per-epoch metric dicts for one run, appended as epochs finish."""
    return f"{_tenant(tenant)}:job:{job_id}:run:{run}"


def job_health(tenant: str, job_id: str, run: int) -> str:
    """List of per-epoch health records for one run (epoch 0 first: before training)."""
    return f"{_tenant(tenant)}:job:{job_id}:run:{run}:health"


def job_diagnosis(tenant: str, job_id: str) -> str:
    return f"{_tenant(tenant)}:job:{job_id}:diagnosis"


def job_cancel(tenant: str, job_id: str) -> str:
    """Flag the training callback polls between batches."""
    return f"{_tenant(tenant)}:job:{job_id}:cancel"


def job_events(tenant: str, job_id: str) -> str:
    """Pub/sub channel of the job's live events."""
    return f"{_tenant(tenant)}:job:{job_id}:events"


def tenant_streams(tenant: str) -> str:
    """Sorted set of the tenant's open event streams, fleet-wide: member a stream id, score the
    lease's end (ms since the epoch); a stream of a process that died drops out when it lapses."""
    return f"{_tenant(tenant)}:streams"


def job_events_pattern() -> str:
    """Every job's event channel, all tenants: what an API process' one pub/sub listens to."""
    return f"{_tenant('*')}:job:*:events"


def job_heartbeat(tenant: str, job_id: str) -> str:
    """Expiring key a running job refreshes; its absence means the worker vanished."""
    return f"{_tenant(tenant)}:job:{job_id}:heartbeat"


def active_jobs(tenant: str) -> str:
    """Set of the tenant's queued and running job ids (queue limits, reaper)."""
    return f"{_tenant(tenant)}:active-jobs"


def job_event_log(tenant: str, job_id: str) -> str:
    """Stream of the job's recorded events (status changes, epochs): the JSON event list's source,
    its entry ids the list's cursor."""
    return f"{_tenant(tenant)}:job:{job_id}:event-log"


def job_models(tenant: str, job_id: str) -> str:
    """Hash: run number -> JSON record of the run's saved model (blob name, digest, preprocessing)."""
    return f"{_tenant(tenant)}:job:{job_id}:models"


def job_deliveries(tenant: str, job_id: str) -> str:
    """Hash: webhook delivery id -> JSON delivery record (event, payload, attempts, state)."""
    return f"{_tenant(tenant)}:job:{job_id}:deliveries"


def prediction(tenant: str, prediction_id: str) -> str:
    """A prediction request and, once a worker answered, its result (expires)."""
    return f"{_tenant(tenant)}:pred:{prediction_id}"


def webhook_secrets(tenant: str) -> str:
    """JSON list of the tenant's webhook signing secrets, newest first, each with its expiry."""
    return f"{_tenant(tenant)}:webhook-secrets"


def webhook_due() -> str:
    """Sorted set of "tenant/job_id/delivery_id" scored by when the next attempt is due, across
    tenants: what every worker's webhook dispatcher polls."""
    return f"{PREFIX}:webhook-due"


def idempotency(tenant: str, key: str) -> str:
    return f"{_tenant(tenant)}:idem:{key}"


# External diagnoses
def diagnosis(tenant: str, diagnosis_id: str) -> str:
    return f"{_tenant(tenant)}:dx:{diagnosis_id}"


def diagnosis_index(tenant: str) -> str:
    """Sorted set of the tenant's stored diagnosis ids (quota counts)."""
    return f"{_tenant(tenant)}:dx-index"


def usage(tenant: str) -> str:
    """Hash of the tenant's running totals (``dataset_bytes``), kept as records come and go."""
    return f"{_tenant(tenant)}:usage"


def expiry() -> str:
    """Sorted set of ``expiry_member``s scored by the time the record expires (retention sweep)."""
    return f"{PREFIX}:expiry"


def expiry_member(kind: str, tenant: str, record_id: str) -> str:
    """A record's entry in ``expiry()``: written in the same step as the record itself."""
    return f"{kind}/{tenant}/{record_id}"


def job_counts() -> str:
    """Hash of job counts by status across tenants, kept as jobs change state (/metrics)."""
    return f"{PREFIX}:job-counts"


def job_counts_rebuild() -> str:
    """Lock of the one-off count of a keyspace that has no job counts yet."""
    return f"{PREFIX}:job-counts-rebuild"


def running_jobs() -> str:
    """Set of "tenant/job_id" of every running job, across tenants: what the reaper watches."""
    return f"{PREFIX}:running"


def outbox() -> str:
    """Sorted set of "tenant/job_id" of queued jobs, scored by when to check (ms) that a queue
    still holds their message; an entry leaves when a trainer claims the job."""
    return f"{PREFIX}:outbox"


# Workers (not tenant-scoped: they serve everybody)
def worker(hostname: str) -> str:
    return f"{PREFIX}:worker:{hostname}"


def worker_names() -> str:
    """Set of worker hostnames that announced themselves; each one's record expires on its own."""
    return f"{PREFIX}:workers"


# Scans across tenants (operations: /metrics counts jobs of every tenant)
def job_index_pattern() -> str:
    return f"{_tenant('*')}:job-index"


def tenant_of(key: str) -> str:
    """The tenant a tenant-scoped key belongs to (tenant names never contain ':')."""
    return key.split(":", 3)[2]
