"""Fixtures of the report tests (scones/monitor; builders live in tests/monitor_fixtures.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from monitor_fixtures import make_baseline


@pytest.fixture
def baseline_file(tmp_path) -> Path:
    """baseline.json in the trainer's exact schema (200 validation-like inferences)."""
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(make_baseline()))
    return path
