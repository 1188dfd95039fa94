"""Check a probability vector against the class labels, pick the top label, apply the threshold.

The same rules serve the workflow (ClassifyImage, FilterLowConfidence) and the monitoring of
captured inferences.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

# A softmax in float32 sums to 1 within ~1e-6; anything further off is not a distribution.
PROBABILITY_SUM_TOLERANCE = 1e-3


def probability_problem(values: Any, labels: Sequence[str]) -> str | None:
    """Why ``values`` is not one probability per label summing to ~1, or None when it is."""
    if not isinstance(values, list):
        return f"expected a JSON list, got {type(values).__name__}"
    if len(values) != len(labels):
        return f"expected {len(labels)} probabilities ({', '.join(labels)}), got {len(values)}"
    for value in values:
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        try:
            finite = is_number and math.isfinite(value)
        except OverflowError:  # an integer too large for a float (found by tests/fuzz)
            finite = False
        if not finite:
            return f"{str(value)[:40]!r} is not a finite number"
        if not 0.0 <= value <= 1.0:
            return f"{value!r} is not a probability in [0, 1]"
    total = math.fsum(values)
    if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
        return f"probabilities sum to {total:.6f}, not 1"
    return None


def top_prediction(probabilities: Sequence[float], labels: Sequence[str]) -> tuple[str, float]:
    """(label, confidence) of the largest probability; the first label wins a tie."""
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return labels[best], float(probabilities[best])


def meets_threshold(confidence: float, threshold: float) -> bool:
    """Inclusive: a confidence exactly at the threshold passes."""
    return confidence >= threshold


def inference_id(execution_arn: str) -> str:
    """The InferenceId ClassifyImage sends for one execution (SHA-256 of its ARN, 64 hex
    characters: SageMaker's limit). A replayed execution's capture carries the same id, and a
    person's review of that photo (which names the execution) finds its capture by it."""
    return hashlib.sha256(execution_arn.encode()).hexdigest()
