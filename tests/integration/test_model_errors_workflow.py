"""A request the model refuses fails the workflow at once with its own name: the project's
model.tar.gz served by `scones serve` (which answers as the real serving toolkit, see
tests/serving), the shipped ASL in moto, the real handlers."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from scones.local.stack import LocalStack
from scones.serving.endpoint import start_endpoint
from scones.workflow.runner import function_stdout_to, quiet_interpreter_logs

pytestmark = pytest.mark.integration


@pytest.fixture
def model_stack(untrained_artifact, tmp_path):
    """The real template in moto, its classifier calling `scones serve` with our model."""
    server = start_endpoint(untrained_artifact)
    quiet_interpreter_logs()
    try:
        with function_stdout_to(tmp_path / "lambda.log"), LocalStack(server.url) as stack:
            yield stack
    finally:
        server.stop()


def truncated_png(path) -> bytes:
    """A PNG cut off inside its pixel data: the signature and header are intact."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = buffer.getvalue()[: len(buffer.getvalue()) * 6 // 10]
    path.write_bytes(data)
    return data


def test_truncated_png_fails_with_its_name_after_one_attempt(model_stack, tmp_path):
    # GIVEN a truncated PNG (its header passes SerializeImageData's check)
    image = tmp_path / "truncated.png"
    truncated_png(image)
    # WHEN the workflow runs on it
    result = model_stack.run_image(image, "test/truncated.png")
    # THEN the model's 400 is EndpointRejectedImage, raised by ClassifyImage
    assert (result.status, result.error) == ("FAILED", "EndpointRejectedImage"), result.cause
    assert result.failed_state == "ClassifyImage"
    assert "model status 400: cannot decode image" in result.cause
    # AND it was tried once: no retry, one task per state entered
    assert result.retries == {}
    scheduled = [e for e in result.history if e["type"] == "TaskScheduled"]
    assert len(scheduled) == 2  # SerializeImageData, then ClassifyImage once
