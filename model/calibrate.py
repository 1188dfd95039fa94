"""Calibrate a trained ensemble: fit the temperature that turns its logits into probabilities.

The temperature minimizes the negative log-likelihood of held-out images (the calibration split,
else the validation split). When those are the validation images, whose metrics get reported,
each half of them is also scored with the temperature fitted on the other half (cross-fitting),
so that no image is scored with a temperature fitted on itself (docs/model.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.inference import CalibratedEnsemble


@dataclass
class Calibration:
    temperature: float  # the served one, fitted on all the held-out images given
    # their probabilities, cross-fitted, when asked for (the images are the validation split)
    cross_fitted: np.ndarray | None
    seconds: float


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Temperature minimizing the negative log-likelihood (grid over log T, then refine)."""
    def nll(t: float) -> float:
        return F.cross_entropy(logits / t, targets).item()

    grid = np.exp(np.linspace(math.log(0.05), math.log(20.0), 200))
    best = min(grid, key=nll)
    fine = np.exp(np.linspace(math.log(best) - 0.05, math.log(best) + 0.05, 41))
    return float(min(fine, key=nll))


def cross_fit_folds(targets: np.ndarray, folds: int = 2) -> np.ndarray:
    """Fold number per image, stratified: each class's images are dealt out in turn."""
    fold = np.zeros(len(targets), dtype=np.int64)
    for cls in np.unique(targets):
        members = np.flatnonzero(targets == cls)
        fold[members] = np.arange(len(members)) % folds
    return fold


def cross_fitted_probabilities(logits: torch.Tensor, targets: torch.Tensor,
                               folds: int = 2) -> np.ndarray:
    """Probabilities of held-out images, each scored with a temperature fitted on the other
    folds only, so metrics on the images that fit the served temperature stay honest."""
    fold = torch.from_numpy(cross_fit_folds(targets.numpy(), folds))
    probabilities = torch.zeros_like(logits)
    for k in range(folds):
        scored, fitting = fold == k, fold != k
        if not scored.any():
            continue
        temperature = fit_temperature(logits[fitting], targets[fitting])
        probabilities[scored] = torch.softmax(logits[scored] / temperature, dim=1)
    return probabilities.numpy()


def calibrate(model: CalibratedEnsemble, images: torch.Tensor, targets: torch.Tensor,
              cross_fit: bool) -> Calibration:
    """Fit the temperature on held-out ``images`` (float (N, 3, S, S) in [0, 1], as the model
    takes them) and set it on ``model``; ``cross_fit``: also score them cross-fitted."""
    start = time.perf_counter()
    with torch.inference_mode():
        logits = model.logits(images)
    temperature = fit_temperature(logits, targets)
    cross_fitted = cross_fitted_probabilities(logits, targets) if cross_fit else None
    model.temperature = temperature
    return Calibration(temperature, cross_fitted, time.perf_counter() - start)
