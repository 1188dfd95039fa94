"""Record a reviewer's answer: a human result, labeled training data, the review closed.

Invoked by the review workflow's RecordReview state once the reviewer's answer
(``{"label", "reviewer"}``) resumed it, or by RecordExpiredReview when nobody answered in
time (``outcome`` expired: the pending review is closed as expired, nothing else changes).

For a label:

- the label must be one of the model's class labels (the classifier's ``class_labels``);
  otherwise UnknownReviewLabel, which the workflow catches to ask the reviewer again;
- the image is copied to ``LABELS_PREFIX + <label>/ + key`` with who, when and which model
  version in its metadata: training data for the next retraining;
- the results table gets the image's item with ``source`` human, the reviewer's label and the
  model's answer beside it (a person's label replaces any earlier item of the image);
- the sidecar under the review prefix gets ``true_label`` (``scones monitor --reviewed-labels``
  reads it), the pending review becomes labeled;
- the counter of labels since the last training goes up by one, atomically; the answer that
  reaches a multiple of RETRAIN_AFTER_LABELS returns ``retrain: true``.

The review is closed last, and only while it is pending: a retried invocation of an answer
already recorded rewrites the same objects and items and counts nothing (``new_labels`` 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from scones_domain.config import env_int, env_str, model_version
from scones_domain.contracts import RecordReviewInput, RecordReviewOutput
from scones_domain.errors import ImageNotFound, InvalidEventField
from scones_domain.events import require_list, require_mapping, require_str
from scones_domain.items import to_item
from scones_domain.location import S3Location
from scones_domain.review import (
    COUNTER_ID,
    EXPIRED,
    LABELED,
    PENDING,
    check_label,
    check_reviewer,
    label_location,
    label_metadata,
    review_id,
)
from scones_domain.storage import copy_image, is_not_found, read_json, write_json

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

REVIEWS_TABLE = env_str("REVIEWS_TABLE")
RESULTS_TABLE = env_str("RESULTS_TABLE")
REVIEW_PREFIX = env_str("REVIEW_PREFIX")
LABELS_PREFIX = env_str("LABELS_PREFIX")
RETRAIN_AFTER_LABELS = env_int("RETRAIN_AFTER_LABELS")

s3 = boto3.client("s3")
dynamodb = boto3.client("dynamodb")
ssm = boto3.client("ssm")


@dataclass(frozen=True)
class Review:
    image: S3Location
    outcome: str
    predicted_label: str
    confidence: Any
    inferences: list
    class_labels: list
    review_execution_arn: str
    recorded_at: str
    label: str | None = None
    reviewer: str | None = None

    @property
    def review_id(self) -> str:
        return review_id(self.image.bucket, self.image.key)


def parse_review(event: Any) -> Review:
    """The event, checked: an answer's label must be one of the model's class labels."""
    event = require_mapping(event)
    outcome = event.get("outcome")
    if outcome not in (LABELED, EXPIRED):
        raise InvalidEventField(f"'outcome' must be {LABELED!r} or {EXPIRED!r}, got {outcome!r}")
    result = require_mapping(event.get("result"))
    class_labels = require_list(result, "class_labels")
    review = Review(
        image=S3Location(require_str(result, "bucket"), require_str(result, "key")),
        outcome=outcome, predicted_label=require_str(result, "label"),
        confidence=result.get("confidence"), inferences=require_list(result, "inferences"),
        class_labels=class_labels,
        review_execution_arn=require_str(event, "review_execution_arn"),
        recorded_at=require_str(event, "recorded_at"))
    if outcome == EXPIRED:
        return review
    answer = require_mapping(event.get("review"))
    return Review(**{**review.__dict__,
                     "label": check_label(answer.get("label"), class_labels),
                     "reviewer": check_reviewer(answer.get("reviewer"))})


def human_result(review: Review, version: str) -> dict[str, Any]:
    """The results table's item of a reviewed image (plain values; :func:`to_item`)."""
    return {"image": review.image.uri, "bucket": review.image.bucket, "key": review.image.key,
            "label": review.label, "source": "human", "reviewer": review.reviewer,
            "predicted_label": review.predicted_label, "confidence": review.confidence,
            "inferences": review.inferences, "model_version": version,
            "execution_arn": review.review_execution_arn, "recorded_at": review.recorded_at}


