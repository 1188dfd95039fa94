"""classify_image: a real HTTP endpoint, inline and by-reference images, error mapping."""

from __future__ import annotations

import pytest

from scones_domain.errors import RETRYABLE_ERRORS

FUNCTION = "ClassifyImageFunction"


@pytest.fixture
def serialized(bucket, b64, make_image):
    """A serialized-image event (the first state's output) for a real PNG, inline."""
    data = make_image("PNG", (32, 32))
    return {
        "bucket": bucket,
        "key": "test/bicycle_s_001789.png",
        "content_type": "image/png",
        "size_bytes": len(data),
        "width": 32,
        "height": 32,
        "transport": "inline",
        "image_data": b64(data),
    }, data


def test_inline_image_is_classified(load_function, endpoint, serialized, capsys):
    # GIVEN an endpoint answering 97% bicycle, and an inline PNG
    event, data = serialized
    endpoint.respond([0.97, 0.03], delay_s=0.05)
    # WHEN classified
    result = load_function(FUNCTION)(event)
    # THEN the endpoint got the exact bytes with the sniffed type and JSON accepted
    assert not result.failed, result.payload
    (request,) = endpoint.requests
    assert request.path == "/endpoints/scones-vehicle-classifier/invocations"
    assert (request.content_type, request.accept, request.body) == (
        "image/png",
        "application/json",
        data,
    )
    # AND the output holds inferences in ClassLabels order, label and confidence, no bytes
    out = result.payload
    assert out["inferences"] == [0.97, 0.03]
    assert (out["label"], out["confidence"]) == ("bicycle", 0.97)
    assert out["class_labels"] == ["bicycle", "motorcycle"]
    assert "image_data" not in out
    # AND the endpoint latency is measured (the server waited 50 ms) and emitted
    assert out["endpoint_latency_ms"] >= 50
    printed = capsys.readouterr().out
    assert '"EndpointLatency"' in printed and '"Confidence"' in printed
    assert event["image_data"] not in printed


def test_endpoint_name_comes_from_the_template_parameter(load_function, endpoint, serialized):
    # GIVEN the stack deployed with EndpointName=my-endpoint
    event, _ = serialized
    load_function(FUNCTION, EndpointName="my-endpoint")(event)
    # THEN that endpoint is invoked
    assert endpoint.requests[0].path == "/endpoints/my-endpoint/invocations"


def test_image_by_reference_is_read_from_s3(load_function, endpoint, s3, bucket, large_png):
    # GIVEN a large PNG passed by S3 reference
    s3.put_object(Bucket=bucket, Key="uploads/large.png", Body=large_png)
    event = {
        "bucket": bucket,
        "key": "uploads/large.png",
        "content_type": "image/png",
        "size_bytes": len(large_png),
        "transport": "s3",
        "image_data": "",
    }
    endpoint.respond([0.1, 0.9])
    # WHEN classified
    result = load_function(FUNCTION)(event)
    # THEN the endpoint received the whole object and the label is motorcycle
    assert not result.failed, result.payload
    assert endpoint.requests[0].body == large_png
    assert (result.payload["label"], result.payload["confidence"]) == ("motorcycle", 0.9)


def test_object_replaced_by_a_non_image_is_caught_again(load_function, s3, bucket):
    # GIVEN a by-reference event whose object is (now) not an image
    s3.put_object(Bucket=bucket, Key="swapped.png", Body=b"no longer an image")
    event = {
        "bucket": bucket,
        "key": "swapped.png",
        "content_type": "image/png",
        "size_bytes": 18,
        "transport": "s3",
        "image_data": "",
    }
    # WHEN classified  THEN NotAnImage, and the endpoint is never called
    assert load_function(FUNCTION)(event).error_type == "NotAnImage"


# (status, x-amzn-ErrorType, extra body fields) -> named error; retryable ones are in the ASL
ENDPOINT_ERRORS = [
    (429, "ThrottlingException", {}, "EndpointThrottled"),
    (429, "ModelNotReadyException", {}, "EndpointModelNotReady"),
    (503, "ServiceUnavailable", {}, "EndpointUnavailable"),
    (500, "InternalFailure", {}, "EndpointUnavailable"),
    (
        424,
        "ModelError",
        {"OriginalStatusCode": 500, "OriginalMessage": "boom"},
        "EndpointUnavailable",
    ),
    (424, "ModelError", {"OriginalStatusCode": 503}, "EndpointUnavailable"),
    (
        424,
        "ModelError",
        {"OriginalStatusCode": 415, "OriginalMessage": "bad type"},
        "EndpointUnsupportedContentType",
    ),
    (424, "ModelError", {"OriginalStatusCode": 400}, "EndpointRejectedImage"),
    (424, "ModelError", {"OriginalStatusCode": 406}, "EndpointUnsupportedAccept"),
    (424, "ModelError", {"OriginalStatusCode": 413}, "EndpointRequestRejected"),
    (400, "ValidationError", {}, "EndpointRequestRejected"),
    (
        400,
        "ValidationError",
        {"message": "Endpoint x of account 123456789012 not found."},
        "EndpointNotFound",
    ),
]


