"""scones_domain.storage: S3 errors that moto cannot produce (botocore Stubber) become named
errors; JSON documents round-trip through S3 (moto)."""

from __future__ import annotations

import io

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from scones_domain.errors import (
    ImageAccessDenied,
    ImageNotFound,
    ImageStoreUnavailable,
    ImageTooLarge,
)
from scones_domain.location import S3Location
from scones_domain.storage import copy_image, is_not_found, read_json, read_object, write_json

IMAGE = S3Location("b", "k.png")


class TrackingBody(StreamingBody):
    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data), len(data))
        self.was_read = False

    def read(self, amt=None):
        self.was_read = True
        return super().read(amt)


@pytest.fixture
def s3_stub():
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("AccessDenied", 403, ImageAccessDenied),
        ("403", 403, ImageAccessDenied),
        ("NoSuchKey", 404, ImageNotFound),
        ("NoSuchBucket", 404, ImageNotFound),
    ],
)
def test_s3_errors_become_named_errors(s3_stub, code, status, error):
    client, stubber = s3_stub
    # GIVEN S3 answering GetObject with an error code
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)
    # WHEN the image is read  THEN the named error names the object
    with pytest.raises(error, match="s3://b/k.png"):
        read_object(client, IMAGE, max_bytes=1000)


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500)])
def test_s3_still_failing_after_sdk_retries_is_named(s3_stub, code, status):
    client, stubber = s3_stub
    # GIVEN S3 still answering SlowDown / 5xx after the SDK's own retries
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)
    # WHEN the image is read  THEN ImageStoreUnavailable (the SDK's retries are spent)
    with pytest.raises(ImageStoreUnavailable, match=code):
        read_object(client, IMAGE, max_bytes=1000)


def test_unexpected_s3_errors_are_not_disguised(s3_stub):
    client, stubber = s3_stub
    # GIVEN an S3 error with no workflow meaning  THEN it surfaces as S3 raised it
    stubber.add_client_error(
        "get_object", service_error_code="InvalidObjectState", http_status_code=403
    )
    with pytest.raises(ClientError):
        read_object(client, IMAGE, max_bytes=1000)


def test_oversized_object_is_refused_before_download(s3_stub):
    client, stubber = s3_stub
    # GIVEN an object whose ContentLength is over the limit
    body = TrackingBody(b"x" * 2000)
    stubber.add_response(
        "get_object", {"Body": body, "ContentLength": 2000}, {"Bucket": "b", "Key": "k.png"}
    )
    # WHEN read  THEN ImageTooLarge, and the body was never read
    with pytest.raises(ImageTooLarge):
        read_object(client, IMAGE, max_bytes=1000)
    assert not body.was_read


def test_json_documents_round_trip_and_a_missing_one_is_not_found():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="results")
        summary = S3Location("results", "batch-results/run/summary.json")
        # GIVEN a document written as JSON
        write_json(client, summary, {"images": 2, "by_label": {"bicycle": 2}})
        # THEN it reads back the same, stored as application/json
        assert read_json(client, summary) == {"images": 2, "by_label": {"bicycle": 2}}
        head = client.head_object(Bucket=summary.bucket, Key=summary.key)
        assert head["ContentType"] == "application/json"
        # AND reading a document that is not there is "not found"
        with pytest.raises(ClientError) as info:
            read_json(client, summary.sibling("manifest.json"))
        assert is_not_found(info.value)


def test_copying_an_image_that_is_not_there_is_image_not_found():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="images")
        client.put_object(Bucket="images", Key="incoming/a.png", Body=b"\x89PNG")
        # GIVEN a copy of an image that exists, with new metadata
        copy_image(client, S3Location("images", "incoming/a.png"),
                   S3Location("images", "labels/bicycle/incoming/a.png"),
                   MetadataDirective="REPLACE", Metadata={"reviewer": "ana"})
        kept = client.get_object(Bucket="images", Key="labels/bicycle/incoming/a.png")
        assert kept["Body"].read() == b"\x89PNG" and kept["Metadata"] == {"reviewer": "ana"}
        # THEN copying one that is not there is the workflow's named error
        with pytest.raises(ImageNotFound):
            copy_image(client, S3Location("images", "incoming/gone.png"),
                       S3Location("images", "labels/bicycle/incoming/gone.png"))
