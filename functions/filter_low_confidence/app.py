"""Filter low-confidence inferences: the workflow's last state.

Passes the inference on when its max probability >= CONFIDENCE_THRESHOLD (inclusive);
otherwise raises THRESHOLD_CONFIDENCE_NOT_MET, the error name the execution fails with.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from scones_domain.config import env_labels, env_probability
from scones_domain.contracts import ClassifyImageOutput, FilterLowConfidenceOutput
from scones_domain.errors import THRESHOLD_CONFIDENCE_NOT_MET, InvalidEventField
from scones_domain.events import Classification, parse_classification
from scones_domain.location import S3Location
from scones_domain.predictions import meets_threshold, probability_problem, top_prediction

logger = Logger()
tracer = Tracer(auto_patch=False)  # makes no AWS calls: nothing to patch
metrics = Metrics()

CONFIDENCE_THRESHOLD = env_probability("CONFIDENCE_THRESHOLD")
CLASS_LABELS = env_labels("CLASS_LABELS")


def final_output(
    result: Classification, labels: tuple[str, ...], threshold: float
) -> FilterLowConfidenceOutput:
    """The workflow's final output: bucket, key, label, confidence, inferences, threshold."""
    problem = probability_problem(result.inferences, labels)
    if problem:
        raise InvalidEventField(f"'inferences' of {result.location.uri}: {problem}")
    label, confidence = top_prediction(result.inferences, labels)
    return {
        "bucket": result.location.bucket,
        "key": result.location.key,
        "label": label,
        "confidence": confidence,
        "inferences": result.inferences,
        "threshold": threshold,
    }


def below_threshold_error(output: FilterLowConfidenceOutput) -> THRESHOLD_CONFIDENCE_NOT_MET:
    return THRESHOLD_CONFIDENCE_NOT_MET(
        f"Image {S3Location(output['bucket'], output['key']).uri} was classified as "
        f"{output['label']} with confidence {output['confidence']}, below the confidence "
        f"threshold {output['threshold']}."
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(
    event: ClassifyImageOutput, context: LambdaContext
) -> FilterLowConfidenceOutput:
    output = final_output(parse_classification(event), CLASS_LABELS, CONFIDENCE_THRESHOLD)
    passed = meets_threshold(output["confidence"], output["threshold"])
    metrics.add_dimension(name="PredictedLabel", value=output["label"])
    metrics.add_metric(
        name="HighConfidenceInferences" if passed else "LowConfidenceInferences",
        unit=MetricUnit.Count,
        value=1,
    )
    summary = {n: output[n] for n in ("bucket", "key", "label", "confidence", "threshold")}
    if not passed:
        logger.warning("confidence below threshold", extra=summary)
        raise below_threshold_error(output)
    logger.info("inference passed", extra=summary)
    return output
