"""EventBridge semantics the local runtime applies to the template's rules (pure functions)."""

from __future__ import annotations

import json

import pytest

from scones.local.moto_adapter import (
    InvalidInputPathError,
    read_path,
    status_change_event,
    transform_input,
)

UPLOAD = {
    "source": "aws.s3", "detail-type": "Object Created",
    "detail": {"bucket": {"name": "images"}, "object": {"key": "incoming/a \"b\".png"}},
}


def test_unquoted_placeholders_become_json_values_and_quoted_ones_text():
    # GIVEN a template with a placeholder outside and one inside a JSON string
    transformer = {"InputPathsMap": {"key": "$.detail.object.key",
                                     "bucket": "$.detail.bucket.name"},
                   "InputTemplate": '{"s3_key": <key>, "where": "s3://<bucket>/<key>"}'}
    # WHEN it is applied
    out = json.loads(transform_input(UPLOAD, transformer))
    # THEN both carry the key exactly, quotes escaped
    assert out == {"s3_key": 'incoming/a "b".png', "where": 's3://images/incoming/a "b".png'}


def test_a_missing_path_is_null_outside_a_string_and_empty_inside():
    transformer = {"InputPathsMap": {"error": "$.detail.error"},
                   "InputTemplate": '{"error": <error>, "text": "error=<error>"}'}
    assert json.loads(transform_input(UPLOAD, transformer)) == {"error": None, "text": "error="}


def test_without_a_transformer_the_whole_event_is_delivered():
    assert json.loads(transform_input(UPLOAD, None)) == UPLOAD


def test_only_simple_paths_are_accepted():
    assert read_path(UPLOAD, "$.detail.bucket.name") == "images"
    with pytest.raises(InvalidInputPathError):
        read_path(UPLOAD, "$.detail[0]")


def test_status_change_event_has_the_fields_alerts_read():
    from datetime import UTC, datetime

    description = {"executionArn": "arn:aws:states:us-east-1:1:execution:M:e",
                   "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:M",
                   "name": "e", "status": "FAILED", "input": "{}", "error": "NotAnImage",
                   "cause": "bytes", "startDate": datetime(2026, 1, 1, tzinfo=UTC),
                   "stopDate": datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)}
    detail = status_change_event(description)
    assert detail["status"] == "FAILED" and detail["stateMachineArn"].endswith(":M")
    assert detail["error"] == "NotAnImage" and detail["cause"] == "bytes"
    assert detail["stopDate"] - detail["startDate"] == 1000
    assert detail["output"] is None and detail["outputDetails"] is None
