"""The README's settings table and docker-compose.yml speak of the settings that exist."""
from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings

ROOT = Path(__file__).parent.parent


def env_name(field: str) -> str:
    return f"LSTM_DOCTOR_{field.upper()}"


def test_every_setting_is_in_the_readme_table():
    readme = ROOT.joinpath("README.md").read_text()
    table = readme[readme.index("## Settings"):]
    missing = [env_name(f) for f in Settings.model_fields if env_name(f) not in table]
    assert missing == []


def test_compose_uses_only_real_settings():
    compose = ROOT.joinpath("docker-compose.yml").read_text()
    used = set(re.findall(r"\bLSTM_DOCTOR_[A-Z_]+\b", compose))
    known = {env_name(f) for f in Settings.model_fields}
    assert used and used <= known, used - known
