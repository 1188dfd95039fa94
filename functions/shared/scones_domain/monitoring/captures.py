"""Read SageMaker data-capture JSON Lines into one row per image inference (pure Python).

Layout written by SageMaker (and by ``scones serve --capture``)::

    <prefix>/<EndpointName>/<VariantName>/YYYY/MM/DD/HH/<MM-SS-mmm>-<uuid>.jsonl

Each line is one record::

    {"captureData": {"endpointInput":  {"observedContentType": "image/png", "mode": "INPUT",
                                         "data": "<base64>", "encoding": "BASE64"},
                     "endpointOutput": {"observedContentType": "application/json",
                                         "mode": "OUTPUT", "data": "[0.1, 0.9]",
                                         "encoding": "JSON"}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2026-11-27T03:00:00Z",
                       "inferenceId": "optional"},
     "eventVersion": "0"}

Records that are not image inferences of this model (other endpoints' ``text/csv`` traffic,
broken lines, outputs that are not a probability list) are skipped and counted by reason;
they never stop a run. A source that does not exist raises :class:`CaptureSourceNotFound`.

The top label and the threshold are the workflow's own rules (``scones_domain.predictions``).
Shared by ``scones monitor`` and the scheduled MonitorCapturesFunction: keep it free of numpy,
matplotlib and Pillow (boto3 is imported only for ``s3://`` sources).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scones_domain.config import DEFAULT_CLASS_LABELS, DEFAULT_CONFIDENCE_THRESHOLD
from scones_domain.location import InvalidS3Uri, S3Location
from scones_domain.predictions import meets_threshold, top_prediction

IMAGE_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "application/x-image"})

# Reasons a line is skipped (keys of CaptureReadResult.skipped).
SKIP_NOT_JSON = "not_json"  # truncated or non-JSON line
SKIP_MALFORMED = "malformed_record"  # JSON, but not a capture record (fields missing)
SKIP_NON_IMAGE = "non_image_input"  # e.g. text/csv traffic of another endpoint
SKIP_BAD_INPUT = "undecodable_input"  # input data not valid base64
SKIP_NO_OUTPUT = "missing_output"  # input captured without an output
SKIP_BAD_OUTPUT = "undecodable_output"  # output not a JSON list of probabilities
SKIP_LABEL_MISMATCH = "label_count_mismatch"  # probabilities do not match the label list
SKIP_BAD_TIME = "bad_inference_time"  # inferenceTime missing or unparsable
SKIP_REASONS = (
    SKIP_NOT_JSON,
    SKIP_MALFORMED,
    SKIP_NON_IMAGE,
    SKIP_BAD_INPUT,
    SKIP_NO_OUTPUT,
    SKIP_BAD_OUTPUT,
    SKIP_LABEL_MISMATCH,
    SKIP_BAD_TIME,
)

_PATH_RE = re.compile(
    r"(?:^|/)(?P<endpoint>[^/]+)/(?P<variant>[^/]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/[^/]+\.jsonl$"
)
# Files are named by the time they are opened; records may be a little older than the folder.
_FILE_HOUR_SLACK = timedelta(hours=1)
_MAX_SKIP_EXAMPLES = 20


# skip reason of a capture whose InferenceId an earlier one had: the workflow names each
# execution's inference, so a replayed execution (Express runs at least once) counts once
DUPLICATE_INFERENCE = "duplicate_inference_id"


class CaptureError(Exception):
    """Base class of the capture reader's errors."""


class CaptureSourceNotFound(CaptureError):
    """The captures directory, bucket or prefix does not exist."""


class InvalidCaptureUri(CaptureError):
    """``--captures`` is neither an existing directory nor ``s3://bucket[/prefix]``."""


