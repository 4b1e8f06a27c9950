"""The job configs shown in the README are valid configs (docs that drift are worse than none)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from core.job_config import JobConfig

README = Path(__file__).parent.parent / "README.md"


def test_readme_job_examples_validate():
    blocks = re.findall(r"```json\n(.*?)```", README.read_text(), flags=re.S)
    configs = [json.loads(block) for block in blocks if '"dataset_id"' in block]
    assert {c["task"] for c in configs} == {"binary_classification", "multiclass_classification", "regression"}
    for config in configs:
        JobConfig.model_validate(config)
