"""The real SageMaker PyTorch serving toolkit beside `scones serve`, both over one artifact.

The toolkit (sagemaker-pytorch-inference + TorchServe) lives in its own virtualenv, made by
`make serving-venv` (`make test` makes it first). Without it these tests skip on a developer
machine and FAIL in CI (CI=true): the contract must never go silently unchecked there.
"""

from __future__ import annotations

import os

import pytest

from scones.serving.endpoint import start_endpoint
from scones.serving.toolkit import ToolkitNotInstalled, ToolkitServer, serving_python

# a small temperature spreads the untrained model's probabilities: a wrong image or a wrong
# preprocessing step shows up as a clearly different answer
SERVING_TEMPERATURE = 0.05


def require_toolkit() -> None:
    try:
        serving_python()
    except ToolkitNotInstalled as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the serving tier: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def serving_artifact(untrained_artifact_factory):
    return untrained_artifact_factory(temperature=SERVING_TEMPERATURE, seed=3)


@pytest.fixture(scope="session")
def toolkit_server(serving_artifact):
    """The real toolkit on loopback (own process group, bounded start-up), one worker."""
    require_toolkit()
    with ToolkitServer(serving_artifact, workers=1) as server:
        yield server


@pytest.fixture(scope="session")
def local_server(serving_artifact):
    """`scones serve` over the same artifact."""
    server = start_endpoint(serving_artifact)
    yield server
    server.stop()
