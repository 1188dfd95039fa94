"""Champion vs challenger: both scored on one fixed evaluation set, and the shadow check of the
challenger on captured requests (the retraining job's ``challenge.json``, docs/retraining.md).

    python -m model.pipeline --labels ... --evaluation ... --champion ... --captures ...
    .venv/bin/scones retrain --reviewed DIR --model CURRENT --out OUTDIR

Every model is scored through its own artifact's ``code/inference.py`` (``model_fn``,
``input_fn`` on the image file's bytes, ``predict_fn``), as the endpoint serves it, so a champion
packaged by an older recipe scores as it answers in service. The metrics dicts hold exactly the
keys the promotion gate reads (``scones_domain.promotion``).

The evaluation set is a folder (the ``evaluation`` channel, ``--evaluation``), else the share of
the original data that ``scones train`` holds out as its validation split (same fraction, same
seed, so a champion trained on that data never trained on it). Its images never train the
challenger: an evaluation image found among the training images (same bytes) is dropped from
training. Its digest (``sha256``) covers every image's class, path and bytes, so that "measured
on the same evaluation set" can be checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.data import (
    IMAGE_SUFFIXES,
    DataError,
    DataNotFoundError,
    LoadedImages,
    find_samples,
    load_images,
    merge_images,
    select_images,
    stratified_split,
)
from model.metrics import DEFAULT_THRESHOLD, classification_report
from model.package import LoadedArtifact
from model.train import TrainConfig
from scones_domain.monitoring.captures import read_captures
from scones_domain.predictions import top_prediction

CHALLENGE_FILE = "challenge.json"
ARTIFACT_FILE = "model.tar.gz"
# the evaluation split carved from the original data: scones train's validation split
EVALUATION_FRACTION = TrainConfig.validation_fraction
EVALUATION_SPLIT_SEED = TrainConfig.split_seed
MAX_SHADOW_REQUESTS = 1000  # the most recent captured requests the challenger re-scores
MAX_SHADOW_EXAMPLES = 20  # disagreements listed in challenge.json
BATCH = 256  # images per predict_fn call
CLASS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a label ClassLabels can carry


class ReviewedLabelsError(DataError):
    """The reviewed-labels folder is not an ImageFolder of ``<class>/<image>`` files."""


class EmptyReviewedLabelsError(ReviewedLabelsError):
    """The reviewed-labels folder holds no labeled image."""


class ChampionNotFoundError(DataError):
    """The champion is neither a model.tar.gz nor a folder holding one (or its contents)."""


@dataclass
class EvaluationSet:
    """The fixed images both models are scored on, with their digest and where they came from."""

    images: LoadedImages
    root: Path
    source: str
    sha256: str
    bodies: list[bytes]

    @property
    def labels(self) -> list[str]:
        return list(self.images.labels)

    def describe(self) -> dict:
        return {"n": len(self.bodies), "sha256": self.sha256, "source": self.source,
                "class_labels": self.labels}


# --------------------------------------------------------------------------- the data


def load_reviewed(folder: str | os.PathLike, progress: bool = False) -> LoadedImages:
    """Reviewed labels as an ImageFolder ``<class>/<image>``; a class the original data lacks
    is a new class. Named errors for a folder that is not one (``check_reviewed``)."""
    root = Path(folder)
    return load_images(find_samples(root, labels=check_reviewed(root)), progress=progress)


def check_reviewed(folder: str | os.PathLike) -> list[str]:
    """The classes of the reviewed-labels folder that hold images (a class folder with none is
    no review of that class), checked without decoding an image: the folder exists, holds
    images only in class folders, at least one, and every class folder's name can be a
    label."""
    root = Path(folder)
    if not root.exists():
        raise DataNotFoundError(f"reviewed labels folder {root} does not exist")
    if not root.is_dir():
        raise ReviewedLabelsError(f"{root} is a file: give the folder of <class>/<image> files")
    loose = sorted(p.name for p in root.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if loose:
        raise ReviewedLabelsError(
            f"{root} holds {len(loose)} image(s) outside a class folder (first: {loose[0]}): "
            f"put each image in {root}/<class>/")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    for name in classes:
        if not CLASS_NAME.match(name):
            raise ReviewedLabelsError(
                f"{root / name}: {name!r} is not a class name (letters, digits, '_' and '-', "
                "starting with a letter or digit)")
    reviewed = [name for name in classes if any(
        p.suffix.lower() in IMAGE_SUFFIXES for p in (root / name).rglob("*"))]
    if not reviewed:
        raise EmptyReviewedLabelsError(f"{root} holds no reviewed image (expected "
                                       f"{root}/<class>/<image>)")
    return reviewed


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evaluation_set(images: LoadedImages, root: str | os.PathLike, source: str) -> EvaluationSet:
    """The evaluation images with their bytes and digest (class, path from ``root``, bytes)."""
    root = Path(root)
    bodies = [Path(p).read_bytes() for p in images.paths]
    rows = sorted(f"{images.labels[t]}\t{os.path.relpath(p, root)}\t"
                  f"{hashlib.sha256(body).hexdigest()}\n"
                  for t, p, body in zip(images.targets, images.paths, bodies, strict=True))
    digest = hashlib.sha256("".join(rows).encode()).hexdigest()
    return EvaluationSet(images, root, source, digest, bodies)


def load_evaluation(folder: str | os.PathLike, progress: bool = False) -> EvaluationSet:
    """A fixed evaluation folder (ImageFolder, .lst or a folder holding one)."""
    samples = find_samples(folder)
    images = load_images(samples, progress=progress)
    return evaluation_set(images, samples.root, f"evaluation set {Path(folder)}")


def carve_evaluation(original: LoadedImages, root: str | os.PathLike
                     ) -> tuple[LoadedImages, EvaluationSet]:
    """(the rest to train on, the evaluation set): the split ``scones train`` holds out as
    validation (EVALUATION_FRACTION, seed EVALUATION_SPLIT_SEED), stratified by class."""
    held_out, rest = stratified_split(original.targets, [EVALUATION_FRACTION],
                                      EVALUATION_SPLIT_SEED)
    if len(np.unique(original.targets[held_out])) < len(original.labels):
        raise DataError(f"too few images to hold out {EVALUATION_FRACTION:.0%} of every class "
                        "for evaluation: give an evaluation set")
    source = (f"held out from {root}: {EVALUATION_FRACTION:.0%} per class, split seed "
              f"{EVALUATION_SPLIT_SEED} (the validation split of scones train)")
    return select_images(original, rest), evaluation_set(select_images(original, held_out),
                                                         root, source)


def training_images(original: LoadedImages, evaluation: EvaluationSet,
                    reviewed: LoadedImages | None = None) -> tuple[LoadedImages, int]:
    """The original images plus the reviewed ones, without any evaluation image (same bytes);
    returns them and how many evaluation images were dropped."""
    merged = merge_images([original, reviewed]) if reviewed is not None else original
    held = {hashlib.sha256(body).hexdigest() for body in evaluation.bodies}
    keep = [i for i, path in enumerate(merged.paths) if file_digest(Path(path)) not in held]
    dropped = len(merged.paths) - len(keep)
    return (select_images(merged, keep) if dropped else merged), dropped


def champion_artifact(path: str | os.PathLike) -> Path:
    """The champion's model.tar.gz, or the folder of its contents (code/inference.py)."""
    path = Path(path)
    if path.is_file():
        return path
    if (path / ARTIFACT_FILE).is_file():
        return path / ARTIFACT_FILE
    if (path / "code" / "inference.py").is_file():
        return path
    raise ChampionNotFoundError(f"champion {path}: no {ARTIFACT_FILE} and no "
                                "code/inference.py in it")


