"""docker-compose.yml is the real deployment, checked without a Docker engine: it validates
against the Compose specification's JSON schema (vendored in tests/schemas/), every
LSTM_DOCTOR_* variable it sets is a real setting, and it keeps the promises of README
"Scaling out": no shared volume, the API image without TensorFlow, healthchecks, workers
stopped only after their job's time limit."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from core.redis_client import parse_sentinel_url
from core.settings import Settings

ROOT = Path(__file__).parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("api", "worker-gpu", "worker-cpu")


def duration_s(value: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value))


def test_compose_file_follows_the_compose_specification():
    schema = json.loads((ROOT / "tests" / "schemas" / "compose-spec.json").read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(COMPOSE), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_is_not_vacuous():
    schema = json.loads((ROOT / "tests" / "schemas" / "compose-spec.json").read_text())
    broken = {"services": {"api": {"image": "x", "healthcheck": {"test": 5}, "restart_policy": "always"}}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_every_lstm_doctor_variable_is_a_real_setting():
    known = {f"LSTM_DOCTOR_{name.upper()}" for name in Settings.model_fields}
    set_here = {name for service in SERVICES.values() for name in (service.get("environment") or {})
                if name.startswith("LSTM_DOCTOR_")}
    interpolated = set(re.findall(r"\$\{(LSTM_DOCTOR_[A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert set_here and set_here <= known, set_here - known
    assert interpolated <= known, interpolated - known
    # And the values parse: the settings class accepts what compose passes (defaults filled in).
    environment = {k: re.sub(r"\$\{[A-Z_]+:[-?]([^}]*)\}", r"\1", str(v))
                   for k, v in SERVICES["worker-gpu"]["environment"].items() if k.startswith("LSTM_DOCTOR_")}
    settings = Settings(**{k.removeprefix("LSTM_DOCTOR_").lower(): v for k, v in environment.items()}, _env_file=None)
    assert settings.blob_url and settings.blob_url.startswith("s3://") and settings.worker_queues == "gpu"


def test_no_volume_is_shared_and_no_host_directory_is_mounted():
    users: dict[str, list[str]] = {}
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            assert not source.startswith((".", "/")), f"{name} mounts a host path {source}"
            users.setdefault(source, []).append(name)
    assert {v: s for v, s in users.items() if len(s) > 1} == {}
    assert set(users) == set(COMPOSE["volumes"])


def test_long_running_services_have_healthchecks_and_the_app_waits_for_its_dependencies():
    for name, service in SERVICES.items():
        if name == "minio-init":
            assert service["restart"] == "no"
            continue
        assert "healthcheck" in service, name
    for name in APP_SERVICES:
        depends = SERVICES[name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["minio-init"]["condition"] == "service_completed_successfully"
    assert "mc mb" in " ".join(SERVICES["minio-init"]["entrypoint"])


def test_api_image_has_no_tensorflow_and_workers_have_their_own():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = dict(re.findall(r"^FROM \S+ AS (\S+)\n(.*?)(?=^FROM |\Z)", dockerfile, flags=re.M | re.S))
    assert SERVICES["api"]["build"]["target"] == "api"
    assert "tensorflow" not in stages["api"] and "[worker]" not in stages["api"]
    assert "[worker]" in stages[SERVICES["worker-cpu"]["build"]["target"]]
    assert "and-cuda" in stages[SERVICES["worker-gpu"]["build"]["target"]]
    gpu = SERVICES["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and SERVICES["worker-gpu"]["environment"]["LSTM_DOCTOR_WORKER_CONCURRENCY"] == "1"


def test_workers_are_never_stopped_before_their_job_time_limit():
    for name in ("worker-gpu", "worker-cpu"):
        service = SERVICES[name]
        limit = int(service["environment"]["LSTM_DOCTOR_JOB_SOFT_TIME_LIMIT_S"])
        assert duration_s(service["stop_grace_period"]) > limit + 60, name


@pytest.mark.parametrize("line", [text for text in (ROOT / "docker-compose.yml").read_text().splitlines()
                                  if "redis+sentinel://" in text])
def test_the_documented_sentinel_url_names_the_sentinels_of_the_ha_profile(line):
    url = re.search(r"redis\+sentinel://\S+", line).group(0)
    target = parse_sentinel_url(url)
    assert target is not None and target.service == "mymaster"
    for host, port in target.sentinels:
        assert host in SERVICES and "ha" in SERVICES[host]["profiles"] and port == 26379
    assert "redis-replica" in SERVICES and "--replicaof" in SERVICES["redis-replica"]["command"]