def keep_as_training_data(client: Any, review: Review, version: str) -> S3Location:
    """Copy the photo the reviewer saw (its review copy, which outlives the original) to
    ``labels/<label>/<key>``; the original when the copy is gone; ImageNotFound when both are."""
    target = label_location(review.image, LABELS_PREFIX, review.label)
    options = {"MetadataDirective": "REPLACE", "TaggingDirective": "REPLACE",
               "Metadata": label_metadata(
                   reviewer=review.reviewer, reviewed_at=review.recorded_at,
                   model_version=version, predicted_label=review.predicted_label,
                   confidence=review.confidence,
                   review_execution_arn=review.review_execution_arn)}
    seen = S3Location(review.image.bucket, REVIEW_PREFIX + review.image.key)
    try:
        copy_image(client, seen, target, **options)
    except ImageNotFound:
        copy_image(client, review.image, target, **options)
    return target


def close_review(client: Any, review: Review) -> bool:
    """The pending review becomes labeled or expired; its task token is dropped. False when
    it was closed already (this answer recorded by an earlier attempt): nothing changes."""
    values = {":status": {"S": review.outcome}, ":at": {"S": review.recorded_at},
              ":pending": {"S": PENDING}}
    update = "SET #status = :status, closed_at = :at"
    if review.label is not None:
        values.update({":label": {"S": review.label}, ":reviewer": {"S": review.reviewer}})
        update += ", true_label = :label, reviewer = :reviewer"
    try:
        client.update_item(TableName=REVIEWS_TABLE, Key={"review_id": {"S": review.review_id}},
                           UpdateExpression=update + " REMOVE task_token",
                           ConditionExpression="attribute_not_exists(#status) OR "
                                               "#status = :pending",
                           ExpressionAttributeNames={"#status": "status"},
                           ExpressionAttributeValues=values)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def fill_sidecar(client: Any, review: Review) -> None:
    """``true_label`` and the reviewer in the sidecar beside the review copy."""
    sidecar = S3Location(review.image.bucket, REVIEW_PREFIX + review.image.key + ".json")
    try:
        document = read_json(client, sidecar)
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        logger.warning("no review sidecar to fill", extra={"sidecar": sidecar.uri})
        return
    document.update({"true_label": review.label, "reviewer": review.reviewer,
                     "reviewed_at": review.recorded_at})
    write_json(client, sidecar, document)


def count_label(client: Any) -> int:
    """One more label since the last training (atomic); the new count."""
    response = client.update_item(
        TableName=REVIEWS_TABLE, Key={"review_id": {"S": COUNTER_ID}},
        UpdateExpression="ADD labels :one", ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="UPDATED_NEW")
    return int(response["Attributes"]["labels"]["N"])


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: RecordReviewInput, context: LambdaContext) -> RecordReviewOutput:
    review = parse_review(event)
    if review.outcome == EXPIRED:
        if close_review(dynamodb, review):
            metrics.add_metric(name="ReviewsExpired", unit=MetricUnit.Count, value=1)
            logger.warning("review expired", extra={"image": review.image.uri})
        return {"label": None, "new_labels": 0, "retrain": False}
    version = model_version(ssm)
    target = keep_as_training_data(s3, review, version)
    dynamodb.put_item(TableName=RESULTS_TABLE, Item=to_item(human_result(review, version)))
    fill_sidecar(s3, review)
    # closed only once the label is kept: a failure above leaves the review pending, and a
    # retry of an answer already recorded counts it once
    if not close_review(dynamodb, review):
        logger.info("review recorded already", extra={"image": review.image.uri})
        return {"label": review.label, "new_labels": 0, "retrain": False}
    new_labels = count_label(dynamodb)
    metrics.add_dimension(name="Label", value=review.label)
    metrics.add_metric(name="ImagesReviewed", unit=MetricUnit.Count, value=1)
    logger.info("review recorded", extra={"image": review.image.uri, "label": review.label,
                                          "predicted_label": review.predicted_label,
                                          "training_copy": target.uri, "new_labels": new_labels})
    return {"label": review.label, "new_labels": new_labels,
            "retrain": new_labels % RETRAIN_AFTER_LABELS == 0}
