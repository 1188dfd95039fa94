"""Reviewed labels: the true label of some captured inferences, to measure accuracy on them.

Captures hold the model's answers, never the truth; a reviewer's labels are the only measured
accuracy the report can show. ``scones monitor --reviewed-labels PATH`` takes one of:

- a folder of ``<label>/<image file>`` (any depth below the label folder): the reviewer sorted
  copies of the images into one folder per class. Matched to captures by the image's bytes
  (SHA-256): the capture holds the exact bytes the endpoint received;
- a folder of the review queue's copies with their sidecars (``<key>`` and ``<key>.json`` as
  SendToReviewFunction writes them, e.g. ``aws s3 sync s3://BUCKET/review/ reviewed/``) in
  which the reviewer filled ``"true_label"``; sidecars still ``null`` are not reviewed yet;
- a JSON Lines file, one ``{"label": ...}`` per line with one key naming the inference:
  ``"inference_id"`` (the ``X-Amzn-SageMaker-Inference-Id`` the caller sent), ``"event_id"``
  (the capture's ``eventId``), ``"sha256"`` of the image bytes, or ``"image"``: an image file
  (relative to the JSON Lines file's folder), hashed. ``"true_label"`` is read like ``"label"``.

Labels that are not the model's labels, and entries whose image is missing, are counted as
problems and left out; a missing PATH is :class:`ReviewedLabelsNotFound`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from scones_domain.monitoring.captures import CaptureError

KEYS = ("inference_id", "event_id", "sha256")
_MAX_PROBLEMS = 20


class ReviewedLabelsNotFound(CaptureError):
    """``--reviewed-labels`` names no file or folder."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ReviewedLabels:
    """True labels keyed by inference id, capture event id or image SHA-256."""

    source: str
    by: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KEYS})
    n_entries: int = 0
    problems: list[str] = field(default_factory=list)
    n_problems: int = 0

    def add(self, key: str, value: str, label, labels, where: str) -> None:
        if label not in labels:
            self.problem(f"{where}: label {label!r} is not one of {list(labels)}")
            return
        self.by[key][str(value)] = label
        self.n_entries += 1

    def problem(self, message: str) -> None:
        self.n_problems += 1
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(message)

    def label_of(self, row) -> str | None:
        """The reviewed label of a capture row (inference id, then event id, then bytes)."""
        for key, value in (("inference_id", row.inference_id), ("event_id", row.event_id),
                           ("sha256", row.extra.get("sha256"))):
            if value and value in self.by[key]:
                return self.by[key][value]
        return None


def _hash_file(path: Path) -> str:
    return sha256(path.read_bytes())


def _from_folder(root: Path, labels, out: ReviewedLabels) -> None:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    sidecar_images = set()
    for sidecar in (p for p in files if p.suffix == ".json"):
        try:
            doc = json.loads(sidecar.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            out.problem(f"{sidecar}: not JSON")
            continue
        image = sidecar.with_suffix("")
        if not isinstance(doc, dict) or "true_label" not in doc:
            continue  # not a review sidecar
        sidecar_images.add(image)  # the image is the sidecar's, never a folder-labelled one
        if doc["true_label"] is None:
            continue  # not reviewed yet
        if not image.is_file():
            out.problem(f"{sidecar}: its image {image.name} is missing")
            continue
        out.add("sha256", _hash_file(image), doc["true_label"], labels, str(sidecar))
    for path in files:
        if path.suffix == ".json" or path in sidecar_images:
            continue
        label = path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else None
        if label is None:
            continue  # a file at the top level: neither a labelled image nor a sidecar
        out.add("sha256", _hash_file(path), label, labels, str(path))


def _from_lines(path: Path, labels, out: ReviewedLabels) -> None:
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{line_no}"
        try:
            doc = json.loads(line)
        except ValueError:
            out.problem(f"{where}: not JSON")
            continue
        if not isinstance(doc, dict):
            out.problem(f"{where}: not an object")
            continue
        label = doc.get("label", doc.get("true_label"))
        key = next((k for k in KEYS if doc.get(k)), None)
        if key is not None:
            out.add(key, doc[key], label, labels, where)
        elif doc.get("image"):
            image = Path(doc["image"])
            image = image if image.is_absolute() else path.parent / image
            if image.is_file():
                out.add("sha256", _hash_file(image), label, labels, where)
            else:
                out.problem(f"{where}: image {doc['image']} not found")
        else:
            out.problem(f"{where}: names no inference (inference_id, event_id, sha256 or image)")


def load_reviewed(path: str | Path, labels) -> ReviewedLabels:
    """Read a labels folder or JSON Lines file (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise ReviewedLabelsNotFound(f"reviewed labels not found: {path}")
    out = ReviewedLabels(source=str(path))
    if path.is_dir():
        _from_folder(path, tuple(labels), out)
    else:
        _from_lines(path, tuple(labels), out)
    return out


def match(rows, reviewed: ReviewedLabels) -> list[tuple]:
    """(row, true label) for every capture row that has a reviewed label."""
    pairs = [(row, reviewed.label_of(row)) for row in rows]
    return [(row, truth) for row, truth in pairs if truth is not None]


def _part(pairs) -> dict:
    if not pairs:
        return {"n": 0, "correct": 0, "accuracy": None, "expected_accuracy": None}
    correct = sum(row.label == truth for row, truth in pairs)
    return {"n": len(pairs), "correct": correct, "accuracy": correct / len(pairs),
            "expected_accuracy": sum(r.confidence for r, _ in pairs) / len(pairs)}


def reviewed_accuracy(matched, reviewed: ReviewedLabels, labels) -> dict:
    """Measured accuracy on the matched inferences, next to what the model expected of the
    same inferences (their mean max-probability), split at the threshold."""
    confusion = {t: {p: 0 for p in labels} for t in labels}
    for row, truth in matched:
        confusion[truth][row.label] = confusion[truth].get(row.label, 0) + 1
    return {
        "source": reviewed.source,
        "n_labels": reviewed.n_entries,
        "n_problems": reviewed.n_problems,
        "problems": reviewed.problems,
        **_part(matched),
        "above_threshold": _part([m for m in matched if m[0].above_threshold]),
        "below_threshold": _part([m for m in matched if not m[0].above_threshold]),
        "confusion": confusion,  # true label -> predicted label -> count
    }
