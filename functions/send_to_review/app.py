"""Send an image that failed the confidence threshold to a person, and wait for their label.

Invoked by the review workflow's SendToReview state (``lambda:invoke.waitForTaskToken``) with
the classification workflow's state (the classifier's output plus ``error``) as ``result``,
its execution's ARN, the task token and the review's deadline. The image is copied to
``REVIEW_PREFIX + key`` in the same bucket (its metadata names label, confidence and
execution) with a JSON sidecar ``REVIEW_PREFIX + key + ".json"`` holding everything a labeller
needs, and the pending review (with the task token) is put in the reviews table, where
``scones review`` finds it. The execution waits until the token is answered (or the deadline
passes); this function's return value is not the state's output. Sending the same review
again overwrites the copy, the sidecar and the item with the same content (idempotent), with
the latest token.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from scones_domain.config import env_str, model_version
from scones_domain.contracts import ReviewRecord, SendToReviewInput
from scones_domain.errors import InvalidEventField, ReviewExpired
from scones_domain.events import require_list, require_mapping, require_str
from scones_domain.items import to_item
from scones_domain.location import S3Location
from scones_domain.monitoring.captures import parse_time
from scones_domain.review import pending_review
from scones_domain.storage import copy_image, write_json

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

REVIEW_PREFIX = env_str("REVIEW_PREFIX")
REVIEWS_TABLE = env_str("REVIEWS_TABLE")

s3 = boto3.client("s3")
dynamodb = boto3.client("dynamodb")
ssm = boto3.client("ssm")


def review_locations(image: S3Location, prefix: str) -> tuple[S3Location, S3Location]:
    """(copy of the image, its JSON sidecar) under the review prefix, in the same bucket."""
    if image.key.startswith(prefix):
        raise InvalidEventField(f"{image.key!r} is already under the review prefix {prefix!r}")
    return (S3Location(image.bucket, prefix + image.key),
            S3Location(image.bucket, prefix + image.key + ".json"))


def review_record(event: Any, model_version: str) -> ReviewRecord:
    """What a reviewer sees: the image, the verdict and the inferences per label."""
    event = require_mapping(event)
    result = require_mapping(event.get("result"))
    labels = require_list(result, "class_labels")
    inferences = require_list(result, "inferences")
    if len(labels) != len(inferences):
        raise InvalidEventField(f"{len(labels)} class_labels but {len(inferences)} inferences")
    error = result.get("error") if isinstance(result.get("error"), dict) else {}
    image = S3Location(require_str(result, "bucket"), require_str(result, "key"))
    return {
        "image": image.uri,
        "bucket": image.bucket,
        "key": image.key,
        "label": require_str(result, "label"),
        "confidence": result.get("confidence"),
        "inferences": dict(zip(labels, inferences, strict=True)),
        "error": error.get("Error"),
        "cause": error.get("Cause"),
        "model_version": model_version,
        "execution_arn": require_str(event, "execution_arn"),
        "content_type": result.get("content_type"),
        "true_label": None,  # filled in by RecordReviewFunction from the reviewer's answer
    }


def send_to_review(
    client: Any, record: ReviewRecord, prefix: str
) -> tuple[S3Location, S3Location]:
    """Copy the image and write its sidecar; returns where both went."""
    copy, sidecar = review_locations(S3Location(record["bucket"], record["key"]), prefix)
    extra = {"ContentType": record["content_type"]} if record.get("content_type") else {}
    copy_image(
        client, S3Location(record["bucket"], record["key"]), copy,
        MetadataDirective="REPLACE",
        TaggingDirective="REPLACE",  # no tags copied: needs no s3:*ObjectTagging permission
        Metadata={"label": record["label"], "confidence": str(record["confidence"]),
                  "execution-arn": record["execution_arn"]},
        **extra,
    )
    write_json(client, sidecar, record)
    return copy, sidecar


def deadline(sent_at: str, timeout_seconds: Any, field: str = "sent_at") -> int:
    """``sent_at`` (the event's ``field``) plus the timeout in epoch seconds (shown by `scones
    review`; the workflow's task timeout is what expires a review)."""
    if isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, (int, float)):
        raise InvalidEventField(f"'timeout_seconds' must be a number, got {timeout_seconds!r}")
    try:
        start = parse_time(sent_at)
    except ValueError:
        raise InvalidEventField(f"'{field}' is not an ISO 8601 time: {sent_at!r}") from None
    return int(start.timestamp() + timeout_seconds)


def rejected_label_text(rejected: Any) -> str | None:
    """Why the previous answer was sent back: the caught UnknownReviewLabel's message (its
    ``Cause`` is the Lambda error document: errorType, errorMessage, stackTrace)."""
    if not isinstance(rejected, dict):
        return None
    cause = rejected.get("Cause")
    try:
        message = json.loads(cause).get("errorMessage") if isinstance(cause, str) else None
    except (ValueError, AttributeError):
        message = None
    return str(message or cause or rejected.get("Error") or "") or None


def review_deadline(event: Any, now: float) -> int:
    """The review's deadline: its start (the review execution's) plus the timeout, the same
    for every send of one review. A send after a refused label that finds it passed raises
    ReviewExpired (the workflow closes the review as expired): a caller sending labels that
    are not classes cannot keep a review open past its deadline."""
    field = "review_started_at" if event.get("review_started_at") else "sent_at"
    started = require_str(event, field)
    expires_at = deadline(started, event.get("timeout_seconds"), field)
    if event.get("rejected_label") is not None and now >= expires_at:
        raise ReviewExpired(f"the review started at {started} expired at {expires_at} (epoch "
                            f"seconds) before a label among the model's classes came")
    return expires_at


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: SendToReviewInput, context: LambdaContext) -> dict:
    record = review_record(event, model_version(ssm))
    sent_at = require_str(event, "sent_at")
    expires_at = review_deadline(event, time.time())
    copy, sidecar = send_to_review(s3, record, REVIEW_PREFIX)
    pending = pending_review(
        record, task_token=require_str(event, "task_token"), sent_at=sent_at,
        expires_at=expires_at,
        review_execution_arn=require_str(event, "review_execution_arn"), review_copy=copy,
        rejected_label=rejected_label_text(event.get("rejected_label")))
    dynamodb.put_item(TableName=REVIEWS_TABLE, Item=to_item(pending))
    metrics.add_dimension(name="PredictedLabel", value=record["label"])
    metrics.add_metric(name="ImagesSentToReview", unit=MetricUnit.Count, value=1)
    logger.info("image sent to review", extra={"image": record["image"], "review_key": copy.key,
                                               "sidecar": sidecar.key,
                                               "review_id": pending["review_id"]})
    return {"review_id": pending["review_id"], "review_copy": copy.uri}