@pytest.mark.parametrize(
    ("status", "code", "fields", "error"),
    ENDPOINT_ERRORS,
    ids=[f"{e[0]}-{e[1]}-{e[2].get('OriginalStatusCode', '')}-{e[3]}" for e in ENDPOINT_ERRORS],
)
def test_endpoint_errors_map_to_named_errors(
    load_function, endpoint, serialized, status, code, fields, error
):
    # GIVEN an endpoint answering with an AWS error over real HTTP
    event, _ = serialized
    endpoint.fail(status, code, **{"message": "endpoint error", **fields})
    # WHEN classified
    result = load_function(FUNCTION)(event)
    # THEN the error is named for the state machine, retryable exactly when transient
    assert result.failed and result.error_type == error, result.payload
    assert (error in RETRYABLE_ERRORS) is (
        status == 429 or fields.get("OriginalStatusCode", status) >= 500
    )
    # AND the client made a single attempt: retries belong to the state machine
    assert len(endpoint.requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"bicycle": 0.9, "motorcycle": 0.1},
        [0.9],
        [0.5, 0.3, 0.2],
        [0.9, 0.3],
        ["0.9", "0.1"],
        [1.5, -0.5],
        b"not json",
        [None, 1.0],
    ],
    ids=["object", "too-short", "too-long", "sum", "strings", "range", "not-json", "null"],
)
def test_malformed_endpoint_response_is_a_named_error(load_function, endpoint, serialized, body):
    # GIVEN an endpoint answering 200 with something other than 2 probabilities summing to 1
    event, _ = serialized
    endpoint.respond(body)
    # WHEN classified  THEN InvalidEndpointResponse, never a made-up label
    result = load_function(FUNCTION)(event)
    assert result.error_type == "InvalidEndpointResponse", result.payload


def test_unreachable_endpoint_is_retryable(load_function, endpoint, serialized):
    # GIVEN the endpoint server has gone away (connection refused)
    event, _ = serialized
    endpoint.stop()
    # WHEN classified  THEN EndpointUnavailable (retried by the state machine)
    assert load_function(FUNCTION)(event).error_type == "EndpointUnavailable"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"transport": None}, "MissingEventField"),
        ({"transport": "ftp"}, "InvalidEventField"),
        ({"content_type": "image/gif"}, "UnsupportedContentType"),
        ({"content_type": None}, "MissingEventField"),
        ({"content_type": "image/jpeg"}, "InvalidEventField"),
        ({"image_data": ""}, "MissingEventField"),
        ({"image_data": "%%%"}, "InvalidImageData"),
        ({"size_bytes": "12"}, "InvalidEventField"),
        ({"bucket": None}, "MissingEventField"),
    ],
    ids=[
        "no-transport",
        "bad-transport",
        "gif",
        "no-type",
        "type-mismatch",
        "inline-empty",
        "bad-b64",
        "size-str",
        "no-bucket",
    ],
)
def test_bad_input_gets_a_named_error(load_function, endpoint, serialized, change, error):
    # GIVEN a serialized image with one field broken
    event, _ = serialized
    event = {**event, **change}
    event = {name: value for name, value in event.items() if value is not None}
    # WHEN classified  THEN the named error, and the endpoint is not called
    result = load_function(FUNCTION)(event)
    assert result.error_type == error, result.payload
    assert endpoint.requests == []


def test_shipped_event_is_classified(load_function, endpoint, load_event):
    # GIVEN events/classify_image.json  WHEN classified  THEN a label comes back
    result = load_function(FUNCTION)(load_event("classify_image.json"))
    assert not result.failed, result.payload
    assert result.payload["label"] == "bicycle"


def test_model_error_message_keeps_the_models_reason_not_its_traceback(
    load_function, endpoint, serialized
):
    # GIVEN the serving toolkit's answer to a truncated PNG: the reason, then a traceback
    event, _ = serialized
    original = ("cannot decode image: image file is truncated\n"
                "Traceback (most recent call last):\n  File \"inference.py\", line 1\n")
    endpoint.fail(424, "ModelError", message="Received client error (400)",
                  OriginalStatusCode=400, OriginalMessage=original)
    # WHEN classified
    result = load_function(FUNCTION)(event)
    # THEN the named error says why in one line, without the traceback
    assert result.error_type == "EndpointRejectedImage", result.payload
    assert result.payload["errorMessage"].endswith(
        "ModelError: model status 400: cannot decode image: image file is truncated")
    assert "Traceback" not in result.payload["errorMessage"]
