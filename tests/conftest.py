"""Fixtures shared by every test folder.

Each folder (tests/functions, tests/model, tests/local, tests/monitor) keeps its own
conftest.py for what only it needs. Network: pytest-socket allows loopback only (see
pyproject.toml addopts), so nothing here can reach AWS.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get(
        "SCONES_SHARED_DATA", REPO_ROOT.parent / "shared" / "data" / "cifar100-bicycle-motorcycle"
    )
)


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    """Fake credentials and region: no test may ever talk to a real AWS account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real CIFAR-100 bicycle/motorcycle PNGs beside the checkout (read-only)."""
    if not (SHARED_DATA / "train.lst").exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def untrained_artifact(tmp_path_factory) -> Path:
    """The project's own model.tar.gz (untrained, temperature 1.5) for serving tests."""
    from model.package import write_untrained_artifact

    return write_untrained_artifact(tmp_path_factory.mktemp("artifact") / "model.tar.gz")


@pytest.fixture(scope="session")
def untrained_artifact_factory(tmp_path_factory):
    """``make(temperature=..., seed=...) -> model.tar.gz`` written by the packaging code."""
    from model.package import write_untrained_artifact

    def make(**options) -> Path:
        return write_untrained_artifact(
            tmp_path_factory.mktemp("artifact") / "model.tar.gz", **options)

    return make
