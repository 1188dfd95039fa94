"""Rejected requests by reason, read from the functions' logs.

A capture record is written for an answered inference only, so a request the workflow or the
endpoint refused is not in the captures. Each refusal is a failed invocation of the function
that refused it, raising a named error (:mod:`scones_domain.errors`), and the Lambda runtime
writes that error to the function's log: ``[ERROR] ImageTooLarge: 6000000 bytes exceeds ...``
(the text log format; the local runtime writes the same line) or a JSON record with
``errorType`` (the JSON log format). This module counts those lines per reason, with the first
and last time, and says for each reason what to do when it is frequent.

Where the lines come from:

- :func:`read_stack_logs`: the stack's CloudWatch Logs groups (``/aws/lambda/<name>``), through
  any ``logs`` client: the running ``scones up`` stack's (:func:`read_running_stack`), or
  moto's in-process one;
- :func:`read_saved_logs`: a file or folder of saved logs: ``scones logs`` or ``sam logs``
  output (``<source> <ISO time> <message>`` per line), or ``aws logs filter-log-events`` /
  ``get-log-events`` JSON (``{"events": [{"timestamp", "message", ...}]}``, also one event per
  line).

:func:`summarize_rejections` turns the events into the report's ``rejections`` section.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scones_domain import errors

SERIALIZE = "SerializeImageDataFunction"
CLASSIFY = "ClassifyImageFunction"


@dataclass(frozen=True)
class Reason:
    """One way a request is refused: the named error, the HTTP status it stands for, the
    function that raises it, and what to do when it is frequent."""

    error: type[Exception]
    status: int
    function: str
    advice: str

    @property
    def name(self) -> str:
        return self.error.__name__


REASONS = {reason.name: reason for reason in (
    Reason(errors.MissingEventField, 400, SERIALIZE,
           "A caller sends workflow inputs without s3_bucket/s3_key or image_data: find it "
           "(a script, a rule's input transformer, the batch input) and send the documented "
           "input (docs/workflow.md)."),
    Reason(errors.InvalidEventField, 400, SERIALIZE,
           "A caller sends a field of the wrong type or value (see the message): fix that "
           "caller; nothing is wrong with the images."),
    Reason(errors.InvalidImageData, 400, SERIALIZE,
           "image_data is not base64: the caller must base64-encode the bytes, or upload the "
           "photo and pass s3_bucket/s3_key instead."),
    Reason(errors.ImageNotFound, 404, SERIALIZE,
           "The photo was gone when the workflow read it (deleted or moved after upload, or a "
           "misspelt key or bucket in the input): check what cleans the upload prefix and "
           "the inputs' bucket and key."),
    Reason(errors.ImageAccessDenied, 403, SERIALIZE,
           "The function may not read that object: the input names another stack's bucket, "
           "or a bucket policy or KMS key denies the function's role; check ImageBucket and "
           "the role's policy."),
    Reason(errors.NotAnImage, 400, SERIALIZE,
           "Uploads that are not images (an HTML error page, text or an empty file saved as "
           ".png): find the uploader by the key prefix and fix what it sends; nothing to "
           "retrain."),
    Reason(errors.CorruptImage, 400, SERIALIZE,
           "Truncated or damaged images: check the uploader's transfer (uploads cut short, "
           "re-encoding) and ask for the photos again."),
    Reason(errors.ImageTooLarge, 413, SERIALIZE,
           "Photos over MaxImageBytes (or image_data over the inline limit): have the client "
           "scale or compress before upload (the model sees a small thumbnail anyway), or "
           "raise MaxImageBytes up to SageMaker's 6 MB payload limit."),
    Reason(errors.ImageDimensionsTooLarge, 413, SERIALIZE,
           "Photos over MaxImagePixels: have the client scale them down before upload, or "
           "raise MaxImagePixels if such cameras are expected."),
    Reason(errors.UnsupportedContentType, 415, SERIALIZE,
           "Images in a format the endpoint does not read (GIF, WebP, BMP): convert them to "
           "PNG or JPEG at the uploader, or teach the model's input_fn the format first."),
    Reason(errors.EndpointRejectedImage, 400, CLASSIFY,
           "The model could not decode images that passed the header check (damaged past the "
           "header): look at those keys in the failed executions and at their uploader."),
    Reason(errors.EndpointUnsupportedContentType, 415, CLASSIFY,
           "The deployed model refuses a content type the workflow sends: the model and the "
           "workflow disagree; deploy a model whose input_fn reads PNG and JPEG."),
    Reason(errors.EndpointUnsupportedAccept, 406, CLASSIFY,
           "The deployed model cannot answer in the type the classifier asks for: deploy a "
           "model that answers application/json."),
    Reason(errors.EndpointNotFound, 400, CLASSIFY,
           "EndpointName names no endpoint in this account and region: compare the stack's "
           "EndpointName with `aws sagemaker list-endpoints`; the endpoint may be deleted."),
    Reason(errors.EndpointRequestRejected, 400, CLASSIFY,
           "Another refusal by the endpoint (a validation error, a payload over 6 MB): read "
           "the messages in ClassifyImageFunction's log."),
    Reason(errors.EndpointThrottled, 429, CLASSIFY,
           "The endpoint refused for load (each attempt is retried with backoff): raise its "
           "instance count or autoscaling target, or ask for a higher quota (scones "
           "capacity)."),
)}

_TEXT_ERROR = re.compile(r"^\[ERROR\]\s+(?P<type>[A-Za-z_][\w.]*)(?::\s*(?P<message>.*))?$")
_SAVED_LINE = re.compile(r"^(?P<source>\S+)\s+(?P<time>\d{4}-\d\d-\d\dT\S+)\s+(?P<message>.*)$")
_MAX_EXAMPLE = 200


@dataclass(frozen=True)
class LogEvent:
    """One log line: when, from which log (group, stream or function), and the text."""

    time: datetime
    source: str
    message: str


def error_of(message: str) -> tuple[str, str] | None:
    """(error type, message) of a runtime error line, text or JSON log format; else None."""
    text = message.strip()
    match = _TEXT_ERROR.match(text.splitlines()[0] if text else "")
    if match:
        return match.group("type"), (match.group("message") or "").strip()
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        level = str(record.get("log_level") or record.get("level") or "").upper()
        if record.get("errorType") and level == "ERROR":
            return str(record["errorType"]), str(record.get("errorMessage") or "")
    return None


def _in_window(event: LogEvent, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or event.time >= since) and (until is None or event.time <= until)


def summarize_rejections(events: Iterable[LogEvent], source: str, *,
                         since: datetime | None = None,
                         until: datetime | None = None) -> dict:
    """The report's ``rejections``: every refusal named in the logs, by reason (most first),
    each with its count, first and last time, an example message and the advice; the other
    errors in the logs by type (failed invocations that are not refusals of the request)."""
    found: dict[str, dict] = {}
    others: dict[str, int] = {}
    n_events = 0
    for event in events:
        if not _in_window(event, since, until):
            continue
        n_events += 1
        error = error_of(event.message)
        if error is None:
            continue
        name, message = error
        if name not in REASONS:
            others[name] = others.get(name, 0) + 1
            continue
        when = event.time.isoformat(timespec="seconds")
        entry = found.setdefault(name, {"count": 0, "first": when, "last": when,
                                        "example": message[:_MAX_EXAMPLE]})
        entry["count"] += 1
        entry["first"], entry["last"] = min(entry["first"], when), max(entry["last"], when)
    reasons = [{"reason": name, "status": REASONS[name].status,
                "function": REASONS[name].function, **entry, "advice": REASONS[name].advice}
               for name, entry in sorted(found.items(), key=lambda kv: (-kv[1]["count"], kv[0]))]
    return {"source": source, "n_log_events": n_events,
            "n_rejected": sum(r["count"] for r in reasons), "reasons": reasons,
            "other_errors": dict(sorted(others.items(), key=lambda kv: (-kv[1], kv[0])))}


# ---------------------------------------------------------------------------- reading logs


def _from_millis(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value) / 1000.0, UTC)


def read_stack_logs(logs: Any, function_names: dict[str, str], *,
                    since: datetime | None = None,
                    until: datetime | None = None) -> Iterator[LogEvent]:
    """Every event of the functions' log groups (``/aws/lambda/<name>``), ``source`` being the
    function's logical id. A group that does not exist yet (never invoked) has no events."""
    for logical_id, name in sorted(function_names.items()):
        kwargs: dict[str, Any] = {"logGroupName": f"/aws/lambda/{name}"}
        if since is not None:
            kwargs["startTime"] = int(since.timestamp() * 1000)
        if until is not None:
            kwargs["endTime"] = int(until.timestamp() * 1000) + 999
        while True:
            try:
                page = logs.filter_log_events(**kwargs)
            except logs.exceptions.ResourceNotFoundException:
                break
            for event in page.get("events", []):
                yield LogEvent(_from_millis(event["timestamp"]), logical_id, event["message"])
            token = page.get("nextToken")
            if not token or not page.get("events"):
                break
            kwargs["nextToken"] = token


