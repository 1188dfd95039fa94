"""Where an object lives in S3: one name, :class:`S3Location`, for ``(bucket, key)`` and its
``s3://bucket/key`` URI.

An image to classify, a review copy and its sidecar, a batch manifest and its summary, the
monitoring baseline and the data-capture prefix are all S3 locations; events carry them as
separate ``bucket``/``key`` (or ``s3_bucket``/``s3_key``) fields, logs, DynamoDB items and
error messages as the URI.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

SCHEME = "s3://"


class InvalidS3Uri(ValueError):
    """A string that is not ``s3://bucket[/key]``."""


@dataclass(frozen=True)
class S3Location:
    """An object (``key``) or a prefix (``key`` ending in ``/``, or empty) in ``bucket``."""

    bucket: str
    key: str = ""

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        """``s3://bucket/key`` -> S3Location; the key may be empty (``s3://bucket``)."""
        if not isinstance(uri, str) or not uri.startswith(SCHEME):
            raise InvalidS3Uri(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[len(SCHEME) :].partition("/")
        if not bucket:
            raise InvalidS3Uri(f"no bucket in {uri!r}")
        return cls(bucket, key)

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    def sibling(self, name: str) -> S3Location:
        """The object ``name`` in the same folder (``a/manifest.json`` -> ``a/summary.json``)."""
        return S3Location(self.bucket, posixpath.join(posixpath.dirname(self.key), name))

    def __str__(self) -> str:
        return self.uri
