"""Deploy model.tar.gz to a SageMaker real-time endpoint with data capture and autoscaling.

boto3, one small builder per step; ``plan`` puts them together, ``--dry-run`` prints it and
``deploy`` executes it:

1. upload the artifact to ``s3://BUCKET/PREFIX/models/<endpoint>/<version>/model.tar.gz``;
2. ``create_model`` (named after the model version and a digest of its image, role and
   location; skipped when it exists) with the PyTorch inference image that the SageMaker
   SDK's image URI lookup gives for the region and instance type (``--image-uri``
   overrides) and ``SAGEMAKER_PROGRAM=inference.py``;
3. ``create_endpoint_config`` with ``DataCaptureConfig`` (100% sampling, request and response,
   ``s3://BUCKET/PREFIX/datacapture``; JSON responses captured as text, image requests base64);
4. two CloudWatch alarms on the variant (invocation 5xx error rate, model latency), the
   auto-rollback alarms of every update;
5. ``create_endpoint`` for a new endpoint; for an existing one ``update_endpoint`` with a
   blue/green deployment (a canary, then the rest at once) that rolls back by itself when an
   alarm fires, keeping the variant's current instance count and weight. Only when the update
   changes the instance type does AWS require the scalable target to be deregistered first
   (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html); ``deploy``
   does so then, and only then;
6. once the endpoint is InService with the new config: Application Auto Scaling's scalable
   target on the variant's instance count and a target-tracking policy on
   ``SageMakerVariantInvocationsPerInstance`` (registered again after every update);
7. the ``sam deploy --parameter-overrides ... --region ...`` line for the stack: endpoint, model
   version, capture and baseline URIs and the model's labels (ClassLabels, its output order),
   in the endpoint's region, so results are recorded with the model that made them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path

from scones_domain.arguments import endpoint_name, positive_int, positive_number

VARIANT = "AllTraffic"
DEFAULT_REGION = "us-east-1"  # where a dry run without --region or a configured region plans
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")  # read in this order, then the config
# The serving image: AWS's PyTorch inference container, looked up with the SageMaker SDK.
FRAMEWORK = "pytorch"
FRAMEWORK_VERSION = "2.6"
PY_VERSION = "py312"
# Blue/green update: the canary (one instance) takes its share of the traffic for
# CANARY_BAKE_SECONDS, then the rest shifts at once; the old fleet stays for
# FINAL_BAKE_SECONDS more. An alarm in either period rolls the endpoint back.
CANARY_BAKE_SECONDS = 600
FINAL_BAKE_SECONDS = 600
UPDATE_TIMEOUT_SECONDS = 3600  # SageMaker's limit for the whole update (600-28800)
# Auto-rollback alarms (AWS/SageMaker metrics of the variant, one-minute periods)
ERROR_RATE_THRESHOLD = 0.05  # share of invocations answered with a 5xx
ALARM_PERIOD_SECONDS = 60
ALARM_EVALUATION_PERIODS = 2

# Patterns of the values that go into AWS (SageMaker's API model and template.yaml's parameters)
# (the endpoint name's: scones_domain.arguments, shared with `scones serve`)
ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")
MODEL_VERSION = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # template.yaml ModelVersion
CLASS_LABEL = re.compile(r"^[A-Za-z0-9_-]+$")  # one of template.yaml's ClassLabels
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")

# plan key -> (boto3 client, operation) for every AWS call a deploy can make
CALLS = {
    "upload": ("s3", "upload_file"),
    "create_model": ("sagemaker", "create_model"),
    "create_endpoint_config": ("sagemaker", "create_endpoint_config"),
    "put_metric_alarm": ("cloudwatch", "put_metric_alarm"),
    "create_endpoint": ("sagemaker", "create_endpoint"),
    "deregister_scalable_target": ("application-autoscaling", "deregister_scalable_target"),
    "update_endpoint": ("sagemaker", "update_endpoint"),
    "register_scalable_target": ("application-autoscaling", "register_scalable_target"),
    "put_scaling_policy": ("application-autoscaling", "put_scaling_policy"),
}


class DeployError(ValueError):
    """The deployment request is incomplete or inconsistent, or AWS did not deploy it."""


class DeployInputError(DeployError):
    """The request itself is wrong: a bad value, an artifact that is not a model, a region
    without an image (`scones deploy` exits 2; a DeployError from AWS's side exits 1)."""


@dataclass
class DeployRequest:
    artifact: str
    role_arn: str
    bucket: str
    endpoint_name: str
    region: str | None = None
    image_uri: str | None = None
    instance_type: str = "ml.m5.large"
    # Two instances: the variant spans two Availability Zones, and a blue/green update can
    # send a one-instance canary (AWS: at most 50% of the fleet) before the rest.
    initial_instance_count: int = 2
    max_instances: int = 4
    target_invocations: float = 200.0  # per instance per minute
    prefix: str = "scones"
    scale_in_cooldown: int = 300  # seconds
    scale_out_cooldown: int = 60  # seconds
    latency_alarm_ms: float = 500.0  # average ModelLatency that rolls an update back


# argparse ``type=`` functions of `scones deploy` (scones_domain.arguments has the general ones);
# ``validate`` runs the same checks on a DeployRequest built in Python.

def role_arn(text: str) -> str:
    if not ROLE_ARN.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an IAM role ARN: give arn:aws:iam::<account>:role/<name>")
    return text


def bucket_name(text: str) -> str:
    if text.startswith("s3://"):
        bucket, _, prefix = text.removeprefix("s3://").partition("/")
        fix = f"--bucket {bucket}" + (f" --prefix {prefix.strip('/')}" if prefix.strip("/")
                                      else "")
        raise argparse.ArgumentTypeError(f"takes a bucket name, not an s3:// URI: {fix}")
    if not BUCKET_NAME.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an S3 bucket name (3-63 lowercase letters, digits, dots and "
            f"hyphens)")
    return text


def s3_prefix(text: str) -> str:
    if not PREFIX.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an S3 key prefix: no leading or trailing slash, no empty part; "
            f"e.g. {text.strip('/') or 'scones'!r}")
    return text


