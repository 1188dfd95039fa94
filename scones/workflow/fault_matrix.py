"""Every injected fault against what the shipped ASL promises, read back from execution history.

A :class:`Scenario` names one fault (endpoint or S3), how often it fires, which task sees it
and the named error that task raises. :func:`expected_outcome` derives from the ASL's own
``Retry`` block what must follow (retried how often, with which backoff bounds, then
SUCCEEDED or FAILED with that error); :func:`observe` reads what did happen from the
execution's history (status, error, failed state, retries, the measured wait before each
retry); :func:`problems` compares the two. :func:`run_matrix` runs all scenarios at once in one
local stack, each on its own image (faults are keyed by image bytes / S3 key), then the
"endpoint stopped" scenario.

Used by tests/reliability/test_faults.py and benchmarks/faults.py (the table in
docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scones.serving.faults import FaultPlan, S3FaultPlan

ASL = Path(__file__).resolve().parents[2] / "statemachine/image_classification.asl.json"
CLIENT_READ_TIMEOUT_S = 20  # template.yaml: ClassifyImageFunction ENDPOINT_READ_TIMEOUT_SECONDS
SDK_S3_MAX_ATTEMPTS = 5  # botocore's legacy retry mode (the Lambda default): 1 try + 4 retries
BACKOFF_SLACK_S = 0.5  # scheduling slack allowed above a retry's upper bound
ALWAYS = None


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str  # "endpoint" | "s3" | "missing" | "endpoint_down"
    kind: str  # the fault kind of FaultPlan / S3FaultPlan
    times: int | None  # None: every time
    state: str  # the task that sees the fault
    error: str  # the named error that task raises while the fault lasts
    delay_s: float | None = None
    sdk_retries: bool = False  # absorbed inside the task by the SDK, not by the ASL


SCENARIOS = (
    Scenario("endpoint throttled 2x", "endpoint", "throttle", 2, "ClassifyImage",
             "EndpointThrottled"),
    Scenario("endpoint throttled always", "endpoint", "throttle", ALWAYS, "ClassifyImage",
             "EndpointThrottled"),
    Scenario("endpoint 503 1x", "endpoint", "server_error", 1, "ClassifyImage",
             "EndpointUnavailable"),
    Scenario("endpoint 503 always", "endpoint", "server_error", ALWAYS, "ClassifyImage",
             "EndpointUnavailable"),
    Scenario("model not ready 3x", "endpoint", "model_not_ready", 3, "ClassifyImage",
             "EndpointModelNotReady"),
    Scenario("model not ready always", "endpoint", "model_not_ready", ALWAYS, "ClassifyImage",
             "EndpointModelNotReady"),
    Scenario(f"response after {CLIENT_READ_TIMEOUT_S + 1} s (client timeout "
             f"{CLIENT_READ_TIMEOUT_S} s) 1x", "endpoint", "delay", 1, "ClassifyImage",
             "EndpointUnavailable", delay_s=CLIENT_READ_TIMEOUT_S + 1),
    Scenario("connection dropped 2x", "endpoint", "refuse", 2, "ClassifyImage",
             "EndpointUnavailable"),
    Scenario("connection dropped always", "endpoint", "refuse", ALWAYS, "ClassifyImage",
             "EndpointUnavailable"),
    Scenario("S3 SlowDown 2x", "s3", "slow_down", 2, "SerializeImageData",
             "ImageStoreUnavailable", sdk_retries=True),
    Scenario("S3 SlowDown always", "s3", "slow_down", ALWAYS, "SerializeImageData",
             "ImageStoreUnavailable", sdk_retries=True),
    Scenario("S3 object missing", "missing", "missing", ALWAYS, "SerializeImageData",
             "ImageNotFound"),
)
ENDPOINT_DOWN = Scenario("endpoint stopped (connection refused)", "endpoint_down", "down",
                         ALWAYS, "ClassifyImage", "EndpointUnavailable")
ALL_SCENARIOS = (*SCENARIOS, ENDPOINT_DOWN)


# --------------------------------------------------------------------------- the promise


@dataclass(frozen=True)
class Retrier:
    error_equals: tuple[str, ...]
    interval_s: float
    max_attempts: int
    backoff_rate: float
    max_delay_s: float | None
    jitter: str

    def bound(self, retry: int) -> float:
        """Upper bound of the wait before retry number ``retry`` (1-based)."""
        delay = self.interval_s * self.backoff_rate ** (retry - 1)
        return min(delay, self.max_delay_s) if self.max_delay_s is not None else delay

    def lower(self, retry: int) -> float:
        return 0.0 if self.jitter == "FULL" else self.bound(retry)


def load_asl(path: str | Path = ASL) -> dict:
    return json.loads(Path(path).read_text())


def retrier_for(asl: dict, state: str, error: str) -> Retrier | None:
    """The first Retrier of ``state`` that matches ``error`` (as Step Functions picks it)."""
    for raw in asl["States"][state].get("Retry", []):
        names = raw["ErrorEquals"]
        if error in names or "States.ALL" in names or (
                "States.TaskFailed" in names and not error.startswith("States.")):
            return Retrier(tuple(names), float(raw.get("IntervalSeconds", 1)),
                           int(raw.get("MaxAttempts", 3)), float(raw.get("BackoffRate", 2.0)),
                           raw.get("MaxDelaySeconds"), raw.get("JitterStrategy", "NONE"))
    return None


@dataclass(frozen=True)
class Expected:
    status: str
    error: str | None
    failed_state: str | None
    retries: int  # ASL retries of the scenario's state
    backoff_s: tuple[tuple[float, float], ...]  # (lower, upper) wait before each retry

    @property
    def text(self) -> str:
        end = "SUCCEEDED" if self.status == "SUCCEEDED" else f"FAILED {self.error}"
        return f"{self.retries} retries, {end}"


def expected_outcome(scenario: Scenario, asl: dict) -> Expected:
    """What the ASL promises for this fault (the image itself is a confident one)."""
    if scenario.sdk_retries:
        absorbed = scenario.times is not None and scenario.times < SDK_S3_MAX_ATTEMPTS
        faults_seen = 0 if absorbed else 1  # the task fails once the SDK gives up
    else:
        faults_seen = scenario.times  # None: forever
    retrier = retrier_for(asl, scenario.state, scenario.error)
    allowed = retrier.max_attempts if retrier else 0
    if faults_seen is not None and faults_seen <= allowed:
        retries, status, error, state = faults_seen, "SUCCEEDED", None, None
    else:
        retries, status, error, state = allowed, "FAILED", scenario.error, scenario.state
    bounds = tuple((retrier.lower(k), retrier.bound(k)) for k in range(1, retries + 1)) \
        if retrier else ()
    return Expected(status, error, state, retries, bounds)


# --------------------------------------------------------------------------- what happened


@dataclass
class Observed:
    status: str
    error: str | None
    failed_state: str | None
    retries: int
    backoff_s: list[float]
    seconds: float
    errors_seen: list[str] = field(default_factory=list)  # each failed attempt's error name
    s3_attempts: int | None = None

    @property
    def text(self) -> str:
        end = "SUCCEEDED" if self.status == "SUCCEEDED" else f"{self.status} {self.error}"
        return f"{self.retries} retries, {end}"


def _timestamp(event: dict) -> float:
    value = event["timestamp"]
    return value.timestamp() if isinstance(value, datetime) else float(value)


def observe(result: Any, state: str) -> Observed:
    """Status, error and the state's retries with the measured wait before each retry."""
    current, last_failure, waits, errors = None, None, [], []
    for event in result.history:
        kind = event["type"]
        details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
        if kind.endswith("StateEntered"):
            current = details.get("name")
        if current != state:
            continue
        if kind in ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut"):
            last_failure = _timestamp(event)
            errors.append(details.get("error") or "?")
        elif kind in ("TaskScheduled", "LambdaFunctionScheduled") and last_failure is not None:
            waits.append(_timestamp(event) - last_failure)
            last_failure = None
    return Observed(result.status, result.error, result.failed_state,
                    result.retries.get(state, 0), waits, result.seconds, errors)


