"""Builders for the retraining tests: colour-coded image folders that a tiny network learns in a
few epochs, reviewed-label folders (right or deliberately wrong), and the tiny training recipe.

Imported by bare name by tests/model and tests/retrain: it sits in tests/, which pytest puts on
sys.path when it loads tests/conftest.py; the module name is unique across the test tree."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

# one colour per class: solid, with noise, so the classes are easy to separate
COLORS = {"bicycle": (200, 40, 40), "motorcycle": (40, 40, 200), "scooter": (40, 200, 40)}
# a recipe that trains in seconds on 2 cores: from random weights, one small member
TINY = {"backbone": "", "widths": [8, 8, 16], "members": 1, "epochs": 4, "batch_size": 16,
        "lr": 0.05, "threads": 1, "precision": "float32", "trivial_augment": False,
        "cutmix": 0.0, "cutout": 0}
TINY_ARGS = ["--from-scratch", "true", "--widths", "8", "8", "16", "--members", "1",
             "--epochs", "4", "--batch-size", "16", "--lr", "0.05", "--threads", "1",
             "--precision", "float32", "--trivial-augment", "false", "--cutmix", "0",
             "--cutout", "0"]


def color_png(color: tuple[int, int, int], rng: np.random.Generator, size: int = 16) -> bytes:
    pixels = np.clip(np.asarray(color) + rng.normal(0, 25, (size, size, 3)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_color_folder(root: Path, labels=("bicycle", "motorcycle"), per_class: int = 20,
                       seed: int = 0, *, colors_of: dict | None = None,
                       prefix: str = "img") -> Path:
    """ImageFolder ``root/<label>/<prefix>_<i>.png``; ``colors_of`` maps a folder to the class
    whose colour its images have (a wrong label when the two differ)."""
    rng = np.random.default_rng(seed)
    for label in labels:
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        color = COLORS[(colors_of or {}).get(label, label)]
        for i in range(per_class):
            (folder / f"{prefix}_{label}_{i:03d}.png").write_bytes(color_png(color, rng))
    return root


def model_archive(members: dict[str, bytes | None]) -> bytes:
    """A model.tar.gz holding these files (None: a folder of that name), in memory, e.g. a
    training job's artifact with or without its ``challenge.json``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
                continue
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