def instance_type(text: str) -> str:
    if not INSTANCE_TYPE.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a SageMaker instance type" + (
                f"; use 'ml.{text}'" if INSTANCE_TYPE.match(f"ml.{text}") else
                " such as ml.m5.large"))
    return text


# request field -> (its option, its check)
CHECKS = {
    "role_arn": ("--role", role_arn),
    "bucket": ("--bucket", bucket_name),
    "endpoint_name": ("--endpoint-name", endpoint_name),
    "prefix": ("--prefix", s3_prefix),
    "instance_type": ("--instance-type", instance_type),
    "initial_instance_count": ("--instance-count", positive_int),
    "max_instances": ("--max-instances", positive_int),
    "target_invocations": ("--target-invocations", positive_number),
    "latency_alarm_ms": ("--latency-alarm-ms", positive_number),
}


def validate(request: DeployRequest) -> None:
    """One named error per bad input, before anything is planned or called."""
    if not Path(request.artifact).exists():
        raise DeployInputError(f"artifact {request.artifact} does not exist")
    for field, (option, check) in CHECKS.items():
        try:
            check(str(getattr(request, field)))
        except argparse.ArgumentTypeError as exc:
            raise DeployInputError(f"{option}: {exc}") from None
    if request.max_instances < request.initial_instance_count:
        raise DeployInputError(f"--max-instances ({request.max_instances}) must be at least "
                               f"--instance-count ({request.initial_instance_count})")


def pytorch_image_uri(region: str, instance_type: str) -> str:
    """The AWS PyTorch inference image for ``region`` and ``instance_type``, from the SageMaker
    SDK's image URI lookup (its bundled JSON config: offline, no credentials)."""
    try:
        from sagemaker.core import image_uris
    except ImportError as exc:
        raise DeployError("the SageMaker SDK is not installed (pip install 'sagemaker>=3', "
                          "or `make install`); or pass --image-uri") from exc
    try:
        return image_uris.retrieve(framework=FRAMEWORK, region=region,
                                   version=FRAMEWORK_VERSION, py_version=PY_VERSION,
                                   instance_type=instance_type, image_scope="inference")
    except (ValueError, KeyError) as exc:
        reason = str(exc).split(". ")[0]  # the SDK goes on to list every region it knows
        raise DeployInputError(f"no PyTorch {FRAMEWORK_VERSION} inference image for region "
                               f"{region!r} and instance type {instance_type!r} in the "
                               f"SageMaker SDK ({reason}); pass --region or --image-uri") from exc


