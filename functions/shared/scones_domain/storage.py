"""S3 reads and writes of the workflow: an image's bytes, JSON documents, and S3's error codes
turned into the workflow's named errors."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from scones_domain.errors import (
    ImageAccessDenied,
    ImageNotFound,
    ImageStoreUnavailable,
    WorkflowError,
)
from scones_domain.images import check_size
from scones_domain.location import S3Location

NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "403"})
# The SDK has already retried these with backoff when the error reaches the caller.
UNAVAILABLE_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"}
)


def error_code(exc: ClientError) -> str:
    """S3's error code (``NoSuchKey``, ``403``, ...) of a botocore ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_not_found(exc: ClientError) -> bool:
    """The object or its bucket does not exist (GetObject's NoSuchKey, HeadObject's 404, ...)."""
    return error_code(exc) in NOT_FOUND_CODES


def image_error(exc: ClientError, location: S3Location) -> WorkflowError | None:
    """ImageNotFound / ImageAccessDenied / ImageStoreUnavailable for S3's answer about an
    image; None for a code the workflow has no name for (the caller re-raises it)."""
    code = error_code(exc)
    if code in NOT_FOUND_CODES:
        return ImageNotFound(f"{location.uri} does not exist ({code})")
    if code in DENIED_CODES:
        return ImageAccessDenied(f"{location.uri} cannot be read ({code})")
    if code in UNAVAILABLE_CODES:
        return ImageStoreUnavailable(f"{location.uri} unavailable ({code})")
    return None


def read_object(s3: Any, location: S3Location, max_bytes: int) -> bytes:
    """The object's bytes; ImageNotFound / ImageAccessDenied / ImageStoreUnavailable /
    ImageTooLarge when it cannot be."""
    try:
        response = s3.get_object(Bucket=location.bucket, Key=location.key)
    except ClientError as exc:
        error = image_error(exc, location)
        if error is None:
            raise
        raise error from None
    body = response["Body"]
    try:
        # Refuse an oversized object before downloading it.
        check_size(int(response.get("ContentLength", 0)), max_bytes)
        return body.read()
    finally:
        body.close()


def read_json(s3: Any, location: S3Location) -> Any:
    """A JSON document stored in S3, parsed."""
    body = s3.get_object(Bucket=location.bucket, Key=location.key)["Body"]
    try:
        return json.loads(body.read())
    finally:
        body.close()


def write_json(s3: Any, location: S3Location, document: Any) -> None:
    """Store ``document`` as indented JSON (``application/json``)."""
    s3.put_object(Bucket=location.bucket, Key=location.key, ContentType="application/json",
                  Body=json.dumps(document, indent=2).encode())


def copy_image(s3: Any, source: S3Location, target: S3Location, **options: Any) -> None:
    """CopyObject ``source`` to ``target`` (``options``: Metadata, MetadataDirective, ...);
    ImageNotFound / ImageAccessDenied / ImageStoreUnavailable when the source cannot be read."""
    try:
        s3.copy_object(Bucket=target.bucket, Key=target.key,
                       CopySource={"Bucket": source.bucket, "Key": source.key}, **options)
    except ClientError as exc:
        error = image_error(exc, source)
        if error is None:
            raise
        raise error from None
