"""Deploy model.tar.gz to a SageMaker real-time endpoint with data capture and autoscaling.

boto3, one small builder per step (easy to read, and testable against moto):

1. upload the artifact to ``s3://BUCKET/PREFIX/models/<endpoint>/<version>/model.tar.gz``;
2. ``create_model`` with the PyTorch inference image of the region (``--image-uri`` overrides)
   and ``SAGEMAKER_PROGRAM=inference.py``;
3. ``create_endpoint_config`` with ``DataCaptureConfig`` (100% sampling, request and response,
   ``s3://BUCKET/PREFIX/datacapture``; JSON responses captured as text, image requests base64);
4. ``create_endpoint``, or ``update_endpoint`` in place when it exists (no downtime);
5. Application Auto Scaling: a scalable target on the variant's instance count and a
   target-tracking policy on ``SageMakerVariantInvocationsPerInstance``;
6. print the ``sam deploy --parameter-overrides EndpointName=...`` line for the SAM stack.
"""

from __future__ import annotations

import datetime as dt
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

VARIANT = "AllTraffic"
# AWS Deep Learning Containers account that publishes the PyTorch inference images
DLC_ACCOUNT = "763104351884"
PYTORCH_INFERENCE_TAG = "2.6.0-cpu-py312"


class DeployError(ValueError):
    """The deployment request is incomplete or inconsistent."""


@dataclass
class DeployRequest:
    artifact: str
    role_arn: str
    bucket: str
    endpoint_name: str
    region: str | None = None
    image_uri: str | None = None
    instance_type: str = "ml.m5.large"
    initial_instance_count: int = 1
    max_instances: int = 4
    target_invocations: float = 200.0  # per instance per minute
    prefix: str = "scones"
    wait: bool = True
    scale_in_cooldown: int = 300  # seconds
    scale_out_cooldown: int = 60  # seconds


def pytorch_image_uri(region: str, tag: str = PYTORCH_INFERENCE_TAG) -> str:
    """The AWS PyTorch inference image for ``region`` (CPU, SageMaker serving toolkit)."""
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"{DLC_ACCOUNT}.dkr.ecr.{region}{suffix}/pytorch-inference:{tag}"


def artifact_version(artifact: str | Path) -> str:
    """metadata.json's model_version inside the artifact (used in resource names)."""
    with tarfile.open(artifact) as tar:
        member = tar.extractfile("metadata.json")
        if member is None:
            raise DeployError(f"{artifact} has no metadata.json")
        return json.loads(member.read())["model_version"]


def _names(request: DeployRequest, version: str, stamp: str) -> dict:
    safe = "".join(c if c.isalnum() or c == "-" else "-" for c in version)
    base = request.endpoint_name[:40]
    return {
        "model": f"{base}-{safe}"[:63],
        "endpoint_config": f"{base}-{stamp}",  # <= 63 characters, unique per deploy
        "s3_key": f"{request.prefix}/models/{request.endpoint_name}/{safe}/model.tar.gz",
        "capture_uri": f"s3://{request.bucket}/{request.prefix}/datacapture",
        "resource_id": f"endpoint/{request.endpoint_name}/variant/{VARIANT}",
    }


def model_request(request: DeployRequest, names: dict, image_uri: str) -> dict:
    return {
        "ModelName": names["model"],
        "ExecutionRoleArn": request.role_arn,
        "PrimaryContainer": {
            "Image": image_uri,
            "ModelDataUrl": f"s3://{request.bucket}/{names['s3_key']}",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20"},
        },
    }