def image_regions() -> list[str]:
    """Every region the SageMaker SDK has a PyTorch inference image of our version for."""
    from sagemaker.core import image_uris

    config = image_uris.config_for_framework(FRAMEWORK)["inference"]
    version = config.get("version_aliases", {}).get(FRAMEWORK_VERSION, FRAMEWORK_VERSION)
    return sorted(config["versions"][version]["registries"])


def artifact_metadata(artifact: str | Path) -> dict:
    """The artifact's metadata.json, its model_version checked (resource names, the stack's
    ModelVersion)."""
    try:
        with tarfile.open(artifact) as tar:
            member = tar.extractfile("metadata.json")
            metadata = json.loads(member.read()) if member else {}
            version = metadata["model_version"]
    except (tarfile.TarError, KeyError, json.JSONDecodeError, OSError) as exc:
        raise DeployInputError(f"{artifact} is not a model.tar.gz with metadata.json "
                               f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(version, str) or not MODEL_VERSION.match(version):
        raise DeployInputError(f"{artifact}: metadata.json model_version {version!r} is not a "
                               f"valid ModelVersion ({MODEL_VERSION.pattern})")
    labels = metadata.get("labels")
    if labels is not None and not (isinstance(labels, list) and len(labels) >= 2 and all(
            isinstance(label, str) and CLASS_LABEL.match(label) for label in labels)):
        raise DeployInputError(f"{artifact}: metadata.json labels {labels!r} are not the "
                               f"stack's ClassLabels (two or more of {CLASS_LABEL.pattern})")
    return metadata


def artifact_version(artifact: str | Path) -> str:
    """metadata.json's model_version inside the artifact."""
    return artifact_metadata(artifact)["model_version"]


def _names(request: DeployRequest, version: str, stamp: str, image_uri: str) -> dict:
    safe = "".join(c if c.isalnum() or c == "-" else "-" for c in version)
    base = request.endpoint_name[:40].rstrip("-")
    # A model is immutable: its name changes with anything create_model is given.
    digest = hashlib.sha256(f"{image_uri} {request.role_arn} {request.bucket} "
                            f"{request.prefix}".encode()).hexdigest()[:8]
    return {
        "model": f"{f'{base}-{safe}'[:54].rstrip('-')}-{digest}",
        "endpoint_config": f"{base}-{stamp}",  # <= 63 characters, unique per deploy
        "s3_key": f"{request.prefix}/models/{request.endpoint_name}/{safe}/model.tar.gz",
        "capture_uri": f"s3://{request.bucket}/{request.prefix}/datacapture",
        "resource_id": f"endpoint/{request.endpoint_name}/variant/{VARIANT}",
        "error_alarm": f"{request.endpoint_name}-invocation-5xx-errors",
        "latency_alarm": f"{request.endpoint_name}-model-latency",
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


def alarm_requests(request: DeployRequest, names: dict) -> list[dict]:
    """The auto-rollback alarms (AWS's deployment-guardrails examples): the variant's 5xx error
    rate (Invocation5XXErrors averages to the share of failed invocations) and its average
    ModelLatency (microseconds). No traffic is no evidence: missing data does not breach."""
    common = {
        "Namespace": "AWS/SageMaker",
        "Dimensions": [{"Name": "EndpointName", "Value": request.endpoint_name},
                       {"Name": "VariantName", "Value": VARIANT}],
        "Statistic": "Average",
        "Period": ALARM_PERIOD_SECONDS,
        "EvaluationPeriods": ALARM_EVALUATION_PERIODS,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }
    return [
        {"AlarmName": names["error_alarm"], "MetricName": "Invocation5XXErrors",
         "AlarmDescription": f"More than {ERROR_RATE_THRESHOLD:.0%} of {request.endpoint_name}'s "
                             "invocations fail with a 5xx; rolls a blue/green update back.",
         "Threshold": ERROR_RATE_THRESHOLD, **common},
        {"AlarmName": names["latency_alarm"], "MetricName": "ModelLatency",
         "AlarmDescription": f"{request.endpoint_name}'s average model latency is above "
                             f"{request.latency_alarm_ms:g} ms; rolls a blue/green update back.",
         "Threshold": request.latency_alarm_ms * 1000.0, **common},
    ]


def create_endpoint_request(request: DeployRequest, names: dict) -> dict:
    return {"EndpointName": request.endpoint_name,
            "EndpointConfigName": names["endpoint_config"]}


def traffic_routing(instance_count: int) -> dict:
    """Canary of one instance, then the rest at once. AWS caps a canary at 50% of the fleet, so
    a one-instance variant shifts all at once (still blue/green: the old instance serves until
    the new one is healthy, and the bake period watches the alarms)."""
    if instance_count >= 2:
        return {"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                "WaitIntervalInSeconds": CANARY_BAKE_SECONDS}
    return {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": CANARY_BAKE_SECONDS}


def update_endpoint_request(request: DeployRequest, names: dict) -> dict:
    """Blue/green update with auto-rollback. The variant keeps its current instance count and
    weight (autoscaling's, not the config's initial ones); ``deploy`` adds
    ``ExcludeRetainedVariantProperties: DesiredInstanceCount`` for a fleet smaller than
    ``--instance-count``, which then takes the config's count."""
    return {
        "EndpointName": request.endpoint_name,
        "EndpointConfigName": names["endpoint_config"],
        "RetainAllVariantProperties": True,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": traffic_routing(request.initial_instance_count),
                "TerminationWaitInSeconds": FINAL_BAKE_SECONDS,
                "MaximumExecutionTimeoutInSeconds": UPDATE_TIMEOUT_SECONDS,
            },
            "AutoRollbackConfiguration": {
                "Alarms": [{"AlarmName": names["error_alarm"]},
                           {"AlarmName": names["latency_alarm"]}]},
        },
    }


def scaling_requests(request: DeployRequest, names: dict) -> tuple[dict, dict, dict]:
    """(register_scalable_target, put_scaling_policy, deregister_scalable_target)."""
    target_id = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": names["resource_id"],
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    target = {**target_id, "MinCapacity": request.initial_instance_count,
              "MaxCapacity": request.max_instances}
    policy = {
        "PolicyName": f"{request.endpoint_name}-invocations-per-instance",
        **target_id,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": request.target_invocations,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": request.scale_in_cooldown,
            "ScaleOutCooldown": request.scale_out_cooldown,
        },
    }
    return target, policy, dict(target_id)


def stack_parameters(request: DeployRequest, names: dict, metadata: dict) -> dict:
    """The template parameters this deploy decides (the rest keep their stack values): the
    endpoint, the model's version, its capture and baseline, and its output order."""
    parameters = {
        "EndpointName": request.endpoint_name,
        "ModelVersion": metadata["model_version"],
        "CaptureS3Uri": names["capture_uri"],
        "BaselineS3Uri": f"s3://{request.bucket}/{names['s3_key']}",  # holds baseline.json
    }
    if metadata.get("labels"):
        parameters["ClassLabels"] = ",".join(metadata["labels"])
    return parameters


def sam_deploy_line(parameters: dict, region: str | None = None) -> str:
    """The stack's update, shell-quoted; in the endpoint's region (the functions call the
    endpoint in their own region)."""
    overrides = " ".join(shlex.quote(f"{key}={value}") for key, value in parameters.items())
    line = f"sam deploy --parameter-overrides {overrides}"
    return f"{line} --region {shlex.quote(region)}" if region else line


def plan(request: DeployRequest, region: str | None = None,
         stamp: str | None = None) -> dict:
    """Every call ``deploy`` makes, with its arguments (``--dry-run`` prints this). Calls
    nothing: without a region it plans for the configured one, else us-east-1."""
    validate(request)
    region = region or request.region or _configured_region() or DEFAULT_REGION
    stamp = stamp or dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-%f")
    metadata = artifact_metadata(request.artifact)
    version = metadata["model_version"]
    image = request.image_uri or pytorch_image_uri(region, request.instance_type)
    names = _names(request, version, stamp, image)
    target, policy, target_id = scaling_requests(request, names)
    parameters = stack_parameters(request, names, metadata)
    return {
        "region": region,
        "model_version": version,
        "image_uri": image,
        "order": {
            "new endpoint": ["upload", "create_model", "create_endpoint_config",
                             "put_metric_alarm", "create_endpoint", "(wait for InService)",
                             "register_scalable_target", "put_scaling_policy"],
            "existing endpoint (InService)": [
                "upload", "create_model", "create_endpoint_config", "put_metric_alarm",
                "deregister_scalable_target (only if the instance type changes)",
                "update_endpoint", "(wait for InService; an error if it rolled back)",
                "register_scalable_target", "put_scaling_policy"],
        },
        "upload": {"Filename": str(request.artifact), "Bucket": request.bucket,
                   "Key": names["s3_key"]},
        "create_model": model_request(request, names, image),
        "create_endpoint_config": endpoint_config_request(request, names),
        "put_metric_alarm": alarm_requests(request, names),
        "create_endpoint": create_endpoint_request(request, names),
        "deregister_scalable_target": target_id,
        "update_endpoint": update_endpoint_request(request, names),
        "register_scalable_target": target,
        "put_scaling_policy": policy,
        "stack_parameters": parameters,
        "sam_deploy": sam_deploy_line(parameters, region),
    }


def _configured_region() -> str | None:
    """AWS_REGION, else AWS_DEFAULT_REGION, else the AWS config file's region (what the AWS
    CLI uses); reads the environment and files only."""
    for name in REGION_VARIABLES:
        if os.environ.get(name, "").strip():
            return os.environ[name].strip()
    import botocore.session

    return botocore.session.get_session().get_config_variable("region") or None


def deploy(request: DeployRequest, session=None, clients: dict | None = None,
           stamp: str | None = None) -> dict:
    """Run the plan with boto3. ``clients`` maps the service names of ``CALLS`` to clients
    (default: made from ``session``, itself from the environment); ``stamp`` names the
    endpoint config (default: the current UTC time). Returns the plan plus
    ``action`` ("created" or "updated"). Raises DeployError when the endpoint does not end
    InService with the new config (a failed creation, or an update that rolled back)."""
    if clients is None:
        import boto3

        session = session or boto3.session.Session(
            region_name=request.region or _configured_region())
        if not session.region_name:
            raise DeployInputError("no AWS region: pass --region or set AWS_REGION")
        clients = {service: session.client(service)
                   for service in {service for service, _ in CALLS.values()}}
    sagemaker = clients["sagemaker"]
    steps = plan(request, region=request.region or sagemaker.meta.region_name, stamp=stamp)
    autoscaling = clients["application-autoscaling"]

    # An endpoint that cannot be updated stops the deploy before anything is uploaded or made.
    current = _describe_endpoint(sagemaker, request.endpoint_name)
    old_variant = _updatable_variant(request, current, sagemaker) if current else None

    upload = steps["upload"]
    clients["s3"].upload_file(upload["Filename"], upload["Bucket"], upload["Key"])
    if not _model_exists(sagemaker, steps["create_model"]["ModelName"]):
        sagemaker.create_model(**steps["create_model"])
    sagemaker.create_endpoint_config(**steps["create_endpoint_config"])
    for alarm in steps["put_metric_alarm"]:
        clients["cloudwatch"].put_metric_alarm(**alarm)

    if current is None:
        sagemaker.create_endpoint(**steps["create_endpoint"])
        action = "created"
    else:
        if old_variant.get("InstanceType") != request.instance_type:
            _deregister_scalable_target(autoscaling, steps["deregister_scalable_target"])
        fleet = {v["VariantName"]: v for v in current.get("ProductionVariants", [])}
        desired = fleet.get(VARIANT, {}).get("DesiredInstanceCount", 0)
        if desired < request.initial_instance_count:
            steps["update_endpoint"] = {**steps["update_endpoint"],
                                        "ExcludeRetainedVariantProperties": [
                                            {"VariantPropertyType": "DesiredInstanceCount"}]}
        sagemaker.update_endpoint(**steps["update_endpoint"])
        action = "updated"

    _wait_in_service(sagemaker, request.endpoint_name)
    final = sagemaker.describe_endpoint(EndpointName=request.endpoint_name)
    # Autoscaling again in every case: a rolled-back update still needs its scalable target.
    autoscaling.register_scalable_target(**steps["register_scalable_target"])
    autoscaling.put_scaling_policy(**steps["put_scaling_policy"])
    new_config = steps["create_endpoint_config"]["EndpointConfigName"]
    if final["EndpointConfigName"] != new_config:
        raise DeployError(f"the update of {request.endpoint_name} rolled back to "
                          f"{final['EndpointConfigName']} (an alarm fired or the new fleet "
                          f"failed: {final.get('FailureReason', 'no reason given')}); the "
                          f"endpoint still serves the previous model, keep the stack's "
                          f"ModelVersion")
    return {**steps, "action": action}


def _updatable_variant(request: DeployRequest, current: dict, sagemaker) -> dict:
    """AWS's conditions for a blue/green update: the endpoint is InService and its config has
    our variant (the new config must keep the variant name). Returns that variant."""
    status = current["EndpointStatus"]
    if status == "Failed":
        raise DeployError(f"endpoint {request.endpoint_name} is Failed "
                          f"({current.get('FailureReason', 'no reason given')}): delete it or "
                          f"deploy under another name")
    if status != "InService":
        raise DeployError(f"endpoint {request.endpoint_name} is {status}, not InService: "
                          f"deploy again once it is InService")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=current["EndpointConfigName"])
    variants = {v["VariantName"]: v for v in config["ProductionVariants"]}
    if VARIANT not in variants:
        raise DeployError(f"endpoint {request.endpoint_name} has no variant {VARIANT!r} "
                          f"(it has {sorted(variants)}): a blue/green update keeps the variant "
                          f"name; deploy to a new endpoint name instead")
    return variants[VARIANT]


