"""`scones run --batch DIR`: the batch state machine over a folder, on this machine.

Starts the local endpoint and stack (:func:`scones.workflow.runner.local_runtime`), uploads
every image of the folder under one prefix, starts ONE ``BatchClassificationStateMachine``
execution over that prefix and waits for it.
Its Distributed Map runs the per-image workflow once per image; the summary comes from the
batch's last state (BatchSummaryFunction). Each image's record is then read from its own
per-image execution, exactly as ``scones run`` reads it (:class:`ImageRecord`).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from scones.local.stack import BATCH_STATE_MACHINE, ExecutionResult, LocalStack
from scones.workflow.runner import (
    DEFAULT_CAPTURE_DIR,
    DEFAULT_MODEL,
    ImagePathError,
    ImageRecord,
    find_images,
    local_runtime,
)

BATCH_PREFIX = "batches"
DEFAULT_BATCH_CONCURRENCY = 20
PROGRESS_POLL_S = 0.5
DEFAULT_RESULTS_DIR = Path("runs/batches")  # the result files, kept after the stack is gone


class BatchFailedError(Exception):
    """The batch execution itself did not succeed (it carries the execution's error)."""


@dataclass
class BatchOutcome:
    records: list[ImageRecord]
    summary: dict
    execution: ExecutionResult
    seconds: float


def model_version(model: str | Path) -> str:
    """What the results table records as the model version: the artifact's SHA-256 prefix
    (of the model.tar.gz, or of a model directory's files)."""
    model = Path(model)
    files = sorted(p for p in model.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   ) if model.is_dir() else [model]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(model).as_posix().encode() if model.is_dir() else b"")
        with open(path, "rb") as handle:
            for chunk in iter(lambda handle=handle: handle.read(1 << 20), b""):
                digest.update(chunk)
    return f"sha256-{digest.hexdigest()[:16]}"


def batch_images(directory: str | Path) -> list[tuple[str, str]]:
    """(local path, key below the batch prefix) for every image of the folder."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ImagePathError(f"{directory}: --batch takes a folder")
    return [(image, Path(image).relative_to(directory).as_posix())
            for image in find_images([directory])]


def wait_with_progress(stack: LocalStack, arn: str, batch_input: dict, total: int, *,
                       timeout: float, progress: bool) -> ExecutionResult:
    """Wait for the batch, showing how many per-image workflows have finished."""
    from tqdm import tqdm

    events = stack.events
    sfn, deadline = stack.client("stepfunctions"), time.monotonic() + timeout
    already = events.ended[stack.state_machine_arn]
    with tqdm(total=total, desc="batch", unit="img", disable=not progress,
              file=sys.stderr) as bar:
        while time.monotonic() < deadline:
            status = sfn.describe_execution(executionArn=arn)["status"]
            done = events.ended[stack.state_machine_arn] - already
            bar.update(min(total, done) - bar.n)
            if status != "RUNNING":
                break
            time.sleep(PROGRESS_POLL_S)
    return stack.wait(arn, batch_input, timeout=max(1.0, deadline - time.monotonic()))


def read_outcomes(stack: LocalStack, summary: dict) -> tuple[list[dict], list[dict]]:
    """The per-image outcomes and item failures from the batch's ResultWriter files."""
    from scones_domain.batch import read_results
    from scones_domain.location import S3Location
    from scones_domain.storage import read_json

    s3, manifest_at = stack.client("s3"), S3Location.parse(summary["manifest"])
    return read_results(read_json(s3, manifest_at),
                        lambda key: read_json(s3, S3Location(manifest_at.bucket, key)))


def keep_results(stack: LocalStack, summary: dict, out_dir: Path) -> dict[str, str]:
    """Copy the batch's result files and summary out of the stack (which ends with the
    command) into ``out_dir``; where the manifest and the summary are kept."""
    from scones_domain.location import S3Location

    s3, kept = stack.client("s3"), {}
    manifest_at = S3Location.parse(summary["manifest"])
    folder = manifest_at.key.rsplit("/", 1)[0] + "/"
    listing = s3.list_objects_v2(Bucket=manifest_at.bucket, Prefix=folder).get("Contents", [])
    locations = [S3Location(manifest_at.bucket, item["Key"]) for item in listing]
    for location in [*locations, S3Location.parse(summary["summary"])]:
        local = out_dir / location.key.rsplit("/", 1)[1]
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read())
        kept[location.uri] = str(local)
    return {"manifest_file": kept[summary["manifest"]], "summary_file": kept[summary["summary"]]}


