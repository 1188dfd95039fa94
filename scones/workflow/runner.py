"""`scones run`: the whole workflow over local images, on this machine.

Starts the local endpoint (capturing to a directory) and the local stack, uploads each image to
the stack's bucket, executes the state machine once per image (a bounded number at a time),
and reports one :class:`ImageRecord` per image: a table, a summary and optionally JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import statistics
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from scones.local.client import ExecutionTimeoutError, Stack
from scones_domain.arguments import write_output

if TYPE_CHECKING:  # the endpoint and the in-process stack: imported where they start
    from scones.local.client import ExecutionResult
    from scones.local.stack import LocalStack
    from scones.serving.endpoint import EndpointServer

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
DEFAULT_MODEL = Path("runs/model/model.tar.gz")
DEFAULT_CAPTURE_DIR = Path("runs/captures")
DEFAULT_CONCURRENCY = 2  # one Python core: more in flight only adds queueing latency
THRESHOLD_ERROR = "THRESHOLD_CONFIDENCE_NOT_MET"
LOCAL_TIMEOUT_ERROR = "LocalExecutionTimeout"  # the execution outlived run_images' timeout


class ImagePathError(Exception):
    """A PATH given to `scones run` does not exist or holds no image files."""


class ModelNotFoundError(Exception):
    """The model artifact to serve does not exist (train one first, or pass --model)."""


@dataclass
class ImageRecord:
    """One image's outcome; exactly the fields `scones run --json` writes (plus seconds)."""

    image: str
    status: str
    error: str | None
    cause: str | None
    label: str | None
    confidence: float | None
    inferences: list[float] | None
    seconds: float = 0.0

    def to_json(self) -> dict:
        record = asdict(self)
        record.pop("seconds")
        return record

    @classmethod
    def from_execution(cls, image: str, result: ExecutionResult) -> ImageRecord:
        return cls(image=image, status=result.status, error=result.error, cause=result.cause,
                   label=result.label, confidence=result.confidence,
                   inferences=result.inferences, seconds=result.seconds)


def find_images(paths: Iterable[str | Path]) -> list[str]:
    """Files as given; folders searched recursively for .png/.jpg/.jpeg (sorted)."""
    found: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise ImagePathError(f"{raw}: folder holds no .png/.jpg/.jpeg files")
            found.extend(str(p) for p in images)
        elif path.is_file():
            found.append(str(raw))
        else:
            raise ImagePathError(f"{raw}: no such file or folder")
    return found


def require_model(model: str | Path) -> Path:
    model = Path(model)
    if not model.exists():
        raise ModelNotFoundError(
            f"model artifact {model} not found: train one (`scones train --data DATA --out "
            f"{model.parent}`), run `scones demo`, or pass --model"
        )
    return model


def quiet_interpreter_logs() -> None:
    """What the local runtime would print that is no news to the user: moto's ASL interpreter
    logs every failed state at ERROR (results carry it instead), and Powertools warns when a
    handler that records no metric returns (on Lambda that warning goes to the function's log;
    here it would reach the terminal of `scones run`, `invoke` or `demo`)."""
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="No application metrics to publish",
                            category=UserWarning)


@contextlib.contextmanager
def local_runtime(
    model: str | Path,
    *,
    capture: str | None = str(DEFAULT_CAPTURE_DIR),
    threshold: float | None = None,
    endpoint_name: str | None = None,
    bucket: str | None = None,
    lambda_log: str | Path | None = None,
    parameters: dict[str, Any] | None = None,
    endpoint_port: int = 0,
) -> Iterator[tuple[EndpointServer, LocalStack]]:
    """The endpoint and the stack, wired together; both stopped (capture drained) on exit.

    ``parameters``: more template parameter overrides (e.g. ModelVersion for `--batch`);
    ``endpoint_name``: default the endpoint's (the template's ``EndpointName``).
    """
    from scones.local.stack import LocalStack
    from scones.serving.endpoint import DEFAULT_ENDPOINT_NAME, start_endpoint

    endpoint_name = endpoint_name or DEFAULT_ENDPOINT_NAME
    quiet_interpreter_logs()
    server = start_endpoint(require_model(model), endpoint_name=endpoint_name, capture=capture,
                            port=endpoint_port)
    parameters = {**(parameters or {}), "EndpointName": endpoint_name}
    if threshold is not None:
        parameters["ConfidenceThreshold"] = threshold
    try:
        with function_stdout_to(lambda_log):
            stack = LocalStack(server.url, parameters=parameters, bucket=bucket)
            with stack:
                yield server, stack
    finally:
        server.stop()