class SkippedRecord(CaptureError):
    """One line that is not an image inference; ``reason`` is one of ``SKIP_REASONS``."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Inference:
    """One captured image inference."""

    time: datetime
    event_id: str
    inference_id: str | None
    endpoint: str | None
    variant: str | None
    content_type: str
    input_bytes: int
    width: int | None
    height: int | None
    probabilities: tuple[float, ...]
    label: str
    confidence: float
    above_threshold: bool
    source: str
    extra: dict = field(default_factory=dict, compare=False)  # e.g. brightness (CLI only)

    def as_dict(self) -> dict:
        return {
            "time": format_time(self.time),
            "event_id": self.event_id,
            "inference_id": self.inference_id,
            "endpoint": self.endpoint,
            "variant": self.variant,
            "content_type": self.content_type,
            "input_bytes": self.input_bytes,
            "width": self.width,
            "height": self.height,
            "probabilities": list(self.probabilities),
            "label": self.label,
            "confidence": self.confidence,
            "above_threshold": self.above_threshold,
            "source": self.source,
            **self.extra,
        }


@dataclass
class CaptureReadResult:
    """Rows in time order plus what was skipped (counts by reason, a few examples)."""

    rows: list[Inference]
    skipped: Counter = field(default_factory=Counter)
    skip_examples: list[dict] = field(default_factory=list)
    n_files: int = 0
    n_lines: int = 0
    n_outside_window: int = 0

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


# An image inspector turns the input bytes into per-row fields ("width", "height", anything
# else lands in Inference.extra). Each user brings its own: the CLI decodes with Pillow (and
# adds brightness); the Lambda reads the header with scones_domain.images.inspect_image (no
# Pillow in Lambdas). The reader itself needs neither.
ImageInspector = Callable[[bytes], dict]


def no_image_stats(data: bytes) -> dict:
    """The default inspector: no width/height (rows keep ``None``)."""
    return {}


def parse_time(text: str) -> datetime:
    """``2026-11-27T03:00:00Z`` (fractions and offsets accepted) -> aware UTC datetime."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"not a timestamp: {text!r}")
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def path_info(path: str) -> tuple[str | None, str | None, datetime | None]:
    """(endpoint, variant, hour) from a capture file path, when it follows SageMaker's layout."""
    match = _PATH_RE.search(path.replace("\\", "/"))
    if not match:
        return None, None, None
    g = match.groupdict()
    try:
        hour = datetime(int(g["y"]), int(g["m"]), int(g["d"]), int(g["h"]), tzinfo=UTC)
    except ValueError:
        return g["endpoint"], g["variant"], None
    return g["endpoint"], g["variant"], hour


def _decode_b64(data: str) -> bytes:
    return base64.b64decode(data, validate=True)


def decode_probabilities(output: dict) -> list[float]:
    """The probability list from ``endpointOutput`` (JSON string, JSON value or base64 JSON)."""
    data = output.get("data")
    encoding = str(output.get("encoding", "JSON")).upper()
    try:
        if encoding == "BASE64":
            value = json.loads(_decode_b64(data).decode("utf-8"))
        elif isinstance(data, str):
            value = json.loads(data)  # JSON encoding: data is a JSON *string* (decoded twice)
        else:
            value = data
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise SkippedRecord(SKIP_BAD_OUTPUT, f"output data is not JSON ({exc})") from exc
    if isinstance(value, dict):  # {"probabilities": [...]} style responses
        value = value.get("probabilities", value.get("predictions"))
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]  # a batch of one
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(p, int | float) and not isinstance(p, bool) for p in value)
    ):
        raise SkippedRecord(SKIP_BAD_OUTPUT, "output is not a list of probabilities")
    return [float(p) for p in value]