def image_records(stack: LocalStack, images: list[tuple[str, str]], prefix: str,
                  outcomes: list[dict], item_failures: list[dict]) -> list[ImageRecord]:
    """One record per image, in folder order, read from each per-image execution."""
    by_key = {outcome["s3_key"]: outcome for outcome in outcomes if outcome.get("s3_key")}
    failure = item_failures[0] if item_failures else {}
    records = []
    for image, relative in images:
        outcome = by_key.get(prefix + relative)
        if outcome is None:  # the item processor failed: no per-image execution to read
            records.append(ImageRecord(
                image=image, status="FAILED",
                error=failure.get("error") or "BatchItemMissing",
                cause=failure.get("cause") or "the batch reported no outcome for this image",
                label=None, confidence=None, inferences=None))
            continue
        key_input = {"image_data": "", "s3_bucket": stack.bucket, "s3_key": prefix + relative}
        result = stack.wait(outcome["execution_arn"], key_input)
        records.append(ImageRecord.from_execution(image, result))
    return records


def run_batch(
    directory: str | Path,
    *,
    model: str | Path = DEFAULT_MODEL,
    threshold: float | None = None,
    capture: str | None = str(DEFAULT_CAPTURE_DIR),
    concurrency: int = DEFAULT_BATCH_CONCURRENCY,
    lambda_log: str | Path | None = None,
    progress: bool = True,
    timeout: float = 3600.0,
    results_dir: str | Path = DEFAULT_RESULTS_DIR,
) -> BatchOutcome:
    """Upload the folder, run BatchClassificationStateMachine over it, read every record; the
    result files and summary are kept in ``results_dir/<batch prefix>/``."""
    images = batch_images(directory)
    parameters = {"BatchMaxConcurrency": concurrency, "ModelVersion": model_version(model)}
    with local_runtime(model, capture=capture, threshold=threshold, lambda_log=lambda_log,
                       parameters=parameters) as (_server, stack):
        prefix = f"{BATCH_PREFIX}/{uuid.uuid4().hex[:8]}/"
        for image, relative in images:
            stack.upload(image, prefix + relative)
        started = time.perf_counter()
        batch_input = {"s3_bucket": stack.bucket, "prefix": prefix}
        arn = stack.client("stepfunctions").start_execution(
            stateMachineArn=stack.state_machine(BATCH_STATE_MACHINE),
            name=f"batch-{uuid.uuid4()}", input=json.dumps(batch_input))["executionArn"]
        execution = wait_with_progress(stack, arn, batch_input, len(images),
                                       timeout=timeout, progress=progress)
        seconds = time.perf_counter() - started
        if not execution.succeeded:
            raise BatchFailedError(f"batch {execution.status}: {execution.error}: "
                                   f"{execution.cause}")
        summary = execution.output
        outcomes, item_failures = read_outcomes(stack, summary)
        records = image_records(stack, images, prefix, outcomes, item_failures)
        summary = {**summary, **keep_results(stack, summary,
                                              Path(results_dir) / prefix.strip("/"))}
    summary = {**summary, "seconds": round(seconds, 3),
               "images_per_second": round(len(images) / seconds, 2) if seconds else None}
    return BatchOutcome(records=records, summary=summary, execution=execution, seconds=seconds)


def format_batch_summary(summary: dict) -> str:
    labels = ", ".join(f"{label}: {n}" for label, n in summary["by_label"].items()) or "none"
    failed = ", ".join(f"{error}: {n}" for error, n in summary["failed_by_error"].items())
    return (
        f"batch of {summary['images']} images: {summary['confident']} confident ({labels}), "
        f"{summary['below_threshold']} below the threshold, {summary['failed']} failed"
        f"{f' ({failed})' if failed else ''} in {summary['seconds']} s "
        f"({summary['images_per_second']} images/s)\n"
        f"results: {summary['manifest']} (kept in {summary['manifest_file']})\n"
        f"summary: {summary['summary']} (kept in {summary['summary_file']})"
    )
