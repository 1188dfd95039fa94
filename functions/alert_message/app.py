"""Publish one operations alert per failed, timed-out or aborted workflow execution.

WorkflowFailedRule (EventBridge) delivers the Step Functions "Execution Status Change" event of
an execution of either state machine that ended FAILED (but not with the expected
THRESHOLD_CONFIDENCE_NOT_MET verdict), TIMED_OUT or ABORTED. This function publishes to
AlertTopic what an operator needs and nothing more: the execution's status, the image's
bucket and key (a batch's prefix), the execution ARN, its error and its cause. The execution's
input is read for the bucket and key only and never published or logged: it can hold the
image itself (``image_data``, base64). An EventBridge input transformer cannot do this: the
event carries the input as one JSON string, which InputPathsMap cannot look into.

Publishing failures raise: Lambda retries the asynchronous invoke, then sends the event to
OperationsDeadLetterQueue (EventInvokeConfig), whose alarm alerts through CloudWatch.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from scones_domain.config import env_str
from scones_domain.contracts import AlertMessage, AlertPublished, ExecutionStatusChangeEvent
from scones_domain.errors import InvalidEventField
from scones_domain.events import require_mapping

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

ALERT_TOPIC_ARN = env_str("ALERT_TOPIC_ARN")

sns = boto3.client("sns")

MESSAGE_FIELDS = ("alert", "bucket", "key", "execution", "error", "cause")
SUBJECT_MAX = 100  # SNS: ASCII, at most 100 characters


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def image_of(execution_input: Any) -> tuple[str | None, str | None]:
    """(bucket, key) named by an execution's input: the per-image workflow's ``s3_bucket`` and
    ``s3_key``, a batch's ``s3_bucket`` and ``prefix``, or a review's ``result`` (``bucket``,
    ``key``). None for what the input lacks (or when it is not a JSON object; a retraining's
    names no image); nothing else of the input is kept."""
    try:
        data = json.loads(execution_input) if isinstance(execution_input, str) else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return None, None
    review = data.get("result") if isinstance(data.get("result"), dict) else {}
    return (_text(data.get("s3_bucket")) or _text(review.get("bucket")),
            _text(data.get("s3_key")) or _text(data.get("prefix")) or _text(review.get("key")))


def alert_message(event: Any) -> AlertMessage:
    """The alert for one "Step Functions Execution Status Change" event."""
    detail = require_mapping(require_mapping(event).get("detail"))
    status, execution = _text(detail.get("status")), _text(detail.get("executionArn"))
    if status is None or execution is None:
        raise InvalidEventField("the event has no detail.status or detail.executionArn")
    bucket, key = image_of(detail.get("input"))
    return {"alert": f"Scones Unlimited workflow execution {status}", "bucket": bucket,
            "key": key, "execution": execution, "error": _text(detail.get("error")),
            "cause": _text(detail.get("cause"))}


def subject(message: AlertMessage) -> str:
    text = message["alert"] + (f": {message['error']}" if message["error"] else "")
    text = text.encode("ascii", "replace").decode("ascii")
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 3] + "..."


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: ExecutionStatusChangeEvent, context: LambdaContext) -> AlertPublished:
    message = alert_message(event)
    published = sns.publish(TopicArn=ALERT_TOPIC_ARN, Subject=subject(message),
                            Message=json.dumps(message))
    metrics.add_metric(name="AlertsPublished", unit=MetricUnit.Count, value=1)
    logger.info("alert published", extra={"execution": message["execution"],
                                           "error": message["error"]})
    return {"message_id": published["MessageId"]}
