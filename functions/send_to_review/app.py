"""Send an image that failed the confidence threshold to human review.

The state caught from FilterLowConfidence (the classifier's output plus ``error``) arrives as
``result``, with the execution's ARN. The image is copied to ``REVIEW_PREFIX + key`` in the
same bucket (its metadata names label, confidence and execution) and a JSON sidecar
``REVIEW_PREFIX + key + ".json"`` holds everything a labeller needs: the inferences per class
label, the verdict's cause and the model version. Copying the same image again overwrites both
with the same content (idempotent). The function returns ``result`` unchanged so that the
workflow still fails with THRESHOLD_CONFIDENCE_NOT_MET.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from scones_domain.config import env_str
from scones_domain.contracts import ReviewRecord, SendToReviewInput, SendToReviewOutput
from scones_domain.errors import InvalidEventField
from scones_domain.events import require_list, require_mapping, require_str
from scones_domain.location import S3Location
from scones_domain.storage import write_json

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

REVIEW_PREFIX = env_str("REVIEW_PREFIX")
MODEL_VERSION = env_str("MODEL_VERSION")

s3 = boto3.client("s3")


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
        "true_label": None,  # filled in by the reviewer
    }


def send_to_review(
    client: Any, record: ReviewRecord, prefix: str
) -> tuple[S3Location, S3Location]:
    """Copy the image and write its sidecar; returns where both went."""
    copy, sidecar = review_locations(S3Location(record["bucket"], record["key"]), prefix)
    extra = {"ContentType": record["content_type"]} if record.get("content_type") else {}
    client.copy_object(
        Bucket=copy.bucket, Key=copy.key,
        CopySource={"Bucket": record["bucket"], "Key": record["key"]},
        MetadataDirective="REPLACE",
        TaggingDirective="REPLACE",  # no tags copied: needs no s3:*ObjectTagging permission
        Metadata={"label": record["label"], "confidence": str(record["confidence"]),
                  "execution-arn": record["execution_arn"]},
        **extra,
    )
    write_json(client, sidecar, record)
    return copy, sidecar


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: SendToReviewInput, context: LambdaContext) -> SendToReviewOutput:
    record = review_record(event, MODEL_VERSION)
    copy, sidecar = send_to_review(s3, record, REVIEW_PREFIX)
    metrics.add_dimension(name="PredictedLabel", value=record["label"])
    metrics.add_metric(name="ImagesSentToReview", unit=MetricUnit.Count, value=1)
    logger.info("image sent to review", extra={"image": record["image"], "review_key": copy.key,
                                               "sidecar": sidecar.key})
    return event["result"]
