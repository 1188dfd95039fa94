"""Fixtures of the local runtime tests (scones/local): the small fixture app."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """tests/local/fixtures: flaky_app, a small SAM app for the local stack itself."""
    return FIXTURES
