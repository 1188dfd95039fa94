"""The usage model: what one photo uses, in transitions, invocations, requests, bytes and seconds.

Counts come from the shipped definitions wherever they can:

* ``statemachine/image_classification.asl.json``: the states a confident photo passes
  (``SerializeImageData -> ClassifyImage -> FilterLowConfidence -> RecordResult``) and the ones a
  photo below the threshold passes (the ``Catch`` of ``THRESHOLD_CONFIDENCE_NOT_MET`` leads to
  ``StartReview -> ConfidenceThresholdNotMet``): one billed state transition per state entered,
  one Lambda invocation per ``lambda:invoke`` Task, one StartExecution per ``states:startExecution``
  Task, and the retry policies the capacity model replays;
* ``statemachine/review.asl.json``: the review a photo below the threshold starts (always a
  Standard workflow), on its labeled path (``ReviewSettings -> SendToReview -> RecordReview ->
  EnoughNewLabels -> Reviewed``: the Choice's default, no retraining started); the person's wait
  on the task token is not billed;
* ``statemachine/retraining.asl.json``: only which functions the retraining invokes (their
  metrics are per retraining, not per photo);
* ``statemachine/batch_classification.asl.json``: the Distributed Map's item processor (one
  transition for a child that succeeds, the ``States.TaskFailed`` catch path for one that fails)
  and the parent's states;
* ``template.yaml``: function memory and architecture, the inline-image limit, log retention,
  the alarms and dashboards it declares, the monitor's schedule and window, the Map's default
  ``MaxConcurrency``, the number of functions and labels, the review workflow's log level and the
  reviews table's indexes.

What no file holds is a parameter of :class:`Usage`, each with its provenance in
:data:`PROVENANCE`: "measured" (on this machine, with the file or command named), "estimate"
(an assumption, stated), or "deploy" (``model/deploy.py``'s defaults).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_ASL = REPO_ROOT / "statemachine" / "image_classification.asl.json"
BATCH_ASL = REPO_ROOT / "statemachine" / "batch_classification.asl.json"
REVIEW_ASL = REPO_ROOT / "statemachine" / "review.asl.json"
RETRAINING_ASL = REPO_ROOT / "statemachine" / "retraining.asl.json"
TEMPLATE = REPO_ROOT / "template.yaml"

THRESHOLD_ERROR = "THRESHOLD_CONFIDENCE_NOT_MET"
LAMBDA_THROTTLE_ERROR = "Lambda.TooManyRequestsException"
ENDPOINT_THROTTLE_ERROR = "EndpointThrottled"
START_THROTTLE_ERROR = "StepFunctions.ExecutionLimitExceededException"

# Log events Step Functions writes at Level ALL (no execution data) per state entered, by type:
# a Task enters, is scheduled, starts, succeeds or fails, exits; Pass/Choice enter and exit; a
# Fail state enters. Plus ExecutionStarted and the execution's end event.
LOG_EVENTS_PER_STATE = {"Task": 5, "Pass": 2, "Choice": 2, "Fail": 1, "Succeed": 1, "Map": 4}
LOG_EVENTS_PER_EXECUTION = 2

# Every custom metric the functions publish (Powertools EMF), and how many time series each is:
# "function" = one per function (ColdStart has the function_name dimension), "label" = one per
# class label (a PredictedLabel or Label dimension), else 1. tests/scale checks that every
# literal metric name in functions/*/app.py is here. The retraining's metrics (RETRAINING_METRICS)
# are published only in the hours a retraining runs; CloudWatch prorates a custom metric by the
# hours it is published, so they are not priced (docs/scale.md gives the figure).
CUSTOM_METRICS: tuple[tuple[str, str | int], ...] = (
    ("ColdStart", "function"),
    ("ImagesProcessed", 1), ("ImageBytes", 1),                      # serialize_image_data
    ("EndpointLatency", 1), ("Confidence", 1),                      # classify_image
    ("HighConfidenceInferences", "label"), ("LowConfidenceInferences", "label"),  # filter
    ("ResultsRecorded", 1), ("ResultsAlreadyRecorded", 1),          # record_result
    ("ImagesSentToReview", "label"),                                # send_to_review
    ("ImagesReviewed", "label"), ("ReviewsExpired", 1),             # record_review
    ("AlertsPublished", 1),                                         # alert_message
    ("BatchImages", 1), ("BatchConfident", 1), ("BatchBelowThreshold", 1), ("BatchFailed", 1),
    ("Inferences", 1), ("SkippedRecords", 1), ("ShareAboveThreshold", 1),   # monitor_captures
    ("LowConfidenceShare", 1), ("MeanConfidence", 1), ("ConfidencePSI", 1),
    ("ConfidenceKSPValue", 1), ("LabelMixChiSquarePValue", 1), ("DriftDetected", 1),
    ("Predictions", "label"),
    ("ChallengersPromotable", 1), ("ChallengersRejected", 1),       # register_challenger
)
RETRAINING_METRICS = frozenset({"ChallengersPromotable", "ChallengersRejected"})
# Alarms outside the template: `scones deploy` puts two on the endpoint (5xx share, model
# latency: model/deploy.py), and the target-tracking scaling policy makes two (high and low).
DEPLOY_ALARMS = 2
AUTOSCALING_ALARMS = 2


@dataclass(frozen=True)
class RetryPolicy:
    """One ASL ``Retry`` entry (or an equivalent outside the ASL)."""

    interval_s: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_s: float | None = None
    full_jitter: bool = False
    source: str = ""

    def delay_bound(self, retry_index: int) -> float:
        """The longest wait before retry ``retry_index`` (0 = the first retry)."""
        delay = self.interval_s * self.backoff_rate ** retry_index
        return min(delay, self.max_delay_s) if self.max_delay_s is not None else delay

    @classmethod
    def from_asl(cls, retrier: dict, source: str) -> RetryPolicy:
        return cls(interval_s=float(retrier.get("IntervalSeconds", 1)),
                   max_attempts=int(retrier.get("MaxAttempts", 3)),
                   backoff_rate=float(retrier.get("BackoffRate", 2.0)),
                   max_delay_s=(float(retrier["MaxDelaySeconds"])
                                if "MaxDelaySeconds" in retrier else None),
                   full_jitter=retrier.get("JitterStrategy") == "FULL", source=source)

    @classmethod
    def from_data(cls, data: dict) -> RetryPolicy:
        return cls(interval_s=float(data["interval_s"]), max_attempts=int(data["max_attempts"]),
                   backoff_rate=float(data["backoff_rate"]),
                   max_delay_s=data.get("max_delay_s"), full_jitter=bool(data["full_jitter"]),
                   source=data.get("source", ""))


# ---- the state machines ----

_VALUE_PLACEHOLDER = re.compile(r":\s*\$\{(\w+)\}")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def load_asl(path: Path | str, numbers: dict[str, float] | None = None) -> dict:
    """An ASL definition with its ``DefinitionSubstitutions`` filled in: a placeholder that
    stands for a whole JSON value (``"MaxConcurrency": ${BatchMaxConcurrency}``) takes its number
    from ``numbers`` (0 when absent), one inside a string keeps its own name (so
    ``${ClassifyImageFunctionArn}`` reads ``ClassifyImageFunctionArn``)."""
    numbers = numbers or {}
    text = Path(path).read_text()
    text = _VALUE_PLACEHOLDER.sub(lambda m: f": {numbers.get(m.group(1), 0)}", text)
    return json.loads(_PLACEHOLDER.sub(lambda m: m.group(1), text))


def _covers(entry: dict, error: str) -> bool:
    errors = entry.get("ErrorEquals", [])
    return error in errors or "States.ALL" in errors


def catch_target(state: dict, error: str) -> str | None:
    """The state a ``Catch`` sends ``error`` to, or None."""
    return next((c["Next"] for c in state.get("Catch", []) if _covers(c, error)), None)


def retry_policy(state: dict, error: str, source: str = "") -> RetryPolicy | None:
    """The ``Retry`` entry that handles ``error`` in ``state``, or None."""
    return next((RetryPolicy.from_asl(r, source) for r in state.get("Retry", [])
                 if _covers(r, error)), None)


def walk(states: dict, start: str, divert: dict[str, str] | None = None) -> tuple[str, ...]:
    """The states entered from ``start``: ``Next`` until an end, the first choice of a Choice
    state, and ``divert[name]`` instead of ``Next`` where given (a caught error)."""
    divert = divert or {}
    path: list[str] = []
    name: str | None = start
    while name is not None:
        if name in path:
            raise ValueError(f"the walk from {start!r} loops at {name!r}")
        path.append(name)
        state = states[name]
        if name in divert:
            name = divert[name]
        elif state["Type"] in ("Fail", "Succeed") or state.get("End"):
            name = None
        elif state["Type"] == "Choice":
            choices = state.get("Choices") or []
            name = choices[0]["Next"] if choices else state["Default"]
        else:
            name = state["Next"]
    return tuple(path)


@dataclass(frozen=True)
class PathModel:
    """One way through a state machine."""

    name: str
    states: tuple[str, ...]
    types: tuple[str, ...]
    lambda_states: tuple[str, ...]
    start_states: tuple[str, ...] = ()   # states:startExecution Tasks (a StartExecution call)

    @property
    def transitions(self) -> int:
        """Billed Standard transitions: one per state entered (retries excluded)."""
        return len(self.states)

    @property
    def log_events(self) -> int:
        return LOG_EVENTS_PER_EXECUTION + sum(LOG_EVENTS_PER_STATE.get(t, 2) for t in self.types)


def _path(name: str, states: dict, start: str, divert: dict[str, str] | None = None) -> PathModel:
    visited = walk(states, start, divert)
    return PathModel(
        name=name, states=visited, types=tuple(states[s]["Type"] for s in visited),
        lambda_states=tuple(s for s in visited if _is_lambda(states[s])),
        start_states=tuple(s for s in visited if states[s]["Type"] == "Task" and str(
            states[s].get("Resource", "")).split(":::")[-1].startswith("states:startExecution")))


def _is_lambda(state: dict) -> bool:
    """A Task that invokes a function: ``lambda:invoke`` or ``lambda:invoke.waitForTaskToken``."""
    resource = str(state.get("Resource", "")).split(":::")[-1]
    return state["Type"] == "Task" and resource.split(".")[0] == "lambda:invoke"


@dataclass(frozen=True)
class WorkflowModel:
    """What the definitions say about one photo."""

    confident: PathModel
    review: PathModel                    # the per-photo workflow of a photo below the threshold
    review_workflow: PathModel           # the review it starts (Standard), labeled path
    batch_child_success: PathModel
    batch_child_failure: PathModel
    batch_parent: PathModel
    functions: dict[str, str]            # Lambda Task state -> function logical id
    lambda_retry: RetryPolicy            # Lambda.TooManyRequestsException
    endpoint_retry: RetryPolicy          # EndpointThrottled (ClassifyImage)
    start_execution_retry: RetryPolicy   # the batch's StartExecution throttling
    map_max_concurrency: int
    retraining_functions: tuple[str, ...] = ()  # function logical ids the retraining invokes

    @property
    def lambda_states(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.confident.lambda_states + self.review.lambda_states
                                   + self.review_workflow.lambda_states))


def _function_id(state: dict) -> str:
    return str(state["Parameters"]["FunctionName"]).removesuffix("Arn")


def workflow_model(image_asl: Path | str = IMAGE_ASL, batch_asl: Path | str = BATCH_ASL,
                   batch_max_concurrency: int = 20, review_asl: Path | str = REVIEW_ASL,
                   retraining_asl: Path | str = RETRAINING_ASL) -> WorkflowModel:
    image = load_asl(image_asl)
    states = image["States"]
    catching = next(n for n, s in states.items() if catch_target(s, THRESHOLD_ERROR))
    confident = _path("confident", states, image["StartAt"])
    review = _path("review", states, image["StartAt"],
                   {catching: catch_target(states[catching], THRESHOLD_ERROR)})

    batch = load_asl(batch_asl, {"BatchMaxConcurrency": batch_max_concurrency,
                                 "BatchToleratedFailurePercentage": 5.0})
    parent = batch["States"]
    map_name = next(n for n, s in parent.items() if s["Type"] == "Map")
    processor = parent[map_name]["ItemProcessor"]
    child_states, child_start = processor["States"], processor["StartAt"]
    failure_next = catch_target(child_states[child_start], "States.TaskFailed")

    reviewing = load_asl(review_asl)
    review_states = reviewing["States"]
    # the labeled path: the reviewer answers, and the Choice after RecordReview takes its
    # default (no retraining started: one review in RetrainAfterLabels starts one)
    divert = {n: s["Default"] for n, s in review_states.items()
              if s["Type"] == "Choice" and "Default" in s}
    review_workflow = _path("review workflow, labeled", review_states, reviewing["StartAt"],
                            divert)

    functions = {}
    for name in dict.fromkeys(confident.lambda_states + review.lambda_states):
        functions[name] = _function_id(states[name])
    for name in review_workflow.lambda_states:
        functions[name] = _function_id(review_states[name])
    retraining = load_asl(retraining_asl)["States"]
    retraining_functions = tuple(dict.fromkeys(
        _function_id(s) for s in retraining.values() if _is_lambda(s)))
    source = str(Path(image_asl).name)
    lambda_retry = retry_policy(states[image["StartAt"]], LAMBDA_THROTTLE_ERROR, source)
    classify = next(n for n in confident.lambda_states
                    if retry_policy(states[n], ENDPOINT_THROTTLE_ERROR))
    return WorkflowModel(
        confident=confident, review=review, review_workflow=review_workflow,
        batch_child_success=_path("batch child, image succeeded", child_states, child_start),
        batch_child_failure=_path("batch child, image failed", child_states, child_start,
                                  {child_start: failure_next} if failure_next else None),
        batch_parent=_path("batch parent", parent, batch["StartAt"]),
        functions=functions,
        lambda_retry=lambda_retry or RetryPolicy(),
        endpoint_retry=retry_policy(states[classify], ENDPOINT_THROTTLE_ERROR, source),
        start_execution_retry=retry_policy(child_states[child_start], START_THROTTLE_ERROR,
                                           str(Path(batch_asl).name)) or RetryPolicy(),
        map_max_concurrency=int(parent[map_name].get("MaxConcurrency", batch_max_concurrency)),
        retraining_functions=retraining_functions,
    )


# ---- the template ----

@dataclass(frozen=True)
class TemplateFacts:
    memory_mb: int
    architecture: str
    timeout_s: int
    inline_image_max_bytes: int
    log_retention_days: int
    alarms: int
    dashboards: int
    functions: int
    labels: int
    monitor_schedule_minutes: int
    monitor_window_minutes: int
    monitor_timeout_s: int
    batch_max_concurrency: int
    upload_rule_max_attempts: int
    upload_rule_max_age_s: int
    endpoint_read_timeout_s: float
    review_log_level: str = "ALL"   # ReviewStateMachine's Logging Level
    review_indexes: int = 0         # the reviews table's global secondary indexes


def _yaml_loader():
    import yaml  # imported here: `scones --help` must not pay for it

    class Loader(yaml.SafeLoader):
        pass

    def any_tag(loader, suffix, node):  # !Ref, !Sub, !GetAtt ...: keep the value, drop the tag
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_mapping(node, deep=True)

    Loader.add_multi_constructor("!", any_tag)
    return yaml, Loader


def template_facts(path: Path | str = TEMPLATE) -> TemplateFacts:
    yaml, loader = _yaml_loader()
    template = yaml.load(Path(path).read_text(), Loader=loader)  # noqa: S506 (SafeLoader)
    params = template["Parameters"]
    glob = template["Globals"]["Function"]
    resources = template["Resources"]

    def default(name: str) -> str:
        return str(params[name]["Default"])

    def of_type(kind: str) -> list[dict]:
        return [r for r in resources.values() if r.get("Type") == kind]

    monitor = next(r for name, r in resources.items() if name == "MonitorCapturesFunction")
    rule = resources["ImageUploadedRule"]["Properties"]["Targets"][0]["RetryPolicy"]
    retention = {int(r["Properties"]["RetentionInDays"]) for r in of_type("AWS::Logs::LogGroup")}
    review_machine = resources["ReviewStateMachine"]["Properties"]
    reviews_table = resources["ReviewsTable"]["Properties"]
    return TemplateFacts(
        memory_mb=int(glob["MemorySize"]), architecture=str(glob["Architectures"][0]),
        timeout_s=int(glob["Timeout"]),
        inline_image_max_bytes=int(glob["Environment"]["Variables"]["INLINE_IMAGE_MAX_BYTES"]),
        log_retention_days=max(retention),
        alarms=len(of_type("AWS::CloudWatch::Alarm")),
        dashboards=len(of_type("AWS::CloudWatch::Dashboard")),
        functions=len(of_type("AWS::Serverless::Function")),
        labels=len(default("ClassLabels").split(",")),
        monitor_schedule_minutes=int(default("MonitorScheduleMinutes")),
        monitor_window_minutes=int(default("MonitorWindowMinutes")),
        monitor_timeout_s=int(monitor["Properties"].get("Timeout", glob["Timeout"])),
        batch_max_concurrency=int(default("BatchMaxConcurrency")),
        upload_rule_max_attempts=int(rule["MaximumRetryAttempts"]),
        upload_rule_max_age_s=int(rule["MaximumEventAgeInSeconds"]),
        endpoint_read_timeout_s=float(resources["ClassifyImageFunction"]["Properties"][
            "Environment"]["Variables"]["ENDPOINT_READ_TIMEOUT_SECONDS"]),
        review_log_level=str(review_machine.get("Logging", {}).get("Level", "OFF")),
        review_indexes=len(reviews_table.get("GlobalSecondaryIndexes", [])),
    )


def _series(facts: TemplateFacts, functions: int, retraining: bool) -> int:
    per = {"function": functions, "label": facts.labels}
    return sum(per[n] if isinstance(n, str) else n for name, n in CUSTOM_METRICS
               if (name in RETRAINING_METRICS) == retraining and name != "ColdStart") + functions


def custom_metric_series(facts: TemplateFacts, retraining_functions: int = 0) -> int:
    """Metric time series the functions publish all month (each billed as one custom metric):
    the per-photo and monitoring ones, ColdStart once per function outside the retraining."""
    return _series(facts, facts.functions - retraining_functions, retraining=False)


def retraining_metric_series(facts: TemplateFacts, retraining_functions: int) -> int:
    """The series only a retraining publishes (its outcome, its functions' ColdStart): billed
    for the hours a retraining runs, not priced (docs/scale.md)."""
    return _series(facts, retraining_functions, retraining=True)


# ---- what no file holds ----

# Lambda time per invocation at 512 MB: (waiting on AWS, ms; CPU, ms). The CPU part shrinks with
# more memory (Lambda gives CPU in proportion, one full vCPU at 1,769 MB); waiting does not.
LAMBDA_MS_AT_512 = {
    "SerializeImageData": (30.0, 5.0),   # S3 GetObject of a small image, header checks
    "ClassifyImage": (31.0, 4.0),        # InvokeEndpoint: measured model latency + network
    "FilterLowConfidence": (0.0, 3.0),   # pure
    "RecordResult": (12.0, 3.0),         # DynamoDB conditional PutItem
    "SendToReview": (67.0, 5.0),         # S3 CopyObject + PutObject, DynamoDB PutItem (review)
    # S3 CopyObject to labels/, GetObject + PutObject of the sidecar, DynamoDB PutItem (result)
    # and two UpdateItem (close, counter); the model version from SSM is cached per container
    "RecordReview": (106.0, 5.0),
}


@dataclass(frozen=True)
class Usage:
    """The parameters of the usage model; :data:`PROVENANCE` says where each comes from."""

    image_bytes: float = 2851.0
    confident_share: float = 0.84
    workflow_ms: float = 176.0
    express_memory_mb: int = 64
    lambda_ms_at_512: dict[str, tuple[float, float]] = field(
        default_factory=lambda: dict(LAMBDA_MS_AT_512))
    monitor_base_ms: float = 1000.0
    monitor_ms_per_record: float = 0.205
    lambda_log_bytes_per_photo: float = 3640.0
    lambda_platform_log_bytes: float = 370.0
    sfn_log_bytes_per_event: float = 350.0
    log_compression: float = 0.2
    capture_overhead_bytes: float = 386.0
    response_bytes: float = 41.0
    endpoint_latency_ms: float = 15.9
    img_per_s_per_vcpu: float = 25.5
    target_utilization: float = 0.7
    serverless_ms: float = 32.0
    serverless_memory_mb: int = 2048
    async_active_hours_per_day: float = 24.0
    capture_files_per_instance_minute: float = 1.0
    result_item_bytes: float = 500.0
    dynamodb_item_overhead_bytes: float = 100.0
    review_sidecar_bytes: float = 600.0
    review_item_bytes: float = 1500.0
    review_closed_item_bytes: float = 700.0
    review_log_bytes: float = 950.0
    months_kept: float = 12.0
    peak_factor: float = 2.0
    batch_size: int = 1000
    batch_summary_ms: float = 1000.0
    xray_reservoir_per_s: float = 1.0
    xray_rate: float = 0.05
    min_instances: int = 2
    max_instances: int = 4
    target_invocations_per_min: float = 200.0
    monitor_log_bytes_per_run: float = 2000.0
    handler_rss_mb: float = 85.0

    def capture_record_bytes(self) -> float:
        """One capture line: the image base64-encoded plus what SageMaker wraps around it."""
        return 4 * math.ceil(self.image_bytes / 3) + self.capture_overhead_bytes

    def lambda_ms(self, state: str, memory_mb: int) -> float:
        """Billed milliseconds (rounded up to 1 ms) of one invocation at ``memory_mb``."""
        io_ms, cpu_ms = self.lambda_ms_at_512[state]
        return float(math.ceil(io_ms + cpu_ms * 512 / min(memory_mb, 1769)))


PROVENANCE: dict[str, tuple[str, str]] = {
    "image_bytes": ("measured", "mean PNG size of ../shared/data/cifar100-bicycle-motorcycle/"
                    "train (2,851,476 bytes / 1000 files); real delivery photos are larger: "
                    "pass --image-kb"),
    "confident_share": ("measured", "make demo: 168 of 200 held-out images passed 0.93 "
                        "(runs/demo/demo.json), the default model of 5-fold CV coverage 0.875 "
                        "(docs/model.md)"),
    "workflow_ms": ("estimate", "the confident path's Lambda time (lambda_ms_at_512: "
                    "SerializeImageData 35 + ClassifyImage 35 + FilterLowConfidence 3 + "
                    "RecordResult 15 = 88 ms) plus an assumed ~20 ms of Step Functions' invoke "
                    "latency for each of the 4 Tasks, about 170 ms; the local moto stack "
                    "measured a p50 of 176 ms before its throughput work and 73 ms after "
                    "(benchmarks/workflow_bench.py -n 100 --concurrency 2), but it has no "
                    "network between services: not an AWS measurement"),
    "express_memory_mb": ("estimate", "the smallest 64 MB chunk: definition of 5 states, "
                          "payload at most 256 KB"),
    "lambda_ms_at_512": ("estimate", "per-state AWS call latency + CPU (LAMBDA_MS_AT_512); the "
                         "measured warm handler overhead is 0.06-0.10 ms (benchmarks/"
                         "functions_bench.py), the rest is S3/SageMaker/DynamoDB round trips, "
                         "not measured on AWS; INIT (cold start) time is not counted"),
    "monitor_ms_per_record": ("measured", "benchmarks/monitor_bench.py: report over 20,000 "
                              "captured inferences in 4.1 s"),
    "monitor_base_ms": ("estimate", "listing and reading the window's files, publishing"),
    "lambda_log_bytes_per_photo": ("measured", "runs/demo/lambda.log: 727,923 bytes of "
                                   "Powertools JSON logs and EMF metrics for 200 photos"),
    "lambda_platform_log_bytes": ("estimate", "Lambda's START/END/REPORT lines per invocation"),
    "sfn_log_bytes_per_event": ("estimate", "a Level ALL event without execution data"),
    "log_compression": ("estimate", "archived (compressed) bytes / ingested bytes"),
    "capture_overhead_bytes": ("measured", "runs/demo/captures: a capture line is the base64 "
                               "image + 382-388 bytes (mean 386) of JSON around it"),
    "response_bytes": ("measured", "the endpoint's JSON answer, two probabilities"),
    "endpoint_latency_ms": ("measured", "README: the real SageMaker serving toolkit, one "
                            "client, p50 14.0-15.9 ms (benchmarks/endpoint_bench.py --toolkit)"),
    "img_per_s_per_vcpu": ("measured", "README: the real serving toolkit served 51-59 img/s on "
                           "2 cores (1 client); 51 / 2 vCPU; assumed to hold per vCPU on AWS "
                           "instances"),
    "target_utilization": ("estimate", "size real-time and async fleets to 70% of capacity"),
    "serverless_ms": ("estimate", "2 x the measured 15.9 ms: a 2 GB serverless endpoint gets "
                      "about one vCPU, the measurement had two"),
    "serverless_memory_mb": ("estimate", "2 GB: the model artifact is 2.3 MB, the PyTorch "
                             "image needs the rest"),
    "async_active_hours_per_day": ("estimate", "uploads arrive all day: an async endpoint that "
                                   "scales to zero when idle never gets the chance"),
    "capture_files_per_instance_minute": ("estimate", "SageMaker buffers captures into files"),
    "result_item_bytes": ("estimate", "the RecordResult item: ten attributes, an ARN"),
    "review_sidecar_bytes": ("estimate", "the SendToReview JSON sidecar"),
    "review_item_bytes": ("estimate", "the pending review SendToReview puts in the reviews "
                          "table: its task token (up to 2,048 characters), two execution ARNs, "
                          "the inferences (2 WRU)"),
    "review_closed_item_bytes": ("estimate", "a labeled review as stored: the task token "
                                 "removed, label, reviewer and time added"),
    "review_log_bytes": ("estimate", "RecordReview's Powertools line and ImagesReviewed EMF "
                         "line per reviewed photo, taken as SendToReview's measured 664 + 286 "
                         "bytes (runs/demo/lambda.log, which predates RecordReview)"),
    "months_kept": ("estimate", "storage billed in the 12th month with no lifecycle rule (the "
                    "template sets none), or steady state with a 12-month expiry"),
    "peak_factor": ("estimate", "the busiest hour carries twice the average hour's photos; "
                    "fleets are sized for it"),
    "batch_size": ("estimate", "photos per batch execution (batch shape only)"),
    "xray_reservoir_per_s": ("aws", "X-Ray default sampling rule: 1 request/s then 5%"),
    "min_instances": ("deploy", "model/deploy.py initial_instance_count = 2 (two AZs)"),
    "max_instances": ("deploy", "model/deploy.py max_instances = 4"),
    "target_invocations_per_min": ("deploy", "model/deploy.py target_invocations = 200 per "
                                   "instance per minute"),
    "handler_rss_mb": ("measured", "max RSS after importing a handler with its layer "
                       "(python, this machine): 70-85 MB"),
}


@dataclass(frozen=True)
class PerPhoto:
    """Expected counts for one photo (confident and below-threshold photos weighted)."""

    transitions: float                   # the per-photo workflow's (Standard or Express)
    log_events: float                    # Step Functions log events (Level ALL workflows)
    lambda_invocations: dict[str, float]
    batch_child_transitions: float
    review_transitions: float = 0.0      # the review workflow's, always Standard
    review_executions: float = 0.0
    start_executions: float = 1.0        # StartExecution calls: the photo's own + its review's

    @property
    def invocations(self) -> float:
        return sum(self.lambda_invocations.values())

    @property
    def standard_transitions(self) -> float:
        """Transitions billed as Standard when the per-photo workflow is Standard too."""
        return self.transitions + self.review_transitions


def per_photo(model: WorkflowModel, usage: Usage, review_log_level: str = "ALL") -> PerPhoto:
    """``review_log_level``: the review workflow's Logging Level (template.yaml): its events
    count only at ALL (at ERROR its labeled path writes none)."""
    p = usage.confident_share
    below = 1 - p
    invocations: dict[str, float] = {}
    for path, weight in ((model.confident, p), (model.review, below),
                         (model.review_workflow, below * len(model.review.start_states))):
        for state in path.lambda_states:
            invocations[state] = invocations.get(state, 0.0) + weight
    reviews = below * len(model.review.start_states)
    review_events = model.review_workflow.log_events if review_log_level == "ALL" else 0
    return PerPhoto(
        transitions=p * model.confident.transitions + below * model.review.transitions,
        log_events=(p * model.confident.log_events + below * model.review.log_events
                    + reviews * review_events),
        lambda_invocations=invocations,
        batch_child_transitions=(p * model.batch_child_success.transitions
                                 + below * model.batch_child_failure.transitions),
        review_transitions=reviews * model.review_workflow.transitions,
        review_executions=reviews,
        start_executions=1 + p * len(model.confident.start_states) + reviews,
    )
