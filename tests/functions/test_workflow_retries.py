"""The shipped ASL's retry policy against the functions' named errors, executed in moto.

The per-image workflow end to end is tested in tests/integration; here only what the named
errors mean for the state machine: transient endpoint errors are retried (and then succeed),
permanent ones and bad input fail at once with their own name.
"""

from __future__ import annotations

import pytest

from scones.local.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(endpoint):
    with LocalStack(endpoint.url) as local:
        yield local


def run_png(stack, real_png):
    name, data = real_png
    key = f"test/{name}"
    stack.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=data)
    return stack.run({"image_data": "", "s3_bucket": stack.bucket, "s3_key": key}, timeout=60)


def test_throttled_endpoint_is_retried_then_succeeds(stack, endpoint, real_png):
    # GIVEN an endpoint that throttles twice, then answers 97% bicycle
    endpoint.fail(429, "ThrottlingException", "slow down", times=2)
    endpoint.respond([0.97, 0.03])
    # WHEN the workflow runs on a real PNG
    result = run_png(stack, real_png)
    # THEN the state machine retried ClassifyImage twice (backoff with jitter) and succeeded
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.retries.get("ClassifyImage") == 2
    assert len(endpoint.requests) == 3
    assert result.output["label"] == "bicycle"


def test_model_error_with_a_5xx_status_is_retried(stack, endpoint, real_png):
    endpoint.fail(424, "ModelError", "oom", times=1, OriginalStatusCode=500)
    endpoint.respond([0.02, 0.98])
    result = run_png(stack, real_png)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.retries.get("ClassifyImage") == 1


def test_unknown_endpoint_fails_at_once_with_its_name(stack, endpoint, real_png):
    # GIVEN an endpoint name SageMaker does not know
    endpoint.fail(400, "ValidationError", "Endpoint x of account 123456789012 not found.")
    # WHEN the workflow runs
    result = run_png(stack, real_png)
    # THEN it fails in ClassifyImage with EndpointNotFound, without retrying
    assert (result.status, result.error) == ("FAILED", "EndpointNotFound")
    assert result.failed_state == "ClassifyImage"
    assert "ClassifyImage" not in result.retries
    assert len(endpoint.requests) == 1


def test_not_an_image_fails_in_the_first_state_without_retry(stack, endpoint):
    # GIVEN a text file named like a photo
    stack.client("s3").put_object(Bucket=stack.bucket, Key="test/fake.png", Body=b"hello")
    # WHEN the workflow runs  THEN NotAnImage from SerializeImageData, the endpoint untouched
    result = stack.run({"image_data": "", "s3_bucket": stack.bucket, "s3_key": "test/fake.png"})
    assert (result.status, result.error) == ("FAILED", "NotAnImage")
    assert result.failed_state == "SerializeImageData"
    assert result.retries == {}
    assert endpoint.requests == []