def parse_record(
    line: str,
    *,
    source: str,
    labels: tuple[str, ...],
    threshold: float,
    inspect_image: ImageInspector = no_image_stats,
) -> Inference:
    """One JSON line -> :class:`Inference`, or raise :class:`SkippedRecord` with the reason."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise SkippedRecord(SKIP_NOT_JSON, f"not JSON ({exc.__class__.__name__})") from exc
    try:
        capture = record["captureData"]
        inp = capture["endpointInput"]
        content_type = str(inp["observedContentType"]).split(";")[0].strip().lower()
        meta = record["eventMetadata"]
    except (KeyError, TypeError) as exc:
        raise SkippedRecord(SKIP_MALFORMED, f"missing field {exc}") from exc
    if content_type not in IMAGE_CONTENT_TYPES:
        raise SkippedRecord(SKIP_NON_IMAGE, f"input content type {content_type}")
    try:
        raw = inp["data"]
        payload = _decode_b64(raw) if str(inp.get("encoding", "")).upper() == "BASE64" else None
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise SkippedRecord(SKIP_BAD_INPUT, f"input data is not base64 ({exc})") from exc
    if payload is None:
        raise SkippedRecord(SKIP_BAD_INPUT, f"image input encoding {inp.get('encoding')!r}")
    output = capture.get("endpointOutput")
    if not isinstance(output, dict):
        raise SkippedRecord(SKIP_NO_OUTPUT, "no endpointOutput")
    probabilities = decode_probabilities(output)
    if len(probabilities) != len(labels):
        raise SkippedRecord(
            SKIP_LABEL_MISMATCH, f"{len(probabilities)} probabilities for {len(labels)} labels"
        )
    try:
        time = parse_time(meta.get("inferenceTime"))
    except (ValueError, TypeError, AttributeError) as exc:
        raise SkippedRecord(SKIP_BAD_TIME, str(exc)) from exc
    endpoint, variant, _ = path_info(source)
    label, confidence = top_prediction(probabilities, labels)
    extra = dict(inspect_image(payload))
    width, height = extra.pop("width", None), extra.pop("height", None)
    return Inference(
        time=time,
        event_id=str(meta.get("eventId", "")),
        inference_id=None if meta.get("inferenceId") is None else str(meta["inferenceId"]),
        endpoint=endpoint,
        variant=variant,
        content_type=content_type,
        input_bytes=len(payload),
        width=width,
        height=height,
        probabilities=tuple(probabilities),
        label=label,
        confidence=confidence,
        above_threshold=meets_threshold(confidence, threshold),
        source=source,
        extra=extra,
    )


# ----------------------------------------------------------------------------- sources


def capture_location(uri: str) -> S3Location:
    """``s3://bucket/prefix`` of a capture source; InvalidCaptureUri when it is not one."""
    try:
        return S3Location.parse(uri)
    except InvalidS3Uri as exc:
        raise InvalidCaptureUri(str(exc)) from None


def _keep_file(path: str, since: datetime | None, until: datetime | None) -> bool:
    """Skip whole files whose folder hour lies clearly outside [since, until]."""
    _, _, hour = path_info(path)
    if hour is None:
        return True
    if since is not None and hour + timedelta(hours=1) + _FILE_HOUR_SLACK <= since:
        return False
    if until is not None and hour - _FILE_HOUR_SLACK > until:
        return False
    return True


def _local_files(root: Path, since, until) -> Iterator[tuple[str, str]]:
    if not root.exists():
        raise CaptureSourceNotFound(f"captures directory not found: {root}")
    files = [root] if root.is_file() else sorted(root.rglob("*.jsonl"))
    for path in files:
        if _keep_file(path.as_posix(), since, until):
            yield str(path), path.read_text(encoding="utf-8", errors="replace")


_YEAR_FOLDER = re.compile(r"/(\d{4})/$")
MAX_HOUR_LISTINGS = 48  # a longer --since range lists the whole prefix once instead
_MAX_WALK_DEPTH = 3  # <prefix>/<Endpoint>/<Variant>/YYYY


def _hour_prefixes(since: datetime, until: datetime | None) -> list[str] | None:
    """``YYYY/MM/DD/HH/`` folders that may hold records of [since, until], or None if many."""
    end = (until or datetime.now(UTC)) + _FILE_HOUR_SLACK
    hour = (since - _FILE_HOUR_SLACK).replace(minute=0, second=0, microsecond=0)
    out = []
    while hour <= end:
        out.append(f"{hour:%Y/%m/%d/%H}/")
        if len(out) > MAX_HOUR_LISTINGS:
            return None
        hour += timedelta(hours=1)
    return out


def _list_all(s3_client, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []) if obj["Key"].endswith(".jsonl"))
    return keys


