"""SendToReviewFunction in moto: the image copied under the review prefix with its inferences
beside it, and the pending review (with the task token and its deadline) in the reviews table,
through the real handler."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import boto3
import pytest

from scones_domain.items import from_item
from scones_domain.location import S3Location
from scones_domain.review import review_id

FUNCTION = "SendToReviewFunction"
CAUGHT = {"bucket": "scones-local-images", "key": "incoming/b.png", "label": "motorcycle",
          "confidence": 0.6, "inferences": [0.4, 0.6], "class_labels": ["bicycle", "motorcycle"],
          "content_type": "image/png",
          "error": {"Error": "THRESHOLD_CONFIDENCE_NOT_MET", "Cause": "below 0.93"}}
# what RecordReview's Catch puts in $.rejected_label: the Lambda error document as Cause
REJECTED = {"Error": "UnknownReviewLabel", "Cause": json.dumps({
    "errorType": "UnknownReviewLabel",
    "errorMessage": "label 'scooter' is not one of the model's classes: bicycle, motorcycle",
    "stackTrace": ["  File \"app.py\", line 1"]})}


def test_send_to_review_copies_the_image_and_writes_its_inferences(handler_module, aws):
    review = handler_module(FUNCTION)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="scones-local-images")
    s3.put_object(Bucket="scones-local-images", Key="incoming/b.png", Body=b"\x89PNG...")
    record = review.review_record({"result": CAUGHT, "execution_arn": "arn:9"}, "v1")
    # WHEN the image is sent to review (twice: idempotent)
    copy_at, sidecar_at = review.send_to_review(s3, record, "review/")
    assert review.send_to_review(s3, record, "review/") == (copy_at, sidecar_at)
    # THEN the copy and its sidecar are under the review prefix
    assert (copy_at.uri, sidecar_at.uri) == ("s3://scones-local-images/review/incoming/b.png",
                                             "s3://scones-local-images/review/incoming/b.png.json")
    copy = s3.get_object(Bucket="scones-local-images", Key=copy_at.key)
    assert copy["Body"].read() == b"\x89PNG..." and copy["Metadata"]["label"] == "motorcycle"
    sidecar = json.loads(s3.get_object(Bucket="scones-local-images",
                                       Key=sidecar_at.key)["Body"].read())
    assert sidecar["inferences"] == {"bicycle": 0.4, "motorcycle": 0.6}
    assert sidecar["error"] == "THRESHOLD_CONFIDENCE_NOT_MET" and sidecar["true_label"] is None


def test_review_refuses_an_image_already_under_the_review_prefix(handler_module):
    review = handler_module(FUNCTION)
    with pytest.raises(Exception) as info:
        review.review_locations(S3Location("b", "review/x.png"), "review/")
    assert type(info.value).__name__ == "InvalidEventField"


def send_event(bucket: str, **changes) -> dict:
    """The SendToReview state's payload (statemachine/review.asl.json) for incoming/b.png."""
    return {"result": {**CAUGHT, "bucket": bucket}, "execution_arn": "arn:classification:1",
            "review_execution_arn": "arn:review:1", "task_token": "token-1",
            "timeout_seconds": 86400, "sent_at": "2026-12-01T10:15:30.123Z",
            "review_started_at": "2026-12-01T10:15:30.123Z", "rejected_label": None, **changes}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def pending(stack, bucket: str, key: str = "incoming/b.png") -> dict:
    item = stack.dynamodb.get_item(TableName=stack.reviews_table,
                                   Key={"review_id": {"S": review_id(bucket, key)}})
    return from_item(item["Item"])


def test_the_handler_stores_the_pending_review_with_its_token_and_deadline(load_function,
                                                                           stack):
    # GIVEN an image below the threshold in the stack's bucket
    stack.s3.put_object(Bucket=stack.bucket, Key="incoming/b.png", Body=b"\x89PNG...")
    # WHEN the review workflow sends it to review
    result = load_function(FUNCTION)(send_event(stack.bucket))
    # THEN the pending review is in the reviews table, keyed by the review's id
    assert not result.failed, result.payload
    assert result.payload == {"review_id": review_id(stack.bucket, "incoming/b.png"),
                              "review_copy": f"s3://{stack.bucket}/review/incoming/b.png"}
    item = pending(stack, stack.bucket)
    assert item["status"] == "pending" and item["task_token"] == "token-1"
    assert item["image"] == f"s3://{stack.bucket}/incoming/b.png"
    assert item["review_copy"] == result.payload["review_copy"]
    assert item["predicted_label"] == "motorcycle" and item["confidence"] == 0.6
    assert item["class_labels"] == ["bicycle", "motorcycle"]
    assert item["inferences"] == {"bicycle": 0.4, "motorcycle": 0.6}
    assert item["model_version"] == stack.model_version
    assert (item["execution_arn"], item["review_execution_arn"]) == ("arn:classification:1",
                                                                     "arn:review:1")
    # AND its deadline is sent_at + the timeout, in epoch seconds (the table's TTL too)
    assert item["sent_at"] == "2026-12-01T10:15:30.123Z"
    assert item["expires_at"] == 1796120130 + 86400
    # AND a first send carries no rejected label
    assert "rejected_label" not in item


