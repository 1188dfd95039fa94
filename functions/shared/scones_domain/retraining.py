"""Retraining on AWS: the training job's request, the champion behind the endpoint, the
challenger's registration and its promotion (statemachine/retraining.asl.json).

The training job is SageMaker script mode: the framework's training image runs
``model/pipeline.py`` from the project's source archive (``sagemaker_submit_directory``) with
these channels, each an S3 prefix or object (docs/retraining.md):

``train``       the original training images (ImageFolder ``<class>/<file>``)
``labels``      the reviewed images (``LabelsPrefix``: ``<class>/<file>``, RecordReviewFunction)
``evaluation``  the fixed evaluation set, never trained on
``champion``    the champion's model.tar.gz (the model the endpoint serves)
``captures``    the endpoint's data capture, for the shadow check

and writes ``challenge.json`` (champion and challenger on the evaluation set, the shadow check)
into the model artifact, which RegisterChallengerFunction reads.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Mapping
from typing import Any

from scones_domain.errors import ChallengeNotFound, EndpointNotFound, InvalidEventField
from scones_domain.location import S3Location

CHALLENGE_FILE = "challenge.json"
ENTRY_POINT = "model/pipeline.py"
APPROVED, PENDING, REJECTED = "Approved", "PendingManualApproval", "Rejected"
_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9-]+")
MAX_CHALLENGE_BYTES = 1_000_000


def sagemaker_name(prefix: str, suffix: str) -> str:
    """``prefix-suffix`` as a SageMaker resource name (training job, model, endpoint config:
    63 characters of [A-Za-z0-9-]); ``suffix`` (an execution's name may hold ``_`` or ``.``)
    has every other character replaced by ``-``."""
    cleaned = _NAME_CHARACTERS.sub("-", suffix).strip("-") or "run"
    return f"{prefix}-{cleaned}"[:63].rstrip("-")


def training_job_name(execution_name: str) -> str:
    """A SageMaker training job name from the execution's name."""
    return sagemaker_name("scones-retrain", execution_name)


def _channel(name: str, uri: str) -> dict[str, Any]:
    # S3Prefix takes a folder or one object's full key alike
    return {"ChannelName": name, "InputMode": "File",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                            "S3DataDistributionType": "FullyReplicated"}}}


def training_job_request(
    name: str, *, image_uri: str, role_arn: str, instance_type: str, source_uri: str,
    channels: Mapping[str, str], output_uri: str, hyperparameters: Mapping[str, Any],
    max_runtime_seconds: int,
) -> dict[str, Any]:
    """The CreateTrainingJob request (the TrainChallenger state passes each key on).

    ``channels``: channel name -> S3 URI of a prefix or of one object."""
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image_uri, "TrainingInputMode": "File"},
        "HyperParameters": {
            # SageMaker script mode: the framework container runs this program from the archive
            "sagemaker_program": json.dumps(ENTRY_POINT),
            "sagemaker_submit_directory": json.dumps(source_uri),
            **{k: json.dumps(v) for k, v in hyperparameters.items()},
        },
        "InputDataConfig": [_channel(channel, uri) for channel, uri in channels.items()],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1,
                           "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_seconds},
        "RoleArn": role_arn,
    }


def champion_of(sagemaker: Any, endpoint_name: str) -> dict[str, str]:
    """The model the endpoint serves now: its endpoint config, model and model data."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except Exception as exc:  # botocore ClientError: ValidationException for a missing one
        if "ValidationException" in str(exc) or "Could not find" in str(exc):
            raise EndpointNotFound(f"endpoint {endpoint_name} does not exist") from None
        raise
    config_name = endpoint["EndpointConfigName"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    model_name = config["ProductionVariants"][0]["ModelName"]
    model = sagemaker.describe_model(ModelName=model_name)
    container = model.get("PrimaryContainer") or model["Containers"][0]
    return {"endpoint_name": endpoint_name, "endpoint_config_name": config_name,
            "model_name": model_name, "model_data_url": container["ModelDataUrl"]}


def read_challenge(s3: Any, model_data_url: str) -> dict[str, Any]:
    """``challenge.json`` from the training job's model.tar.gz."""
    location = S3Location.parse(model_data_url)
    body = s3.get_object(Bucket=location.bucket, Key=location.key)["Body"]
    try:
        data = body.read()
    finally:
        body.close()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            member = next((m for m in archive.getmembers()
                           if m.name.lstrip("./") == CHALLENGE_FILE), None)
            if member is None or not member.isfile() or member.size > MAX_CHALLENGE_BYTES:
                raise ChallengeNotFound(f"{model_data_url} holds no {CHALLENGE_FILE}")
            return json.loads(archive.extractfile(member).read())
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise ChallengeNotFound(f"{model_data_url} is not a readable model.tar.gz: {exc}") from None


def approval_status(promoted: bool, approval_mode: str) -> str:
    """The package's status: Rejected, else Approved (Automatic) or PendingManualApproval."""
    if approval_mode not in ("Automatic", "Manual"):
        raise InvalidEventField(f"approval mode must be Automatic or Manual, not {approval_mode!r}")
    if not promoted:
        return REJECTED
    return APPROVED if approval_mode == "Automatic" else PENDING


def _metric_values(metrics: Mapping[str, Any] | None, prefix: str) -> dict[str, str]:
    if not metrics:
        return {}
    keys = ("accuracy", "coverage", "covered_accuracy", "ece", "n")
    return {f"{prefix}_{k}": str(metrics.get(k)) for k in keys}


def model_package_request(
    *, group: str, model_data_url: str, image_uri: str, challenge: Mapping[str, Any],
    decision: Mapping[str, Any], status: str, model_version: str, challenge_uri: str,
) -> dict[str, Any]:
    """The CreateModelPackage request registering the challenger with its metrics."""
    reason = str(decision.get("reason", ""))
    return {
        "ModelPackageGroupName": group,
        "ModelPackageDescription": f"{model_version}: {reason}"[:1000],
        "ModelApprovalStatus": status,
        "InferenceSpecification": {
            "Containers": [{"Image": image_uri, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["image/png", "image/jpeg", "application/x-image"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        "ModelMetrics": {"ModelQuality": {"Statistics": {
            "ContentType": "application/json", "S3Uri": challenge_uri}}},
        "CustomerMetadataProperties": {
            "model_version": model_version,
            "promoted": str(bool(decision.get("promoted"))).lower(),
            "reason": reason[:256] or "-",
            "class_labels": ",".join(challenge.get("class_labels") or []),
            **_metric_values(challenge.get("challenger"), "challenger"),
            **_metric_values(challenge.get("champion"), "champion"),
        },
    }


def model_version_of(training_job_name: str) -> str:
    """The version a promoted challenger's results are recorded under: its training job."""
    return training_job_name
