"""AlertMessageFunction: one alert per failed execution, naming the image, never carrying it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import boto3
import pytest

from scones.local.deploy import describe
from scones.local.lambdas import load_handler

REPO_ROOT = Path(__file__).resolve().parents[2]

IMAGE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ImageClassificationStateMachine"
EXECUTION = IMAGE_MACHINE.replace(":stateMachine:", ":execution:") + ":0f1e2d3c"
INLINE_IMAGE = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40).decode("ascii")
FIELDS = {"alert", "bucket", "key", "execution", "error", "cause"}


def status_change(status: str, execution_input, error=None, cause=None) -> dict:
    """A "Step Functions Execution Status Change" event as EventBridge delivers it."""
    return {"version": "0", "id": "e", "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states", "account": "123456789012", "time": "2026-01-01T00:00:00Z",
            "region": "us-east-1", "resources": [EXECUTION],
            "detail": {"executionArn": EXECUTION, "stateMachineArn": IMAGE_MACHINE,
                       "name": "0f1e2d3c", "status": status, "startDate": 1, "stopDate": 2,
                       "input": execution_input, "inputDetails": {"included": True},
                       "output": None, "outputDetails": None, "error": error, "cause": cause}}


@pytest.fixture
def alerts(aws):
    """The function (environment from the template) and a queue subscribed to its topic."""
    spec = describe(REPO_ROOT / "template.yaml").functions["AlertMessageFunction"]
    topic_arn = spec.environment["ALERT_TOPIC_ARN"]
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    assert sns.create_topic(Name=topic_arn.rsplit(":", 1)[1])["TopicArn"] == topic_arn
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue,
                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    function = load_handler(spec)

    def published() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]  # SNS envelopes: Subject, Message

    return function, published


def test_a_failed_execution_alerts_with_bucket_key_execution_error_and_cause_only(
        alerts, capsys):
    function, published = alerts
    # GIVEN a failed execution whose input carries the image inline
    execution_input = json.dumps({"image_data": INLINE_IMAGE, "s3_bucket": "images",
                                  "s3_key": "incoming/a.png"})
    event = status_change("FAILED", execution_input, "NotAnImage", "not a PNG or JPEG")
    # WHEN the rule delivers its status change
    result = function(event)
    # THEN one message names the image, the execution, its error and cause, and nothing else
    assert not result.failed, result.payload
    (envelope,) = published()
    message = json.loads(envelope["Message"])
    assert message == {"alert": "Scones Unlimited workflow execution FAILED",
                       "bucket": "images", "key": "incoming/a.png", "execution": EXECUTION,
                       "error": "NotAnImage", "cause": "not a PNG or JPEG"}
    assert envelope["Subject"] == "Scones Unlimited workflow execution FAILED: NotAnImage"
    # AND the image is neither in the message nor in the function's logs
    assert INLINE_IMAGE[:64] not in json.dumps(envelope)
    assert INLINE_IMAGE[:64] not in capsys.readouterr().out


@pytest.mark.parametrize("status", ["TIMED_OUT", "ABORTED"])
def test_an_execution_that_ended_without_an_error_still_names_its_image(alerts, status):
    function, published = alerts
    event = status_change(status, json.dumps({"image_data": "", "s3_bucket": "images",
                                              "s3_key": "incoming/b.png"}))
    assert not function(event).failed
    (envelope,) = published()
    message = json.loads(envelope["Message"])
    assert set(message) == FIELDS
    assert (message["bucket"], message["key"], message["error"], message["cause"]) == (
        "images", "incoming/b.png", None, None)
    assert message["alert"].endswith(status)


def test_a_batch_execution_names_its_prefix(alerts):
    function, published = alerts
    event = status_change("FAILED", json.dumps({"s3_bucket": "images", "prefix": "batches/x/"}),
                          "States.ExceedToleratedFailureThreshold", "too many failures")
    assert not function(event).failed
    message = json.loads(published()[0]["Message"])
    assert (message["bucket"], message["key"]) == ("images", "batches/x/")


def test_a_review_that_expired_names_its_photo(alerts):
    function, published = alerts
    review_input = {"result": {"bucket": "images", "key": "incoming/d.png", "label": "motorcycle",
                               "inferences": [0.4, 0.6]}, "execution_arn": "arn:x"}
    event = status_change("FAILED", json.dumps(review_input), "REVIEW_TIMED_OUT",
                          "Nobody reviewed s3://images/incoming/d.png within 86400 seconds.")
    assert not function(event).failed
    (envelope,) = published()
    message = json.loads(envelope["Message"])
    assert (message["bucket"], message["key"], message["error"]) == (
        "images", "incoming/d.png", "REVIEW_TIMED_OUT")
    assert "inferences" not in envelope["Message"]  # nothing else of the input


@pytest.mark.parametrize("execution_input", [None, "", "not json", "[1, 2]", '{"s3_key": 7}'])
def test_an_input_without_a_usable_bucket_or_key_still_alerts(alerts, execution_input):
    function, published = alerts
    assert not function(status_change("ABORTED", execution_input)).failed
    message = json.loads(published()[0]["Message"])
    assert (message["bucket"], message["key"], message["execution"]) == (None, None, EXECUTION)


def test_an_event_that_is_not_a_status_change_fails_so_it_reaches_the_dead_letter_queue(alerts):
    function, published = alerts
    # WHEN the event names no execution THEN the invoke fails (Lambda retries it, then sends it
    # to OperationsDeadLetterQueue) and nothing is published
    result = function({"detail": {"status": "FAILED"}})
    assert result.failed and result.payload["errorType"] == "InvalidEventField"
    assert published() == []


def test_the_subject_fits_sns_limits(alerts):
    function, _ = alerts
    message = function.module.alert_message(status_change("FAILED", None, "É" * 300, "c"))
    subject = function.module.subject(message)
    assert len(subject) <= 100 and subject.isascii()
