"""Judge the challenger a training job produced and register it in the model package group.

Reads ``challenge.json`` from the job's model.tar.gz (the champion and the challenger scored by
the job on the same fixed evaluation set, and the shadow check on recent captures), applies the
promotion gate (scones_domain.promotion) and registers the challenger with its metrics: status
Approved (APPROVAL_MODE Automatic) or PendingManualApproval (Manual) when the gate lets it
through, Rejected with the gate's reason otherwise. A challenger that answers other classes
than the stack's ClassLabels (a class added by reviewed labels) waits as PendingManualApproval
until the stack is deployed with its classes. The group is created on first use.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from scones_domain.config import env_labels, env_str
from scones_domain.contracts import RegisterChallengerInput, RegisterChallengerOutput
from scones_domain.events import require_mapping, require_str
from scones_domain.location import S3Location
from scones_domain.promotion import decide_challenge
from scones_domain.retraining import (
    APPROVED,
    CHALLENGE_FILE,
    PENDING,
    approval_status,
    model_package_request,
    model_version_of,
    read_challenge,
)
from scones_domain.storage import write_json

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

MODEL_PACKAGE_GROUP = env_str("MODEL_PACKAGE_GROUP")
APPROVAL_MODE = env_str("APPROVAL_MODE")
INFERENCE_IMAGE_URI = env_str("INFERENCE_IMAGE_URI")
CLASS_LABELS = env_labels("CLASS_LABELS")

s3 = boto3.client("s3")
sagemaker = boto3.client("sagemaker")


def ensure_group(client: Any, group: str) -> None:
    try:
        client.create_model_package_group(
            ModelPackageGroupName=group,
            ModelPackageGroupDescription="Scones Unlimited vehicle classifiers")
    except ClientError as exc:
        if "already exists" not in str(exc).lower():
            raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: RegisterChallengerInput, context: LambdaContext
                   ) -> RegisterChallengerOutput:
    training = require_mapping(require_mapping(event).get("training"))
    model_data_url = require_str(training, "model_data_url")
    version = model_version_of(require_str(training, "training_job_name"))
    challenge = read_challenge(s3, model_data_url)
    decision = decide_challenge(challenge).as_dict()
    status = approval_status(decision["promoted"], APPROVAL_MODE)
    classes = list(challenge.get("class_labels") or [])
    if status == APPROVED and classes != list(CLASS_LABELS):
        # the workflow reads answers in ClassLabels order: a new class list waits for the stack
        status = PENDING
        decision["reason"] += (f"; its classes {','.join(classes)} are not the stack's "
                               f"ClassLabels {','.join(CLASS_LABELS)}: deploy the stack with "
                               f"ClassLabels={','.join(classes)}, then approve the package")
    # the metrics beside the artifact, where the registry's ModelMetrics points
    challenge_at = S3Location.parse(model_data_url).sibling(CHALLENGE_FILE)
    write_json(s3, challenge_at, {**challenge, "decision": decision})
    ensure_group(sagemaker, MODEL_PACKAGE_GROUP)
    package_arn = sagemaker.create_model_package(**model_package_request(
        group=MODEL_PACKAGE_GROUP, model_data_url=model_data_url, image_uri=INFERENCE_IMAGE_URI,
        challenge=challenge, decision=decision, status=status, model_version=version,
        challenge_uri=challenge_at.uri))["ModelPackageArn"]
    metrics.add_metric(name="ChallengersPromotable" if decision["promoted"]
                       else "ChallengersRejected", unit=MetricUnit.Count, value=1)
    logger.info("challenger registered", extra={"model_package_arn": package_arn,
                                                "approval_status": status,
                                                "reason": decision["reason"]})
    return {"model_package_arn": package_arn, "approval_status": status,
            "promoted": decision["promoted"], "reason": decision["reason"],
            "model_version": version, "champion": challenge.get("champion"),
            "challenger": challenge.get("challenger"), "shadow": challenge.get("shadow")}
