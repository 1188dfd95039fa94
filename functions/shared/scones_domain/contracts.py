"""Typed contracts: the input and output of every state of the two state machines, and the alert.

``statemachine/image_classification.asl.json`` (each Task passes ``$.Payload`` on)::

    WorkflowInput | S3ObjectCreatedEvent
      -> SerializeImageData -> SerializeImageDataOutput
      -> ClassifyImage (ClassifyImageInput) -> ClassifyImageOutput
      -> FilterLowConfidence -> FilterLowConfidenceOutput (the final output)
           -> RecordResult (RecordResultInput) -> FilterLowConfidenceOutput
         or THRESHOLD_CONFIDENCE_NOT_MET caught into ``$.error``: BelowThresholdResult
           -> StartReview (starts ReviewInput) -> Fail

``statemachine/review.asl.json``::

    ReviewInput -> SendToReview (SendToReviewInput; waits for ReviewAnswer)
      -> RecordReview (RecordReviewInput) -> RecordReviewOutput
      -> StartRetraining (when RecordReviewOutput.retrain) -> Succeed
    or States.Timeout -> RecordReview (outcome expired) -> Fail REVIEW_TIMED_OUT

``statemachine/retraining.asl.json``::

    RetrainingTrigger -> PrepareRetraining (PrepareRetrainingInput) -> PrepareRetrainingOutput
      -> TrainChallenger (createTrainingJob.sync) -> RegisterChallenger (RegisterChallengerInput)
      -> RegisterChallengerOutput -> PromoteChallenger (PromoteChallengerInput)
      -> PromoteChallengerOutput -> describeEndpoint until InService -> ssm:PutParameter

``statemachine/batch_classification.asl.json``::

    BatchInput -> ClassifyEveryImage (one ImageOutcome per image, ItemFailure when the item
    processor itself fails) -> BatchSummary (BatchSummaryInput) -> BatchSummaryOutput

AlertMessageFunction: ExecutionStatusChangeEvent -> AlertMessage (published) -> AlertPublished.

The handlers annotate with these types; the samples in ``events/`` are checked against them
(tests/domain/test_contracts.py) with :func:`contract_problems`, which reads JSON values the
way the states exchange them: missing required keys and wrong types, extra keys allowed.
"""

from __future__ import annotations

