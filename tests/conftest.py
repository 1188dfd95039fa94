"""Fixtures shared by every test folder.

Each folder keeps its own conftest.py for what only it needs (tests/README.md: the layout).
Network: pytest-socket allows loopback only (see pyproject.toml addopts), so nothing here can
reach AWS.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get(
        "SCONES_SHARED_DATA", REPO_ROOT.parent / "shared" / "data" / "cifar100-bicycle-motorcycle"
    )
)
# the test artifact: follows the model contract with known answers, no training (bright images,
# mean >= 0.5, are bicycles at 0.99; dark ones motorcycles at 0.60)
BRIGHTNESS_MODEL = Path(__file__).resolve().parent / "serving" / "fixtures" / "brightness_model"


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
def real_png(shared_data) -> tuple[str, bytes]:
    """(file name, bytes) of a real CIFAR-100 bicycle PNG from ../shared/data."""
    path = sorted((shared_data / "train").glob("bicycle_s_*.png"))[0]
    return path.name, path.read_bytes()


def image_bytes(
    fmt: str, size: tuple[int, int] = (32, 32), *, noise: bool = False, **save
) -> bytes:
    """A real image file encoded by Pillow; noise makes it incompressible (large files)."""
    width, height = size
    rng = np.random.default_rng(7)
    if noise:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    else:
        pixels = np.zeros((height, width, 3), dtype=np.uint8)
        pixels[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
        pixels[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **save)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def make_image() -> Callable[..., bytes]:
    """make_image("JPEG", (37, 21), quality=90): the bytes of a real image file."""
    return image_bytes


@pytest.fixture(scope="session")
def brightness_model() -> Path:
    """The test artifact's model directory (tests/serving/fixtures/brightness_model)."""
    return BRIGHTNESS_MODEL


def mean_brightness(path: Path) -> float:
    return float(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).mean() / 255.0)


@pytest.fixture(scope="session")
def brightness():
    """The image property the brightness model answers on (mean >= 0.5 -> confident)."""
    return mean_brightness


@pytest.fixture(scope="session")
def bright_and_dark(shared_data) -> tuple[Path, Path]:
    """Real PNGs the brightness model calls confident (>= 0.6 mean) and not (<= 0.4)."""
    images = sorted((shared_data / "train").glob("*.png"))
    bright = next(p for p in images if mean_brightness(p) >= 0.6)
    dark = next(p for p in images if mean_brightness(p) <= 0.4)
    return bright, dark


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
