"""Classify image: send the image to the SageMaker endpoint and add its inferences.

The endpoint returns a JSON list of probabilities in CLASS_LABELS order. Endpoint failures
become named errors the state machine retries (EndpointThrottled, EndpointModelNotReady,
EndpointUnavailable: throttling and 5xx) or not (EndpointNotFound, EndpointRejectedImage,
EndpointUnsupportedContentType, EndpointUnsupportedAccept, EndpointRequestRejected,
InvalidEndpointResponse). A model's own 4xx arrives as a ModelError carrying
OriginalStatusCode. Retries belong to the state machine (visible, with jitter), so the boto3
client makes a single attempt.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from scones_domain.config import env_int, env_labels, env_str
from scones_domain.contracts import ClassifyImageOutput, SerializeImageDataOutput
from scones_domain.errors import (
    EndpointModelNotReady,
    EndpointNotFound,
    EndpointRejectedImage,
    EndpointRequestRejected,
    EndpointThrottled,
    EndpointUnavailable,
    EndpointUnsupportedAccept,
    EndpointUnsupportedContentType,
    InvalidEndpointResponse,
    InvalidEventField,
    WorkflowError,
)
from scones_domain.events import SerializedImage, parse_serialized_image
from scones_domain.images import check_content_type, check_image
from scones_domain.predictions import inference_id, probability_problem, top_prediction
from scones_domain.storage import read_object

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # only boto calls are traced; patch nothing else
metrics = Metrics()

ENDPOINT_NAME = env_str("ENDPOINT_NAME")
CLASS_LABELS = env_labels("CLASS_LABELS")
MAX_IMAGE_BYTES = env_int("MAX_IMAGE_BYTES")
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS")
ENDPOINT_READ_TIMEOUT_SECONDS = env_int("ENDPOINT_READ_TIMEOUT_SECONDS")

sagemaker_runtime = boto3.client(
    "sagemaker-runtime",
    config=Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=3,
        read_timeout=ENDPOINT_READ_TIMEOUT_SECONDS,
    ),
)
s3 = boto3.client("s3")

_THROTTLED_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException"}
_UNAVAILABLE_CODES = {"ServiceUnavailable", "InternalFailure", "InternalDependencyException"}
# the model's own 4xx (ModelError's OriginalStatusCode): the same request fails the same way again
_MODEL_CLIENT_ERRORS = {
    400: EndpointRejectedImage,
    406: EndpointUnsupportedAccept,
    415: EndpointUnsupportedContentType,
}


def endpoint_error(exc: ClientError, endpoint_name: str) -> WorkflowError:
    """The named error for a sagemaker-runtime ClientError."""
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    message = f"{endpoint_name}: {code}: {error.get('Message', '')}"
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code == "ModelError":
        # The container answered with an error; its own status says whose fault it was. Its
        # message's first line says why (the rest is the serving toolkit's traceback).
        status = int(exc.response.get("OriginalStatusCode") or status)
        original = str(exc.response.get("OriginalMessage") or "").strip().split("\n", 1)[0]
        message = f"{endpoint_name}: ModelError: model status {status}: {original}"
    if code == "ModelNotReadyException":  # sent with HTTP 429 too: check it first
        return EndpointModelNotReady(message)
    if code in _THROTTLED_CODES or status == 429:
        return EndpointThrottled(message)
    if code in _UNAVAILABLE_CODES or status >= 500:
        return EndpointUnavailable(message)
    if code == "ModelError" and status in _MODEL_CLIENT_ERRORS:
        return _MODEL_CLIENT_ERRORS[status](message)
    if code == "ValidationError" and "not found" in message.lower():
        return EndpointNotFound(message)
    return EndpointRequestRejected(message)


@tracer.capture_method(capture_response=False)
def inference_id_parameter(execution_id: Any) -> dict[str, str]:
    """The InferenceId that names this execution's inference (SHA-256 of its ARN, 64 hex
    characters: SageMaker's limit): an execution run again (Express is at-least-once, a retried
    task) is captured under the same id, which the monitor counts once. Nothing without one."""
    if not isinstance(execution_id, str) or not execution_id:
        return {}
    return {"InferenceId": inference_id(execution_id)}


def invoke_endpoint(body: bytes, content_type: str, execution_id: Any = None
                    ) -> tuple[Any, float]:
    """(decoded JSON response, latency in ms) from the endpoint, or a named error."""
    started = time.perf_counter()
    try:
        response = sagemaker_runtime.invoke_endpoint(
            EndpointName=ENDPOINT_NAME,
            ContentType=content_type,
            Accept="application/json",
            Body=body,
            **inference_id_parameter(execution_id),
        )
        raw = response["Body"].read()
    except ClientError as exc:
        raise endpoint_error(exc, ENDPOINT_NAME) from None
    except (ConnectionError, HTTPClientError) as exc:
        raise EndpointUnavailable(f"{ENDPOINT_NAME}: {exc}") from None
    latency_ms = (time.perf_counter() - started) * 1000
    try:
        return json.loads(raw), latency_ms
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidEndpointResponse(
            f"{ENDPOINT_NAME} answered with non-JSON bytes: {raw[:80]!r}"
        ) from None


@tracer.capture_method(capture_response=False)
def image_bytes(image: SerializedImage) -> bytes:
    """The image's bytes (read from S3 when it came by reference), checked again by content.

    Cheap (a header read) and it catches an object replaced since the first state or an
    event whose content_type does not match its bytes.
    """
    check_content_type(image.content_type)
    if image.image_data is not None:
        data = image.image_data
    else:
        data = read_object(s3, image.location, MAX_IMAGE_BYTES)
    info = check_image(data, max_bytes=MAX_IMAGE_BYTES, max_pixels=MAX_IMAGE_PIXELS)
    if info.content_type != image.content_type:
        raise InvalidEventField(
            f"'content_type' is {image.content_type!r} but the bytes are {info.content_type}"
        )
    return data


def classification(
    image: SerializedImage, inferences: list[float], latency_ms: float
) -> ClassifyImageOutput:
    label, confidence = top_prediction(inferences, CLASS_LABELS)
    return {
        "bucket": image.location.bucket,
        "key": image.location.key,
        "content_type": image.content_type,
        "size_bytes": image.size_bytes,
        "class_labels": list(CLASS_LABELS),
        "inferences": inferences,
        "label": label,
        "confidence": confidence,
        "endpoint_latency_ms": round(latency_ms, 3),
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(
    event: SerializeImageDataOutput, context: LambdaContext
) -> ClassifyImageOutput:
    image = parse_serialized_image(event)
    inferences, latency_ms = invoke_endpoint(image_bytes(image), image.content_type,
                                             event.get("execution_id"))
    problem = probability_problem(inferences, CLASS_LABELS)
    if problem:
        raise InvalidEndpointResponse(f"{ENDPOINT_NAME}: {problem}")
    result = classification(image, inferences, latency_ms)
    tracer.put_annotation("label", result["label"])
    logger.info(
        "image classified",
        extra={n: result[n] for n in ("bucket", "key", "label", "confidence", "inferences")},
    )
    metrics.add_metric(name="EndpointLatency", unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.add_metric(name="Confidence", unit=MetricUnit.NoUnit, value=result["confidence"])
    return result
