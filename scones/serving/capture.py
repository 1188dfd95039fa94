"""SageMaker data capture, written locally: the exact JSON Lines format of a real endpoint.

A record (one line) looks like what SageMaker writes for ``DataCaptureConfig``::

    {"captureData": {
        "endpointInput":  {"observedContentType": "image/png", "mode": "INPUT",
                           "data": "<base64>", "encoding": "BASE64"},
        "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                           "data": "[0.98, 0.02]", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceTime": "2026-11-27T03:04:05Z"},
     "eventVersion": "0"}

Files go to ``<prefix>/<EndpointName>/<VariantName>/YYYY/MM/DD/HH/<MM-SS-mmm>-<uuid>.jsonl``
(the time of the file's first record, UTC), in a local directory or under an ``s3://`` URI.

Exactly-once: the endpoint calls :meth:`CaptureWriter.submit` before it answers a request;
one writer thread owns the files, writes each batch of whole lines with a single ``write``,
fsyncs when it rotates a file and drains the queue on :meth:`CaptureWriter.close`, so every
accepted record lands in exactly one file. A process killed with SIGKILL can leave the last
line of its current file cut short (Linux stops a large write at a page boundary for a fatal
signal) and loses what was still queued: readers skip such a line (``not_json``), and the next
local writer on that directory cuts it off before it writes (:func:`repair_capture_files`).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_JSON_CONTENT_TYPES = ("application/json",)
DEFAULT_CSV_CONTENT_TYPES = ("text/csv",)
_STOP = object()


class CaptureError(Exception):
    """The capture destination cannot be used (bad URI, unwritable directory, S3 failure)."""


class CaptureClosedError(CaptureError):
    """A record was submitted after the writer was closed: it would be lost, so we refuse it."""


@dataclass(frozen=True)
class CaptureConfig:
    """What and where to capture, mirroring SageMaker's ``DataCaptureConfig``."""

    destination: str  # a local directory or s3://bucket/prefix
    endpoint_name: str
    variant_name: str = "AllTraffic"
    sampling_percentage: float = 100.0  # InitialSamplingPercentage, 0..100
    json_content_types: tuple[str, ...] = DEFAULT_JSON_CONTENT_TYPES
    csv_content_types: tuple[str, ...] = DEFAULT_CSV_CONTENT_TYPES
    max_records_per_file: int = 10_000  # rotate after this many records
    max_file_age_s: float = 60.0  # ... or after this many seconds (SageMaker: a few minutes)

    def __post_init__(self):
        if not 0.0 <= self.sampling_percentage <= 100.0:
            raise CaptureError(
                f"sampling_percentage must be within 0..100, got {self.sampling_percentage}"
            )


@dataclass(frozen=True)
class CaptureEvent:
    """One served inference, as the endpoint saw it (bytes, not yet encoded)."""

    input_data: bytes
    input_content_type: str
    output_data: bytes
    output_content_type: str
    inference_time: datetime  # UTC
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    inference_id: str | None = None  # X-Amzn-SageMaker-Inference-Id, when the caller set one


def encoding_for(content_type: str, config: CaptureConfig) -> str:
    """SageMaker's rule: JSON and CSV content types are kept as text, everything else base64."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in config.json_content_types:
        return "JSON"
    if media_type in config.csv_content_types:
        return "CSV"
    return "BASE64"


def _encode(data: bytes, encoding: str) -> str:
    if encoding == "BASE64":
        return base64.b64encode(data).decode("ascii")
    return data.decode("utf-8")


def build_record(event: CaptureEvent, config: CaptureConfig) -> dict:
    """The capture record for one event, field for field as SageMaker writes it."""
    captured = {}
    for key, mode, data, content_type in (
        ("endpointInput", "INPUT", event.input_data, event.input_content_type),
        ("endpointOutput", "OUTPUT", event.output_data, event.output_content_type),
    ):
        encoding = encoding_for(content_type, config)
        captured[key] = {
            "observedContentType": content_type,
            "mode": mode,
            "data": _encode(data, encoding),
            "encoding": encoding,
        }
    metadata = {
        "eventId": event.event_id,
        "inferenceTime": event.inference_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if event.inference_id is not None:
        metadata["inferenceId"] = event.inference_id
    return {"captureData": captured, "eventMetadata": metadata, "eventVersion": "0"}


def capture_key(config: CaptureConfig, first_record_time: datetime, file_id: str) -> str:
    """Relative path ``<EndpointName>/<VariantName>/YYYY/MM/DD/HH/<MM-SS-mmm>-<uuid>.jsonl``."""
    t = first_record_time.astimezone(UTC)
    millis = t.microsecond // 1000
    return (
        f"{config.endpoint_name}/{config.variant_name}/{t:%Y/%m/%d/%H}/"
        f"{t:%M-%S}-{millis:03d}-{file_id}.jsonl"
    )


def repair_capture_files(root: Path) -> list[tuple[str, int]]:
    """Cut the partial last line a killed writer may have left in a capture file.

    One ``write`` of a batch is not atomic against SIGKILL: Linux stops copying a large write
    at a page boundary when the process is killed, so a file can end mid-line. Every line
    before it is whole. A writer starting on a directory calls this first; it returns
    ``(path, bytes cut)`` for each file it repaired."""
    repaired = []
    for path in sorted(root.rglob("*.jsonl")):
        with path.open("rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if not size:
                continue
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                continue
            keep, position = 0, size
            while position > 0 and not keep:  # find the last newline, 64 KB at a time
                start = max(0, position - 65536)
                handle.seek(start)
                chunk = handle.read(position - start)
                index = chunk.rfind(b"\n")
                keep = start + index + 1 if index >= 0 else 0
                position = start
            handle.truncate(keep)
            os.fsync(handle.fileno())
        repaired.append((str(path), size - keep))
    return repaired


class _LocalSink:
    """Appends whole lines to files under a directory; fsync on close. On start it repairs
    files a killed writer left mid-line (:func:`repair_capture_files`)."""

    def __init__(self, root: Path):
        self.root = root
        self._fd: int | None = None
        try:
            root.mkdir(parents=True, exist_ok=True)
            for path, cut in repair_capture_files(root):
                print(f"capture: cut a partial last record ({cut} bytes) from {path}, "
                      "left by a writer that was killed", file=sys.stderr)
        except OSError as exc:
            raise CaptureError(f"cannot prepare capture directory {root}: {exc}") from exc

    def open(self, key: str) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        return str(path)

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:  # os.write may write less than asked; loop until every byte is down
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


class _S3Sink:
    """Buffers a file's lines and uploads the whole object when the file rotates or closes."""

    def __init__(self, bucket: str, prefix: str):
        import boto3

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self._client = boto3.client("s3")
        self._key: str | None = None
        self._parts: list[bytes] = []

    def open(self, key: str) -> str:
        self._key = f"{self.prefix}/{key}" if self.prefix else key
        self._parts = []
        return f"s3://{self.bucket}/{self._key}"

    def write(self, chunk: bytes) -> None:
        self._parts.append(chunk)

    def close(self) -> None:
        if self._key is None:
            return
        body = b"".join(self._parts)
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=self._key, Body=body, ContentType="application/jsonl"
            )
        except Exception as exc:  # botocore errors: name the object that could not be written
            raise CaptureError(f"cannot write s3://{self.bucket}/{self._key}: {exc}") from exc
        finally:
            self._key, self._parts = None, []


