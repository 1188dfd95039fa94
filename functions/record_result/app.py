"""Record a confident result in the results table: once per image and model version.

The workflow's state after FilterLowConfidence (bucket, key, label, confidence, inferences,
threshold) arrives as ``result``, with the execution's ARN and the time the state was entered.
One item per image, keyed ``image`` = ``s3://bucket/key``, holding label, confidence,
inferences, threshold, model version, execution ARN and time.

"Exactly once": a conditional put writes the item only when the image has no item yet or its
item came from another model version. Re-running the same image with the same model (a retry,
a re-upload, a batch over the same prefix, a duplicate EventBridge delivery) leaves the first
item untouched, so the routing side never sees a result change without a model change.
The function returns ``result`` unchanged: the workflow's final output stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from scones_domain.config import env_str, model_version
from scones_domain.contracts import RecordResultInput, RecordResultOutput
from scones_domain.errors import InvalidEventField
from scones_domain.events import require_list, require_mapping, require_str
from scones_domain.items import to_item
from scones_domain.location import S3Location

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

RESULTS_TABLE = env_str("RESULTS_TABLE")

dynamodb = boto3.client("dynamodb")
ssm = boto3.client("ssm")

# Written when the image has no item yet, or its item came from another model version.
RECORD_CONDITION = "attribute_not_exists(#image) OR #model_version <> :model_version"


@dataclass(frozen=True)
class ConfidentResult:
    location: S3Location
    label: str
    confidence: float
    inferences: list[float]
    threshold: float
    execution_arn: str
    recorded_at: str


def _number(event: dict[str, Any], name: str) -> float:
    value = event.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidEventField(f"{name!r} must be a number, got {value!r}")
    return float(value)


def parse_result(event: Any) -> ConfidentResult:
    """``{"result": <final output>, "execution_arn": ..., "recorded_at": ...}``."""
    event = require_mapping(event)
    result = require_mapping(event.get("result"))
    inferences = require_list(result, "inferences")
    if not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in inferences):
        raise InvalidEventField(f"'inferences' must be numbers, got {inferences!r}")
    return ConfidentResult(
        location=S3Location(require_str(result, "bucket"), require_str(result, "key")),
        label=require_str(result, "label"),
        confidence=_number(result, "confidence"),
        inferences=[float(p) for p in inferences],
        threshold=_number(result, "threshold"),
        execution_arn=require_str(event, "execution_arn"),
        recorded_at=require_str(event, "recorded_at"),
    )


def result_item(result: ConfidentResult, model_version: str) -> dict[str, dict[str, Any]]:
    """The DynamoDB item for one confident result (RecordReviewFunction records a person's
    label the same way, with ``source`` human)."""
    return to_item({
        "image": result.location.uri, "bucket": result.location.bucket,
        "key": result.location.key, "label": result.label, "source": "model",
        "confidence": result.confidence, "inferences": list(result.inferences),
        "threshold": result.threshold, "model_version": model_version,
        "execution_arn": result.execution_arn, "recorded_at": result.recorded_at,
    })


def record_once(client: Any, table: str, item: dict[str, dict[str, Any]]) -> bool:
    """Put the item unless this image is already recorded for this model version.

    True when written, False when an item from the same model version already exists.
    """
    try:
        client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression=RECORD_CONDITION,
            ExpressionAttributeNames={"#image": "image", "#model_version": "model_version"},
            ExpressionAttributeValues={":model_version": item["model_version"]},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: RecordResultInput, context: LambdaContext) -> RecordResultOutput:
    result = parse_result(event)
    version = model_version(ssm)
    written = record_once(dynamodb, RESULTS_TABLE, result_item(result, version))
    metrics.add_metric(name="ResultsRecorded" if written else "ResultsAlreadyRecorded",
                       unit=MetricUnit.Count, value=1)
    logger.info("result recorded" if written else "result already recorded",
                extra={"image": result.location.uri, "label": result.label,
                       "model_version": version})
    return event["result"]
