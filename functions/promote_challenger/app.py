"""Promote an approved model package: the endpoint's blue/green update to the challenger.

Creates the challenger's SageMaker model (the package's container, SAGEMAKER_ROLE_ARN) and an
endpoint configuration copied from the one in service with the new model in every variant (so
data capture, instance type and count stay), then updates the endpoint with a blue/green
deployment that the endpoint's alarms (ROLLBACK_ALARMS) roll back automatically. The workflow
then waits until the endpoint is InService on the new configuration, or fails with
PROMOTION_ROLLED_BACK when it is not. A retried invocation finds what the first one created
and does not start a second update.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from scones_domain.config import env_str
from scones_domain.contracts import PromoteChallengerInput, PromoteChallengerOutput
from scones_domain.errors import ModelPackageNotApproved
from scones_domain.events import require_mapping, require_str
from scones_domain.retraining import APPROVED, sagemaker_name

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])

ENDPOINT_NAME = env_str("ENDPOINT_NAME")
SAGEMAKER_ROLE_ARN = env_str("SAGEMAKER_ROLE_ARN")
ROLLBACK_ALARMS = [name for name in env_str("ROLLBACK_ALARMS").split(",") if name]
BLUE_GREEN_WAIT_SECONDS = 300  # traffic on the new fleet, alarms watched, before the old goes

sagemaker = boto3.client("sagemaker")


def deployment_config(alarms: list[str]) -> dict[str, Any]:
    """All traffic shifted at once to the new fleet, watched for BLUE_GREEN_WAIT_SECONDS by the
    alarms, which roll back to the old fleet while it still exists."""
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
            "TerminationWaitInSeconds": BLUE_GREEN_WAIT_SECONDS,
            "MaximumExecutionTimeoutInSeconds": 3600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]},
    }


def challenger_config(current: dict[str, Any], name: str, model_name: str) -> dict[str, Any]:
    """The CreateEndpointConfig request: the current one with the challenger in every variant."""
    variants = [{**{k: v for k, v in variant.items() if not k.startswith("Current")},
                 "ModelName": model_name} for variant in current["ProductionVariants"]]
    request = {"EndpointConfigName": name, "ProductionVariants": variants}
    for key in ("DataCaptureConfig", "KmsKeyId", "AsyncInferenceConfig"):
        if current.get(key):
            request[key] = current[key]
    return request


def pending_config(endpoint: dict[str, Any]) -> str | None:
    """The configuration an update in progress deploys (DescribeEndpoint's
    PendingDeploymentSummary), if any."""
    return (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")


def once(create: Any) -> None:
    """Create a SageMaker resource; one a retried invocation created already is fine."""
    try:
        create()
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if "already exist" not in message.lower():
            raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: PromoteChallengerInput, context: LambdaContext
                   ) -> PromoteChallengerOutput:
    event = require_mapping(event)
    package_arn = require_str(event, "model_package_arn")
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    if package.get("ModelApprovalStatus") != APPROVED:
        raise ModelPackageNotApproved(
            f"{package_arn} is {package.get('ModelApprovalStatus')}, not {APPROVED}")
    version = (package.get("CustomerMetadataProperties") or {}).get("model_version") \
        or package_arn.rsplit("/", 1)[-1]
    suffix = f"v{package.get('ModelPackageVersion', 0)}-{require_str(event, 'execution_name')}"
    name = sagemaker_name(ENDPOINT_NAME, suffix)
    container = package["InferenceSpecification"]["Containers"][0]
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT_NAME)
    if name in (endpoint["EndpointConfigName"], pending_config(endpoint)):
        # a retried invocation: the update was started (or is done) already
        logger.info("endpoint update already started", extra={"endpoint_config": name})
        return {"endpoint_name": ENDPOINT_NAME, "endpoint_config_name": name,
                "previous_endpoint_config_name": endpoint.get("EndpointConfigName", ""),
                "model_name": name, "model_version": version}
    previous = endpoint["EndpointConfigName"]
    once(lambda: sagemaker.create_model(
        ModelName=name, ExecutionRoleArn=SAGEMAKER_ROLE_ARN,
        PrimaryContainer={"Image": container["Image"], "ModelDataUrl": container["ModelDataUrl"]}))
    current = sagemaker.describe_endpoint_config(EndpointConfigName=previous)
    once(lambda: sagemaker.create_endpoint_config(**challenger_config(current, name, name)))
    sagemaker.update_endpoint(EndpointName=ENDPOINT_NAME, EndpointConfigName=name,
                              DeploymentConfig=deployment_config(ROLLBACK_ALARMS))
    logger.info("endpoint update started", extra={"endpoint": ENDPOINT_NAME,
                                                  "endpoint_config": name,
                                                  "previous_endpoint_config": previous,
                                                  "model_version": version})
    return {"endpoint_name": ENDPOINT_NAME, "endpoint_config_name": name,
            "previous_endpoint_config_name": previous, "model_name": name,
            "model_version": version}
