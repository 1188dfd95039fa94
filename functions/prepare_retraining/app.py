"""Decide what one run of the retraining workflow does, and write its training job's request.

The workflow's input arrives as ``trigger``:

- ``{"model_package_arn": ...}`` (ModelPackageApprovedRule: a package approved by hand):
  ``action`` promote, nothing is trained;
- ``{"trigger": "schedule" | "labels" | "drift"}``: ``action`` train when reviewed labels
  arrived since the last training (or ``"force": true``), else skip: the same data would train
  the same model; labels arriving faster than MIN_RETRAIN_INTERVAL_HOURS after the last
  training wait for the next run. Training resets the counter of labels since the last training
  (by the count read, so labels recorded meanwhile still count towards the next one).

The champion is the model the endpoint serves now (its endpoint config's first variant); the
request's channels are listed in scones_domain.retraining.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from scones_domain.config import env_int, env_json_object, env_probability, env_str
from scones_domain.contracts import PrepareRetrainingInput, PrepareRetrainingOutput
from scones_domain.events import require_mapping, require_str
from scones_domain.monitoring.captures import parse_time
from scones_domain.retraining import champion_of, training_job_name, training_job_request
from scones_domain.review import COUNTER_ID

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])

ENDPOINT_NAME = env_str("ENDPOINT_NAME")
REVIEWS_TABLE = env_str("REVIEWS_TABLE")
IMAGE_BUCKET = env_str("IMAGE_BUCKET")
TRAINING_PREFIX = env_str("TRAINING_PREFIX")
EVALUATION_PREFIX = env_str("EVALUATION_PREFIX")
LABELS_PREFIX = env_str("LABELS_PREFIX")
MODELS_PREFIX = env_str("MODELS_PREFIX")
TRAINING_SOURCE_KEY = env_str("TRAINING_SOURCE_KEY")
TRAINING_IMAGE_URI = env_str("TRAINING_IMAGE_URI")
TRAINING_INSTANCE_TYPE = env_str("TRAINING_INSTANCE_TYPE")
TRAINING_MAX_RUNTIME_SECONDS = env_int("TRAINING_MAX_RUNTIME_SECONDS")
SAGEMAKER_ROLE_ARN = env_str("SAGEMAKER_ROLE_ARN")
# the endpoint's data capture (the template's CaptureS3Uri): empty skips the shadow check
CAPTURE_S3_URI = os.environ.get("CAPTURE_S3_URI", "").strip() or None
CONFIDENCE_THRESHOLD = env_probability("CONFIDENCE_THRESHOLD")
TRAINING_HYPERPARAMETERS = env_json_object("TRAINING_HYPERPARAMETERS")
MIN_RETRAIN_INTERVAL_HOURS = env_int("MIN_RETRAIN_INTERVAL_HOURS", minimum=0)

sagemaker = boto3.client("sagemaker")
dynamodb = boto3.client("dynamodb")


def last_training(client: Any) -> tuple[int, str | None]:
    """(labels since the last training, when that training started) from the counter item."""
    item = client.get_item(TableName=REVIEWS_TABLE, Key={"review_id": {"S": COUNTER_ID}},
                           ConsistentRead=True).get("Item") or {}
    return int(item.get("labels", {}).get("N", "0")), item.get("trained_at", {}).get("S")


def reset_counter(client: Any, counted: int, started_at: str) -> None:
    """Take the counted labels off the counter (labels recorded meanwhile stay counted) and
    note when this training started."""
    client.update_item(TableName=REVIEWS_TABLE, Key={"review_id": {"S": COUNTER_ID}},
                       UpdateExpression="ADD labels :taken SET trained_at = :started",
                       ExpressionAttributeValues={":taken": {"N": str(-counted)},
                                                  ":started": {"S": started_at}})


def hours_between(earlier: str, later: str) -> float:
    return (parse_time(later) - parse_time(earlier)).total_seconds() / 3600


def channels(champion_model_data_url: str, capture_uri: str | None) -> dict[str, str]:
    s3 = f"s3://{IMAGE_BUCKET}/"
    found = {"train": s3 + TRAINING_PREFIX, "labels": s3 + LABELS_PREFIX,
             "evaluation": s3 + EVALUATION_PREFIX, "champion": champion_model_data_url}
    if capture_uri:
        found["captures"] = capture_uri.rstrip("/") + "/"
    return found


def plan(trigger: dict, new_labels: int, trained_at: str | None, now: str,
         min_interval_hours: float) -> tuple[str, str]:
    """(action, reason) for a retraining trigger (not a promotion). Labels arriving quickly
    start a retraining at most once every ``min_interval_hours``; the labels stay counted for
    the next run (the schedule's, or the next label multiple)."""
    if trigger.get("force") is True:
        return "train", f"forced ({new_labels} reviewed label(s) since the last training)"
    if new_labels <= 0:
        return "skip", "no reviewed label since the last training"
    if trained_at is not None:
        since = hours_between(trained_at, now)
        if since < min_interval_hours:
            return "skip", (f"the last training started {since:.1f} h ago, less than "
                            f"MinRetrainIntervalHours ({min_interval_hours:g}); {new_labels} "
                            f"label(s) wait for the next run")
    return "train", f"{new_labels} reviewed label(s) since the last training"


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: PrepareRetrainingInput, context: LambdaContext
                   ) -> PrepareRetrainingOutput:
    trigger = require_mapping(require_mapping(event).get("trigger"))
    if "model_package_arn" in trigger:
        arn = require_str(trigger, "model_package_arn")
        logger.info("promotion of an approved package", extra={"model_package_arn": arn})
        return {"action": "promote", "reason": "approved in the model registry",
                "trigger": "approval", "new_labels": 0, "model_package_arn": arn}
    kind = str(trigger.get("trigger", "manual"))
    new_labels, trained_at = last_training(dynamodb)
    started_at = require_str(event, "started_at")
    action, reason = plan(trigger, new_labels, trained_at, started_at, MIN_RETRAIN_INTERVAL_HOURS)
    output: dict[str, Any] = {"action": action, "reason": reason, "trigger": kind,
                              "new_labels": new_labels}
    if action == "skip":
        logger.info("nothing to train", extra={"trigger": kind})
        return output
    champion = champion_of(sagemaker, ENDPOINT_NAME)
    name = training_job_name(require_str(event, "execution_name"))
    output["champion"] = champion
    output["training_job"] = training_job_request(
        name, image_uri=TRAINING_IMAGE_URI, role_arn=SAGEMAKER_ROLE_ARN,
        instance_type=TRAINING_INSTANCE_TYPE,
        source_uri=f"s3://{IMAGE_BUCKET}/{TRAINING_SOURCE_KEY}",
        channels=channels(champion["model_data_url"], CAPTURE_S3_URI),
        output_uri=f"s3://{IMAGE_BUCKET}/{MODELS_PREFIX}",
        hyperparameters={**TRAINING_HYPERPARAMETERS, "threshold": CONFIDENCE_THRESHOLD},
        max_runtime_seconds=TRAINING_MAX_RUNTIME_SECONDS)
    reset_counter(dynamodb, new_labels, started_at)
    logger.info("training a challenger", extra={"training_job": name, "trigger": kind,
                                                "new_labels": new_labels,
                                                "champion": champion["model_data_url"]})
    return output