# --------------------------------------------------------------------------- scoring


def content_type(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    return {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(
        suffix, "application/x-image")


def contract_probabilities(artifact: LoadedArtifact, bodies: list[bytes],
                           content_types: list[str]) -> np.ndarray:
    """(N, C) probabilities through the artifact's own input_fn and predict_fn."""
    module, out = artifact.module, []
    for start in range(0, len(bodies), BATCH):
        batch = [module.input_fn(body, kind) for body, kind in zip(
            bodies[start : start + BATCH], content_types[start : start + BATCH], strict=True)]
        out.append(np.asarray(module.predict_fn(torch.cat(batch), artifact.model),
                              dtype=np.float64))
    return np.concatenate(out) if out else np.zeros((0, len(artifact.labels)))


def gate_metrics(artifact: LoadedArtifact, evaluation: EvaluationSet, threshold: float) -> dict:
    """The model's metrics on the evaluation set, with the keys the promotion gate reads. An
    evaluation class the model does not answer counts as wrong on every one of its images."""
    kinds = [content_type(p) for p in evaluation.images.paths]
    probabilities = contract_probabilities(artifact, evaluation.bodies, kinds)
    labels = artifact.labels
    space = labels + [label for label in evaluation.labels if label not in labels]
    aligned = np.zeros((len(probabilities), len(space)))
    aligned[:, : len(labels)] = probabilities
    targets = np.asarray([space.index(evaluation.labels[t]) for t in evaluation.images.targets],
                         dtype=np.int64)
    report = classification_report(aligned, targets, space, threshold)
    return {"accuracy": report["accuracy"], "coverage": report["coverage"],
            "covered_accuracy": report["covered_accuracy"], "ece": report["ece"],
            "n": report["n"], "class_labels": labels, "threshold": threshold,
            "evaluation_sha256": evaluation.sha256,
            "evaluation_class_labels": evaluation.labels}


def _keep_body(payload: bytes) -> dict:
    """Capture-reader inspector that keeps each request's bytes (to re-score them)."""
    return {"body": payload}


def shadow_check(challenger: LoadedArtifact, captures: str | os.PathLike,
                 served_labels: list[str], threshold: float,
                 limit: int = MAX_SHADOW_REQUESTS) -> dict:
    """The challenger re-scores the most recent captured requests: where does its top label
    differ from the answer the endpoint gave (the champion's, in ``served_labels`` order)?"""
    read = read_captures(str(captures), labels=served_labels, threshold=threshold,
                         inspect_image=_keep_body)
    rows = read.rows[-limit:]
    scored, not_scored = [], 0
    for row in rows:  # one by one: a request the challenger cannot read is counted, not fatal
        try:
            scored.append((row, challenger.module.input_fn(row.extra["body"], row.content_type)))
        except Exception:  # noqa: BLE001 - the artifact's own errors, whatever they are
            not_scored += 1
    disagreements, examples = 0, []
    for start in range(0, len(scored), BATCH):
        part = scored[start : start + BATCH]
        probabilities = challenger.module.predict_fn(torch.cat([x for _, x in part]),
                                                     challenger.model)
        for (row, _), values in zip(part, np.asarray(probabilities).tolist(), strict=True):
            label, confidence = top_prediction(values, challenger.labels)
            if label == row.label:
                continue
            disagreements += 1
            if len(examples) < MAX_SHADOW_EXAMPLES:
                examples.append({"event_id": row.event_id, "champion_label": row.label,
                                 "challenger_label": label,
                                 "challenger_confidence": round(confidence, 6)})
    n = len(scored)
    return {"captures": str(captures), "n": n, "disagreements": disagreements,
            "rate": disagreements / n if n else None, "examples": examples,
            "not_scored": not_scored + read.n_skipped}


def challenge(challenger: str | os.PathLike, evaluation: EvaluationSet, *,
              champion: str | os.PathLike | None = None,
              captures: str | os.PathLike | None = None,
              threshold: float = DEFAULT_THRESHOLD, excluded_from_training: int = 0) -> dict:
    """The challenge document: both models' metrics on ``evaluation`` and the shadow check."""
    with LoadedArtifact(challenger) as new:
        document = {
            "class_labels": new.labels,
            "threshold": threshold,
            "evaluation": {**evaluation.describe(),
                           "excluded_from_training": excluded_from_training},
            "challenger": gate_metrics(new, evaluation, threshold),
            "champion": None,
            "models": {"challenger": new.metadata.get("model_version"), "champion": None},
            "shadow": None,
        }
        served = new.labels
        if champion is not None:
            with LoadedArtifact(champion_artifact(champion)) as old:
                document["champion"] = gate_metrics(old, evaluation, threshold)
                document["models"]["champion"] = old.metadata.get("model_version")
                served = old.labels
        if captures is not None:
            document["shadow"] = shadow_check(new, captures, served, threshold)
    return document


def write_challenge(out_dir: str | os.PathLike, document: dict) -> Path:
    path = Path(out_dir) / CHALLENGE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
