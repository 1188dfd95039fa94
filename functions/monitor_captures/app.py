"""MonitorCapturesFunction: every few minutes, statistics of the endpoint's captured inferences.

Runs on an EventBridge schedule. Reads the capture files of the last ``MONITOR_WINDOW_MINUTES``
under ``CAPTURE_S3_URI`` (SageMaker data capture), computes the same statistics as
``scones monitor`` (both run ``scones_domain.monitoring``, which this function gets from
SharedLayer) and publishes them as CloudWatch metrics in Embedded Metric Format with
Powertools Metrics. Alarms on ``LowConfidenceShare`` and
``DriftDetected`` live in the template.

Metrics (namespace POWERTOOLS_METRICS_NAMESPACE, dimension ``service``):
  Inferences, SkippedRecords (Count); ShareAboveThreshold, LowConfidenceShare (Percent);
  MeanConfidence (None); and, with a baseline and at least ``drift.MIN_WINDOW_N`` inferences,
  ConfidencePSI, ConfidenceKSPValue, LabelMixChiSquarePValue, DriftDetected (0/1).
  Predictions (Count) per predicted label, with the extra dimension ``Label``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from scones_domain.config import env_int, env_labels, env_probability, env_str
from scones_domain.errors import CorruptImage, MissingConfiguration, NotAnImage
from scones_domain.images import inspect_image
from scones_domain.location import InvalidS3Uri, S3Location
from scones_domain.monitoring import drift, stats
from scones_domain.monitoring.captures import parse_time, read_captures
from scones_domain.storage import is_not_found

logger = Logger()
tracer = Tracer()
metrics = Metrics()
s3 = boto3.client("s3")

CAPTURE_S3_URI = env_str("CAPTURE_S3_URI")
try:
    S3Location.parse(CAPTURE_S3_URI)
except InvalidS3Uri as exc:
    raise MissingConfiguration(f"CAPTURE_S3_URI: {exc}") from None
WINDOW_MINUTES = env_int("MONITOR_WINDOW_MINUTES")
CONFIDENCE_THRESHOLD = env_probability("CONFIDENCE_THRESHOLD")
CLASS_LABELS = env_labels("CLASS_LABELS")
# Set but empty: no baseline, so no drift metrics (the other metrics still flow).
BASELINE_S3_URI = os.environ["BASELINE_S3_URI"].strip()


def header_stats(data: bytes) -> dict:
    """Width and height from the image header (shared layer; no Pillow in Lambdas)."""
    try:
        info = inspect_image(data)
    except (NotAnImage, CorruptImage):
        return {}
    return {"width": info.width, "height": info.height}


def window_end(event: dict) -> datetime:
    """The scheduled event's ``time`` (so a replayed event recomputes the same window)."""
    when = event.get("time") if isinstance(event, dict) else None
    return parse_time(when) if when else datetime.now(UTC)


def window_metrics(rows, labels, threshold: float, baseline: drift.Baseline | None) -> dict:
    """Metric name -> value for one window of inference rows (pure: tests call it directly)."""
    summary = stats.summarize(rows, labels, threshold)
    values: dict[str, float] = {"Inferences": summary["n_records"]}
    if summary["n_records"]:
        values["ShareAboveThreshold"] = 100.0 * summary["share_above_threshold"]
        values["LowConfidenceShare"] = 100.0 * summary["share_below_threshold"]
        values["MeanConfidence"] = summary["mean_confidence"]
    if baseline is not None and summary["n_records"] >= drift.MIN_WINDOW_N:
        checks = {c["check"]: c for c in drift.drift_checks(rows, baseline, labels)}
        values["ConfidencePSI"] = checks["confidence_psi"]["value"]
        values["ConfidenceKSPValue"] = checks["confidence_ks"]["p_value"]
        values["LabelMixChiSquarePValue"] = checks["label_mix_chi2"]["p_value"]
        values["DriftDetected"] = float(drift.overall_status(list(checks.values())) == drift.FAIL)
    return {"values": values, "label_counts": summary["label_counts"], "summary": summary}


_UNITS = {"Inferences": MetricUnit.Count, "SkippedRecords": MetricUnit.Count,
          "ShareAboveThreshold": MetricUnit.Percent, "LowConfidenceShare": MetricUnit.Percent,
          "DriftDetected": MetricUnit.Count}


def publish(values: dict[str, float], label_counts: dict[str, int]) -> None:
    for name, value in values.items():
        metrics.add_metric(name=name, unit=_UNITS.get(name, MetricUnit.NoUnit), value=value)
    for label, count in label_counts.items():
        with single_metric(name="Predictions", unit=MetricUnit.Count, value=count) as metric:
            metric.add_dimension(name="Label", value=label)


# Warm invocations reuse the baseline while its ETag is unchanged (model.tar.gz holds the
# weights too: no need to download megabytes every few minutes).
_baseline_cache: dict[str, tuple[str, drift.Baseline]] = {}


@tracer.capture_method
def load_baseline() -> drift.Baseline | None:
    if not BASELINE_S3_URI:
        return None
    location = S3Location.parse(BASELINE_S3_URI)
    try:
        etag = s3.head_object(Bucket=location.bucket, Key=location.key)["ETag"]
    except ClientError as exc:
        if is_not_found(exc):
            raise drift.BaselineNotFound(f"baseline not found: {BASELINE_S3_URI}") from exc
        raise
    cached = _baseline_cache.get(BASELINE_S3_URI)
    if cached and cached[0] == etag:
        return cached[1]
    baseline = drift.load_baseline(BASELINE_S3_URI, s3_client=s3)
    drift.check_labels(baseline, CLASS_LABELS)  # BaselineLabelMismatch: fail loudly
    _baseline_cache[BASELINE_S3_URI] = (etag, baseline)
    return baseline


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    baseline = load_baseline()  # first: a bad baseline fails the run before any reading
    until = window_end(event)
    since = until - timedelta(minutes=WINDOW_MINUTES)
    result = read_captures(
        CAPTURE_S3_URI, labels=CLASS_LABELS, threshold=CONFIDENCE_THRESHOLD, since=since,
        until=until, inspect_image=header_stats, s3_client=s3,
    )
    computed = window_metrics(result.rows, CLASS_LABELS, CONFIDENCE_THRESHOLD, baseline)
    values = {**computed["values"], "SkippedRecords": result.n_skipped}
    publish(values, computed["label_counts"])
    logger.info(
        "monitored capture window",
        extra={"since": since.isoformat(), "until": until.isoformat(), "files": result.n_files,
               "skipped": dict(result.skipped), "metrics": values},
    )
    return {"since": since.isoformat(), "until": until.isoformat(), "files": result.n_files,
            "skipped": dict(result.skipped), "metrics": values,
            "label_counts": computed["label_counts"]}
