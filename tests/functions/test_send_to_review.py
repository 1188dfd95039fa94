"""SendToReviewFunction: its pure logic in moto (the image copied under the review prefix with
its inferences beside it)."""

from __future__ import annotations

import json

import boto3
import pytest

from scones_domain.location import S3Location

CAUGHT = {"bucket": "scones-local-images", "key": "incoming/b.png", "label": "motorcycle",
          "confidence": 0.6, "inferences": [0.4, 0.6], "class_labels": ["bicycle", "motorcycle"],
          "content_type": "image/png",
          "error": {"Error": "THRESHOLD_CONFIDENCE_NOT_MET", "Cause": "below 0.93"}}


def test_send_to_review_copies_the_image_and_writes_its_inferences(handler_module, aws):
    review = handler_module("SendToReviewFunction")
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
    review = handler_module("SendToReviewFunction")
    with pytest.raises(Exception) as info:
        review.review_locations(S3Location("b", "review/x.png"), "review/")
    assert type(info.value).__name__ == "InvalidEventField"
