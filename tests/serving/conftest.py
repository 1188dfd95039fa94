"""Fixtures of the serving tests (scones/serving): the local endpoint, its data capture, and the
real SageMaker PyTorch serving toolkit beside `scones serve`, both over one artifact.

The test artifact (fixtures/brightness_model) follows the model contract with known answers:
bright images (mean >= 0.5) are bicycles at 0.99, dark ones motorcycles at 0.60. Tarred into a
model.tar.gz here, it proves the endpoint serves any artifact through the artifact's own code.

The toolkit (sagemaker-pytorch-inference + TorchServe) lives in its own virtualenv, made by
`make serving-venv` (`make test` makes it first). Without it the toolkit tests (marker
``serving``) skip on a developer machine and FAIL in CI (CI=true): the contract must never go
silently unchecked there.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config
from PIL import Image

from scones.serving.capture import CaptureConfig, CaptureWriter
from scones.serving.endpoint import EndpointServer, LocalEndpoint, load_model, start_endpoint
from scones.serving.toolkit import ToolkitNotInstalled, ToolkitServer, serving_python

FIXTURES = Path(__file__).parent / "fixtures"
ENDPOINT_NAME = "local-test-endpoint"

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


# --------------------------------------------------------------------------- the local endpoint


def make_artifact(source: Path, out: Path) -> Path:
    """Pack a model directory as SageMaker's model.tar.gz (files at the archive root)."""
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            if "__pycache__" not in path.parts:
                tar.add(path, arcname=path.relative_to(source).as_posix(), recursive=False)
    return out


def mean_brightness(path: Path) -> float:
    return float(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).mean() / 255.0)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """tests/serving/fixtures: brightness_model, the test artifact's model directory."""
    return FIXTURES


@pytest.fixture(scope="session")
def pack_artifact():
    """The function that packs a model directory into a model.tar.gz."""
    return make_artifact


@pytest.fixture(scope="session")
def brightness_artifact(brightness_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("artifact") / "model.tar.gz"
    return make_artifact(brightness_model, out)


@pytest.fixture(scope="session")
def loaded_brightness_model(brightness_artifact, tmp_path_factory):
    return load_model(brightness_artifact, tmp_path_factory.mktemp("extracted"))


@pytest.fixture
def capture_dir(tmp_path) -> Path:
    return tmp_path / "captures"


@pytest.fixture
def endpoint_server(loaded_brightness_model, capture_dir):
    """A running endpoint on a free loopback port, capturing every request to capture_dir."""
    writer = CaptureWriter(CaptureConfig(destination=str(capture_dir), endpoint_name=ENDPOINT_NAME))
    endpoint = LocalEndpoint(loaded_brightness_model, endpoint_name=ENDPOINT_NAME, capture=writer)
    server = EndpointServer(endpoint).start()
    yield server
    server.stop()


@pytest.fixture
def runtime_client(endpoint_server):
    """An unmodified boto3 sagemaker-runtime client pointed at the local endpoint."""
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=endpoint_server.url,
        config=Config(retries={"max_attempts": 1}, max_pool_connections=32),
    )


@pytest.fixture(scope="session")
def bright_and_dark_pngs(shared_data) -> tuple[Path, Path]:
    """A real PNG the test artifact calls confident, and one it does not."""
    bright = dark = None
    for path in sorted((shared_data / "train").glob("*.png")):
        m = mean_brightness(path)
        if bright is None and m >= 0.6:
            bright = path
        if dark is None and m <= 0.4:
            dark = path
        if bright and dark:
            return bright, dark
    pytest.fail("shared data has no clearly bright and dark images")