import types
from typing import (
    Any,
    Literal,
    NotRequired,
    TypedDict,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

Transport = Literal["inline", "s3"]
ExecutionStatus = Literal["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]

# --------------------------------------------------------------------------- per image


class WorkflowInput(TypedDict):
    """The execution's input, SerializeImageData's input."""

    s3_key: str
    s3_bucket: NotRequired[str]  # may be left out where the function has IMAGE_BUCKET
    image_data: NotRequired[str]  # base64 bytes to classify instead of reading S3; "" = none


class S3Bucket(TypedDict):
    name: str


class S3Object(TypedDict):
    key: str
    size: NotRequired[int]


class S3ObjectCreatedDetail(TypedDict):
    bucket: S3Bucket
    object: S3Object


# What EventBridge delivers for an upload to ImageBucket (SerializeImageData's other input).
S3ObjectCreatedEvent = TypedDict("S3ObjectCreatedEvent", {
    "source": Literal["aws.s3"],
    "detail-type": Literal["Object Created"],
    "detail": S3ObjectCreatedDetail,
})


class SerializeImageDataOutput(TypedDict):
    """The image checked by its bytes, inline (base64) or by S3 reference; ClassifyImage's input."""

    bucket: str
    key: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    transport: Transport
    image_data: str  # base64 when transport == "inline", else ""


class ClassifyImageInput(SerializeImageDataOutput):
    """SerializeImageData's output plus the execution's ARN, which the ClassifyImage state
    adds: it names the inference (InferenceId), so a replayed execution's capture counts once."""

    execution_id: str


class ClassifyImageOutput(TypedDict):
    """The endpoint's probabilities (in class_labels order) and the top label; no image bytes."""

    bucket: str
    key: str
    content_type: str
    size_bytes: int
    class_labels: list[str]
    inferences: list[float]
    label: str
    confidence: float
    endpoint_latency_ms: float


class FilterLowConfidenceOutput(TypedDict):
    """The workflow's final output: a confidence at or above the threshold."""

    bucket: str
    key: str
    label: str
    confidence: float
    inferences: list[float]
    threshold: float


# Step Functions' error record, as a Catch with ResultPath writes it.
class StateError(TypedDict):
    Error: str
    Cause: str


class BelowThresholdResult(ClassifyImageOutput):
    """FilterLowConfidence's input with the caught THRESHOLD_CONFIDENCE_NOT_MET in ``error``."""

    error: StateError


class RecordResultInput(TypedDict):
    result: FilterLowConfidenceOutput
    execution_arn: str
    recorded_at: str  # $$.State.EnteredTime


RecordResultOutput = FilterLowConfidenceOutput  # passed on unchanged


class ReviewInput(TypedDict):
    """The review workflow's input, as the classification workflow's StartReview starts it."""

    result: BelowThresholdResult
    execution_arn: str


class SendToReviewInput(TypedDict):
    result: BelowThresholdResult
    execution_arn: str
    review_execution_arn: str
    task_token: str  # $$.Task.Token: the reviewer's answer resumes the execution with it
    timeout_seconds: int
    sent_at: str  # $$.State.EnteredTime
    review_started_at: str  # $$.Execution.StartTime: the deadline counts from it
    rejected_label: StateError | None  # a previous answer sent back (UnknownReviewLabel)


class SendToReviewOutput(TypedDict):
    review_id: str  # SHA-256 of bucket/key: the review execution's name and the table key
    review_copy: str


class ReviewAnswer(TypedDict):
    """What a reviewer sends with the task token (SendTaskSuccess output)."""

    label: str
    reviewer: str


class RecordReviewInput(TypedDict):
    outcome: Literal["labeled", "expired"]
    result: BelowThresholdResult
    review: NotRequired[ReviewAnswer]
    review_execution_arn: str
    recorded_at: str


class RecordReviewOutput(TypedDict):
    label: str | None
    new_labels: int  # labels recorded since the last training
    retrain: bool  # this label is a RetrainAfterLabels-th one: start a retraining


class ReviewRecord(TypedDict):
    """The JSON sidecar beside an image sent to review: what a labeller needs."""

    image: str  # s3:// URI of the original
    bucket: str
    key: str
    label: str
    confidence: float | None
    inferences: dict[str, float]  # class label -> probability
    error: str | None
    cause: str | None
    model_version: str
    execution_arn: str
    content_type: str | None
    true_label: str | None  # filled in by the reviewer


# --------------------------------------------------------------------------- retraining


class PrepareRetrainingInput(TypedDict):
    trigger: dict[str, Any]  # {"trigger": "schedule"|"labels"|"drift"} or {"model_package_arn"}
    execution_name: str
    started_at: str


class Champion(TypedDict):
    endpoint_name: str
    endpoint_config_name: str
    model_name: str
    model_data_url: str


class PrepareRetrainingOutput(TypedDict):
    action: Literal["train", "promote", "skip"]
    reason: str
    trigger: str
    new_labels: int
    champion: NotRequired[Champion]
    training_job: NotRequired[dict[str, Any]]  # the CreateTrainingJob request
    model_package_arn: NotRequired[str]


class TrainingResult(TypedDict):
    training_job_name: str
    model_data_url: str


class RegisterChallengerInput(TypedDict):
    trigger: str
    champion: Champion
    training: TrainingResult


class RegisterChallengerOutput(TypedDict):
    model_package_arn: str
    approval_status: Literal["Approved", "PendingManualApproval", "Rejected"]
    promoted: bool
    reason: str
    model_version: str
    champion: dict[str, Any] | None  # metrics on the evaluation set
    challenger: dict[str, Any]
    shadow: dict[str, Any] | None


class PromoteChallengerInput(TypedDict):
    model_package_arn: str
    execution_name: str


class PromoteChallengerOutput(TypedDict):
    endpoint_name: str
    endpoint_config_name: str
    previous_endpoint_config_name: str
    model_name: str
    model_version: str


# --------------------------------------------------------------------------- batch


class BatchInput(TypedDict):
    """The batch execution's input: every object under ``prefix`` is classified."""

    s3_bucket: str
    prefix: str


class ImageOutcome(TypedDict):
    """How one image of a batch ended (the item processor's output, in the ResultWriter files)."""

    s3_key: str
    status: ExecutionStatus
    execution_arn: str
    label: str | None
    confidence: float | None
    error: str | None
    cause: str | None


class ItemFailure(TypedDict):
    """An item whose processor itself failed (e.g. StartExecution refused), not its image."""

    status: str
    error: str | None
    cause: str | None
    input: str | None


class ResultWriterDetails(TypedDict):
    Bucket: str
    Key: str


class BatchSummaryInput(TypedDict):
    s3_bucket: str
    prefix: str
    result_writer: ResultWriterDetails  # $.map_run.ResultWriterDetails: the manifest


class BatchCounts(TypedDict):
    images: int
    confident: int
    by_label: dict[str, int]
    below_threshold: int
    failed: int
    failed_by_error: dict[str, int]


class BatchSummaryOutput(BatchCounts):
    """The batch's output, also written as summary.json beside the manifest."""

    source: str  # s3://bucket/prefix
    map_run_arn: str | None
    manifest: str
    summary: str


# --------------------------------------------------------------------------- alerts


class ExecutionStatusChangeDetail(TypedDict):
    executionArn: str  # noqa: N815 - Step Functions' field names
    stateMachineArn: str  # noqa: N815
    status: str
    input: str | None  # the execution's input as JSON text (may hold the image: never published)
    error: str | None
    cause: str | None


ExecutionStatusChangeEvent = TypedDict("ExecutionStatusChangeEvent", {
    "source": Literal["aws.states"],
    "detail-type": Literal["Step Functions Execution Status Change"],
    "detail": ExecutionStatusChangeDetail,
})


class AlertMessage(TypedDict):
    """What AlertTopic receives for an execution that ended FAILED, TIMED_OUT or ABORTED."""

    alert: str
    bucket: str | None
    key: str | None  # the image's key, or a batch's prefix
    execution: str
    error: str | None
    cause: str | None


class AlertPublished(TypedDict):
    message_id: str


# --------------------------------------------------------------------------- checking


def contract_problems(value: Any, contract: Any, where: str = "$") -> list[str]:
    """What ``value`` (parsed JSON) lacks to satisfy ``contract``: ``[]`` when it does."""
    if is_typeddict(contract):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        problems = [f"{where}.{key}: missing"
                    for key in sorted(contract.__required_keys__) if key not in value]
        for key, hint in get_type_hints(contract).items():
            if key in value:
                problems += contract_problems(value[key], hint, f"{where}.{key}")
        return problems
    origin, args = get_origin(contract), get_args(contract)
    if origin in (Union, types.UnionType):
        if any(not contract_problems(value, arm, where) for arm in args):
            return []
        return [f"{where}: {value!r:.60} is none of {contract}"]
    if origin is Literal:
        return [] if value in args else [f"{where}: {value!r:.60} is not one of {args}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in contract_problems(item, args[0],
                                                                              f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        return [p for k, item in value.items() for p in contract_problems(item, args[1],
                                                                           f"{where}.{k}")]
    return [] if _is_instance(value, contract) else [
        f"{where}: expected {getattr(contract, '__name__', contract)}, got {value!r:.60}"]


def _is_instance(value: Any, kind: Any) -> bool:
    if kind is Any:
        return True
    if kind is None or kind is type(None):
        return value is None
    if isinstance(value, bool) and kind in (int, float):
        return False  # JSON true is not a number
    if kind is float:
        return isinstance(value, int | float)  # JSON 1 is a valid probability
    return isinstance(value, kind)