def _list_window(s3_client, bucket: str, prefix: str, hours: list[str], depth: int = 0):
    """Walk <Endpoint>/<Variant>/ folders with a delimiter; at the year level list only the
    window's hour folders. A run every few minutes then lists a handful of folders, not the
    whole capture history."""
    keys, folders = [], []
    for page in s3_client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/"
    ):
        keys.extend(obj["Key"] for obj in page.get("Contents", []) if obj["Key"].endswith(".jsonl"))
        folders.extend(cp["Prefix"] for cp in page.get("CommonPrefixes", []))
    if any(_YEAR_FOLDER.search(f) for f in folders):
        for hour in hours:
            keys.extend(_list_all(s3_client, bucket, prefix + hour))
        folders = [f for f in folders if not _YEAR_FOLDER.search(f)]
    for folder in folders:
        if depth < _MAX_WALK_DEPTH:
            keys.extend(_list_window(s3_client, bucket, folder, hours, depth + 1))
        else:
            keys.extend(_list_all(s3_client, bucket, folder))
    return keys


def _s3_files(uri: str, since, until, s3_client=None) -> Iterator[tuple[str, str]]:
    source = capture_location(uri)
    bucket, prefix = source.bucket, source.key
    if prefix and not prefix.endswith(("/", ".jsonl")):
        prefix += "/"  # a capture prefix is a folder: s3://b/capture must not read capture-old/
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    from botocore.exceptions import ClientError

    from scones_domain.storage import is_not_found

    try:
        hours = _hour_prefixes(since, until) if since is not None else None
        if hours is None or prefix.endswith(".jsonl"):
            keys = _list_all(s3_client, bucket, prefix)
        else:
            keys = _list_window(s3_client, bucket, prefix, hours)
    except ClientError as exc:
        if is_not_found(exc):  # NoSuchBucket
            raise CaptureSourceNotFound(f"bucket not found: {bucket}") from exc
        raise
    for key in sorted(set(keys)):
        if _keep_file(key, since, until):
            body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
            yield S3Location(bucket, key).uri, body.decode("utf-8", errors="replace")


def iter_capture_files(
    captures: str, since: datetime | None = None, until: datetime | None = None, s3_client=None
) -> Iterator[tuple[str, str]]:
    """(source name, text) for every ``*.jsonl`` under a directory or ``s3://`` prefix."""
    if str(captures).startswith("s3://"):
        return _s3_files(str(captures), since, until, s3_client)
    return _local_files(Path(captures), since, until)


def read_lines(
    files: Iterable[tuple[str, str]],
    *,
    labels: Iterable[str] = DEFAULT_CLASS_LABELS,
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    since: datetime | None = None,
    until: datetime | None = None,
    inspect_image: ImageInspector = no_image_stats,
) -> CaptureReadResult:
    """Parse every line of every file; rows sorted by inference time."""
    labels = tuple(labels)
    result = CaptureReadResult(rows=[])
    seen: set[str] = set()
    for source, text in files:
        result.n_files += 1
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            result.n_lines += 1
            try:
                row = parse_record(
                    line,
                    source=source,
                    labels=labels,
                    threshold=threshold,
                    inspect_image=inspect_image,
                )
            except SkippedRecord as skip:
                result.skipped[skip.reason] += 1
                if len(result.skip_examples) < _MAX_SKIP_EXAMPLES:
                    result.skip_examples.append(
                        {"source": source, "line": line_no, "reason": skip.reason,
                         "message": skip.message}
                    )
                continue
            if (since is not None and row.time < since) or (until is not None and row.time > until):
                result.n_outside_window += 1
                continue
            if row.inference_id is not None:
                if row.inference_id in seen:  # the same inference captured again (a replay)
                    result.skipped[DUPLICATE_INFERENCE] += 1
                    continue
                seen.add(row.inference_id)
            result.rows.append(row)
    result.rows.sort(key=lambda r: (r.time, r.source, r.event_id))
    return result


def read_captures(
    captures: str,
    *,
    labels: Iterable[str] = DEFAULT_CLASS_LABELS,
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    since: datetime | None = None,
    until: datetime | None = None,
    inspect_image: ImageInspector = no_image_stats,
    s3_client=None,
) -> CaptureReadResult:
    """Read a capture directory or ``s3://bucket/prefix`` (recursively, in time order)."""
    return read_lines(
        iter_capture_files(captures, since, until, s3_client),
        labels=labels,
        threshold=threshold,
        since=since,
        until=until,
        inspect_image=inspect_image,
    )
