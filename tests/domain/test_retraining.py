"""Retraining in the domain: the training job's name and request, the challenger's approval
status and registration request, and challenge.json read from a model.tar.gz."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters
from moto import mock_aws
from retraining_data import model_archive

from scones_domain.errors import ChallengeNotFound, InvalidEventField
from scones_domain.retraining import (
    APPROVED,
    MAX_CHALLENGE_BYTES,
    PENDING,
    REJECTED,
    approval_status,
    model_package_request,
    read_challenge,
    training_job_name,
    training_job_request,
)

# SageMaker's pattern for a training job name (CreateTrainingJob TrainingJobName)
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
METRICS = {"accuracy": 0.95, "coverage": 0.8, "covered_accuracy": 0.9875, "ece": 0.02, "n": 200,
           "class_labels": ["bicycle", "motorcycle"], "threshold": 0.93}
CHALLENGE = {"class_labels": ["bicycle", "motorcycle"], "challenger": METRICS,
             "champion": {**METRICS, "accuracy": 0.9}, "shadow": None}


def request_is_valid(operation: str, request: dict) -> None:
    """Raises ParamValidationError when ``request`` does not fit the SageMaker API's shapes."""
    model = boto3.client("sagemaker", region_name="us-east-1").meta.service_model
    validate_parameters(request, model.operation_model(operation).input_shape)


@pytest.mark.parametrize(("execution", "name"), [
    ("5f0c2a8e-1b7d-4f2e-9a3c-6d4e8b1f2a7c", "scones-retrain-5f0c2a8e-1b7d-4f2e-9a3c-6d4e8b1f2a7c"),
    ("nightly_run.7", "scones-retrain-nightly-run-7"),
    ("__", "scones-retrain-run"),
])
def test_a_training_job_is_named_after_the_execution(execution, name):
    assert training_job_name(execution) == name


@pytest.mark.parametrize("execution", [
    "x" * 80, "a" * 47 + "_" * 10 + "b" * 20, "ünïcode name with spaces", "-" * 80,
    "a" * 47 + "-b",
])
def test_a_training_job_name_is_always_one_sagemaker_accepts(execution):
    name = training_job_name(execution)
    assert len(name) <= 63 and SAGEMAKER_NAME.match(name), name


def job_request(**channels) -> dict:
    return training_job_request(
        "scones-retrain-1", image_uri="763104351884.dkr.ecr.us-east-1.amazonaws.com/pt:2.6",
        role_arn="arn:aws:iam::123456789012:role/sm", instance_type="ml.m5.xlarge",
        source_uri="s3://images/code/training-source.tar.gz",
        channels=channels or {"train": "s3://images/training/",
                              "champion": "s3://models/m/model.tar.gz"},
        output_uri="s3://images/models/", hyperparameters={"threshold": 0.93, "epochs": 40,
                                                          "widths": [8, 16]},
        max_runtime_seconds=7200)


def test_the_training_job_request_runs_the_pipeline_in_script_mode():
    request = job_request()
    # THEN every hyperparameter is a JSON-encoded string, the script mode's two among them
    hyperparameters = request["HyperParameters"]
    assert all(isinstance(value, str) for value in hyperparameters.values())
    assert json.loads(hyperparameters["sagemaker_program"]) == "model/pipeline.py"
    assert json.loads(hyperparameters["sagemaker_submit_directory"]) == (
        "s3://images/code/training-source.tar.gz")
    assert {k: json.loads(v) for k, v in hyperparameters.items()
            if not k.startswith("sagemaker_")} == {"threshold": 0.93, "epochs": 40,
                                                    "widths": [8, 16]}
    # AND one File channel per named S3 prefix or object, in order
    assert [(c["ChannelName"], c["DataSource"]["S3DataSource"]["S3Uri"], c["InputMode"])
            for c in request["InputDataConfig"]] == [
        ("train", "s3://images/training/", "File"),
        ("champion", "s3://models/m/model.tar.gz", "File")]
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://images/models/"}
    # AND the request fits CreateTrainingJob's shapes
    request_is_valid("CreateTrainingJob", request)