def endpoint_config_request(request: DeployRequest, names: dict) -> dict:
    return {
        "EndpointConfigName": names["endpoint_config"],
        "ProductionVariants": [{
            "VariantName": VARIANT,
            "ModelName": names["model"],
            "InstanceType": request.instance_type,
            "InitialInstanceCount": request.initial_instance_count,
            "InitialVariantWeight": 1.0,
        }],
        "DataCaptureConfig": {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": names["capture_uri"],
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            # JSON (the response) is captured as text; image requests are neither CSV nor
            # JSON, so SageMaker stores them base64-encoded (encoding "BASE64" in the record).
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    }


def scaling_requests(request: DeployRequest, names: dict) -> tuple[dict, dict]:
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": names["resource_id"],
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": request.initial_instance_count,
        "MaxCapacity": max(request.max_instances, request.initial_instance_count),
    }
    policy = {
        "PolicyName": f"{request.endpoint_name}-invocations-per-instance",
        "ServiceNamespace": "sagemaker",
        "ResourceId": names["resource_id"],
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": request.target_invocations,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": request.scale_in_cooldown,
            "ScaleOutCooldown": request.scale_out_cooldown,
        },
    }
    return target, policy


def sam_deploy_line(endpoint_name: str) -> str:
    return f"sam deploy --parameter-overrides EndpointName={endpoint_name}"


def plan(request: DeployRequest, region: str | None = None,
         stamp: str | None = None) -> dict:
    """Every call ``deploy`` makes, with its arguments (``--dry-run`` prints this)."""
    if not Path(request.artifact).exists():
        raise DeployError(f"artifact {request.artifact} does not exist")
    if not request.role_arn.startswith("arn:"):
        raise DeployError(f"--role must be an IAM role ARN, got {request.role_arn!r}")
    region = region or request.region or _session_region()
    stamp = stamp or dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-%f")
    names = _names(request, artifact_version(request.artifact), stamp)
    image = request.image_uri or pytorch_image_uri(region)
    target, policy = scaling_requests(request, names)
    return {
        "region": region,
        "upload": {"file": str(request.artifact), "bucket": request.bucket,
                   "key": names["s3_key"]},
        "create_model": model_request(request, names, image),
        "create_endpoint_config": endpoint_config_request(request, names),
        "endpoint": {"EndpointName": request.endpoint_name,
                     "EndpointConfigName": names["endpoint_config"],
                     "action": "create, or update in place when it exists"},
        "register_scalable_target": target,
        "put_scaling_policy": policy,
        "sam_deploy": sam_deploy_line(request.endpoint_name),
    }


def _session_region() -> str:
    import boto3

    region = boto3.session.Session().region_name
    if not region:
        raise DeployError("no AWS region: pass --region or set AWS_REGION")
    return region


def deploy(request: DeployRequest, session=None) -> dict:
    """Run the plan with boto3 (``session``: a boto3 Session; default from the environment).
    Returns the plan plus ``action`` ("created" or "updated")."""
    import boto3

    session = session or boto3.session.Session(region_name=request.region)
    steps = plan(request, region=request.region or session.region_name)
    s3 = session.client("s3")
    sagemaker = session.client("sagemaker")
    autoscaling = session.client("application-autoscaling")

    s3.upload_file(steps["upload"]["file"], steps["upload"]["bucket"], steps["upload"]["key"])
    existing_models = sagemaker.list_models(NameContains=steps["create_model"]["ModelName"])
    if not any(m["ModelName"] == steps["create_model"]["ModelName"]
               for m in existing_models.get("Models", [])):
        sagemaker.create_model(**steps["create_model"])
    sagemaker.create_endpoint_config(**steps["create_endpoint_config"])
    endpoint = {k: v for k, v in steps["endpoint"].items() if k != "action"}
    if _endpoint_exists(sagemaker, request.endpoint_name):
        sagemaker.update_endpoint(**endpoint)
        action = "updated"
    else:
        sagemaker.create_endpoint(**endpoint)
        action = "created"
    if request.wait:
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=request.endpoint_name)
    autoscaling.register_scalable_target(**steps["register_scalable_target"])
    autoscaling.put_scaling_policy(**steps["put_scaling_policy"])
    return {**steps, "action": action}


def _endpoint_exists(sagemaker, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        sagemaker.describe_endpoint(EndpointName=name)
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
            return False
        raise