def problems(expected: Expected, observed: Observed, scenario: Scenario) -> list[str]:
    """Every way the observed execution breaks the ASL's promise (empty: kept)."""
    found = []
    if observed.status != expected.status:
        found.append(f"status {observed.status}, expected {expected.status}")
    if expected.status != "SUCCEEDED" and observed.error != expected.error:
        found.append(f"error {observed.error!r}, expected {expected.error!r}")
    if expected.failed_state and observed.failed_state != expected.failed_state:
        found.append(f"failed in {observed.failed_state}, expected {expected.failed_state}")
    if observed.retries != expected.retries:
        found.append(f"{observed.retries} retries, expected {expected.retries}")
    unnamed = [e for e in observed.errors_seen if e != scenario.error]
    if unnamed:
        found.append(f"task errors other than {scenario.error}: {sorted(set(unnamed))}")
    if scenario.sdk_retries and observed.s3_attempts is not None:
        calls = SDK_S3_MAX_ATTEMPTS if scenario.times is None else min(
            scenario.times + 1, SDK_S3_MAX_ATTEMPTS)
        if observed.s3_attempts != calls:
            found.append(f"{observed.s3_attempts} GetObject calls, expected {calls} (SDK retries)")
    pairs = zip(observed.backoff_s, expected.backoff_s, strict=False)  # retries checked above
    for k, (wait, (low, high)) in enumerate(pairs, 1):
        if not low - 0.05 <= wait <= high + BACKOFF_SLACK_S:
            found.append(f"wait before retry {k} was {wait:.2f} s, promised {low:g}..{high:g} s")
    return found


# --------------------------------------------------------------------------- running


