"""Run the whole training pipeline: train -> calibrate -> package (and SageMaker script mode).

    .venv/bin/scones train --data ../shared/data/cifar100-bicycle-motorcycle --out runs/model
    # SageMaker script mode (reads SM_MODEL_DIR, SM_CHANNEL_TRAIN, SM_CHANNEL_VALIDATION):
    python -m model.pipeline --epochs 60 --seed 0

The steps, each in its own module: model/train.py trains the ensemble on the train split,
model/calibrate.py fits its temperature on the held-out images (the calibration split, else the
validation split, then cross-fitted), model/package.py evaluates it and writes the artifact.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

import torch

from model.calibrate import calibrate
from model.data import find_samples, load_images
from model.inference import to_tensor
from model.metrics import DEFAULT_THRESHOLD
from model.package import package
from model.train import FROM_SCRATCH, TrainConfig, train


def train_and_package(
    data: str | os.PathLike, out_dir: str | os.PathLike, config: TrainConfig,
    *, evaluation_data: str | os.PathLike | None = None, threshold: float = DEFAULT_THRESHOLD,
    progress: bool = True, sagemaker_layout: bool = False,
) -> dict:
    """Train, calibrate, evaluate on the held-out split, write the artifact and its side files
    (``package``); returns its metrics, metadata and output folder.

    ``sagemaker_layout``: SageMaker tars SM_MODEL_DIR itself, so write the artifact's members
    unpacked into ``out_dir`` instead of a model.tar.gz."""
    samples = find_samples(data)
    loaded = load_images(samples, progress=progress)
    for path, error in loaded.skipped:
        print(f"skipped unreadable image {path}: {error}", file=sys.stderr)
    result = train(None, config, progress=progress, loaded=loaded)
    fit_on = result.split[result.calibration_split]
    calibration = calibrate(result.model, to_tensor(loaded.images)[fit_on],
                            torch.from_numpy(loaded.targets)[fit_on],
                            cross_fit=result.calibration_split == "validation")
    return package(result, calibration, samples.root, out_dir, evaluation_data=evaluation_data,
                   threshold=threshold, sagemaker_layout=sagemaker_layout)


# --------------------------------------------------------------------------- script mode


def sagemaker_main(argv: list[str] | None = None) -> int:
    """SageMaker script-mode entry: hyperparameters as arguments, data and output from SM_*."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "runs/model"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    for name, value in asdict(TrainConfig()).items():
        if isinstance(value, list):
            parser.add_argument(f"--{name.replace('_', '-')}", type=int, nargs="+", default=value)
        elif isinstance(value, bool):
            parser.add_argument(f"--{name.replace('_', '-')}", type=_bool, default=value)
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--from-scratch", type=_bool, default=False,
                        help="the from-scratch recipe (FROM_SCRATCH) under the arguments given")
    args = parser.parse_args(argv)
    if not args.train:
        parser.error("--train (or SM_CHANNEL_TRAIN) is required")
    defaults = asdict(TrainConfig())
    given = {k: getattr(args, k) for k in defaults if getattr(args, k) != defaults[k]}
    config = TrainConfig(**{**(FROM_SCRATCH if args.from_scratch else {}), **given})
    summary = train_and_package(args.train, args.model_dir, config,
                                evaluation_data=args.validation, sagemaker_layout=True)
    print(json.dumps(summary["metrics"], indent=2))
    return 0


def _bool(text: str) -> bool:
    return str(text).lower() in ("1", "true", "yes", "on")


if __name__ == "__main__":
    raise SystemExit(sagemaker_main())
