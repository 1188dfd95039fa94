"""The training code archive a SageMaker training job runs (script mode's source directory).

The retraining workflow's job runs ``model/pipeline.py`` from this archive
(``sagemaker_submit_directory``): the ``model`` package with its committed backbones and the
``scones_domain`` package it imports, nothing else (no tests, caches or data).

    .venv/bin/python -m model.source runs/training-source.tar.gz
    aws s3 cp runs/training-source.tar.gz s3://<ImageBucket>/code/training-source.tar.gz
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

import scones_domain

MODEL_DIR = Path(__file__).resolve().parent
DOMAIN_DIR = Path(scones_domain.__file__).resolve().parent
SKIPPED = ("__pycache__", ".pyc")


def _files(root: Path):
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part in SKIPPED for part in path.parts) \
                and path.suffix not in SKIPPED:
            yield path


def write_source_archive(path: str | Path) -> Path:
    """``path`` (a .tar.gz) holding ``model/`` and ``scones_domain/`` at its top level."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for root in (MODEL_DIR, DOMAIN_DIR):
            for file in _files(root):
                archive.add(file, arcname=f"{root.name}/{file.relative_to(root).as_posix()}")
    return path


if __name__ == "__main__":
    print(write_source_archive(sys.argv[1] if len(sys.argv) > 1 else "training-source.tar.gz"))
