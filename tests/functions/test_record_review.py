"""RecordReviewFunction in moto, through the real handler: a reviewer's label becomes training
data, a human result and a closed review, and every RETRAIN_AFTER_LABELS-th label asks for a
retraining; an expired review is closed and nothing else."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from moto.dynamodb.models import DynamoDBBackend

from scones_domain.items import from_item
from scones_domain.review import COUNTER_ID, review_id

FUNCTION = "RecordReviewFunction"
PNG = b"\x89PNG\r\n\x1a\n...image bytes..."
LABELS = ["bicycle", "motorcycle"]


def below_threshold(bucket: str, key: str) -> dict:
    """The classification workflow's state of an image below the threshold."""
    return {"bucket": bucket, "key": key, "content_type": "image/png", "class_labels": LABELS,
            "inferences": [0.4, 0.6], "label": "motorcycle", "confidence": 0.6,
            "error": {"Error": "THRESHOLD_CONFIDENCE_NOT_MET", "Cause": "below 0.93"}}


def answered(bucket: str, key: str, label, reviewer: str = "ana@scones.example") -> dict:
    """RecordReview's payload (statemachine/review.asl.json) once the reviewer answered."""
    return {"outcome": "labeled", "result": below_threshold(bucket, key),
            "review": {"label": label, "reviewer": reviewer},
            "review_execution_arn": f"arn:review:{key}", "recorded_at": "2026-12-01T11:02:04Z"}


def expired(bucket: str, key: str) -> dict:
    """RecordExpiredReview's payload: nobody answered before the deadline."""
    return {"outcome": "expired", "result": below_threshold(bucket, key),
            "review_execution_arn": f"arn:review:{key}", "recorded_at": "2026-12-02T10:15:31Z"}


def send_to_review(load_function, stack, key: str) -> None:
    """The image uploaded, then sent to review: copy, sidecar and pending review."""
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=PNG)
    result = load_function("SendToReviewFunction")({
        "result": below_threshold(stack.bucket, key), "execution_arn": "arn:classification",
        "review_execution_arn": f"arn:review:{key}", "task_token": "token",
        "timeout_seconds": 86400, "sent_at": "2026-12-01T10:15:30Z", "rejected_label": None})
    assert not result.failed, result.payload


def review_item(stack, key: str) -> dict:
    item = stack.dynamodb.get_item(TableName=stack.reviews_table,
                                   Key={"review_id": {"S": review_id(stack.bucket, key)}})
    return from_item(item["Item"])


def counter(stack) -> int | None:
    item = stack.dynamodb.get_item(TableName=stack.reviews_table,
                                   Key={"review_id": {"S": COUNTER_ID}}).get("Item")
    return None if item is None else from_item(item)["labels"]


def keys_under(stack, prefix: str) -> list[str]:
    listed = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=prefix)
    return sorted(entry["Key"] for entry in listed.get("Contents", []))


def sidecar(stack, key: str) -> dict:
    body = stack.s3.get_object(Bucket=stack.bucket, Key=f"review/{key}.json")["Body"]
    return json.loads(body.read())


def test_a_label_outside_the_models_classes_is_refused_and_nothing_is_written(load_function,
                                                                              stack):
    # GIVEN an image waiting for review
    send_to_review(load_function, stack, "incoming/b.png")
    # WHEN the reviewer answers with a class the model does not have
    result = load_function(FUNCTION)(answered(stack.bucket, "incoming/b.png", "scooter"))
    # THEN RecordReview fails with the error the workflow catches to ask again, naming the classes
    assert result.error_type == "UnknownReviewLabel"
    assert "bicycle, motorcycle" in result.payload["errorMessage"]
    # AND nothing was written: no training copy, no result, no count, the review still pending
    assert keys_under(stack, "labels/") == []
    assert stack.dynamodb.scan(TableName=stack.results_table)["Items"] == []
    assert counter(stack) is None
    pending = review_item(stack, "incoming/b.png")
    assert pending["status"] == "pending" and pending["task_token"] == "token"
    assert sidecar(stack, "incoming/b.png")["true_label"] is None


