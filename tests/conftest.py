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


def write_untrained_artifact(out: Path, *, temperature: float = 1.5, seed: int = 0) -> Path:
    """A real model.tar.gz (random weights, 2 members) from the packaging code, no training.
    A small temperature spreads its probabilities (different images, clearly different
    answers) without training."""
    import torch

    from model.inference import CalibratedEnsemble, build_network
    from model.package import write_artifact

    torch.manual_seed(seed)
    members = [build_network(2, [8, 8, 16]).eval() for _ in range(2)]
    model = CalibratedEnsemble(members, temperature=temperature)
    metadata = {
        "labels": ["bicycle", "motorcycle"], "input_size": 32,
        "network": {"arch": "resnet8", "widths": [8, 8, 16], "members": 2},
        "temperature": temperature, "tta_flip": True, "threshold": 0.93, "seed": seed,
        "training_seconds": 0.0, "metrics": {}, "created": "2026-01-01T00:00:00Z",
        "model_version": "20260101-untrained",
    }
    return write_artifact(out, model, metadata, {"labels": metadata["labels"]})


@pytest.fixture(scope="session")
def untrained_artifact(tmp_path_factory) -> Path:
    """The project's own model.tar.gz (untrained, temperature 1.5) for serving tests."""
    return write_untrained_artifact(tmp_path_factory.mktemp("artifact") / "model.tar.gz")


@pytest.fixture(scope="session")
def untrained_artifact_factory(tmp_path_factory):
    """``make(temperature=..., seed=...) -> model.tar.gz`` written by the packaging code."""

    def make(**options) -> Path:
        return write_untrained_artifact(
            tmp_path_factory.mktemp("artifact") / "model.tar.gz", **options)

    return make