@pytest.mark.parametrize(("promoted", "mode", "status"), [
    (True, "Automatic", APPROVED), (True, "Manual", PENDING),
    (False, "Automatic", REJECTED), (False, "Manual", REJECTED),
])
def test_approval_status_follows_the_gate_and_the_approval_mode(promoted, mode, status):
    assert approval_status(promoted, mode) == status


def test_an_unknown_approval_mode_is_refused():
    with pytest.raises(InvalidEventField):
        approval_status(True, "automatic")


def package_request(reason: str = "no champion to beat", promoted: bool = True) -> dict:
    return model_package_request(
        group="scones-vehicle-classifier", model_data_url="s3://images/models/j/model.tar.gz",
        image_uri="763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6",
        challenge=CHALLENGE, decision={"promoted": promoted, "reason": reason},
        status=APPROVED if promoted else REJECTED, model_version="scones-retrain-j",
        challenge_uri="s3://images/models/j/challenge.json")


def test_the_model_package_request_carries_the_decision_and_both_models_metrics():
    request = package_request("accuracy 0.900 < champion 0.950", promoted=False)
    assert request["ModelApprovalStatus"] == REJECTED
    assert request["ModelPackageDescription"] == (
        "scones-retrain-j: accuracy 0.900 < champion 0.950")
    properties = request["CustomerMetadataProperties"]
    assert properties["reason"] == "accuracy 0.900 < champion 0.950"
    assert properties["promoted"] == "false" and properties["model_version"] == "scones-retrain-j"
    assert properties["class_labels"] == "bicycle,motorcycle"
    assert properties["challenger_accuracy"] == "0.95"
    assert properties["champion_accuracy"] == "0.9"
    assert all(isinstance(value, str) for value in properties.values())
    assert request["InferenceSpecification"]["Containers"] == [{
        "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6",
        "ModelDataUrl": "s3://images/models/j/model.tar.gz"}]
    assert request["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == (
        "s3://images/models/j/challenge.json")
    request_is_valid("CreateModelPackage", request)


def test_a_long_reason_is_cut_to_what_the_registry_takes():
    request = package_request("x" * 5000)
    assert len(request["ModelPackageDescription"]) == 1000
    assert request["CustomerMetadataProperties"]["reason"] == "x" * 256
    request_is_valid("CreateModelPackage", request)
    # AND an empty reason is still a value (the registry refuses an empty one)
    assert package_request("")["CustomerMetadataProperties"]["reason"] == "-"


def test_a_model_package_request_that_does_not_fit_is_caught_by_the_validation():
    # a check of the check: a property that is not text is refused
    request = package_request()
    request["CustomerMetadataProperties"]["n"] = 200
    with pytest.raises(ParamValidationError):
        request_is_valid("CreateModelPackage", request)


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="images")
        yield client


@pytest.mark.parametrize("name", ["challenge.json", "./challenge.json"])
def test_challenge_json_is_read_from_the_model_archive(s3, name):
    s3.put_object(Bucket="images", Key="models/j/output/model.tar.gz", Body=model_archive(
        {"model.pt": b"weights", "code/inference.py": b"", name: json.dumps(CHALLENGE).encode()}))
    assert read_challenge(s3, "s3://images/models/j/output/model.tar.gz") == CHALLENGE


@pytest.mark.parametrize("body", [
    model_archive({"model.pt": b"weights"}),
    model_archive({"code/challenge.json": json.dumps(CHALLENGE).encode()}),
    model_archive({"challenge.json": b"{not json"}),
    model_archive({"challenge.json": b" " * (MAX_CHALLENGE_BYTES + 1)}),
    model_archive({"challenge.json": None}),
    b"not a tar archive",
])
def test_an_archive_without_a_readable_challenge_is_challenge_not_found(s3, body):
    s3.put_object(Bucket="images", Key="models/j/output/model.tar.gz", Body=body)
    with pytest.raises(ChallengeNotFound, match="s3://images/models/j/output/model.tar.gz"):
        read_challenge(s3, "s3://images/models/j/output/model.tar.gz")
