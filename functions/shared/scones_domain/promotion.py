"""The promotion gate: does a retrained model (the challenger) replace the one in service (the
champion)?

Both models are scored by the training job on the same fixed evaluation set, one that neither
trained on (``challenge.json``, docs/retraining.md). A metrics mapping holds:

``accuracy``          share of the evaluation images whose top label is right
``coverage``          share whose max probability is >= ``threshold`` (they go on to routing)
``covered_accuracy``  accuracy among the covered ones (None when none is covered)
``ece``               expected calibration error (10 equal-width bins)
``n``                 evaluation images
``class_labels``      the model's output order
``threshold``         the confidence threshold the shares are measured at
``evaluation_sha256`` (optional) digest of the evaluation set's files
``evaluation_class_labels`` (optional) the classes the evaluation set holds images of

The rule (``decide``): with no champion the challenger is promoted. Otherwise it is promoted
only when both were measured on the same evaluation set at the same threshold and the
challenger is no worse on accuracy, coverage and covered accuracy, and stays calibrated (ECE at
most ``max(max_ece, champion's ECE)``). A challenger whose class list differs from the
champion's (a new class learned from reviewed labels) is compared only when the evaluation set
holds images of every one of its classes, and keeps every class the champion answers.

Pure Python: the training job, ``scones retrain`` and the promotion Lambda import it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from scones_domain.errors import InvalidModelMetrics

# The largest expected calibration error a promoted model may have, unless the champion's is
# larger already (the trained ensembles measure 0.02-0.03: docs/model.md).
MAX_ECE = 0.05
# Metrics computed from the same counts are equal exactly; this only absorbs float rounding.
_TOLERANCE = 1e-9

SHARES = ("accuracy", "coverage", "ece")
REQUIRED_KEYS = (*SHARES, "covered_accuracy", "n", "class_labels", "threshold")

# The checks, in the order the reason lists them (keys of Decision.checks).
CHECK_SAME_EVALUATION = "same_evaluation_set"
CHECK_CLASSES = "classes_covered"
CHECK_ACCURACY = "accuracy"
CHECK_COVERAGE = "coverage"
CHECK_COVERED_ACCURACY = "covered_accuracy"
CHECK_CALIBRATION = "calibration"
NO_CHAMPION = "no champion to beat"


@dataclass(frozen=True)
class Decision:
    """The gate's answer: promoted or not, why (every failed check with both numbers), and
    each check's outcome."""

    promoted: bool
    reason: str
    checks: dict[str, bool] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def check_metrics(metrics: Mapping, role: str = "challenger") -> dict:
    """The gate's keys of ``metrics``, checked; InvalidModelMetrics names what is wrong."""
    if not isinstance(metrics, Mapping):
        raise InvalidModelMetrics(f"{role} metrics must be a mapping, got "
                                  f"{type(metrics).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in metrics]
    if missing:
        raise InvalidModelMetrics(f"{role} metrics lack {', '.join(missing)}")
    for key in (*SHARES, "threshold"):
        _share(metrics[key], key, role)
    if metrics["covered_accuracy"] is not None:
        _share(metrics["covered_accuracy"], "covered_accuracy", role)
    n = metrics["n"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidModelMetrics(f"{role} metrics: n must be a count of at least 1 evaluation "
                                  f"image, got {n!r}")
    labels = _labels(metrics["class_labels"], "class_labels", role)
    evaluation_labels = metrics.get("evaluation_class_labels")
    if evaluation_labels is not None:
        _labels(evaluation_labels, "evaluation_class_labels", role, minimum=1)
    digest = metrics.get("evaluation_sha256")
    if digest is not None and (not isinstance(digest, str) or not digest):
        raise InvalidModelMetrics(f"{role} metrics: evaluation_sha256 must be a digest string, "
                                  f"got {digest!r}")
    return {**{key: metrics[key] for key in REQUIRED_KEYS}, "class_labels": labels,
            "evaluation_sha256": digest,
            "evaluation_class_labels": None if evaluation_labels is None
            else list(evaluation_labels)}


def _share(value, key: str, role: str) -> float:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidModelMetrics(f"{role} metrics: {key} must be a number between 0 and 1, "
                                  f"got {value!r}")
    return float(value)


def _labels(value, key: str, role: str, minimum: int = 2) -> list[str]:
    if (not isinstance(value, list | tuple) or len(value) < minimum
            or not all(isinstance(label, str) and label for label in value)
            or len(set(value)) != len(value)):
        raise InvalidModelMetrics(f"{role} metrics: {key} must list at least {minimum} distinct "
                                  f"label(s), got {value!r}")
    return list(value)


def _pair(mine: float, theirs: float) -> tuple[str, str]:
    """Both numbers with 3 decimals, more when 3 would print them equal."""
    for digits in (3, 4, 6):
        left, right = f"{mine:.{digits}f}", f"{theirs:.{digits}f}"
        if left != right:
            break
    return left, right


def _no_worse(label: str, challenger, champion, failures: list[str]) -> bool:
    """challenger >= champion (a missing covered accuracy is worse than any)."""
    if champion is None:
        return True
    if challenger is not None and challenger >= champion - _TOLERANCE:
        return True
    if challenger is None:
        failures.append(f"{label} n/a (no image covered) < champion {champion:.3f}")
    else:
        mine, theirs = _pair(challenger, champion)
        failures.append(f"{label} {mine} < champion {theirs}")
    return False


def decide(champion: Mapping | None, challenger: Mapping, *, max_ece: float = MAX_ECE
           ) -> Decision:
    """Apply the promotion gate (module docstring) to two metrics mappings."""
    new = check_metrics(challenger, "challenger")
    max_ece = _share(max_ece, "max_ece", "gate")
    if champion is None:
        return Decision(True, NO_CHAMPION, {})
    old = check_metrics(champion, "champion")
    failures: list[str] = []
    notes: list[str] = []
    checks = {CHECK_SAME_EVALUATION: _same_evaluation(old, new, failures),
              CHECK_CLASSES: _classes_covered(old, new, failures, notes)}
    comparable = checks[CHECK_SAME_EVALUATION] and checks[CHECK_CLASSES]
    checks[CHECK_ACCURACY] = comparable and _no_worse(
        "accuracy", new["accuracy"], old["accuracy"], failures)
    checks[CHECK_COVERAGE] = comparable and _no_worse(
        "coverage", new["coverage"], old["coverage"], failures)
    checks[CHECK_COVERED_ACCURACY] = comparable and _no_worse(
        "covered accuracy", new["covered_accuracy"],
        old["covered_accuracy"], failures)
    allowed = max(max_ece, old["ece"])
    checks[CHECK_CALIBRATION] = new["ece"] <= allowed + _TOLERANCE
    if not checks[CHECK_CALIBRATION]:
        mine, theirs = _pair(new["ece"], allowed)
        failures.append(f"ECE {mine} > allowed {theirs} (max of {max_ece:.3f} and champion "
                        f"{old['ece']:.3f})")
    promoted = all(checks.values())
    if promoted:
        reason = (f"challenger no worse than the champion on {new['n']} evaluation images: "
                  f"accuracy {new['accuracy']:.3f} >= {old['accuracy']:.3f}, coverage "
                  f"{new['coverage']:.3f} >= {old['coverage']:.3f}, covered accuracy "
                  f"{_text(new['covered_accuracy'])} >= {_text(old['covered_accuracy'])}, ECE "
                  f"{new['ece']:.3f} <= {allowed:.3f}")
    else:
        reason = "; ".join(failures)
    return Decision(promoted, "; ".join([*notes, reason]), checks)


def decide_challenge(document: Mapping, *, max_ece: float = MAX_ECE) -> Decision:
    """The gate over a training job's ``challenge.json`` (its ``champion`` and ``challenger``)."""
    if not isinstance(document, Mapping) or "challenger" not in document:
        raise InvalidModelMetrics("challenge document lacks challenger metrics")
    return decide(document.get("champion"), document["challenger"], max_ece=max_ece)


def _text(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _same_evaluation(old: dict, new: dict, failures: list[str]) -> bool:
    same = True
    if not math.isclose(old["threshold"], new["threshold"], abs_tol=_TOLERANCE):
        failures.append(f"threshold {new['threshold']:g} != champion {old['threshold']:g}: "
                        "not measured at the same threshold")
        same = False
    digests = (new["evaluation_sha256"], old["evaluation_sha256"])
    if any(digests) and digests[0] != digests[1]:
        failures.append(f"evaluation set {_short(digests[0])} != champion's "
                        f"{_short(digests[1])}: not measured on the same images")
        same = False
    elif new["n"] != old["n"]:
        failures.append(f"evaluation images {new['n']} != champion's {old['n']}: not measured "
                        "on the same images")
        same = False
    return same


def _short(digest: str | None) -> str:
    return "unknown" if digest is None else digest[:12]


def _classes_covered(old: dict, new: dict, failures: list[str], notes: list[str]) -> bool:
    """A changed class list is judged only on an evaluation set that holds all its classes."""
    if new["class_labels"] == old["class_labels"]:
        return True
    notes.append(f"class list changed: {','.join(old['class_labels'])} -> "
                 f"{','.join(new['class_labels'])}")
    dropped = [label for label in old["class_labels"] if label not in new["class_labels"]]
    if dropped:
        failures.append(f"the challenger no longer answers {', '.join(dropped)}")
        return False
    held = new["evaluation_class_labels"]
    if held is None:
        failures.append("the evaluation set's classes are unknown: the challenger's classes "
                        "cannot be compared with the champion's")
        return False
    lacking = [label for label in new["class_labels"] if label not in held]
    if lacking:
        failures.append(f"the evaluation set has no images of {', '.join(lacking)}: the "
                        "challenger cannot be compared on every class it answers")
        return False
    notes.append(f"compared on an evaluation set holding all {len(new['class_labels'])} "
                 "classes")
    return True