@dataclass
class Row:
    scenario: Scenario
    expected: Expected
    observed: Observed
    problems: list[str]

    @property
    def kept(self) -> bool:
        return not self.problems


@contextlib.contextmanager
def fault_runtime(model: str | Path, *, capture: str | None,
                  lambda_log: str | Path | None = None) -> Iterator[tuple[Any, Any, S3FaultPlan]]:
    """The local endpoint (with an empty FaultPlan) and stack, S3 faults hooked in first."""
    from scones.workflow.runner import local_runtime

    s3faults = S3FaultPlan().install()  # before the stack's sessions and clients exist
    try:
        with local_runtime(model, capture=capture, lambda_log=lambda_log) as (server, stack):
            server.endpoint.faults = FaultPlan()
            yield server, stack, s3faults
    finally:
        s3faults.uninstall()


def _arm(scenario: Scenario, body: bytes, key: str, plan: FaultPlan, s3faults: S3FaultPlan,
         stack: Any) -> None:
    if scenario.target == "endpoint":
        plan.add(scenario.kind, scenario.times, delay_s=scenario.delay_s, body=body)
    elif scenario.target == "s3":
        s3faults.add(scenario.kind, scenario.times, bucket=stack.bucket, key=key)
    if scenario.target != "missing":
        stack.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=body)


def run_matrix(server: Any, stack: Any, s3faults: S3FaultPlan, images: list[Path], *,
               scenarios: tuple[Scenario, ...] = SCENARIOS, include_endpoint_down: bool = True,
               asl: dict | None = None, timeout: float = 180.0) -> list[Row]:
    """Run each scenario on its own image, all at once; then (optionally) stop the endpoint
    and run :data:`ENDPOINT_DOWN`. ``server`` must have ``endpoint.faults`` set."""
    asl = asl or load_asl()
    plan = server.endpoint.faults
    if plan is None:
        raise ValueError("the endpoint has no FaultPlan: start it with faults=FaultPlan()")
    if len(images) < len(scenarios) + 1:
        raise ValueError(f"need {len(scenarios) + 1} distinct images, got {len(images)}")
    runs = []
    for index, scenario in enumerate(scenarios):
        body = Path(images[index]).read_bytes()
        key = f"faults/{index:02d}-{scenario.kind}.png"
        _arm(scenario, body, key, plan, s3faults, stack)
        runs.append((scenario, key))

    def execute(item):
        scenario, key = item
        workflow_input = {"image_data": "", "s3_bucket": stack.bucket, "s3_key": key}
        started = time.perf_counter()
        arn = stack.start_execution(workflow_input)
        return stack.wait(arn, workflow_input, timeout=timeout, started=started)

    with ThreadPoolExecutor(len(runs)) as pool:
        results = list(pool.map(execute, runs))
    rows = []
    for (scenario, key), result in zip(runs, results, strict=True):
        observed = observe(result, scenario.state)
        if scenario.target == "s3":
            observed.s3_attempts = s3faults.attempts[(stack.bucket, key)]
        expected = expected_outcome(scenario, asl)
        rows.append(Row(scenario, expected, observed, problems(expected, observed, scenario)))
    if include_endpoint_down:
        key = "faults/endpoint-down.png"
        stack.client("s3").put_object(Bucket=stack.bucket, Key=key,
                                      Body=Path(images[len(scenarios)]).read_bytes())
        server.stop()  # nothing listens on the port any more: connection refused
        result = execute((ENDPOINT_DOWN, key))
        observed = observe(result, ENDPOINT_DOWN.state)
        expected = expected_outcome(ENDPOINT_DOWN, asl)
        rows.append(Row(ENDPOINT_DOWN, expected, observed,
                        problems(expected, observed, ENDPOINT_DOWN)))
    return rows


def format_rows(rows: list[Row]) -> str:
    """The Markdown table of docs/reliability.md."""
    lines = [
        "| fault | injected | task | named error | ASL promise (retries, backoff bounds) | "
        "observed (retries, waits) | outcome | kept |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        s, e, o = row.scenario, row.expected, row.observed
        times = "every call" if s.times is None else f"{s.times}x"
        bounds = ", ".join(f"{hi:g}" for _, hi in e.backoff_s) or "-"
        waits = ", ".join(f"{w:.2f}" for w in o.backoff_s) or "-"
        promise = f"{e.text}; waits <= [{bounds}] s"
        seen = f"{o.retries} retries; waits [{waits}] s"
        if o.s3_attempts is not None:
            seen += f"; {o.s3_attempts} GetObject calls (SDK retries)"
        outcome = "SUCCEEDED" if o.status == "SUCCEEDED" else f"{o.status} {o.error}"
        outcome += f" in {o.seconds:.1f} s"
        kept = "yes" if row.kept else "NO: " + "; ".join(row.problems)
        lines.append(f"| {s.name} | {times} | {s.state} | {s.error} | {promise} | {seen} | "
                     f"{outcome} | {kept} |")
    return "\n".join(lines)
