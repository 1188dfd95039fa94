"""`scones deploy` against moto: the resulting AWS state shows every call and argument."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from model.deploy import DeployError, DeployRequest, deploy, plan
from scones.cli import main

REGION = "us-east-1"
ENDPOINT = "scones-vehicles"


@pytest.fixture
def aws():
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket="scones-artifacts")
        role = session.client("iam").create_role(
            RoleName="sagemaker-execution",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        yield session, role


def request_for(artifact, role, **overrides) -> DeployRequest:
    return DeployRequest(artifact=str(artifact), role_arn=role, bucket="scones-artifacts",
                         endpoint_name=ENDPOINT, region=REGION, **overrides)


def test_deploy_creates_model_capture_config_endpoint_and_autoscaling(aws, untrained_artifact):
    session, role = aws
    # WHEN the artifact is deployed to a fresh account
    result = deploy(request_for(untrained_artifact, role), session=session)
    sagemaker = session.client("sagemaker")
    # THEN the artifact is in S3 and the model points at it with the PyTorch image
    key = result["upload"]["key"]
    assert session.client("s3").head_object(Bucket="scones-artifacts", Key=key)["ContentLength"]
    model = sagemaker.describe_model(ModelName=result["create_model"]["ModelName"])
    container = model["PrimaryContainer"]
    assert container["ModelDataUrl"] == f"s3://scones-artifacts/{key}"
    assert container["Image"].endswith(f".dkr.ecr.{REGION}.amazonaws.com/pytorch-inference:"
                                       "2.6.0-cpu-py312")
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert model["ExecutionRoleArn"] == role
    # AND the endpoint config captures 100% of inputs and outputs to the S3 prefix
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == 100
    assert capture["DestinationS3Uri"] == "s3://scones-artifacts/scones/datacapture"
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    assert capture["CaptureContentTypeHeader"]["JsonContentTypes"] == ["application/json"]
    assert config["ProductionVariants"][0]["ModelName"] == model["ModelName"]
    # AND autoscaling tracks invocations per instance on the variant
    autoscaling = session.client("application-autoscaling")
    resource = f"endpoint/{ENDPOINT}/variant/AllTraffic"
    target = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")[
        "ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in target] == [
        (resource, 1, 4)]
    policy = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")[
        "ScalingPolicies"][0]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantInvocationsPerInstance")
    assert tracking["TargetValue"] == 200.0
    assert result["action"] == "created"
    assert result["sam_deploy"] == f"sam deploy --parameter-overrides EndpointName={ENDPOINT}"


def test_second_deploy_updates_the_endpoint_in_place(aws, untrained_artifact):
    # moto 5.2.5 does not implement UpdateEndpoint: record that one request at the botocore
    # level and answer it as AWS would; every other call still goes to moto.
    session, role = aws
    first = deploy(request_for(untrained_artifact, role), session=session)
    updates = []

    def answer_update(params, **_):
        updates.append(json.loads(params["body"]))
        arn = f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{ENDPOINT}"
        return AWSResponse(params["url"], 200, {}, None), {"EndpointArn": arn}

    session.events.register("before-call.sagemaker.UpdateEndpoint", answer_update)
    # WHEN the same endpoint is deployed again
    second = deploy(request_for(untrained_artifact, role, max_instances=6), session=session)
    sagemaker = session.client("sagemaker")
    # THEN the existing endpoint is updated in place to the new endpoint config
    new_config = second["create_endpoint_config"]["EndpointConfigName"]
    assert second["action"] == "updated"
    assert updates == [{"EndpointName": ENDPOINT, "EndpointConfigName": new_config}]
    assert new_config != first["create_endpoint_config"]["EndpointConfigName"]
    assert [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]] == [ENDPOINT]
    assert sagemaker.describe_endpoint_config(EndpointConfigName=new_config)[
        "DataCaptureConfig"]["EnableCapture"] is True
    target = session.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [t["MaxCapacity"] for t in target] == [6]


def test_cli_deploy_prints_the_sam_line(aws, untrained_artifact, capsys):
    _, role = aws
    assert main(["deploy", "--model", str(untrained_artifact), "--role", role, "--bucket",
                 "scones-artifacts", "--endpoint-name", ENDPOINT, "--region", REGION]) == 0
    assert capsys.readouterr().out.strip().endswith(
        f"sam deploy --parameter-overrides EndpointName={ENDPOINT}")


def test_dry_run_prints_the_plan_and_calls_nothing(aws, untrained_artifact, capsys):
    session, role = aws
    assert main(["deploy", "--model", str(untrained_artifact), "--role", role, "--bucket",
                 "scones-artifacts", "--endpoint-name", ENDPOINT, "--region", "eu-west-1",
                 "--dry-run"]) == 0
    steps = json.loads(capsys.readouterr().out)
    assert steps["create_endpoint_config"]["DataCaptureConfig"]["InitialSamplingPercentage"] == 100
    assert "eu-west-1" in steps["create_model"]["PrimaryContainer"]["Image"]
    assert session.client("sagemaker").list_endpoints()["Endpoints"] == []
    assert session.client("s3").list_objects_v2(Bucket="scones-artifacts")["KeyCount"] == 0


def test_role_must_be_an_arn(untrained_artifact):
    with pytest.raises(DeployError, match="role"):
        plan(request_for(untrained_artifact, "my-role"), region=REGION)


def test_missing_artifact_is_a_named_error(tmp_path):
    with pytest.raises(DeployError, match="does not exist"):
        plan(request_for(tmp_path / "model.tar.gz", "arn:aws:iam::1:role/r"), region=REGION)
