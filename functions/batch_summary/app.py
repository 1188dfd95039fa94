"""Summarize a batch: the last state of BatchClassificationStateMachine.

Reads the Distributed Map's ResultWriter manifest and result files from S3, counts confident
results per label, images below the threshold and failures by error name, writes
``summary.json`` beside the manifest and returns the summary (small: counts only, whatever
the batch size).
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from scones_domain.batch import read_results, summarize_batch
from scones_domain.contracts import BatchSummaryInput, BatchSummaryOutput
from scones_domain.events import require_mapping, require_str
from scones_domain.location import S3Location
from scones_domain.storage import read_json, write_json

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

s3 = boto3.client("s3")


def summarize_map_run(client: Any, event: Any) -> BatchSummaryOutput:
    """``{"s3_bucket", "prefix", "result_writer": {"Bucket", "Key"}}`` -> the summary."""
    event = require_mapping(event)
    writer = require_mapping(event.get("result_writer"))
    manifest_at = S3Location(require_str(writer, "Bucket"), require_str(writer, "Key"))
    manifest = read_json(client, manifest_at)
    outcomes, item_failures = read_results(
        manifest, lambda key: read_json(client, S3Location(manifest_at.bucket, key)))
    summary_at = manifest_at.sibling("summary.json")
    summary = {
        "source": S3Location(require_str(event, "s3_bucket"), event.get("prefix") or "").uri,
        **summarize_batch(outcomes, item_failures),
        "map_run_arn": manifest.get("MapRunArn"),
        "manifest": manifest_at.uri,
        "summary": summary_at.uri,
    }
    write_json(client, summary_at, summary)
    return summary


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: BatchSummaryInput, context: LambdaContext) -> BatchSummaryOutput:
    summary = summarize_map_run(s3, event)
    for name in ("images", "confident", "below_threshold", "failed"):
        metrics.add_metric(name=f"Batch{name.title().replace('_', '')}", unit=MetricUnit.Count,
                           value=summary[name])
    logger.info("batch summarized", extra=summary)
    return summary
