"""Fixtures of the whole local stack: the real template, ASL and handlers, a real endpoint.

The endpoint serves tests/local/fixtures/brightness_model (a contract-following artifact with
known answers: bright images -> bicycle 0.99, dark ones -> motorcycle 0.60), so outcomes on
real PNGs are known without training. Tests marked slow also run a real trained model.
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


def mean_brightness(path: Path) -> float:
    return float(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).mean() / 255.0)


@pytest.fixture(scope="session")
def brightness():
    """The image property the brightness model answers on (mean >= 0.5 -> confident)."""
    return mean_brightness


@pytest.fixture(scope="session")
def brightness_model() -> Path:
    return BRIGHTNESS_MODEL


@pytest.fixture(scope="session")
def bright_and_dark(shared_data) -> tuple[Path, Path]:
    """Real PNGs the brightness model calls confident (>= 0.6 mean) and not (<= 0.4)."""
    images = sorted((shared_data / "train").glob("*.png"))
    bright = next(p for p in images if mean_brightness(p) >= 0.6)
    dark = next(p for p in images if mean_brightness(p) <= 0.4)
    return bright, dark


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