def test_a_label_is_kept_as_training_data_and_a_human_result_and_closes_the_review(
        load_function, stack):
    # GIVEN an image the model called a motorcycle at 0.6, waiting for review
    send_to_review(load_function, stack, "incoming/b.png")
    # WHEN the reviewer says it is a bicycle
    result = load_function(FUNCTION)(answered(stack.bucket, "incoming/b.png", "bicycle"))
    assert not result.failed, result.payload
    assert result.payload == {"label": "bicycle", "new_labels": 1, "retrain": False}
    # THEN the image is kept under labels/<label>/<key> with who, when and what the model said
    assert keys_under(stack, "labels/") == ["labels/bicycle/incoming/b.png"]
    copy = stack.s3.get_object(Bucket=stack.bucket, Key="labels/bicycle/incoming/b.png")
    assert copy["Body"].read() == PNG
    assert {k: copy["Metadata"][k] for k in ("reviewer", "reviewed-at", "model-version",
                                             "predicted-label")} == {
        "reviewer": "ana@scones.example", "reviewed-at": "2026-12-01T11:02:04Z",
        "model-version": stack.model_version, "predicted-label": "motorcycle"}
    # AND the results table has the image's human result, the model's answer beside it
    items = [from_item(item) for item in
             stack.dynamodb.scan(TableName=stack.results_table)["Items"]]
    assert len(items) == 1
    assert {k: items[0][k] for k in ("image", "label", "source", "reviewer", "predicted_label",
                                     "confidence", "inferences", "model_version")} == {
        "image": f"s3://{stack.bucket}/incoming/b.png", "label": "bicycle", "source": "human",
        "reviewer": "ana@scones.example", "predicted_label": "motorcycle", "confidence": 0.6,
        "inferences": [0.4, 0.6], "model_version": stack.model_version}
    # AND the sidecar under the review prefix names the true label
    document = sidecar(stack, "incoming/b.png")
    assert (document["true_label"], document["reviewer"]) == ("bicycle", "ana@scones.example")
    # AND the review is closed: labeled, its task token gone
    closed = review_item(stack, "incoming/b.png")
    assert closed["status"] == "labeled" and "task_token" not in closed
    assert (closed["true_label"], closed["reviewer"]) == ("bicycle", "ana@scones.example")
    assert closed["closed_at"] == "2026-12-01T11:02:04Z"
    assert counter(stack) == 1


def test_retrain_is_true_exactly_at_each_multiple_of_retrain_after_labels(load_function,
                                                                          stack):
    # GIVEN a stack that retrains every 3 labels and 7 images waiting for review
    keys = [f"incoming/{i}.png" for i in range(7)]
    for key in keys:
        send_to_review(load_function, stack, key)
    function = load_function(FUNCTION, RetrainAfterLabels=3)
    # WHEN they are answered one after another
    payloads = [function(answered(stack.bucket, key, "bicycle")).payload for key in keys]
    # THEN the counter counts each label and the 3rd and 6th ask for a retraining
    assert [p["new_labels"] for p in payloads] == [1, 2, 3, 4, 5, 6, 7]
    assert [p["retrain"] for p in payloads] == [False, False, True, False, False, True, False]
    assert counter(stack) == 7


def test_an_expired_review_is_closed_as_expired_and_nothing_else_is_written(load_function,
                                                                            stack):
    # GIVEN an image waiting for review
    send_to_review(load_function, stack, "incoming/b.png")
    # WHEN the deadline passes (RecordExpiredReview)
    result = load_function(FUNCTION)(expired(stack.bucket, "incoming/b.png"))
    # THEN the review is closed as expired and its token dropped
    assert result.payload == {"label": None, "new_labels": 0, "retrain": False}
    closed = review_item(stack, "incoming/b.png")
    assert closed["status"] == "expired" and "task_token" not in closed
    assert closed["closed_at"] == "2026-12-02T10:15:31Z" and "true_label" not in closed
    # AND no training copy, no result, no count; the review copy and its sidecar stay as sent
    assert keys_under(stack, "labels/") == []
    assert stack.dynamodb.scan(TableName=stack.results_table)["Items"] == []
    assert counter(stack) is None
    assert keys_under(stack, "review/") == ["review/incoming/b.png", "review/incoming/b.png.json"]
    assert sidecar(stack, "incoming/b.png")["true_label"] is None


def test_a_missing_sidecar_is_tolerated(load_function, stack):
    # GIVEN an image whose sidecar under the review prefix is gone
    send_to_review(load_function, stack, "incoming/b.png")
    stack.s3.delete_object(Bucket=stack.bucket, Key="review/incoming/b.png.json")
    # WHEN the reviewer's label is recorded
    result = load_function(FUNCTION)(answered(stack.bucket, "incoming/b.png", "motorcycle"))
    # THEN the label is still kept and counted, and no sidecar is made up
    assert not result.failed, result.payload
    assert result.payload == {"label": "motorcycle", "new_labels": 1, "retrain": False}
    assert keys_under(stack, "labels/") == ["labels/motorcycle/incoming/b.png"]
    assert keys_under(stack, "review/") == ["review/incoming/b.png"]
    assert review_item(stack, "incoming/b.png")["status"] == "labeled"


def test_a_retried_answer_is_counted_once(load_function, stack):
    # GIVEN an answer recorded already (the invocation's response was lost, the ASL retries)
    send_to_review(load_function, stack, "incoming/b.png")
    function = load_function(FUNCTION, RetrainAfterLabels=1)
    event = answered(stack.bucket, "incoming/b.png", "bicycle")
    assert function(event).payload == {"label": "bicycle", "new_labels": 1, "retrain": True}
    # WHEN the same answer is recorded again
    again = function(event)
    # THEN it changes nothing: one count, one result, no second retraining
    assert again.payload == {"label": "bicycle", "new_labels": 0, "retrain": False}
    assert counter(stack) == 1
    assert len(stack.dynamodb.scan(TableName=stack.results_table)["Items"]) == 1
    assert review_item(stack, "incoming/b.png")["status"] == "labeled"


