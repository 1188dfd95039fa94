"""Fixtures for the model tests: tiny real image folders and a CIFAR-format archive built here
(the untrained model.tar.gz written by the packaging code is in tests/conftest.py)."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FINE_LABELS = ["apple", "bicycle", "motorcycle", "tractor"]  # a tiny fine-label vocabulary


def png_bytes(array: np.ndarray, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def class_image(rng: np.random.Generator, label: int, size: int = 32) -> np.ndarray:
    """Easy-to-learn images: class 0 dark with a bright left half, class 1 bright right half."""
    image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    half = slice(0, size // 2) if label == 0 else slice(size // 2, size)
    image[:, half] += 150
    return image


def write_image_folder(root: Path, per_class: int = 12, labels=("bicycle", "motorcycle"),
                       seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for index, name in enumerate(labels):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (root / name / f"{name}_{i:03d}.png").write_bytes(
                png_bytes(class_image(rng, index), "RGBA"))
    return root


def write_list_dataset(root: Path, per_class: int = 6, seed: int = 1) -> Path:
    """SageMaker layout: root/train.lst + root/train/<flat files>, label 0/1."""
    rng = np.random.default_rng(seed)
    (root / "train").mkdir(parents=True)
    lines = []
    for label in (0, 1):
        for i in range(per_class):
            name = f"img_{label}_{i:03d}.png"
            (root / "train" / name).write_bytes(png_bytes(class_image(rng, label)))
            lines.append(f"{len(lines)}\t{label}\t{name}")
    (root / "train.lst").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return write_image_folder(tmp_path / "folder")


@pytest.fixture
def list_dataset(tmp_path) -> Path:
    return write_list_dataset(tmp_path / "lst")


def build_cifar_archive(path: Path, per_label: int = 3) -> tuple[Path, str]:
    """A CIFAR-100-format cifar-100-python.tar.gz (meta/train/test pickles); returns its MD5."""
    rng = np.random.default_rng(7)

    def batch(split: str) -> dict:
        labels = [i for i in range(len(FINE_LABELS)) for _ in range(per_label)]
        return {
            b"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8),
            b"fine_labels": labels,
            b"coarse_labels": [0] * len(labels),
            b"filenames": [f"{FINE_LABELS[k]}_{split}_{i:03d}.png".encode()
                           for i, k in enumerate(labels)],
        }

    members = {
        "cifar-100-python/meta": {b"fine_label_names": [n.encode() for n in FINE_LABELS]},
        "cifar-100-python/train": batch("train"),
        "cifar-100-python/test": batch("test"),
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            payload = pickle.dumps(content)
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path, hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def cifar_archive(tmp_path) -> tuple[Path, str]:
    return build_cifar_archive(tmp_path / "cifar-100-python.tar.gz")
