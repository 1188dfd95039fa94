"""Fixtures of the whole local stack: the real template, ASL and handlers, a real endpoint.

The endpoint serves tests/serving/fixtures/brightness_model (``brightness_model`` in
tests/conftest.py: a contract-following artifact with known answers: bright images -> bicycle
0.99, dark ones -> motorcycle 0.60), so outcomes on real PNGs are known without training. Tests
marked slow also run a real trained model. The batch and event-driven tests share one stack per
module (``events``): the real template's EventBridge rules, batch state machine, results table,
review prefix and alert topic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scones.local.stack import LocalStack
from scones.serving.endpoint import start_endpoint
from scones.workflow.runner import function_stdout_to, quiet_interpreter_logs

BATCH_SIZE = 30  # real images per batch test


@pytest.fixture
def captures(tmp_path) -> Path:
    return tmp_path / "captures"


@pytest.fixture
def endpoint(brightness_model, captures):
    server = start_endpoint(brightness_model, capture=str(captures))
    yield server
    server.stop()


@pytest.fixture
def local_stack(endpoint, tmp_path):
    """The real template deployed in moto, its classifier calling the local endpoint."""
    quiet_interpreter_logs()
    with function_stdout_to(tmp_path / "lambda.log"), LocalStack(endpoint.url) as stack:
        yield stack


# --------------------------------------------------------------------------- batch and events


def is_confident(path: Path) -> bool:
    """The brightness model's verdict: mean brightness >= 0.5 -> bicycle at 0.99."""
    return float(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).mean()) / 255 >= 0.5


@pytest.fixture(scope="session")
def verdict():
    """is_confident(path): what the brightness model will say about a real PNG."""
    return is_confident


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
def batch_endpoint(brightness_model):
    """The endpoint of a module's ``events`` stack (no capture)."""
    server = start_endpoint(brightness_model)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def events(batch_endpoint, tmp_path_factory):
    """The events of the real template deployed in moto (EventBridge rules, batch state
    machine, results table, review prefix, alert topic); the stack is ``events.stack``."""
    quiet_interpreter_logs()
    log = tmp_path_factory.mktemp("lambda") / "lambda.log"
    with function_stdout_to(log), LocalStack(batch_endpoint.url) as stack:
        yield stack.events
