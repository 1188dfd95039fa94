"""Quality metrics from probabilities and true labels (pure numpy, no plotting)."""

from __future__ import annotations

import numpy as np

# The product's threshold default, written once in the domain (the model's modules import
# it from here under this name).
from scones_domain.config import DEFAULT_CONFIDENCE_THRESHOLD as DEFAULT_THRESHOLD


def classification_report(
    probabilities: np.ndarray, targets: np.ndarray, labels: list[str],
    threshold: float = DEFAULT_THRESHOLD, bins: int = 10,
) -> dict:
    """Everything `scones evaluate --json` prints, as plain JSON-able values.

    coverage = share of images whose max probability is >= threshold; covered_accuracy =
    accuracy among those (null when none is covered). confusion[i][j] counts true i predicted j.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    n = len(targets)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    correct = predicted == targets
    covered = confidence >= threshold
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (targets, predicted), 1)
    per_class = {}
    for index, name in enumerate(labels):
        true_positive = int(confusion[index, index])
        support = int(confusion[index].sum())
        predicted_count = int(confusion[:, index].sum())
        precision = true_positive / predicted_count if predicted_count else None
        recall = true_positive / support if support else None
        f1 = (2 * precision * recall / (precision + recall)
              if precision and recall else (0.0 if support else None))
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1,
                           "support": support}
    return {
        "n": n,
        "threshold": threshold,
        "accuracy": float(correct.mean()) if n else None,
        "coverage": float(covered.mean()) if n else None,
        "covered_accuracy": float(correct[covered].mean()) if covered.any() else None,
        "covered": int(covered.sum()),
        "labels": list(labels),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "ece": expected_calibration_error(confidence, correct, bins),
        "nll": float(-np.log(np.clip(probabilities[np.arange(n), targets], 1e-12, 1)).mean())
        if n else None,
        "reliability": reliability_bins(confidence, correct, bins),
        "risk_coverage": risk_coverage_curve(confidence, correct),
    }


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict]:
    """Equal-width confidence bins over [0, 1]: count, mean confidence, accuracy per bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        rows.append({
            "lower": float(edges[b]), "upper": float(edges[b + 1]), "count": int(members.sum()),
            "confidence": float(confidence[members].mean()) if members.any() else None,
            "accuracy": float(correct[members].mean()) if members.any() else None,
        })
    return rows


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10):
    """Sum over bins of (bin share) * |accuracy - mean confidence| (equal-width bins)."""
    n = len(confidence)
    if n == 0:
        return None
    total = 0.0
    for row in reliability_bins(confidence, correct, bins):
        if row["count"]:
            total += row["count"] / n * abs(row["accuracy"] - row["confidence"])
    return float(total)


def risk_coverage_curve(confidence: np.ndarray, correct: np.ndarray) -> list[dict]:
    """For each distinct confidence t (descending): threshold t, coverage and accuracy of the
    images with confidence >= t. Operators read it to choose the threshold knowingly."""
    order = np.argsort(-confidence, kind="stable")
    sorted_conf = confidence[order]
    cumulative_correct = np.cumsum(correct[order])
    n = len(confidence)
    rows = []
    for i in range(n):
        if i + 1 < n and sorted_conf[i + 1] == sorted_conf[i]:
            continue  # ties: one point per distinct threshold
        rows.append({
            "threshold": float(sorted_conf[i]),
            "coverage": (i + 1) / n,
            "accuracy": float(cumulative_correct[i] / (i + 1)),
        })
    return rows
