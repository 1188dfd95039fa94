"""PromoteChallengerFunction in moto, through the real handler: an approved package becomes a
model and an endpoint configuration copied from the one in service, then the endpoint's
blue/green update with the rollback alarms.

moto 5.2.5 has no UpdateEndpoint: the handler's client is moto's for every call but that one,
which is recorded and checked against the SageMaker API's own request shapes."""

from __future__ import annotations

import re

import boto3
import pytest
from botocore.validate import validate_parameters

from scones_domain.retraining import sagemaker_name

FUNCTION = "PromoteChallengerFunction"
ENDPOINT = "scones-vehicle-classifier"  # the template's EndpointName default
GROUP = "scones-vehicle-classifier"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312"
CHALLENGER_DATA = "s3://images/models/scones-retrain-7/output/model.tar.gz"
CAPTURE = {"EnableCapture": True, "InitialSamplingPercentage": 100,
           "DestinationS3Uri": "s3://scones-captures/datacapture",
           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
# SageMaker's pattern for model and endpoint configuration names
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def request_is_valid(operation: str, request: dict) -> None:
    """Raises ParamValidationError when ``request`` does not fit the SageMaker API's shapes."""
    model = boto3.client("sagemaker", region_name="us-east-1").meta.service_model
    validate_parameters(request, model.operation_model(operation).input_shape)


CURRENT = {  # DescribeEndpointConfig of the configuration in service
    "EndpointConfigName": "scones-champion-config",
    "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c",
    "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "scones-champion", "InitialInstanceCount": 2,
         "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0},
        {"VariantName": "Spare", "ModelName": "scones-champion", "InitialInstanceCount": 1,
         "InstanceType": "ml.c5.xlarge", "InitialVariantWeight": 0.0}],
    "DataCaptureConfig": CAPTURE,
    "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k",
    "CreationTime": "2026-11-26T00:00:00Z",
}


def test_the_challenger_config_swaps_the_model_and_keeps_everything_else(handler_module):
    request = handler_module(FUNCTION).challenger_config(CURRENT, "new-config", "new-model")
    # THEN every variant serves the challenger, with the same instances and weights
    assert request["EndpointConfigName"] == "new-config"
    assert request["ProductionVariants"] == [
        {**variant, "ModelName": "new-model"} for variant in CURRENT["ProductionVariants"]]
    # AND data capture and the key stay; what only describes the old config does not travel
    assert request["DataCaptureConfig"] == CAPTURE and request["KmsKeyId"] == CURRENT["KmsKeyId"]
    assert "EndpointConfigArn" not in request and "CreationTime" not in request
    request_is_valid("CreateEndpointConfig", request)


def test_the_challenger_config_without_capture_has_none(handler_module):
    current = {k: v for k, v in CURRENT.items() if k not in ("DataCaptureConfig", "KmsKeyId")}
    request = handler_module(FUNCTION).challenger_config(current, "new-config", "new-model")
    assert set(request) == {"EndpointConfigName", "ProductionVariants"}


def test_the_deployment_is_blue_green_rolled_back_by_the_named_alarms(handler_module):
    config = handler_module(FUNCTION).deployment_config(["stack-endpoint-errors", "latency"])
    assert config["AutoRollbackConfiguration"] == {
        "Alarms": [{"AlarmName": "stack-endpoint-errors"}, {"AlarmName": "latency"}]}
    policy = config["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    assert policy["TerminationWaitInSeconds"] > 0  # the old fleet waits while alarms watch
    request_is_valid("UpdateEndpoint", {"EndpointName": ENDPOINT, "EndpointConfigName": "c",
                                        "DeploymentConfig": config})


@pytest.mark.parametrize("execution", ["5f0c2a8e-1b7d-4f2e-9a3c-6d4e8b1f2a7c",
                                       "manual_promotion.2", "x" * 80])
def test_the_challengers_name_is_one_sagemaker_accepts(execution):
    name = sagemaker_name(ENDPOINT, f"v12-{execution}")
    assert name.startswith(f"{ENDPOINT}-v12-")  # the function may create only these
    assert len(name) <= 63 and SAGEMAKER_NAME.match(name), name


class UpdateRecorder:
    """The handler's SageMaker client: moto for every call, UpdateEndpoint recorded."""

    def __init__(self, client):
        self.client = client
        self.updates: list[dict] = []

    def __getattr__(self, name):
        return getattr(self.client, name)

    def update_endpoint(self, **request) -> dict:
        request_is_valid("UpdateEndpoint", request)
        self.updates.append(request)
        return {"EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{ENDPOINT}"}


@pytest.fixture
def sagemaker(aws):
    """The endpoint in service (its model, a config with data capture) and the registry."""
    client = boto3.client("sagemaker")
    client.create_model(ModelName="scones-champion",
                        ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://m/champion.tgz"})
    client.create_endpoint_config(EndpointConfigName="scones-champion-config",
                                  ProductionVariants=CURRENT["ProductionVariants"][:1],
                                  DataCaptureConfig=CAPTURE)
    client.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="scones-champion-config")
    client.create_model_package_group(ModelPackageGroupName=GROUP)
    return client


def register(client, status: str) -> str:
    """A challenger in the registry (RegisterChallenger's request, shortened)."""
    return client.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus=status,
        InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl": CHALLENGER_DATA}],
                                "SupportedContentTypes": ["image/png"],
                                "SupportedResponseMIMETypes": ["application/json"]},
        CustomerMetadataProperties={"model_version": "scones-retrain-7"})["ModelPackageArn"]


