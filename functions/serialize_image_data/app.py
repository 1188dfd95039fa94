"""Serialize image data: the workflow's first state.

Reads the image named by the workflow input from S3 (or takes the caller's base64
``image_data``), checks it really is a PNG/JPEG by its bytes and that it fits the limits, and
passes it on base64-encoded when it fits a Step Functions payload, else by S3 reference.
"""

from __future__ import annotations

import base64
import os

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from scones_domain.config import env_int
from scones_domain.contracts import S3ObjectCreatedEvent, SerializeImageDataOutput, WorkflowInput
from scones_domain.errors import ImageTooLarge
from scones_domain.events import ImageRequest, parse_image_request
from scones_domain.images import check_image
from scones_domain.storage import read_object

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # only boto calls are traced; patch nothing else
metrics = Metrics()

IMAGE_BUCKET = os.environ.get("IMAGE_BUCKET") or None  # default when the input omits s3_bucket
MAX_IMAGE_BYTES = env_int("MAX_IMAGE_BYTES")
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS")
INLINE_IMAGE_MAX_BYTES = env_int("INLINE_IMAGE_MAX_BYTES")

s3 = boto3.client("s3")


def serialize(
    request: ImageRequest,
    data: bytes,
    *,
    from_s3: bool,
    max_bytes: int,
    max_pixels: int,
    inline_max_bytes: int,
) -> SerializeImageDataOutput:
    """The serialized-image event for ``data``, the state's output."""
    info = check_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    inline = len(data) <= inline_max_bytes
    if not inline and not from_s3:
        raise ImageTooLarge(
            f"image_data of {len(data)} bytes is over the {inline_max_bytes}-byte inline limit: "
            "upload the image to S3 and pass s3_bucket/s3_key instead"
        )
    return {
        "bucket": request.location.bucket,
        "key": request.location.key,
        "content_type": info.content_type,
        "size_bytes": len(data),
        "width": info.width,
        "height": info.height,
        "transport": "inline" if inline else "s3",
        "image_data": base64.b64encode(data).decode("ascii") if inline else "",
    }


@tracer.capture_method(capture_response=False)
def fetch_image(request: ImageRequest) -> bytes:
    return read_object(s3, request.location, MAX_IMAGE_BYTES)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(
    event: WorkflowInput | S3ObjectCreatedEvent, context: LambdaContext
) -> SerializeImageDataOutput:
    request = parse_image_request(event, default_bucket=IMAGE_BUCKET)
    from_s3 = request.image_data is None
    data = fetch_image(request) if from_s3 else request.image_data
    result = serialize(
        request,
        data,
        from_s3=from_s3,
        max_bytes=MAX_IMAGE_BYTES,
        max_pixels=MAX_IMAGE_PIXELS,
        inline_max_bytes=INLINE_IMAGE_MAX_BYTES,
    )
    tracer.put_annotation("image_key", request.location.key)
    logger.info(
        "image serialized",
        extra={name: value for name, value in result.items() if name != "image_data"},
    )
    metrics.add_metric(name="ImagesProcessed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ImageBytes", unit=MetricUnit.Bytes, value=len(data))
    return result
