"""PrepareRetrainingFunction in moto, through the real handler: what a retraining run does
(promote, skip or train), the champion found behind the endpoint, the CreateTrainingJob request
and the counter of labels since the last training."""

from __future__ import annotations

import json

import boto3
import pytest

from scones_domain.items import from_item
from scones_domain.review import COUNTER_ID

FUNCTION = "PrepareRetrainingFunction"
ENDPOINT = "scones-vehicle-classifier"  # the template's EndpointName default
CHAMPION_DATA = "s3://sagemaker-us-east-1-123456789012/scones/20261126/model.tar.gz"
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/scones-vehicle-classifier/2"
EXECUTION = "5f0c2a8e-1b7d-4f2e-9a3c-6d4e8b1f2a7c"


def run(trigger: dict, started_at: str = "2026-12-01T11:02:05.000Z") -> dict:
    """The PrepareRetraining state's payload (statemachine/retraining.asl.json)."""
    return {"trigger": trigger, "execution_name": EXECUTION, "started_at": started_at}


def add_labels(stack, count: int) -> None:
    """What RecordReview does for ``count`` labels: the counter goes up."""
    stack.dynamodb.update_item(
        TableName=stack.reviews_table, Key={"review_id": {"S": COUNTER_ID}},
        UpdateExpression="ADD labels :n", ExpressionAttributeValues={":n": {"N": str(count)}})


def counter(stack) -> int | None:
    item = stack.dynamodb.get_item(TableName=stack.reviews_table,
                                   Key={"review_id": {"S": COUNTER_ID}}).get("Item")
    return None if item is None else from_item(item)["labels"]


