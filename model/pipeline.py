"""Run the whole training pipeline: train -> calibrate -> package (and SageMaker script mode).

    .venv/bin/scones train --data ../shared/data/cifar100-bicycle-motorcycle --out runs/model
    # SageMaker script mode (reads SM_MODEL_DIR, SM_CHANNEL_TRAIN, SM_CHANNEL_VALIDATION):
    python -m model.pipeline --epochs 120 --seed 0
    # retraining (docs/retraining.md): also SM_CHANNEL_LABELS, SM_CHANNEL_EVALUATION,
    # SM_CHANNEL_CHAMPION, SM_CHANNEL_CAPTURES; writes challenge.json into the model dir
    python -m model.pipeline --threshold 0.93

The steps, each in its own module: model/train.py trains the ensemble on the train split,
model/calibrate.py fits its temperature on the held-out images (the calibration split, else the
validation split, then cross-fitted), model/package.py evaluates it and writes the artifact.
Retraining (``retrain``) trains on the original data plus reviewed labels and then scores the
challenger against the champion (model/challenge.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from model.calibrate import calibrate
from model.challenge import (
    carve_evaluation,
    challenge,
    load_evaluation,
    load_reviewed,
    training_images,
    write_challenge,
)
from model.data import LoadedImages, find_samples, load_images
from model.inference import to_tensor
from model.metrics import DEFAULT_THRESHOLD
from model.package import package
from model.train import FROM_SCRATCH, TrainConfig, train
from scones_domain.arguments import probability


def train_and_package(
    data: str | os.PathLike, out_dir: str | os.PathLike, config: TrainConfig,
    *, evaluation_data: str | os.PathLike | None = None, threshold: float = DEFAULT_THRESHOLD,
    progress: bool = True, sagemaker_layout: bool = False,
) -> dict:
    """Train, calibrate, evaluate on the held-out split, write the artifact and its side files
    (``package``); returns its metrics, metadata and output folder.

    ``sagemaker_layout``: SageMaker tars SM_MODEL_DIR itself, so write the artifact's members
    unpacked into ``out_dir`` instead of a model.tar.gz."""
    loaded, root = load_training_data(data, progress)
    return train_loaded(loaded, root, out_dir, config, evaluation_data=evaluation_data,
                        threshold=threshold, progress=progress,
                        sagemaker_layout=sagemaker_layout)


def load_training_data(data: str | os.PathLike, progress: bool = True
                       ) -> tuple[LoadedImages, Path]:
    """Every readable image of ``data`` (the unreadable ones named on stderr) and its root."""
    samples = find_samples(data)
    loaded = load_images(samples, progress=progress)
    for path, error in loaded.skipped:
        print(f"skipped unreadable image {path}: {error}", file=sys.stderr)
    return loaded, samples.root


def train_loaded(
    loaded: LoadedImages, data_root: Path, out_dir: str | os.PathLike, config: TrainConfig,
    *, evaluation_data: str | os.PathLike | None = None, threshold: float = DEFAULT_THRESHOLD,
    progress: bool = True, sagemaker_layout: bool = False,
) -> dict:
    """``train_and_package`` on images already loaded (``data_root``: their paths' root)."""
    result = train(None, config, progress=progress, loaded=loaded)
    fit_on = result.split[result.calibration_split]
    calibration = calibrate(result.model, to_tensor(loaded.images)[fit_on],
                            torch.from_numpy(loaded.targets)[fit_on],
                            cross_fit=result.calibration_split == "validation")
    return package(result, calibration, data_root, out_dir, evaluation_data=evaluation_data,
                   threshold=threshold, sagemaker_layout=sagemaker_layout)


def retrain(
    data: str | os.PathLike, out_dir: str | os.PathLike, config: TrainConfig, *,
    reviewed: str | os.PathLike | None = None, evaluation: str | os.PathLike | None = None,
    champion: str | os.PathLike | None = None, captures: str | os.PathLike | None = None,
    validation_data: str | os.PathLike | None = None, threshold: float = DEFAULT_THRESHOLD,
    progress: bool = True, sagemaker_layout: bool = False,
) -> dict:
    """Train the challenger on ``data`` plus the ``reviewed`` labels (never on the evaluation
    set: ``evaluation``, else the split carved from ``data``), package it, score it and the
    ``champion`` on the evaluation set, shadow-check it on ``captures``; write challenge.json
    into ``out_dir``. Returns ``train_and_package``'s summary plus ``challenge``."""
    original, root = load_training_data(data, progress)
    reviewed_images = load_reviewed(reviewed, progress) if reviewed is not None else None
    if evaluation is not None:
        held_out = load_evaluation(evaluation, progress)
    else:
        original, held_out = carve_evaluation(original, root)
    images, excluded = training_images(original, held_out, reviewed_images)
    summary = train_loaded(images, root, out_dir, config, evaluation_data=validation_data,
                           threshold=threshold, progress=progress,
                           sagemaker_layout=sagemaker_layout)
    artifact = Path(out_dir) if sagemaker_layout else Path(out_dir) / "model.tar.gz"
    document = challenge(artifact, held_out, champion=champion, captures=captures,
                         threshold=threshold, excluded_from_training=excluded)
    write_challenge(out_dir, document)
    return {**summary, "challenge": document, "artifact": str(artifact)}


# --------------------------------------------------------------------------- script mode

# the optional channels of a retraining job (SM_CHANNEL_<NAME>, or --<name>): reviewed labels,
# the fixed evaluation set, the champion's artifact, the endpoint's data capture
RETRAINING_CHANNELS = ("labels", "evaluation", "champion", "captures")


def sagemaker_main(argv: list[str] | None = None) -> int:
    """SageMaker script-mode entry: hyperparameters as arguments, data and output from SM_*."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "runs/model"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    for channel in RETRAINING_CHANNELS:
        parser.add_argument(f"--{channel}",
                            default=os.environ.get(f"SM_CHANNEL_{channel.upper()}"))
    parser.add_argument("--threshold", type=probability, default=DEFAULT_THRESHOLD)
    for name, value in asdict(TrainConfig()).items():
        # --batch-size, or --batch_size as SageMaker passes a hyperparameter named batch_size
        flags = sorted({f"--{name.replace('_', '-')}", f"--{name}"})
        if isinstance(value, list):
            parser.add_argument(*flags, dest=name, type=_ints, nargs="+", default=value)
        elif isinstance(value, bool):
            parser.add_argument(*flags, dest=name, type=_bool, default=value)
        else:
            parser.add_argument(*flags, dest=name, type=type(value), default=value)
    parser.add_argument("--from-scratch", type=_bool, default=False,
                        help="the from-scratch recipe (FROM_SCRATCH) under the arguments given")
    args = parser.parse_args(argv)
    for name, value in vars(args).items():  # --widths 8 8 16, or SageMaker's --widths [8, 8, 16]
        if isinstance(value, list) and value and isinstance(value[0], list):
            setattr(args, name, [number for part in value for number in part])
    if not args.train:
        parser.error("--train (or SM_CHANNEL_TRAIN) is required")
    defaults = asdict(TrainConfig())
    given = {k: getattr(args, k) for k in defaults if getattr(args, k) != defaults[k]}
    config = TrainConfig(**{**(FROM_SCRATCH if args.from_scratch else {}), **given})
    if not any(getattr(args, channel) for channel in RETRAINING_CHANNELS):
        summary = train_and_package(args.train, args.model_dir, config,
                                    evaluation_data=args.validation, threshold=args.threshold,
                                    sagemaker_layout=True)
        print(json.dumps(summary["metrics"], indent=2))
        return 0
    summary = retrain(args.train, args.model_dir, config, reviewed=args.labels,
                      evaluation=args.evaluation, champion=args.champion,
                      captures=args.captures, validation_data=args.validation,
                      threshold=args.threshold, sagemaker_layout=True)
    print(json.dumps(summary["challenge"], indent=2))
    return 0


def _ints(text: str) -> list[int]:
    """One integer, or a JSON list of them: SageMaker passes a list hyperparameter as its
    JSON text (``[8, 8, 16]``)."""
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer or a list of them: {text!r}") from None
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise argparse.ArgumentTypeError(f"not an integer or a list of them: {text!r}")
    return values


def _bool(text: str) -> bool:
    return str(text).lower() in ("1", "true", "yes", "on")


if __name__ == "__main__":
    raise SystemExit(sagemaker_main())
