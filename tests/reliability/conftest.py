"""Fixtures of the reliability tests: the whole local runtime with its fault switches.

The endpoint serves tests/serving/fixtures/brightness_model (``brightness_model`` in
tests/conftest.py; known answers: bright real PNGs are bicycles at 0.99, so an image that gets
through the faults SUCCEEDS), with data capture on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def mean_brightness(path: Path) -> float:
    return float(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).mean() / 255.0)


@pytest.fixture(scope="session")
def bright_images(shared_data) -> list[Path]:
    """Distinct real PNGs the brightness model calls confident bicycles (mean >= 0.6)."""
    images = [p for p in sorted((shared_data / "train").glob("*.png")) if mean_brightness(p) >= 0.6]
    if len(images) < 20:
        pytest.skip("shared data has fewer than 20 bright images")
    return images


@pytest.fixture(scope="module")
def module_env():
    """Fake credentials and region for module-scoped stacks (tests/conftest.py's are per test)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                            "AWS_REGION": "us-east-1"}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        yield


@pytest.fixture(scope="session")
def dark_image(shared_data) -> Path:
    """A real PNG the brightness model is unconfident about (mean <= 0.4: 0.60 motorcycle)."""
    return next(p for p in sorted((shared_data / "train").glob("*.png"))
                if mean_brightness(p) <= 0.4)