@pytest.fixture
def champion(stack) -> boto3.client:
    """The endpoint in service: model, endpoint config (with data capture) and endpoint."""
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model(ModelName="scones-champion", ExecutionRoleArn=(
        "arn:aws:iam::123456789012:role/sm"), PrimaryContainer={
        "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312",
        "ModelDataUrl": CHAMPION_DATA})
    sagemaker.create_endpoint_config(EndpointConfigName="scones-champion-config",
                                     ProductionVariants=[{
                                         "VariantName": "AllTraffic",
                                         "ModelName": "scones-champion",
                                         "InitialInstanceCount": 1,
                                         "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="scones-champion-config")
    return sagemaker


def test_an_approved_package_is_passed_on_to_promotion(load_function, stack):
    # GIVEN labels waiting (they stay for the next training)
    add_labels(stack, 4)
    # WHEN a package approved in the registry triggers the workflow
    result = load_function(FUNCTION)(run({"model_package_arn": PACKAGE}))
    # THEN the run promotes that package and trains nothing
    assert result.payload == {"action": "promote", "reason": "approved in the model registry",
                              "trigger": "approval", "new_labels": 0,
                              "model_package_arn": PACKAGE}
    assert counter(stack) == 4


@pytest.mark.parametrize("kind", ["schedule", "labels", "drift"])
def test_without_new_labels_a_run_skips(load_function, stack, kind):
    # GIVEN no label recorded since the last training (and no endpoint even)
    result = load_function(FUNCTION)(run({"trigger": kind}))
    # THEN the same data would train the same model: nothing to do
    assert result.payload == {"action": "skip", "reason": "no reviewed label since the last "
                              "training", "trigger": kind, "new_labels": 0}


def test_a_forced_run_trains_without_new_labels(load_function, stack, champion):
    result = load_function(FUNCTION)(run({"trigger": "schedule", "force": True}))
    assert not result.failed, result.payload
    assert result.payload["action"] == "train"
    assert result.payload["reason"] == "forced (0 reviewed label(s) since the last training)"
    assert result.payload["training_job"]["TrainingJobName"] == f"scones-retrain-{EXECUTION}"


def test_new_labels_train_a_challenger_against_the_champion(load_function, stack, champion):
    # GIVEN 5 labels since the last training and the champion behind the endpoint
    add_labels(stack, 5)
    function = load_function(FUNCTION)
    # WHEN the labels trigger a run
    result = function(run({"trigger": "labels", "new_labels": 5}))
    assert not result.failed, result.payload
    output = result.payload
    assert (output["action"], output["trigger"], output["new_labels"]) == ("train", "labels", 5)
    assert output["reason"] == "5 reviewed label(s) since the last training"
    # THEN the champion is the model the endpoint serves
    assert output["champion"] == {"endpoint_name": ENDPOINT,
                                  "endpoint_config_name": "scones-champion-config",
                                  "model_name": "scones-champion",
                                  "model_data_url": CHAMPION_DATA}
    # AND the training job reads the stack's data and the champion, and no captures
    job = output["training_job"]
    bucket = f"s3://{stack.bucket}/"
    assert {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
            for c in job["InputDataConfig"]} == {
        "train": bucket + "training/", "labels": bucket + "labels/",
        "evaluation": bucket + "evaluation/", "champion": CHAMPION_DATA}
    assert job["OutputDataConfig"] == {"S3OutputPath": bucket + "models/"}
    assert job["RoleArn"] == function.env["SAGEMAKER_ROLE_ARN"]
    assert job["AlgorithmSpecification"]["TrainingImage"] == function.env["TRAINING_IMAGE_URI"]
    assert job["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    # AND every hyperparameter is a JSON-encoded string: script mode's program and source
    # archive, and the threshold the gate measures at
    hyperparameters = {k: json.loads(v) for k, v in job["HyperParameters"].items()}
    assert hyperparameters["sagemaker_program"] == "model/pipeline.py"
    assert hyperparameters["sagemaker_submit_directory"] == (
        bucket + "code/training-source.tar.gz")
    assert hyperparameters["threshold"] == 0.93
    # AND SageMaker accepts the request as it is (the TrainChallenger state passes each key)
    champion.create_training_job(**job)
    described = champion.describe_training_job(TrainingJobName=job["TrainingJobName"])
    assert described["HyperParameters"] == job["HyperParameters"]
    # AND the counted labels are taken off the counter
    assert counter(stack) == 0


def test_the_endpoints_captures_are_a_channel_when_capture_is_on(load_function, stack,
                                                                 champion):
    add_labels(stack, 1)
    function = load_function(FUNCTION, CaptureS3Uri="s3://scones-captures/datacapture")
    job = function(run({"trigger": "labels"})).payload["training_job"]
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in job["InputDataConfig"]}
    assert channels["captures"] == "s3://scones-captures/datacapture/"
    assert set(channels) == {"train", "labels", "evaluation", "champion", "captures"}
    champion.create_training_job(**job)


def test_labels_recorded_while_preparing_still_count_towards_the_next_run(load_function, stack,
                                                                          champion):
    # GIVEN 5 labels, and 2 more recorded right after the function has read the count
    add_labels(stack, 5)
    function = load_function(FUNCTION)
    read = function.module.last_training

    def read_then_two_more(client):
        counted = read(client)
        add_labels(stack, 2)
        return counted

    function.module.last_training = read_then_two_more
    # WHEN the run trains on the 5
    assert function(run({"trigger": "labels"})).payload["new_labels"] == 5
    # THEN only those 5 are taken off
    assert counter(stack) == 2


def test_a_missing_endpoint_is_endpoint_not_found(load_function, stack):
    # GIVEN labels but no endpoint named EndpointName
    add_labels(stack, 3)
    result = load_function(FUNCTION)(run({"trigger": "labels"}))
    # THEN the run fails with a named error and the labels stay counted
    assert result.error_type == "EndpointNotFound"
    assert ENDPOINT in result.payload["errorMessage"]
    assert counter(stack) == 3


def test_the_shipped_event_is_a_labels_trigger(load_function, stack, load_event):
    result = load_function(FUNCTION)(load_event("prepare_retraining.json"))
    assert (result.payload["action"], result.payload["trigger"]) == ("skip", "labels")


def test_labels_start_a_retraining_at_most_once_per_interval(load_function, stack, champion):
    # GIVEN a training started at 11:02 by labels (MinRetrainIntervalHours 24 by default)
    add_labels(stack, 5)
    function = load_function(FUNCTION)
    assert function(run({"trigger": "labels"})).payload["action"] == "train"
    # WHEN more labels arrive the same evening
    add_labels(stack, 7)
    result = function(run({"trigger": "labels"}, started_at="2026-12-01T20:02:05.000Z"))
    # THEN they wait, still counted, for the next run
    assert result.payload["action"] == "skip", result.payload
    assert "9.0 h ago" in result.payload["reason"] and "MinRetrainIntervalHours (24)" in \
        result.payload["reason"]
    assert counter(stack) == 7
    # AND a day later the labels train, as a forced run would have at once
    later = function(run({"trigger": "labels"}, started_at="2026-12-02T11:03:00.000Z"))
    assert later.payload["action"] == "train" and later.payload["new_labels"] == 7
    assert counter(stack) == 0
