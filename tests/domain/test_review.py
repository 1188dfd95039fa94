"""Human review in the domain: the review's id (what the classification workflow's States.Hash
names the review execution), the checks of a reviewer's answer, the table item both ways, and
where a reviewed image is kept as training data."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from scones_domain.errors import InvalidEventField, UnknownReviewLabel
from scones_domain.items import from_item, to_item
from scones_domain.location import S3Location
from scones_domain.review import (
    MAX_REVIEWER_LENGTH,
    PENDING,
    answer,
    check_label,
    check_reviewer,
    label_location,
    label_metadata,
    pending_review,
    review_id,
)

LABELS = ["bicycle", "motorcycle"]
# the image's States.Format('{}/{}', bucket, key) as hex SHA-256 (`printf %s ... | sha256sum`)
EXAMPLE = ("scones-vehicle-images-example", "test/motorcycle_s_000141.png")
EXAMPLE_ID = "e80e562b545b64a127bb1f676b9cc4638f29c3f7f6a477bbbe1b4932c8e3ffe3"
HASH_IN_ASL = "States.Hash(States.Format('{}/{}', $.bucket, $.key), 'SHA-256')"


def test_review_id_is_the_hex_sha256_of_bucket_slash_key():
    assert review_id(*EXAMPLE) == EXAMPLE_ID
    # AND another key of the same bucket is another review
    assert review_id(EXAMPLE[0], "test/other.png") != EXAMPLE_ID


def test_review_id_is_what_the_workflows_states_hash_gives(repo_root):
    # GIVEN the expression the classification workflow names the review execution with
    assert HASH_IN_ASL in (repo_root / "statemachine/image_classification.asl.json").read_text()
    definition = {"StartAt": "Hash", "States": {"Hash": {
        "Type": "Pass", "Parameters": {"review_id.$": HASH_IN_ASL}, "End": True}}}
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions")
        machine = client.create_state_machine(
            name="hash", definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/states")["stateMachineArn"]
        execution = client.start_execution(stateMachineArn=machine, input=json.dumps(
            {"bucket": EXAMPLE[0], "key": EXAMPLE[1]}))["executionArn"]
        # WHEN Step Functions evaluates it (moto's interpreter, in a thread of its own)
        for _ in range(200):
            described = client.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.05)
    # THEN it gives the review's id
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"review_id": review_id(*EXAMPLE)}


@pytest.mark.parametrize("label", ["bicycle", "motorcycle"])
def test_a_label_of_the_models_classes_is_accepted(label):
    assert check_label(label, LABELS) == label


@pytest.mark.parametrize("label", ["scooter", "Bicycle", " bicycle", "", None, 1, ["bicycle"]])
def test_any_other_label_is_an_unknown_review_label_naming_the_classes(label):
    with pytest.raises(UnknownReviewLabel, match="bicycle, motorcycle"):
        check_label(label, LABELS)


def test_a_reviewer_is_kept_without_surrounding_spaces():
    assert check_reviewer("  ana@scones.example ") == "ana@scones.example"
    assert check_reviewer("a" * MAX_REVIEWER_LENGTH) == "a" * MAX_REVIEWER_LENGTH


@pytest.mark.parametrize("reviewer", [None, "", "   ", 7, "a" * (MAX_REVIEWER_LENGTH + 1)])
def test_a_missing_or_overlong_reviewer_is_refused(reviewer):
    with pytest.raises(InvalidEventField):
        check_reviewer(reviewer)


def test_an_answer_is_the_task_output_a_reviewer_sends():
    assert json.loads(answer("bicycle", " ana ", LABELS)) == {"label": "bicycle",
                                                              "reviewer": "ana"}
    # AND a wrong label is refused before anything is sent
    with pytest.raises(UnknownReviewLabel):
        answer("scooter", "ana", LABELS)
    with pytest.raises(InvalidEventField):
        answer("bicycle", " ", LABELS)


def test_a_document_survives_the_table_item_both_ways():
    document = {"review_id": "ab", "confidence": 0.6, "count": 3, "big": 10**15, "whole": 1.0,
                "flag": True, "off": False, "inferences": {"bicycle": 0.4, "motorcycle": 0.6},
                "class_labels": ["bicycle", "motorcycle"], "nested": [{"a": None, "b": [1]}],
                "empty": ""}
    item = to_item(document)
    # THEN the item holds DynamoDB's typed values
    assert item["confidence"] == {"N": "0.6"} and item["count"] == {"N": "3"}
    assert item["flag"] == {"BOOL": True} and item["nested"]["L"][0]["M"]["a"] == {"NULL": True}
    # AND reads back as the same document, ints as ints and floats as floats
    back = from_item(item)
    assert back == document
    assert type(back["count"]) is int and type(back["whole"]) is float


def test_none_at_the_top_level_is_left_out_of_the_item():
    assert to_item({"review_id": "ab", "rejected_label": None}) == {"review_id": {"S": "ab"}}


def test_a_reviewed_image_is_kept_under_labels_label_key():
    image = S3Location("images", "incoming/day-1/b.png")
    assert label_location(image, "labels/", "bicycle") == S3Location(
        "images", "labels/bicycle/incoming/day-1/b.png")


def test_label_metadata_is_text_for_s3():
    metadata = label_metadata(reviewer="ana", reviewed_at="2026-12-01T11:02:04Z",
                              model_version="v1", predicted_label="motorcycle", confidence=0.6,
                              review_execution_arn="arn:review")
    assert metadata == {"reviewer": "ana", "reviewed-at": "2026-12-01T11:02:04Z",
                        "model-version": "v1", "predicted-label": "motorcycle",
                        "confidence": "0.6", "review-execution-arn": "arn:review"}


def test_a_pending_review_holds_the_token_and_the_models_answer():
    record = {"bucket": EXAMPLE[0], "key": EXAMPLE[1], "label": "motorcycle", "confidence": 0.6,
              "inferences": {"bicycle": 0.4, "motorcycle": 0.6}, "model_version": "v1",
              "execution_arn": "arn:classification"}
    review = pending_review(record, task_token="t", sent_at="2026-12-01T10:15:30Z",
                            expires_at=1, review_execution_arn="arn:review",
                            review_copy=S3Location(EXAMPLE[0], "review/" + EXAMPLE[1]),
                            rejected_label=None)
    assert review["review_id"] == EXAMPLE_ID and review["status"] == PENDING
    assert review["class_labels"] == LABELS and review["task_token"] == "t"
    assert review["image"] == f"s3://{EXAMPLE[0]}/{EXAMPLE[1]}"
    assert from_item(to_item(review)) == {k: v for k, v in review.items() if v is not None}
