"""Read an image object from S3, turning S3's error codes into the workflow's named errors."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from scones_domain.errors import ImageAccessDenied, ImageNotFound, ImageStoreUnavailable
from scones_domain.images import check_size

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NotFound", "404"}
_DENIED = {"AccessDenied", "AllAccessDisabled", "403"}
_UNAVAILABLE = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"}


def read_object(s3: Any, bucket: str, key: str, max_bytes: int) -> bytes:
    """The object's bytes; ImageNotFound / ImageAccessDenied / ImageStoreUnavailable /
    ImageTooLarge when it cannot be."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _NOT_FOUND:
            raise ImageNotFound(f"s3://{bucket}/{key} does not exist ({code})") from None
        if code in _DENIED:
            raise ImageAccessDenied(f"s3://{bucket}/{key} cannot be read ({code})") from None
        if code in _UNAVAILABLE:  # the SDK has already retried these with backoff
            raise ImageStoreUnavailable(f"s3://{bucket}/{key} unavailable ({code})") from None
        raise
    body = response["Body"]
    try:
        # Refuse an oversized object before downloading it.
        check_size(int(response.get("ContentLength", 0)), max_bytes)
        return body.read()
    finally:
        body.close()