def promoter(load_function, client) -> tuple[object, UpdateRecorder]:
    function = load_function(FUNCTION)
    recorder = UpdateRecorder(client)
    function.module.sagemaker = recorder
    return function, recorder


def test_an_approved_package_is_deployed_blue_green(load_function, sagemaker):
    # GIVEN an approved challenger in the registry
    arn = register(sagemaker, "Approved")
    function, recorder = promoter(load_function, sagemaker)
    # WHEN the workflow promotes it
    result = function({"model_package_arn": arn, "execution_name": "run-7"})
    assert not result.failed, result.payload
    name = f"{ENDPOINT}-v1-run-7"
    assert result.payload == {"endpoint_name": ENDPOINT, "endpoint_config_name": name,
                              "previous_endpoint_config_name": "scones-champion-config",
                              "model_name": name, "model_version": "scones-retrain-7"}
    # THEN the challenger's model runs the package's container under the SageMaker role
    model = sagemaker.describe_model(ModelName=name)
    assert model["PrimaryContainer"]["ModelDataUrl"] == CHALLENGER_DATA
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["ExecutionRoleArn"] == function.env["SAGEMAKER_ROLE_ARN"]
    # AND its endpoint config keeps the current one's capture and instances
    config = sagemaker.describe_endpoint_config(EndpointConfigName=name)
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == CAPTURE["DestinationS3Uri"]
    assert [(v["ModelName"], v["InstanceType"], v["InitialInstanceCount"])
            for v in config["ProductionVariants"]] == [(name, "ml.m5.large", 2)]
    # AND the endpoint is updated to it, rolled back by the stack's endpoint-errors alarm
    assert len(recorder.updates) == 1
    update = recorder.updates[0]
    assert (update["EndpointName"], update["EndpointConfigName"]) == (ENDPOINT, name)
    alarms = update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert alarms == [{"AlarmName": function.env["ROLLBACK_ALARMS"]}]
    assert function.env["ROLLBACK_ALARMS"].endswith("-endpoint-errors")


@pytest.mark.parametrize("status", ["PendingManualApproval", "Rejected"])
def test_a_package_not_approved_is_refused_before_anything_is_created(load_function, sagemaker,
                                                                      status):
    # GIVEN a challenger the gate rejected, or one still waiting for a person
    arn = register(sagemaker, status)
    function, recorder = promoter(load_function, sagemaker)
    models = sagemaker.list_models()["Models"]
    configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
    # WHEN promotion is asked for it
    result = function({"model_package_arn": arn, "execution_name": "run-7"})
    # THEN it fails with a named error, naming the status, and nothing changed
    assert result.error_type == "ModelPackageNotApproved"
    assert status in result.payload["errorMessage"]
    assert sagemaker.list_models()["Models"] == models
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == configs
    assert recorder.updates == []


def test_an_execution_name_with_odd_characters_still_names_valid_resources(load_function,
                                                                           sagemaker):
    # GIVEN an execution started by hand with a name SageMaker would refuse as is
    arn = register(sagemaker, "Approved")
    function, recorder = promoter(load_function, sagemaker)
    result = function({"model_package_arn": arn, "execution_name": "promote_by.hand"})
    # THEN the model and config names are valid SageMaker names
    assert not result.failed, result.payload
    assert result.payload["model_name"] == f"{ENDPOINT}-v1-promote-by-hand"
    assert SAGEMAKER_NAME.match(recorder.updates[0]["EndpointConfigName"])


def test_a_retried_promotion_finds_what_it_created_and_updates_once(load_function, sagemaker):
    # GIVEN a promotion whose model and config exist already (its first invocation's response
    # was lost after UpdateEndpoint was called: the update is pending)
    arn = register(sagemaker, "Approved")
    function, recorder = promoter(load_function, sagemaker)
    assert not function({"model_package_arn": arn, "execution_name": "run-7"}).failed
    name = recorder.updates[0]["EndpointConfigName"]
    describe = sagemaker.describe_endpoint

    def updating(**request):
        return {**describe(**request), "EndpointStatus": "Updating",
                "PendingDeploymentSummary": {"EndpointConfigName": name}}

    recorder.describe_endpoint = updating
    # WHEN the workflow retries the task
    result = function({"model_package_arn": arn, "execution_name": "run-7"})
    # THEN it answers with the same configuration and starts no second update
    assert not result.failed, result.payload
    assert result.payload["endpoint_config_name"] == name
    assert len(recorder.updates) == 1
    # AND a retry that finds only the model and config (no update yet) creates nothing twice
    recorder.describe_endpoint = describe
    assert not function({"model_package_arn": arn, "execution_name": "run-7"}).failed
    assert len(recorder.updates) == 2