def test_the_photo_the_reviewer_saw_is_kept_when_the_original_is_gone(load_function, stack):
    # GIVEN an image waiting for review whose original is gone (its review copy is not)
    send_to_review(load_function, stack, "incoming/b.png")
    stack.s3.delete_object(Bucket=stack.bucket, Key="incoming/b.png")
    # WHEN the reviewer's label is recorded
    result = load_function(FUNCTION)(answered(stack.bucket, "incoming/b.png", "bicycle"))
    # THEN the review copy becomes the training data
    assert not result.failed, result.payload
    kept = stack.s3.get_object(Bucket=stack.bucket, Key="labels/bicycle/incoming/b.png")
    assert kept["Body"].read() == stack.s3.get_object(
        Bucket=stack.bucket, Key="review/incoming/b.png")["Body"].read()


def test_a_label_that_cannot_be_kept_leaves_the_review_pending(load_function, stack):
    # GIVEN an image waiting for review whose original and review copy are both gone
    send_to_review(load_function, stack, "incoming/b.png")
    for key in ("incoming/b.png", "review/incoming/b.png"):
        stack.s3.delete_object(Bucket=stack.bucket, Key=key)
    # WHEN the reviewer's label is recorded
    result = load_function(FUNCTION)(answered(stack.bucket, "incoming/b.png", "bicycle"))
    # THEN the invocation fails with the named error and the review is not closed as if its
    # label were kept
    assert result.failed and result.payload["errorType"] == "ImageNotFound"
    assert review_item(stack, "incoming/b.png")["status"] == "pending"
    assert counter(stack) is None


def test_a_review_closed_already_does_not_expire(load_function, stack):
    # GIVEN a labeled review
    send_to_review(load_function, stack, "incoming/b.png")
    function = load_function(FUNCTION)
    assert not function(answered(stack.bucket, "incoming/b.png", "bicycle")).failed
    # WHEN an expiry for it arrives
    result = function(expired(stack.bucket, "incoming/b.png"))
    # THEN it stays labeled with its label
    assert result.payload == {"label": None, "new_labels": 0, "retrain": False}
    closed = review_item(stack, "incoming/b.png")
    assert (closed["status"], closed["true_label"]) == ("labeled", "bicycle")


@pytest.mark.parametrize("reviewer", ["", "   ", None])
def test_an_answer_without_a_reviewer_is_refused_before_anything_is_written(load_function,
                                                                            stack, reviewer):
    send_to_review(load_function, stack, "incoming/b.png")
    result = load_function(FUNCTION)(answered(stack.bucket, "incoming/b.png", "bicycle",
                                              reviewer=reviewer))
    assert result.error_type == "InvalidEventField"
    assert keys_under(stack, "labels/") == [] and counter(stack) is None
    assert review_item(stack, "incoming/b.png")["status"] == "pending"


@pytest.fixture
def atomic_items(monkeypatch):
    """DynamoDB applies each UpdateItem to an item atomically; moto's backend does not lock,
    so one lock around it plays that part (each call is atomic, nothing more)."""
    lock = threading.Lock()
    update = DynamoDBBackend.update_item

    def update_item(self, *args, **kwargs):
        with lock:
            return update(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", update_item)


def test_reviewers_answering_at_once_get_exactly_one_retrain_per_multiple(load_function, stack,
                                                                          atomic_items):
    # GIVEN a stack that retrains every 4 labels and 12 images waiting for review
    keys = [f"incoming/{i}.png" for i in range(12)]
    for key in keys:
        send_to_review(load_function, stack, key)
    function = load_function(FUNCTION, RetrainAfterLabels=4)
    # WHEN 12 reviewers answer at once
    with ThreadPoolExecutor(max_workers=6) as pool:
        payloads = list(pool.map(lambda key: function(answered(stack.bucket, key, "bicycle")),
                                 keys))
    # THEN every label got its own count and exactly three answers ask for a retraining
    assert not any(p.failed for p in payloads), [p.payload for p in payloads]
    counts = sorted(p.payload["new_labels"] for p in payloads)
    assert counts == list(range(1, 13))
    assert sorted(p.payload["new_labels"] for p in payloads if p.payload["retrain"]) == [4, 8, 12]


def test_the_counter_is_one_atomic_update_per_label(handler_module, stack, atomic_items):
    # GIVEN the function's counting step, called by 8 threads at once, 5 labels each
    module = handler_module(FUNCTION)
    barrier = threading.Barrier(8)

    def count_five() -> list[int]:
        barrier.wait()
        return [module.count_label(stack.dynamodb) for _ in range(5)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = [n for batch in pool.map(lambda _: count_five(), range(8)) for n in batch]
    # THEN no label is lost and no count is given twice (a read-then-write would lose some)
    assert sorted(counts) == list(range(1, 41))
    assert counter(stack) == 40


def test_the_shipped_event_is_a_reviewers_answer(handler_module, load_event):
    review = handler_module(FUNCTION).parse_review(load_event("record_review.json"))
    assert (review.outcome, review.label, review.predicted_label) == ("labeled", "motorcycle",
                                                                      "motorcycle")
    assert review.reviewer == "ana@scones.example"
