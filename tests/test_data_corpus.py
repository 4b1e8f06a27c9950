"""The committed malformed corpus, answered as tests/corpus/malformed/EXPECTED.json says."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.data import DatasetError, inspect_dataset, resolve_spec
from core.job_config import DataConfig
from tests.helpers import GOOD

MALFORMED = Path(__file__).parent / "corpus" / "malformed"
TABLE = json.loads((MALFORMED / "EXPECTED.json").read_text())
CASES = TABLE["cases"]


def _id(case: dict) -> str:
    return f"{case['stage']}:{case['file']}:{case.get('task', '')}:{json.dumps(case.get('data', {}))}"


def test_corpus_is_big_enough_and_complete():
    files = {p.name for p in MALFORMED.iterdir()} - {"EXPECTED.json"}
    assert len(files) >= 15
    assert files == {c["file"] for c in CASES}, "every corpus file has an expectation, and vice versa"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_malformed_file_is_answered_as_expected(case):
    path = MALFORMED / case["file"]
    if case["stage"] == "upload":
        with pytest.raises(DatasetError) as caught:
            inspect_dataset(path, case["file"], max_bytes=TABLE["max_bytes"])
    else:
        info = inspect_dataset(path, case["file"], max_bytes=TABLE["max_bytes"])  # the upload is fine
        with pytest.raises(DatasetError) as caught:
            resolve_spec(path, info["format"], DataConfig(**case["data"]), case["task"])
        assert caught.value.errors[0]["loc"] == case["loc"]
    err = caught.value
    assert (err.status, case["detail"] in err.detail) == (case["status"], True), err.detail
    assert err.title and err.detail.strip()


@pytest.mark.parametrize("name", sorted(p.name for p in GOOD.iterdir()))
def test_good_files_are_accepted(name):
    info = inspect_dataset(GOOD / name, name, max_bytes=TABLE["max_bytes"])
    assert info["format"] == Path(name).suffix.lstrip(".")