class _FunctionStdout(io.TextIOBase):
    """sys.stdout while functions run: forwards to the current target, else to the original.

    Powertools binds its log handler to the sys.stdout it sees at import; this stream stays
    valid after the run (later writes go back to the original stdout, never a closed file).
    """

    def __init__(self):
        self.target = None
        self.original = sys.__stdout__

    def write(self, text: str) -> int:
        return (self.target or self.original).write(text)

    def flush(self) -> None:
        (self.target or self.original).flush()


_FUNCTION_STDOUT = _FunctionStdout()


@contextlib.contextmanager
def function_stdout_to(target: str | Path | TextIO | None) -> Iterator[None]:
    """Send the functions' log lines and EMF metrics (stdout on Lambda) to a file or stream."""
    if target is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        if isinstance(target, (str, Path)):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            target = stack.enter_context(open(target, "a", encoding="utf-8"))
        _FUNCTION_STDOUT.original = sys.stdout
        _FUNCTION_STDOUT.target = target
        # Powertools handlers created before (another stdout) follow the target meanwhile
        handlers = _powertools_handlers()
        previous = [handler.stream for handler in handlers]
        for handler in handlers:
            handler.stream = _FUNCTION_STDOUT
        try:
            with contextlib.redirect_stdout(_FUNCTION_STDOUT):
                yield
        finally:
            _FUNCTION_STDOUT.target = None
            for handler, stream in zip(handlers, previous, strict=True):
                handler.stream = stream


def _powertools_handlers() -> list[logging.StreamHandler]:
    """Every Powertools log handler in the process (bound to the stdout of its first import)."""
    from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter

    loggers = [lg for lg in list(logging.root.manager.loggerDict.values())
               if isinstance(lg, logging.Logger)]
    return [h for lg in loggers for h in lg.handlers
            if isinstance(h, logging.StreamHandler)
            and isinstance(h.formatter, BasePowertoolsFormatter)]


def run_images(
    stack: Stack,
    images: list[str],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool = True,
    timeout: float = 120.0,
) -> list[ImageRecord]:
    """Upload and classify every image through the workflow; records in input order."""
    from tqdm import tqdm

    run_id = uuid.uuid4().hex[:8]
    records: list[ImageRecord | None] = [None] * len(images)

    def one(index: int) -> ImageRecord:
        image = images[index]
        key = f"uploads/{run_id}/{index:05d}-{Path(image).name}"
        try:
            return ImageRecord.from_execution(image, stack.run_image(image, key, timeout=timeout))
        except ExecutionTimeoutError as exc:  # one stuck image must not sink the whole run
            return ImageRecord(image, "FAILED", LOCAL_TIMEOUT_ERROR, str(exc), None, None, None,
                               exc.result.seconds)
        except OSError as exc:  # unreadable file: named, recorded, the run goes on
            return ImageRecord(image, "FAILED", type(exc).__name__, str(exc), None, None, None)

    with (
        ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="workflow") as pool,
        tqdm(total=len(images), desc="workflow", unit="img", disable=not progress,
             file=sys.stderr) as bar,
    ):
        futures = {pool.submit(one, i): i for i in range(len(images))}
        for future in as_completed(futures):
            records[futures[future]] = future.result()
            bar.update(1)
    return records  # type: ignore[return-value]