def read_running_stack(state: dict, *, since: datetime | None = None,
                       until: datetime | None = None) -> dict:
    """The rejections in the function logs of the stack ``scones up`` serves (its state)."""
    from scones.local.client import RemoteStack

    stack = RemoteStack(state)
    events = read_stack_logs(stack.client("logs"), stack.function_names, since=since,
                             until=until)
    return summarize_rejections(
        events, f"function logs of the local stack at {stack.aws_endpoint_url}",
        since=since, until=until)


def _saved_events(text: str, source: str) -> Iterator[LogEvent]:
    stripped = text.lstrip()
    if stripped.startswith("{") and '"events"' in stripped[:200]:
        try:
            document = json.loads(stripped)
        except ValueError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("events"), list):
            for event in document["events"]:
                yield LogEvent(_from_millis(event["timestamp"]),
                               event.get("logGroupName") or event.get("logStreamName") or source,
                               str(event.get("message", "")))
            return
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "timestamp" in event and "message" in event:
                yield LogEvent(_from_millis(event["timestamp"]),
                               event.get("logGroupName") or source, str(event["message"]))
            continue
        match = _SAVED_LINE.match(line)
        if match:
            try:
                when = datetime.fromisoformat(match.group("time").replace("Z", "+00:00"))
            except ValueError:
                continue
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
            yield LogEvent(when, match.group("source"), match.group("message"))


class LogsNotFoundError(Exception):
    """--logs names no file or folder."""


def read_saved_logs(path: str | Path, *, since: datetime | None = None,
                    until: datetime | None = None) -> dict:
    """The rejections in saved logs: a file, or every file under a folder."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        raise LogsNotFoundError(f"{path}: no such file or folder")
    events = (event for file in files
              for event in _saved_events(file.read_text(encoding="utf-8", errors="replace"),
                                         file.name))
    return summarize_rejections(events, f"saved logs in {path}", since=since, until=until)
