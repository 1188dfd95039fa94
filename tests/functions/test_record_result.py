"""RecordResultFunction: its pure logic in moto (one table item per image and model version),
and the shipped events of the functions that parse their own input."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

RESULT = {"bucket": "scones-local-images", "key": "incoming/a.png", "label": "bicycle",
          "confidence": 0.97, "inferences": [0.97, 0.03], "threshold": 0.93}


def test_record_once_writes_one_item_per_image_and_model_version(handler_module, aws):
    record = handler_module("RecordResultFunction")
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "image", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "image", "AttributeType": "S"}])
    event = {"result": RESULT, "execution_arn": "arn:1", "recorded_at": "2026-01-01T00:00:00Z"}
    first = record.result_item(record.parse_result(event), "v1")
    again = record.result_item(record.parse_result({**event, "execution_arn": "arn:2"}), "v1")
    newer = record.result_item(record.parse_result({**event, "execution_arn": "arn:3"}), "v2")
    # WHEN the same image is recorded twice with one model, then with a new model
    assert record.record_once(client, "t", first) is True
    assert record.record_once(client, "t", again) is False
    kept = client.get_item(TableName="t", Key={"image": {"S": "s3://scones-local-images/incoming/a.png"}})
    # THEN the re-run changed nothing
    assert kept["Item"]["execution_arn"]["S"] == "arn:1"
    # AND a new model version replaces the item (still one item)
    assert record.record_once(client, "t", newer) is True
    items = client.scan(TableName="t")["Items"]
    assert len(items) == 1 and items[0]["model_version"]["S"] == "v2"
    assert items[0]["label"]["S"] == "bicycle" and float(items[0]["confidence"]["N"]) == 0.97


GOOD_EVENT = {"result": RESULT, "execution_arn": "arn:1", "recorded_at": "t"}


@pytest.mark.parametrize(("bad", "error"), [
    ({**GOOD_EVENT, "result": {**RESULT, "confidence": "high"}}, "InvalidEventField"),
    ({"result": RESULT, "recorded_at": "t"}, "MissingEventField"),
    ({**GOOD_EVENT, "result": {**RESULT, "inferences": ["x"]}}, "InvalidEventField"),
    ({**GOOD_EVENT, "result": "not an object"}, "InvalidEventField"),
])
def test_bad_record_events_fail_with_named_errors(handler_module, bad, error):
    record = handler_module("RecordResultFunction")
    with pytest.raises(Exception) as info:
        record.parse_result(bad)
    assert type(info.value).__name__ == error


EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_the_shipped_events_are_accepted_by_the_new_functions(handler_module):
    # GIVEN events/<function>.json for `sam local invoke -e` / `scones invoke`
    record = handler_module("RecordResultFunction")
    review = handler_module("SendToReviewFunction")
    # THEN each parses with its function's own parser
    parsed = record.parse_result(json.loads((EVENTS / "record_result.json").read_text()))
    assert parsed.location.uri.startswith("s3://")
    reviewed = review.review_record(json.loads((EVENTS / "send_to_review.json").read_text()), "v")
    assert reviewed["error"] == "THRESHOLD_CONFIDENCE_NOT_MET"
    batch = json.loads((EVENTS / "batch_input.json").read_text())
    assert set(batch) == {"s3_bucket", "prefix"} and batch["prefix"].endswith("/")
    summary = json.loads((EVENTS / "batch_summary.json").read_text())
    assert summary["result_writer"]["Key"].endswith("manifest.json")