def _deregister_scalable_target(autoscaling, target: dict) -> None:
    """Before an update that changes the instance type (AWS requires it then); deregistering
    also deletes the target's scaling policies."""
    registered = autoscaling.describe_scalable_targets(
        ServiceNamespace=target["ServiceNamespace"], ResourceIds=[target["ResourceId"]],
        ScalableDimension=target["ScalableDimension"])["ScalableTargets"]
    if registered:
        autoscaling.deregister_scalable_target(**target)


# botocore's endpoint_in_service waiter, which also stops at UpdateRollbackFailed (it would
# poll that for its whole hour)
IN_SERVICE_WAITER = {"version": 2, "waiters": {"EndpointInService": {
    "delay": 30, "maxAttempts": 120, "operation": "DescribeEndpoint",
    "acceptors": [
        {"matcher": "path", "argument": "EndpointStatus", "state": "success",
         "expected": "InService"},
        *({"matcher": "path", "argument": "EndpointStatus", "state": "failure",
           "expected": status} for status in ("Failed", "UpdateRollbackFailed")),
        {"matcher": "error", "state": "failure", "expected": "ValidationException"},
    ]}}}


def _wait_in_service(sagemaker, name: str) -> None:
    from botocore.exceptions import WaiterError
    from botocore.waiter import WaiterModel, create_waiter_with_client

    waiter = create_waiter_with_client("EndpointInService", WaiterModel(IN_SERVICE_WAITER),
                                       sagemaker)
    try:
        waiter.wait(EndpointName=name)
    except WaiterError as exc:
        last = exc.last_response or {}
        status = last.get("EndpointStatus", "not InService")
        reason = last.get("FailureReason") or last.get("Error", {}).get("Message") or exc
        raise DeployError(f"endpoint {name} is {status}: {reason}") from exc


def _model_exists(sagemaker, name: str) -> bool:
    models = sagemaker.list_models(NameContains=name)["Models"]
    return any(m["ModelName"] == name for m in models)


def _describe_endpoint(sagemaker, name: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        return sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as exc:
        error = exc.response["Error"]
        if error.get("Code") == "ValidationException" and "Could not find" in error.get(
                "Message", ""):
            return None
        raise
