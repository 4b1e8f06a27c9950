"""Bounds as a library (issue 13): the cost model against models Keras builds, windows as views,
the memory guard, min/max downsampling, the plot cache's byte bound, Parquet decode bounds and
the column cap, and the retention sweep against a real Redis. No HTTP here (see
test_hostile_inputs.py)."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core import quota
from core.blobs import LocalBlobStore
from core.blobs import keys as blob_keys
from core.cost import estimate, over_budget
from core.data import DatasetError, inspect_dataset, prepare_arrays
from core.datasets import DatasetStore
from core.diagnoses import DiagnosisStore
from core.job_config import DataConfig, JobConfig
from core.jobs import JobStore
from core.retention import Retention, sweep
from core.settings import Settings
from diagnosis.downsample import min_max
from diagnosis.plots import render_metric
from service.plot_cache import PlotCache
from tests.helpers import csv_bytes

SETTINGS = Settings(_env_file=None)


def config(**parts) -> JobConfig:
    return JobConfig.model_validate({"dataset_id": "ds_test", **parts})


SPEC = {
    "format": "csv",
    "timesteps": 24,
    "n_features": 3,
    "train_samples": 800,
    "val_samples": 200,
    "classes": 4,
    "outputs": None,
    "window": 24,
    "horizon": 0,
}


@pytest.mark.parametrize(
    "parts, outputs",
    [
        ({}, 1),
        (
            {
                "task": "multiclass_classification",
                "model": {"layers": [{"units": 16, "bidirectional": True}, {"units": 8}], "dense": [12, 6]},
            },
            4,
        ),
        ({"task": "regression", "model": {"layers": [{"units": 7}, {"units": 5, "bidirectional": True}]}}, 1),
    ],
)
def test_parameter_count_is_what_keras_builds(parts, outputs):
    from worker.model import build_model

    job = config(**parts)
    model = build_model(job, SPEC["timesteps"], SPEC["n_features"], outputs)
    assert estimate(job, SPEC, SETTINGS).parameters == model.count_params()


def test_hostile_configs_are_over_budget_with_field_estimate_and_limit():
    huge_model = config(model={"layers": [{"units": 1024}] * 8, "dense": [1024] * 8})
    errors = over_budget(huge_model, SPEC, estimate(huge_model, SPEC, SETTINGS), SETTINGS)
    assert errors[0]["loc"] == ["body", "model"] and "LSTM_DOCTOR_MAX_PARAMS" in errors[0]["msg"]

    giant_batch = config(training={"batch_size": 65_536}, model={"layers": [{"units": 512}]})
    long_spec = {**SPEC, "timesteps": 2000, "train_samples": 1_000_000}
    errors = over_budget(giant_batch, long_spec, estimate(giant_batch, long_spec, SETTINGS), SETTINGS)
    memory = next(e for e in errors if "MiB" in e["msg"])
    assert memory["loc"] == ["body", "training", "batch_size"]
    assert "LSTM_DOCTOR_MAX_JOB_MEMORY_MB" in memory["msg"] and "2,048 MiB" in memory["msg"]

    # The 100 MiB two-column CSV windowed 1000 deep: rows × features memory (no window
    # copies), but an epoch of 9.4 M windows of 1000 steps is far past the time limit.
    windowed = config(data={"target": "label", "window": 1000})
    big_table = {**SPEC, "timesteps": 1000, "n_features": 1, "train_samples": 7_600_000, "val_samples": 1_900_000}
    est = estimate(windowed, big_table, SETTINGS)
    assert est.data_mb < 300
    errors = over_budget(windowed, big_table, est, SETTINGS)
    assert [e["loc"] for e in errors] == [["body", "training", "epochs"]]


def test_the_classic_job_is_tiny():
    est = estimate(config(), {**SPEC, "timesteps": 1, "n_features": 1, "classes": 2}, SETTINGS)
    assert est.parameters == 146 and est.memory_mb < 1 and est.total_seconds < 10


def test_windows_are_views_of_the_rows_never_copies(tmp_path):
    rows, window = 5_000, 500
    path = tmp_path / "long.csv"
    path.write_bytes(csv_bytes({"x": np.arange(rows, dtype=float), "y": np.arange(rows) % 2}))
    prepared = prepare_arrays(
        path, "csv", DataConfig(target="y", features=["x"], window=window, horizon=1), "binary_classification"
    )
    assert prepared.rows is not None and prepared.rows.shape == (rows, 1)
    assert np.shares_memory(prepared.X_train, prepared.rows) and np.shares_memory(prepared.X_val, prepared.rows)
    samples = len(prepared.X_train) + len(prepared.X_val)
    assert samples == rows - window  # window 500, horizon 1
    # A copy would be samples × window floats (~9 MB); the base is the rows alone.
    assert prepared.rows.nbytes == rows * 4


def test_window_batches_gather_what_the_views_show(tmp_path):
    from worker import fast_input

    if not fast_input.available():
        pytest.skip("the windowed pipeline is TensorFlow's")
    rows = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(15, dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(rows, 4, axis=0).transpose(0, 2, 1)
    batches = list(fast_input.window_batches(rows, 4, 2, y[:15], 6, shuffle=False, seed=0))
    X = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_array_equal(X, view[2:17])
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), y)


def test_memory_guard_raises_past_the_budget():
    from worker.callbacks import MemoryBudgetExceeded, MemoryGuard

    used = [100]
    guard = MemoryGuard(budget_bytes=50, baseline=100, measure=lambda: used[0])
    guard.check()
    used[0] = 151
    with pytest.raises(MemoryBudgetExceeded, match="LSTM_DOCTOR_MAX_JOB_MEMORY_MB"):
        guard.on_epoch_end(0)


def test_min_max_keeps_extremes_gaps_and_ends():
    x = np.arange(1, 10_001)
    y = np.sin(x / 300.0)
    y[5000] = 40.0  # a one-epoch spike
    y[7000:7010] = np.nan  # a gap
    xs, ys = min_max(x, y, 2000)
    assert len(xs) <= 2100 and xs[0] == 1 and xs[-1] == 10_000
    assert np.nanmax(ys) == 40.0 and np.nanmin(ys) == np.nanmin(y)
    assert np.isnan(ys).any()
    assert np.all(np.diff(xs) > 0)
    short_x, short_y = min_max(x[:50], y[:50], 2000)
    assert len(short_x) == 50


def test_long_histories_render_fast_and_small_with_odd_metric_names():
    rng = np.random.default_rng(0)
    runs = [
        {
            "loss": list(1 / np.arange(1, 6001) + rng.random(6000) * 0.01),
            "val_loss": list(1.2 / np.arange(1, 6001) + rng.random(6000) * 0.01),
            "$\\fakecmd$": list(rng.random(6000)),
        }
        for _ in range(20)
    ]
    started = time.perf_counter()
    svg = render_metric(runs, "loss", None, fmt="svg")
    assert len(svg) < 3 * 2**20, len(svg)
    png = render_metric(runs, "$\\fakecmd$", None, fmt="png")
    assert png.startswith(b"\x89PNG")
    assert time.perf_counter() - started < 120  # a sanity bound on a loaded machine, not a benchmark


def test_plot_cache_is_bounded_in_bytes():
    cache = PlotCache(max_items=100, max_bytes=1000)
    for i in range(10):
        cache.get_or_render(i, lambda: b"x" * 300)
    assert cache.bytes <= 1000 and len(cache._items) == 3
    assert cache.get_or_render("huge", lambda: b"y" * 5000) == b"y" * 5000  # served, not kept
    assert cache.bytes <= 1000


def test_parquet_dictionary_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.parquet"
    rows = 300_000
    text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * 4000]))
    pq.write_table(pa.table({"x": np.arange(rows, dtype=float), "note": text}), path, compression="zstd")
    assert path.stat().st_size < 2 * 2**20
    started = time.perf_counter()
    with pytest.raises(DatasetError) as caught:
        inspect_dataset(path, "bomb.parquet", max_bytes=100 * 2**20)
    assert caught.value.status == 413 and "decode" in caught.value.detail
    assert time.perf_counter() - started < 30


def test_parquet_with_short_dictionary_strings_is_accepted(tmp_path):
    path = tmp_path / "labels.parquet"
    labels = pa.array(["up", "down"] * 5000).dictionary_encode()
    pq.write_table(pa.table({"x": np.arange(10_000, dtype=float), "move": labels}), path)
    assert inspect_dataset(path, "labels.parquet", max_bytes=100 * 2**20)["rows"] == 10_000


def test_column_cap_is_checked_from_the_header(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(3000)) + "\n" + ",".join("1" * 3000) + "\n")
    with pytest.raises(DatasetError) as caught:
        inspect_dataset(path, "wide.csv", max_bytes=2**30, max_columns=2048)
    assert caught.value.status == 422 and "LSTM_DOCTOR_MAX_COLUMNS" in caught.value.detail


def test_wide_csv_under_the_cap_reads_text_found_late(tmp_path):
    """Numeric columns are converted by pyarrow; a column that turns to text after the first
    block is re-read as text, with its row, exactly as before."""
    rows = 40_000
    columns = {f"c{i}": np.arange(rows) % 7 for i in range(30)}
    path = tmp_path / "late_text.csv"
    body = csv_bytes(columns).decode().splitlines()
    cells = body[35_001].split(",")
    cells[3] = "oops"
    body[35_001] = ",".join(cells)
    path.write_text("\n".join(body) + "\n")
    info = inspect_dataset(path, "late_text.csv", max_bytes=2**30, max_columns=2048)
    assert info["rows"] == rows
    from core.data.tables import scan_table

    facts = scan_table(path, "csv", max_bytes=2**30).column("c3")
    assert facts.kind == "text" and facts.text_row == 35_001 and facts.text_value == "oops"


def test_retention_sweep_removes_records_and_blobs(redis_client, tmp_path):
    blobs = LocalBlobStore(tmp_path / "blobs")
    jobs, datasets, diagnoses = JobStore(redis_client), DatasetStore(redis_client), DiagnosisStore(redis_client)
    retention = Retention(redis_client, retention_s=60)
    tenant = "retention-test"
    source = tmp_path / "d.csv"
    source.write_bytes(b"x,y\n1,2\n")
    key = blob_keys.dataset(tenant, "ds_000000000000aaaaaaaaaaaa")
    blobs.put_file(key, source)
    expires, _ = retention.expires_at()
    # Each record's expiry is written in the transaction that writes the record.
    datasets.create(tenant, {"id": "ds_000000000000aaaaaaaaaaaa", "sha256": "abc", "size_bytes": 8}, expires_ts=expires)
    diagnoses.create(tenant, {"id": "dx_000000000000aaaaaaaaaaaa"}, expires_ts=expires)
    # A write refused by its quota leaves no expiry behind.
    with pytest.raises(quota.Full):
        diagnoses.create(tenant, {"id": "dx_000000000000bbbbbbbbbbbb"}, max_count=1, expires_ts=expires)
    assert retention.due(expires + 1) == [("dataset", tenant, "ds_000000000000aaaaaaaaaaaa"),
                                          ("diagnosis", tenant, "dx_000000000000aaaaaaaaaaaa")]
    assert datasets.stored_bytes(tenant) == 8
    assert sweep(retention, jobs, datasets, diagnoses, blobs) == 0  # not yet
    assert sweep(retention, jobs, datasets, diagnoses, blobs, now=expires + 1) == 2
    assert datasets.get(tenant, "ds_000000000000aaaaaaaaaaaa") is None
    assert diagnoses.get(tenant, "dx_000000000000aaaaaaaaaaaa") is None
    assert not blobs.exists(key)
    assert datasets.stored_bytes(tenant) == 0 and diagnoses.count(tenant) == 0
    assert retention.due(expires + 1) == []


def _outcome(call, *args):
    try:
        return "ok", call(*args)
    except DatasetError as e:
        return e.status, e.detail, e.errors


def test_profile_stored_at_upload_resolves_like_the_file(tmp_path):
    """Every job config of the corpus, and random label layouts, resolved from the upload-time
    profile give exactly what resolving from the file gives (or the profile defers to the file)."""
    import json
    from pathlib import Path

    from core.data import resolve_from_profile, resolve_spec

    corpus = Path(__file__).parent / "corpus"
    cases = json.loads((corpus / "malformed" / "EXPECTED.json").read_text())["cases"]
    checks = [
        (corpus / "malformed" / c["file"], c["task"], c["data"])
        for c in cases
        if c["stage"] == "job" and not c["file"].endswith(".npz")
    ]
    rng = np.random.default_rng(5)
    for i in range(40):
        rows = int(rng.integers(8, 400))
        kind = rng.integers(0, 3)
        label = (
            rng.integers(0, int(rng.integers(1, 5)), rows)
            if kind
            else np.where(np.arange(rows) < rng.integers(0, rows), "a", rng.choice(["b", "c"], rows))
        )
        path = tmp_path / f"random{i}.csv"
        path.write_bytes(csv_bytes({"x": np.round(rng.random(rows), 3), "label": label}))
        task = ["binary_classification", "multiclass_classification", "regression"][int(rng.integers(0, 3))]
        data = {
            "target": "label",
            "window": int(rng.integers(1, 6)),
            "horizon": int(rng.integers(0, 3)),
            "validation_split": float(rng.choice([0.0, 0.2, 0.5, 0.9])),
        }
        checks.append((path, task, data))
    decided = 0
    for path, task, data in checks:
        fmt = "parquet" if path.suffix == ".parquet" else "csv"
        info = inspect_dataset(path, path.name, max_bytes=2**30, profile=True)
        config = DataConfig.model_validate(data)
        from_profile = _outcome(resolve_from_profile, info["profile"], config, task)
        if from_profile == ("ok", None):
            continue  # deferred to the file
        decided += 1
        assert from_profile == _outcome(resolve_spec, path, fmt, config, task), (path.name, task, data)
    assert decided >= len(checks) * 3 // 4


def test_job_counts_are_kept_as_jobs_change_and_a_scrape_scans_nothing(tmp_path):
    import redis

    from core.embedded_redis import EmbeddedRedis
    from core.job_record import JobStatus
    from core.lifecycle import Lifecycle
    from service.metrics import Metrics
    from tests.helpers import store_job

    with EmbeddedRedis(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        jobs, lifecycle = JobStore(client), Lifecycle(client)
        config = {"training": {"repeats": 1, "epochs": 2, "seed": 0}}
        ids = {}
        for tenant in ("a", "b"):
            DatasetStore(client).create(tenant, {"id": "ds_x", "sha256": "0" * 64, "format": "csv", "size_bytes": 1})
            ids[tenant] = [store_job(client, tenant, "ds_x", config) for _ in range(4)]
        a0, a1, b0 = jobs.get("a", ids["a"][0]), jobs.get("a", ids["a"][1]), jobs.get("b", ids["b"][0])
        claim = lifecycle.claim("a", a0, "test:0", {"type": "cpu"})
        lifecycle.finish(claim, JobStatus.SUCCEEDED, verdict="good_fit")
        assert lifecycle.cancel("a", a1)
        assert lifecycle.claim("a", jobs.get("a", a1.id), "test:0", {}) is None  # refused: counts must not move
        lifecycle.delete("b", b0)
        lifecycle.delete("b", b0)  # twice: counted out once
        assert jobs.counts() == jobs.count_by_status() == {
            "queued": 5, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 1}
        scans = int(client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))
        scraped = Metrics(client).render().decode()
        assert 'lstm_doctor_jobs{status="queued"} 5.0' in scraped
        assert int(client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)) == scans
        # A keyspace from before the counts existed is counted once, then kept.
        client.delete("ld:job-counts")
        assert jobs.counts()["queued"] == 5


def test_a_trainer_past_its_memory_budget_fails_with_resource_limit(tmp_path, monkeypatch):
    """The runner's path with a real Redis, blob store and dataset: a budget nothing fits in
    (the guard's slack made negative) fails the job with `resource_limit` instead of training."""
    import hashlib

    import redis

    from core.blobs import open_blob_cache
    from core.embedded_redis import EmbeddedRedis
    from core.lifecycle import Lifecycle
    from tests.helpers import classic_csv, store_job
    from worker import runner

    monkeypatch.setattr(runner, "JOB_MEMORY_SLACK_BYTES", -1)
    with EmbeddedRedis(tmp_path / "redis") as server:
        settings = Settings(redis_url=server.url, data_dir=tmp_path, max_job_memory_mb=0, log_level="WARNING",
                            _env_file=None)
        client = redis.Redis.from_url(server.url, decode_responses=True)
        jobs, datasets, cache = JobStore(client), DatasetStore(client), open_blob_cache(settings)
        content = classic_csv(rows=200)
        staged = tmp_path / "staged.csv"
        staged.write_bytes(content)
        sha = hashlib.sha256(content).hexdigest()
        ds = "ds_000000000000bbbbbbbbbbbb"
        cache.put(blob_keys.dataset("t", ds), staged, sha)
        datasets.create("t", {"id": ds, "sha256": sha, "format": "csv", "size_bytes": len(content)})
        config = JobConfig.model_validate({"dataset_id": ds, "data": {"target": "label"},
                                                        "training": {"epochs": 2}})
        job = store_job(client, "t", ds, config.model_dump(mode="json"))
        lifecycle = Lifecycle(client, heartbeat_ttl_s=settings.heartbeat_ttl_s)
        runner.JobRunner(settings, jobs, lifecycle, datasets, cache, "test-host").run("t", job)
        record = jobs.get("t", job)
        assert record.status == "failed" and record.error["type"] == "resource_limit", record.error
        assert "LSTM_DOCTOR_MAX_JOB_MEMORY_MB" in record.error["message"]
        assert jobs.history("t", job, config.training.repeats) == [[]]