def _make_sink(destination: str):
    if destination.startswith("s3://"):
        bucket, _, prefix = destination[len("s3://") :].partition("/")
        if not bucket:
            raise CaptureError(f"capture destination {destination!r} names no bucket")
        return _S3Sink(bucket, prefix)
    if "://" in destination:
        raise CaptureError(f"capture destination {destination!r}: use a directory or s3://")
    return _LocalSink(Path(destination))


class CaptureWriter:
    """Captures served requests on a background thread; thread-safe ``submit``."""

    def __init__(self, config: CaptureConfig, *, rng: random.Random | None = None):
        self.config = config
        self._sink = _make_sink(config.destination)
        self._queue: queue.Queue = queue.Queue()
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._closed = False
        self.accepted = 0  # records queued for writing
        self.written = 0  # records written to a file
        self.files: list[str] = []  # every file (path or s3:// URI) this writer produced
        self.error: BaseException | None = None
        self._file_hour: str | None = None
        self._file_records = 0
        self._file_opened = 0.0
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    # -- producer side (request threads) -------------------------------------------------
    def sampled(self) -> bool:
        """Draw whether the next request is captured (``sampling_percentage`` of them)."""
        pct = self.config.sampling_percentage
        return pct >= 100.0 or (pct > 0.0 and self._rng.random() * 100.0 < pct)

    def submit(self, event: CaptureEvent) -> None:
        """Queue one event; it will be written exactly once, even if close() follows at once."""
        with self._lock:
            if self._closed:
                raise CaptureClosedError("capture writer is closed; the record would be lost")
            self.accepted += 1
            self._queue.put(event)

    def close(self, timeout: float | None = 60.0) -> None:
        """Stop accepting, write everything queued, fsync and close the current file."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise CaptureError(f"capture writer did not drain within {timeout} s")
        if self.error is not None:
            raise CaptureError(f"capture writer failed: {self.error}") from self.error

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- consumer side (the writer thread) -----------------------------------------------
    def _run(self) -> None:
        stop = False
        try:
            while not stop:
                item = self._queue.get()
                batch = []
                while True:
                    if item is _STOP:
                        stop = True
                    else:
                        batch.append(item)
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                self._write_batch(batch)
            self._close_file()
        except BaseException as exc:  # noqa: BLE001 - kept and re-raised by close()
            self.error = exc
            print(f"capture writer failed: {exc}", file=sys.stderr)

    def _write_batch(self, batch: list[CaptureEvent]) -> None:
        lines: list[bytes] = []
        for event in batch:
            hour = event.inference_time.astimezone(UTC).strftime("%Y%m%d%H")
            if self._needs_rotation(hour):
                self._flush_lines(lines)
                lines = []
                self._close_file()
                self._open_file(event.inference_time, hour)
            record = build_record(event, self.config)
            lines.append(json.dumps(record, separators=(",", ":")).encode() + b"\n")
            self._file_records += 1
        self._flush_lines(lines)

    def _needs_rotation(self, hour: str) -> bool:
        return (
            self._file_hour != hour
            or self._file_records >= self.config.max_records_per_file
            or time.monotonic() - self._file_opened >= self.config.max_file_age_s
        )

    def _flush_lines(self, lines: list[bytes]) -> None:
        if lines:
            self._sink.write(b"".join(lines))  # one write: whole lines only
            self.written += len(lines)

    def _open_file(self, first_time: datetime, hour: str) -> None:
        self.files.append(self._sink.open(capture_key(self.config, first_time, uuid.uuid4().hex)))
        self._file_hour, self._file_records = hour, 0
        self._file_opened = time.monotonic()

    def _close_file(self) -> None:
        if self._file_hour is not None:
            self._sink.close()
            self._file_hour = None