def test_a_resend_after_an_unknown_label_names_it_and_keeps_the_latest_token(load_function,
                                                                             stack):
    # GIVEN a pending review whose answer was refused (RecordReview's Catch sends it again)
    stack.s3.put_object(Bucket=stack.bucket, Key="incoming/b.png", Body=b"\x89PNG...")
    function = load_function(FUNCTION)
    assert not function(send_event(stack.bucket)).failed
    # WHEN it is sent again with the caught error and a new task token, within the review's
    # time (it started an hour ago)
    started = int(time.time()) - 3600
    again = function(send_event(stack.bucket, task_token="token-2", rejected_label=REJECTED,
                                sent_at=iso(started + 300), review_started_at=iso(started)))
    # THEN the one item holds the new token, the deadline still counted from the review's
    # start, and the reason in words
    assert not again.failed, again.payload
    items = stack.dynamodb.scan(TableName=stack.reviews_table)["Items"]
    assert len(items) == 1
    item = from_item(items[0])
    assert item["task_token"] == "token-2" and item["status"] == "pending"
    assert item["expires_at"] == started + 86400
    assert item["rejected_label"] == ("label 'scooter' is not one of the model's classes: "
                                      "bicycle, motorcycle")


def test_a_resend_after_the_deadline_expires_the_review_and_writes_nothing(load_function,
                                                                           stack):
    # GIVEN a review that started more than its timeout ago and was answered with a label
    # that is not a class
    stack.s3.put_object(Bucket=stack.bucket, Key="incoming/b.png", Body=b"\x89PNG...")
    function = load_function(FUNCTION)
    started = int(time.time()) - 90_000
    assert not function(send_event(stack.bucket, review_started_at=iso(started),
                                   sent_at=iso(started))).failed
    # WHEN RecordReview's Catch sends it again
    again = function(send_event(stack.bucket, task_token="token-2", rejected_label=REJECTED,
                                sent_at=iso(time.time()), review_started_at=iso(started)))
    # THEN it fails with ReviewExpired (the workflow's Catch expires the review) and the
    # pending item keeps its first token: the refused label bought no time
    assert again.failed and again.payload["errorType"] == "ReviewExpired"
    assert pending(stack, stack.bucket)["task_token"] == "token-1"


def test_a_first_send_is_never_expired_by_its_own_deadline(handler_module):
    # GIVEN a first send (no refused label) of a review that started long ago
    review = handler_module(FUNCTION)
    event = send_event("b", review_started_at="2020-01-01T00:00:00Z", timeout_seconds=60)
    # THEN its deadline is computed and nothing is raised (the task timeout expires it)
    assert review.review_deadline(event, time.time()) == 1577836860
    # AND without review_started_at (an execution started before it was passed) sent_at counts
    event = send_event("b", timeout_seconds=60)
    del event["review_started_at"]
    assert review.review_deadline(event, 0) == 1796120130 + 60


@pytest.mark.parametrize(("rejected", "text"), [
    (REJECTED, "label 'scooter' is not one of the model's classes: bicycle, motorcycle"),
    ({"Error": "UnknownReviewLabel", "Cause": "not json"}, "not json"),
    ({"Error": "UnknownReviewLabel"}, "UnknownReviewLabel"),
    (None, None),
    ("not a caught error", None),
])
def test_rejected_label_text_is_the_caught_errors_message(handler_module, rejected, text):
    assert handler_module(FUNCTION).rejected_label_text(rejected) == text


@pytest.mark.parametrize(("sent_at", "timeout", "expected"), [
    ("2026-12-01T10:15:30.123Z", 60, 1796120190),
    ("2026-12-01T10:15:30+00:00", 1.5, 1796120131),
])
def test_deadline_is_sent_at_plus_the_timeout(handler_module, sent_at, timeout, expected):
    assert handler_module(FUNCTION).deadline(sent_at, timeout) == expected


@pytest.mark.parametrize(("sent_at", "timeout"), [
    ("yesterday", 60), ("2026-12-01T10:15:30Z", "60"), ("2026-12-01T10:15:30Z", True),
    ("2026-12-01T10:15:30Z", None),
])
def test_a_bad_deadline_is_a_named_error(handler_module, sent_at, timeout):
    with pytest.raises(Exception) as info:
        handler_module(FUNCTION).deadline(sent_at, timeout)
    assert type(info.value).__name__ == "InvalidEventField"


def test_a_send_without_a_task_token_fails_before_anything_is_written(load_function, stack):
    # GIVEN a payload without the task token (the state must pass $$.Task.Token)
    stack.s3.put_object(Bucket=stack.bucket, Key="incoming/b.png", Body=b"\x89PNG...")
    event = send_event(stack.bucket)
    del event["task_token"]
    result = load_function(FUNCTION)(event)
    # THEN it fails with a named error and no pending review exists
    assert result.error_type == "MissingEventField"
    assert stack.dynamodb.scan(TableName=stack.reviews_table)["Items"] == []
