"""The review queue's own logic on a reviews table in moto (no stack, no workflow): finding a
review by prefix, URI or key; what is refused before anything is sent; the closed reviews."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from scones.cli import main
from scones.review.queue import AmbiguousReview, ReviewQueue, format_duration
from scones_domain.errors import ReviewExpired, ReviewNotFound, UnknownReviewLabel
from scones_domain.items import to_item
from scones_domain.location import S3Location
from scones_domain.review import STATUS_INDEX, pending_review, review_id

TABLE, BUCKET = "reviews", "photos"
NOW = 1_800_000_000.0


class Recorder:
    """Stands for a client that must not be called."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, operation):
        return lambda **kwargs: self.calls.append((operation, kwargs))


@pytest.fixture
def table():
    """(the table's client, put(key, **fields) -> the review's item) in moto."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        attributes = [("review_id", "S"), ("status", "S"), ("sent_at", "S")]
        client.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t}
                                  for n, t in attributes],
            KeySchema=[{"AttributeName": "review_id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{
                "IndexName": STATUS_INDEX, "Projection": {"ProjectionType": "ALL"},
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                              {"AttributeName": "sent_at", "KeyType": "RANGE"}]}])

        def put(key: str, sent_at: str = "2027-01-15T08:00:00+00:00",
                expires_at: float = NOW + 3600, **fields) -> dict:
            record = {"bucket": BUCKET, "key": key, "label": "motorcycle", "confidence": 0.6,
                      "inferences": {"bicycle": 0.4, "motorcycle": 0.6},
                      "model_version": "v1", "execution_arn": "arn:exec"}
            document = {**pending_review(
                record, task_token=f"token-{key}", sent_at=sent_at, expires_at=int(expires_at),
                review_execution_arn=f"arn:review:{key}",
                review_copy=S3Location(BUCKET, f"review/{key}"), rejected_label=None), **fields}
            client.put_item(TableName=TABLE, Item=to_item(document))
            return document

        yield client, put


def queue_of(client, stepfunctions=None) -> ReviewQueue:
    services = {"dynamodb": client, "stepfunctions": stepfunctions or Recorder()}
    return ReviewQueue(services.__getitem__, TABLE, bucket=BUCKET, where="the test table")


def keys_sharing_a_first_character() -> tuple[str, str]:
    seen = {}
    for n in range(17):  # 16 hex digits: two of 17 ids share their first
        key = f"incoming/{n}.png"
        first = review_id(BUCKET, key)[0]
        if first in seen:
            return seen[first], key
        seen[first] = key
    raise AssertionError("unreachable")


def test_a_review_is_found_by_its_id_a_prefix_its_uri_or_its_key(table):
    client, put = table
    put("incoming/a.png")
    put("incoming/b.png", sent_at="2027-01-15T07:00:00+00:00")
    queue = queue_of(client)
    rid = review_id(BUCKET, "incoming/a.png")
    # oldest first, the counter item of the table is no review
    client.put_item(TableName=TABLE, Item={"review_id": {"S": "#labels-since-training"},
                                           "labels": {"N": "3"}})
    assert [r.key for r in queue.pending()] == ["incoming/b.png", "incoming/a.png"]
    for ref in (rid, rid.upper(), rid[:12], f"s3://{BUCKET}/incoming/a.png",
                "incoming/a.png", f"s3://{BUCKET}/review/incoming/a.png", f" {rid[:8]} "):
        assert queue.find(ref).review_id == rid, ref


def test_an_id_prefix_two_reviews_share_is_ambiguous(table):
    client, put = table
    one, two = keys_sharing_a_first_character()
    put(one), put(two)
    prefix = review_id(BUCKET, one)[0]
    with pytest.raises(AmbiguousReview, match=f"'{prefix}' matches 2 pending reviews: .*"
                                              f"give more of the id") as error:
        queue_of(client).find(prefix)
    assert review_id(BUCKET, one)[:12] in str(error.value)
    assert review_id(BUCKET, two)[:12] in str(error.value)


def test_no_pending_review_and_a_closed_one_are_told_apart(table):
    client, put = table
    labeled = put("incoming/done.png", status="labeled", true_label="bicycle", reviewer="ana")
    put("incoming/late.png", status="expired")
    queue = queue_of(client)
    with pytest.raises(ReviewNotFound, match="no pending review matches 'incoming/x.png'"):
        queue.find("incoming/x.png")
    with pytest.raises(ReviewExpired, match="was answered already: bicycle by ana"):
        queue.find(labeled["review_id"][:10])
    with pytest.raises(ReviewExpired, match="expired unanswered"):
        queue.find("incoming/late.png")


def test_nothing_is_sent_for_an_unknown_label_or_past_the_deadline(table):
    client, put = table
    put("incoming/a.png"), put("incoming/old.png", expires_at=NOW - 90)
    stepfunctions = Recorder()
    queue = queue_of(client, stepfunctions)
    with pytest.raises(UnknownReviewLabel, match="not one of the model's classes: bicycle, "
                                                 "motorcycle"):
        queue.send(queue.find("incoming/a.png"), "scooter", "ana", now=NOW)
    with pytest.raises(ReviewExpired, match=r"expired 1m 30s ago"):
        queue.send(queue.find("incoming/old.png"), "bicycle", "ana", now=NOW)
    assert stepfunctions.calls == []
    # a label the model knows goes out as the task's output, with the token of the review
    sent = queue.send(queue.find("incoming/a.png"), "bicycle", " ana ", now=NOW)
    assert sent["label"] == "bicycle" and sent["reviewer"] == "ana"
    assert stepfunctions.calls == [("send_task_success", {
        "taskToken": "token-incoming/a.png", "output": '{"label": "bicycle", "reviewer": "ana"}'})]


def test_to_json_keeps_the_task_token_out(table):
    client, put = table
    put("incoming/a.png")
    listed = queue_of(client).pending()[0].to_json(time.time())
    assert "task_token" not in listed and listed["inferences"] == {"bicycle": 0.4,
                                                                   "motorcycle": 0.6}


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (45.9, "45s"), (725, "12m 05s"), (3 * 3600 + 7 * 60, "3h 07m"),
    (2 * 86400 + 4 * 3600, "2d 04h"), (-5, "0s")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


# --------------------------------------------------------------------------- a stack on AWS


def review_stack_template() -> str:
    """A stack with the template's reviews table and its two outputs (moto's CloudFormation)."""
    table = {"Type": "AWS::DynamoDB::Table", "Properties": {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"}
                                 for n in ("review_id", "status", "sent_at")],
        "KeySchema": [{"AttributeName": "review_id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [{
            "IndexName": STATUS_INDEX, "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                          {"AttributeName": "sent_at", "KeyType": "RANGE"}]}]}}
    return json.dumps({
        "Resources": {"ReviewsTable": table, "ImageBucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {"ReviewsTableName": {"Value": {"Ref": "ReviewsTable"}},
                    "ImageBucketName": {"Value": {"Ref": "ImageBucket"}}}})


def test_stack_name_reviews_a_stack_on_aws_through_its_outputs(capsys, tmp_path):
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
        cloudformation.create_stack(StackName="scones-vehicles",
                                    TemplateBody=review_stack_template())
        aws = ["--stack-name", "scones-vehicles", "--region", "eu-west-1"]
        # an empty queue; then a pending review, found by its key in the stack's image bucket
        assert main(["review", *aws, "--html", str(tmp_path / "page")]) == 0
        assert "no pending reviews in stack scones-vehicles in eu-west-1" in capsys.readouterr().out
        outputs = {o["OutputKey"]: o["OutputValue"] for o in
                   cloudformation.describe_stacks(StackName="scones-vehicles")["Stacks"][0]["Outputs"]}
        record = {"bucket": outputs["ImageBucketName"], "key": "incoming/a.png",
                  "label": "motorcycle", "confidence": 0.6, "model_version": "v1",
                  "inferences": {"bicycle": 0.4, "motorcycle": 0.6}, "execution_arn": "arn:e"}
        boto3.client("dynamodb", region_name="eu-west-1").put_item(
            TableName=outputs["ReviewsTableName"], Item=to_item(pending_review(
                record, task_token="not-a-token", sent_at="2027-01-15T08:00:00+00:00",
                expires_at=int(time.time()) + 600, review_execution_arn="arn:r",
                review_copy=S3Location(record["bucket"], "review/incoming/a.png"),
                rejected_label=None)))
        assert main(["review", "label", "incoming/a.png", "bicycle", *aws]) == 0
        sent = f"sent: s3://{outputs['ImageBucketName']}/incoming/a.png is bicycle"
        assert capsys.readouterr().out.startswith(sent)
        # a stack that does not exist, or has no reviews table, is a usage error
        assert main(["review", "--stack-name", "nope", "--region", "eu-west-1"]) == 2
        assert "stack nope in eu-west-1 does not exist" in capsys.readouterr().err
        cloudformation.create_stack(StackName="other", TemplateBody=json.dumps(
            {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}}))
        assert main(["review", "--stack-name", "other", "--region", "eu-west-1"]) == 2
        assert "has no ReviewsTableName output" in capsys.readouterr().err
