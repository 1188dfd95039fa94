"""Fixtures of the local runtime tests (scones/local): the small fixture app."""

from __future__ import annotations

from pathlib import Path

import pytest

from scones.local.stack import LocalStack

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """tests/local/fixtures: flaky_app, a small SAM app for the local stack itself."""
    return FIXTURES


@pytest.fixture
def flaky_stack(fixtures_dir):
    """The fixture app deployed in moto: FlowStateMachine (Flaky, then Shout), flaky-bucket."""
    with LocalStack(template=fixtures_dir / "flaky_app/template.yaml",
                    state_machine="FlowStateMachine", bucket="flaky-bucket") as stack:
        yield stack
