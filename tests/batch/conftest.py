"""Fixtures of the event-driven and batch tests: the real template's stack with its rules.

The endpoint serves tests/local/fixtures/brightness_model (known answers, no training): a real
PNG whose mean brightness is >= 0.5 is a bicycle at 0.99 (confident), any other a motorcycle at
0.60 (below the 0.93 threshold). So every expected count below is computed from the images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scones.local.stack import LocalStack
from scones.serving.endpoint import start_endpoint
from scones.workflow.runner import function_stdout_to, quiet_interpreter_logs

BRIGHTNESS_MODEL = Path(__file__).resolve().parents[1] / "local/fixtures/brightness_model"
BATCH_SIZE = 30  # real images per batch test


def is_confident(path: Path) -> bool:
    """The brightness model's verdict: mean brightness >= 0.5 -> bicycle at 0.99."""
    return float(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).mean()) / 255 >= 0.5


@pytest.fixture(scope="session")
def verdict():
    """is_confident(path): what the brightness model will say about a real PNG."""
    return is_confident


@pytest.fixture(scope="session")
def brightness_model() -> Path:
    return BRIGHTNESS_MODEL


@pytest.fixture(scope="session")
def batch_images(shared_data) -> list[Path]:
    """A few dozen real PNGs of both classes, with both verdicts among them."""
    images = sorted((shared_data / "train").glob("*.png"))
    bicycles = [p for p in images if p.name.startswith("bicycle")][: BATCH_SIZE // 2]
    motorcycles = [p for p in images if p.name.startswith("motorcycle")][: BATCH_SIZE // 2]
    chosen = bicycles + motorcycles
    verdicts = {is_confident(p) for p in chosen}
    assert verdicts == {True, False}, "the sample needs confident and unconfident images"
    return chosen


@pytest.fixture(scope="module")
def endpoint(brightness_model):
    server = start_endpoint(brightness_model)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def events(endpoint, tmp_path_factory):
    """The events of the real template deployed in moto (EventBridge rules, batch state
    machine, results table, review prefix, alert topic); the stack is ``events.stack``."""
    quiet_interpreter_logs()
    log = tmp_path_factory.mktemp("lambda") / "lambda.log"
    with function_stdout_to(log), LocalStack(endpoint.url) as stack:
        yield stack.events
