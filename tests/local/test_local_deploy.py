"""Deploying the shipped template into moto as AWS deploys it: sam package, the real SAM
transform, CloudFormation create_stack, and the gaps scones.local.moto_adapter fills."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from moto import mock_aws

from scones.local.deploy import DeployError, deploy, describe, read_template
from scones.local.moto_adapter import (
    MOTO_CONFIG,
    InvalidParameterValue,
    UnresolvedSubstitution,
    substitute_definition,
)

PLACEHOLDER = re.compile(r"\$\{([^}!]+)\}")


@pytest.fixture(scope="module")
def deployed():
    with mock_aws(config=MOTO_CONFIG):
        yield deploy(parameters={"EndpointName": "local-endpoint"})


def test_every_function_of_the_transformed_template_is_deployed_with_its_code(deployed):
    # GIVEN the SAM template's functions WHEN it is deployed
    sam = read_template()["Resources"]
    functions = {k for k, v in sam.items() if v["Type"] == "AWS::Serverless::Function"}
    # THEN each is a Lambda function CloudFormation named, with the code of its CodeUri,
    # except those whose Condition is false (monitoring is off without a CaptureS3Uri)
    assert set(deployed.functions) == functions - {"MonitorCapturesFunction"}
    assert sam["MonitorCapturesFunction"]["Condition"] == "MonitoringEnabled"
    for logical_id, function in deployed.functions.items():
        assert function.name.startswith(f"scones-local-{logical_id}-")
        assert function.code_dir.name == sam[logical_id]["Properties"]["CodeUri"].strip("/").split(
            "/")[-1]
        assert function.module_path.is_file()
        assert function.runtime == "python3.13" and function.architectures == ("arm64",)
        # AND the layer moto's CloudFormation drops is the template's SharedLayer content
        assert [d.name for d in function.layer_dirs] == ["shared"]


def test_environment_is_what_cloudformation_resolved(deployed):
    # GIVEN the template's Globals (Ref ImageBucket, Ref LogLevel) and a parameter override
    classify = deployed.functions["ClassifyImageFunction"].environment
    # THEN the functions see the physical bucket, the override and the defaults, all as text
    assert classify["IMAGE_BUCKET"] == deployed.resources["ImageBucket"]
    assert classify["ENDPOINT_NAME"] == "local-endpoint"
    assert classify["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert all(isinstance(v, str) for f in deployed.functions.values()
               for v in f.environment.values())
    # AND moto's Lambda API holds the same environment
    held = boto3.client("lambda", region_name="us-east-1").get_function_configuration(
        FunctionName=deployed.functions["ClassifyImageFunction"].name)["Environment"]["Variables"]
    assert held == classify


def test_state_machines_get_their_asl_with_every_substitution_resolved(deployed):
    # GIVEN the two state machines WHEN deployed
    for logical_id, machine in deployed.state_machines.items():
        # THEN no placeholder is left, each Lambda ARN is a deployed function's ARN
        assert PLACEHOLDER.findall(machine.definition) == [], logical_id
        for key, value in machine.substitutions.items():
            if key.endswith("FunctionArn"):
                assert value == deployed.functions[key.removesuffix("Arn")].arn
        # AND the interpreter's API knows it under the name and ARN the stack gave it
        described = boto3.client("stepfunctions", region_name="us-east-1").describe_state_machine(
            stateMachineArn=machine.arn)
        assert json.loads(described["definition"]) == machine.definition_json
    batch = deployed.state_machines["BatchClassificationStateMachine"]
    assert batch.name == "scones-local-batch-classification"  # its Name property


def test_names_repeat_from_one_deploy_to_the_next(deployed):
    # GIVEN a deploy in another moto (a child process) WHEN names are compared
    again = describe(parameters={"EndpointName": "local-endpoint"})
    # THEN CloudFormation's generated names are the same (seeded per stack name)
    assert again.resources == deployed.resources


def test_a_parameter_outside_its_constraints_is_refused_before_anything_is_created():
    with mock_aws(config=MOTO_CONFIG):
        with pytest.raises(InvalidParameterValue, match="ConfidenceThreshold"):
            deploy(parameters={"ConfidenceThreshold": "1.5"}, stack_name="refused")
        with pytest.raises(InvalidParameterValue, match="unknown parameter"):
            deploy(parameters={"NoSuchParameter": "x"}, stack_name="refused")
        stacks = boto3.client("cloudformation", region_name="us-east-1").list_stacks()
        assert "refused" not in {s["StackName"] for s in stacks["StackSummaries"]}


def test_a_missing_artifact_is_a_named_deploy_error(tmp_path):
    # GIVEN a template whose CodeUri does not exist
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: nowhere/\n      Handler: app.h\n      Runtime: python3.13\n")
    with mock_aws(config=MOTO_CONFIG), pytest.raises(DeployError, match="nowhere"):
        deploy(tmp_path / "template.yaml")


def test_a_placeholder_without_a_substitution_is_refused():
    with pytest.raises(UnresolvedSubstitution, match="Missing"):
        substitute_definition('{"a": "${Missing}", "b": "${Known}"}', {"Known": "x"})
    assert substitute_definition('{"b": "${Known}"}', {"Known": "x"}) == '{"b": "x"}'
