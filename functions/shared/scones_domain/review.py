"""Human review: the pending review a person answers, and what their answer becomes.

A photo below the threshold starts one execution of the review workflow
(statemachine/review.asl.json), named ``review_id(bucket, key)``: the SHA-256 of ``bucket/key``
in hex, which the classification workflow computes with ``States.Hash``. The same id keys the
pending review in the reviews table, so a repeated run of one image asks once.

The reviews table holds one item per review (``review_id``), with ``status`` pending, labeled
or expired, and one counter item (``COUNTER_ID``): the labels recorded since the last training.
A reviewer answers a pending review by sending its task token ``{"label", "reviewer"}``
(:func:`answer`); the label must be one of the model's class labels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from scones_domain.errors import InvalidEventField, UnknownReviewLabel
from scones_domain.events import require_str
from scones_domain.location import S3Location

PENDING, LABELED, EXPIRED = "pending", "labeled", "expired"
STATUS_INDEX = "ByStatus"  # GSI: status (hash), sent_at (range)
COUNTER_ID = "#labels-since-training"
MAX_REVIEWER_LENGTH = 128


def review_id(bucket: str, key: str) -> str:
    """The review's id: ``States.Hash(States.Format('{}/{}', bucket, key), 'SHA-256')``."""
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()


def check_label(label: Any, class_labels: Sequence[str]) -> str:
    """The label when it is one of the model's classes; UnknownReviewLabel otherwise."""
    if not isinstance(label, str) or label not in class_labels:
        raise UnknownReviewLabel(
            f"label {label!r} is not one of the model's classes: {', '.join(class_labels)}")
    return label


def check_reviewer(reviewer: Any) -> str:
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise InvalidEventField("the review names no reviewer")
    if len(reviewer) > MAX_REVIEWER_LENGTH:
        raise InvalidEventField(f"reviewer is longer than {MAX_REVIEWER_LENGTH} characters")
    return reviewer.strip()


def answer(label: str, reviewer: str, class_labels: Sequence[str]) -> str:
    """The task output a reviewer sends (SendTaskSuccess ``output``), checked first."""
    return json.dumps({"label": check_label(label, class_labels),
                       "reviewer": check_reviewer(reviewer)})


def label_location(image: S3Location, labels_prefix: str, label: str) -> S3Location:
    """Where a reviewed image is kept as training data: ``<labels_prefix><label>/<key>``."""
    return S3Location(image.bucket, f"{labels_prefix}{label}/{image.key}")


def label_metadata(*, reviewer: str, reviewed_at: str, model_version: str,
                   predicted_label: str, confidence: Any, review_execution_arn: str
                   ) -> dict[str, str]:
    """S3 user metadata of a labeled image: who, when, and what the model said."""
    return {"reviewer": reviewer, "reviewed-at": reviewed_at, "model-version": model_version,
            "predicted-label": predicted_label, "confidence": str(confidence),
            "review-execution-arn": review_execution_arn}


def pending_review(record: Mapping[str, Any], *, task_token: str, sent_at: str,
                   expires_at: int, review_execution_arn: str,
                   review_copy: S3Location, rejected_label: str | None) -> dict[str, Any]:
    """The pending review as the reviews table keeps it (plain values; :func:`to_item`)."""
    image = S3Location(require_str(record, "bucket"), require_str(record, "key"))
    return {
        "review_id": review_id(image.bucket, image.key),
        "status": PENDING,
        "image": image.uri,
        "review_copy": review_copy.uri,
        "predicted_label": record["label"],
        "confidence": record["confidence"],
        "inferences": record["inferences"],
        "class_labels": list(record["inferences"]),
        "model_version": record["model_version"],
        "execution_arn": record["execution_arn"],
        "review_execution_arn": review_execution_arn,
        "task_token": task_token,
        "sent_at": sent_at,
        "expires_at": expires_at,
        "rejected_label": rejected_label,
    }
