"""Parse the three functions' input events into small typed records, with named errors.

Event shapes (each state's output is the next state's input; ``scones_domain.contracts``
types every state's input and output)::

    workflow input   {"image_data": "", "s3_bucket": "<bucket>", "s3_key": "<key>"}
                     (image_data optional: base64 bytes to classify instead of reading S3;
                      s3_bucket optional when IMAGE_BUCKET is set; an EventBridge
                      "Object Created" event from S3 is accepted too)
    serialized image {"bucket", "key", "content_type", "size_bytes", "width", "height",
                      "transport": "inline" | "s3", "image_data": "<base64>" | ""}
    classification   {"bucket", "key", "content_type", "size_bytes", "class_labels",
                      "inferences", "label", "confidence", "endpoint_latency_ms"}
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from scones_domain.errors import InvalidEventField, InvalidImageData, MissingEventField
from scones_domain.location import S3Location

# S3 bucket naming rules (3-63 chars, lowercase letters, digits, dots, hyphens).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
TRANSPORTS = ("inline", "s3")


@dataclass(frozen=True)
class ImageRequest:
    """Which image to classify; ``image_data`` holds caller-supplied bytes, if any."""

    location: S3Location
    image_data: bytes | None = None


@dataclass(frozen=True)
class SerializedImage:
    location: S3Location
    content_type: str
    size_bytes: int
    transport: str
    image_data: bytes | None  # None when transport == "s3"


@dataclass(frozen=True)
class Classification:
    location: S3Location
    inferences: list[float]


def require_mapping(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidEventField(f"the event must be a JSON object, got {type(event).__name__}")
    return event


def require_field(event: dict[str, Any], name: str) -> Any:
    """The value of a field that must be present and not null."""
    if name not in event or event[name] is None:
        raise MissingEventField(f"the event has no {name!r}")
    return event[name]


def require_str(event: dict[str, Any], name: str) -> str:
    value = require_field(event, name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventField(f"{name!r} must be a non-empty string, got {value!r}")
    return value


def require_int(event: dict[str, Any], name: str) -> int:
    value = require_field(event, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidEventField(f"{name!r} must be a non-negative integer, got {value!r}")
    return value


def require_list(event: dict[str, Any], name: str) -> list[Any]:
    value = require_field(event, name)
    if not isinstance(value, list):
        raise InvalidEventField(f"{name!r} must be a JSON list, got {type(value).__name__}")
    return value


def require_bucket(value: str, name: str) -> str:
    if not _BUCKET_NAME.match(value):
        raise InvalidEventField(f"{name!r}={value!r} is not a valid S3 bucket name")
    return value


def decode_image_data(value: Any) -> bytes | None:
    """Bytes of a base64 ``image_data``; None when empty or absent (the seed's format)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidEventField(f"'image_data' must be a base64 string, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImageData(f"'image_data' is not valid base64: {exc}") from None


def parse_image_request(event: Any, default_bucket: str | None = None) -> ImageRequest:
    """The workflow input (seed format) or an S3 "Object Created" EventBridge event."""
    event = require_mapping(event)
    if event.get("source") == "aws.s3" and "detail" in event:
        detail = require_mapping(event["detail"])
        bucket = require_str(require_mapping(detail.get("bucket", {})), "name")
        key = require_str(require_mapping(detail.get("object", {})), "key")
        return ImageRequest(S3Location(require_bucket(bucket, "detail.bucket.name"), key))
    if event.get("s3_bucket") in (None, "") and default_bucket:
        bucket = default_bucket
    else:
        bucket = require_bucket(require_str(event, "s3_bucket"), "s3_bucket")
    key = require_str(event, "s3_key")
    image_data = decode_image_data(event.get("image_data"))
    return ImageRequest(S3Location(bucket, key), image_data=image_data)


def parse_serialized_image(event: Any) -> SerializedImage:
    """The serialize function's output, as the classify function receives it."""
    event = require_mapping(event)
    transport = require_str(event, "transport")
    if transport not in TRANSPORTS:
        raise InvalidEventField(f"'transport' must be one of {TRANSPORTS}, got {transport!r}")
    image_data = decode_image_data(event.get("image_data"))
    if transport == "inline" and image_data is None:
        raise MissingEventField("'transport' is 'inline' but the event has no 'image_data'")
    return SerializedImage(
        location=S3Location(require_bucket(require_str(event, "bucket"), "bucket"),
                            require_str(event, "key")),
        content_type=require_str(event, "content_type"),
        size_bytes=require_int(event, "size_bytes"),
        transport=transport,
        image_data=image_data if transport == "inline" else None,
    )


def parse_classification(event: Any) -> Classification:
    """The classify function's output, as the filter function receives it."""
    event = require_mapping(event)
    return Classification(
        location=S3Location(require_str(event, "bucket"), require_str(event, "key")),
        inferences=require_list(event, "inferences"),
    )