def summarize(records: list[ImageRecord], wall_seconds: float) -> dict:
    by_status = Counter(r.status for r in records)
    errors = Counter(r.error for r in records if r.error)
    latencies = sorted(r.seconds for r in records)
    return {
        "images": len(records),
        "succeeded": by_status.get("SUCCEEDED", 0),
        "failed": len(records) - by_status.get("SUCCEEDED", 0),
        "errors": dict(errors),
        "seconds": round(wall_seconds, 3),
        "images_per_second": round(len(records) / wall_seconds, 2) if wall_seconds else None,
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
    }


def format_table(records: list[ImageRecord], max_error: int = 40) -> str:
    rows = [("image", "label", "confidence", "status", "error")]
    for r in records:
        confidence = f"{r.confidence:.4f}" if isinstance(r.confidence, (int, float)) else "-"
        error = (r.error or "")[:max_error]
        rows.append((r.image, r.label or "-", confidence, r.status, error))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_summary(summary: dict) -> str:
    errors = ", ".join(f"{name}: {n}" for name, n in sorted(summary["errors"].items())) or "none"
    return (
        f"{summary['images']} images: {summary['succeeded']} SUCCEEDED, {summary['failed']} "
        f"FAILED ({errors}) in {summary['seconds']} s "
        f"({summary['images_per_second']} images/s, p50 {summary['p50_ms']} ms per image)"
    )


def write_json(records: list[ImageRecord], path: str | Path) -> None:
    """The records as a JSON list into ``path`` (its folders made), or stdout for ``-``."""
    write_output(str(path), json.dumps([r.to_json() for r in records], indent=2) + "\n")


def exit_code(records: list[ImageRecord]) -> int:
    """0 when every image got an answer (confident or THRESHOLD_CONFIDENCE_NOT_MET), else 1."""
    ok = all(r.status == "SUCCEEDED" or r.error == THRESHOLD_ERROR for r in records)
    return 0 if ok else 1


@dataclass
class RunOutcome:
    records: list[ImageRecord]
    summary: dict
    capture_files: list[str]
    capture: str | None = None  # where the endpoint captured (a warm stack's own)
    attached_to: str | None = None  # the AWS endpoint URL of the `scones up` stack used


def run_workflow(
    paths: Iterable[str | Path],
    *,
    model: str | Path = DEFAULT_MODEL,
    threshold: float | None = None,
    capture: str | None = str(DEFAULT_CAPTURE_DIR),
    concurrency: int = DEFAULT_CONCURRENCY,
    lambda_log: str | Path | None = None,
    progress: bool = True,
    use_running: bool = False,
) -> RunOutcome:
    """find_images -> local_runtime -> run_images: what `scones run` and `scones demo` do.

    With ``use_running`` and a stack that ``scones up`` serves, the images go to that warm
    stack (its model, threshold and capture) instead of a fresh one."""
    images = find_images(paths)
    if use_running:
        from scones.local.client import RemoteStack
        from scones.local.server import StackNotRunningError, read_state

        try:
            state = read_state()
        except StackNotRunningError:
            state = None
        if state is not None:
            print(f"using the local stack of `scones up` at {state['aws_endpoint_url']} "
                  f"(model {state['model']})", file=sys.stderr)
            started = time.perf_counter()
            records = run_images(RemoteStack(state), images, concurrency=concurrency,
                                 progress=progress)
            wall = time.perf_counter() - started
            return RunOutcome(records, summarize(records, wall), [], state.get("capture"),
                              state["aws_endpoint_url"])
    with local_runtime(model, capture=capture, threshold=threshold,
                       lambda_log=lambda_log) as (server, stack):
        started = time.perf_counter()
        records = run_images(stack, images, concurrency=concurrency, progress=progress)
        wall = time.perf_counter() - started
    writer = server.endpoint.capture
    return RunOutcome(records, summarize(records, wall), list(writer.files) if writer else [],
                      capture)
