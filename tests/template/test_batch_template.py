"""Static checks of the batch and event-driven resources in the shipped template and batch ASL."""

from __future__ import annotations

import ast
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from scones.local.deploy import deploy, read_template
from scones.local.moto_adapter import (
    MOTO_CONFIG,
    InvalidParameterValue,
    check_parameters,
    pattern_matches,
    transform_input,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
BATCH = "BatchClassificationStateMachine"
IMAGE = "ImageClassificationStateMachine"


@pytest.fixture(scope="module")
def app():
    """The template deployed in moto (SAM transform + CloudFormation), kept for the module."""
    from moto import mock_aws

    with mock_aws(config=MOTO_CONFIG):
        yield deploy()


@dataclass
class Rule:
    """One EventBridge rule as moto holds it, matched as moto's EventBridge matches it."""

    pattern: str
    targets: list[dict]

    def matches(self, event: dict) -> bool:
        return pattern_matches(self.pattern, event)


@pytest.fixture(scope="module")
def rules(app):
    client = boto3.client("events", region_name="us-east-1")
    return {logical_id: Rule(client.describe_rule(Name=name)["EventPattern"],
                             client.list_targets_by_rule(Rule=name)["Targets"])
            for logical_id, name in app.resources.items()
            if app.template["Resources"][logical_id]["Type"] == "AWS::Events::Rule"
            and "EventPattern" in app.template["Resources"][logical_id]["Properties"]}


@pytest.fixture(scope="module")
def resources():
    return read_template(REPO_ROOT / "template.yaml")["Resources"]


def status_event(app, machine: str, status: str, error: str | None) -> dict:
    arn = app.state_machines[machine].arn
    return {"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
            "detail": {"stateMachineArn": arn, "status": status, "error": error,
                       "cause": "c", "input": "{}", "executionArn": arn + ":x"}}


def test_batch_placeholders_exactly_match_its_substitutions(resources):
    text = (REPO_ROOT / "statemachine/batch_classification.asl.json").read_text()
    substitutions = resources[BATCH]["Properties"]["DefinitionSubstitutions"]
    assert set(re.findall(r"\$\{([^}!]+)\}", text)) == set(substitutions)


def test_moto_parses_every_state_of_the_batch_definition(app):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    # GIVEN the substituted batch definition  WHEN moto's interpreter parses it
    definition = app.state_machines[BATCH].definition
    program, _ = AmazonStateLanguageParser.parse(definition)
    # THEN it starts where the ASL starts and holds every top-level state, in order
    shipped = json.loads(definition)
    assert program.start_at.start_at_name == shipped["StartAt"] == "ClassifyEveryImage"
    assert list(program.states.states) == list(shipped["States"]) == [
        "ClassifyEveryImage", "BatchSummary"]


def test_the_batch_is_a_distributed_map_over_the_per_image_workflow(app):
    definition = app.state_machines[BATCH].definition_json
    (name,) = [n for n, s in definition["States"].items() if s["Type"] == "Map"]
    state = definition["States"][name]
    assert state["ItemReader"]["Resource"] == "arn:aws:states:::s3:listObjectsV2"
    assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert state["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert state["MaxConcurrency"] == int(app.parameters["BatchMaxConcurrency"])
    assert state["ToleratedFailurePercentage"] == float(
        app.parameters["BatchToleratedFailurePercentage"])
    task = state["ItemProcessor"]["States"]["RunImageClassification"]
    assert task["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert task["Parameters"]["StateMachineArn"] == app.state_machines[IMAGE].arn


def test_every_arn_in_the_template_is_partition_aware():
    text = (REPO_ROOT / "template.yaml").read_text()
    assert re.search(r"arn:aws:", text) is None


def test_the_upload_rule_maps_an_s3_event_to_the_workflow_input(app, rules):
    rule = rules["ImageUploadedRule"]
    event = {"source": "aws.s3", "detail-type": "Object Created",
             "detail": {"bucket": {"name": app.resources["ImageBucket"]},
                        "object": {"key": app.parameters["UploadPrefix"] + "x.png"}}}
    assert rule.matches(event)
    (target,) = rule.targets
    assert target["Arn"] == app.state_machines[IMAGE].arn
    assert json.loads(transform_input(event, target["InputTransformer"])) == {
        "image_data": "", "s3_bucket": app.resources["ImageBucket"],
        "s3_key": app.parameters["UploadPrefix"] + "x.png"}
    # AND objects elsewhere (the review copies, batch results) do not trigger it
    for key in ("review/incoming/x.png", "batch-results/m/manifest.json", "x.png"):
        assert not rule.matches({**event, "detail": {**event["detail"], "object": {"key": key}}})


@pytest.mark.parametrize(("machine", "status", "error", "alerts"), [
    (IMAGE, "FAILED", "NotAnImage", True),
    (IMAGE, "FAILED", "EndpointUnavailable", True),
    (IMAGE, "FAILED", "THRESHOLD_CONFIDENCE_NOT_MET", False),  # review, not an incident
    (IMAGE, "TIMED_OUT", None, True),
    (IMAGE, "ABORTED", None, True),
    (IMAGE, "SUCCEEDED", None, False),
    (BATCH, "FAILED", "States.ExceedToleratedFailureThreshold", True),
    (BATCH, "TIMED_OUT", None, True),
    ("ReviewStateMachine", "FAILED", "REVIEW_TIMED_OUT", True),
    ("ReviewStateMachine", "SUCCEEDED", None, False),
    ("RetrainingStateMachine", "FAILED", "TRAINING_JOB_FAILED", True),
    ("RetrainingStateMachine", "FAILED", "PROMOTION_ROLLED_BACK", True),
    ("RetrainingStateMachine", "SUCCEEDED", None, False),
])
def test_the_alert_rule_pages_on_failures_of_every_state_machine(app, rules, machine, status,
                                                                  error, alerts):
    assert rules["WorkflowFailedRule"].matches(status_event(app, machine, status, error)) is alerts


def test_the_alert_rule_hands_the_whole_event_to_the_alert_function(app, rules, resources):
    # GIVEN the alert rule's one target
    (target,) = rules["WorkflowFailedRule"].targets
    # THEN it is AlertMessageFunction, given the event untransformed (the function reads the
    # bucket and key out of the input string and publishes the message without the input)
    assert target["Arn"] == app.functions["AlertMessageFunction"].arn
    assert "InputTransformer" not in target
    # AND EventBridge may invoke it for this rule only
    permission = resources["AlertMessageFunctionInvokedByWorkflowFailedRule"]["Properties"]
    assert permission == {"FunctionName": {"Ref": "AlertMessageFunction"},
                          "Action": "lambda:InvokeFunction",
                          "Principal": "events.amazonaws.com",
                          "SourceArn": {"Fn::GetAtt": ["WorkflowFailedRule", "Arn"]}}


def test_the_batch_role_may_run_only_the_per_image_workflow(resources):
    statements = [s for p in resources[BATCH]["Properties"]["Policies"]
                  if "Statement" in p for s in p["Statement"]]
    (start,) = [s for s in statements if s["Sid"] == "RunThePerImageWorkflow"]
    assert start["Action"] == "states:StartExecution"
    assert start["Resource"] == {"Ref": IMAGE}
    for statement in statements:
        if statement["Resource"] == "*":  # only log delivery and X-Ray take no resource
            assert all(a.startswith(("logs:", "xray:")) for a in statement["Action"])


@pytest.mark.parametrize(("value", "accepted"), [
    ("0.0", True), ("5.0", True), ("100.0", True), ("99.99", True),
    ("100.5", False), ("150.0", False), ("-1.0", False), ("five", False),
])
def test_the_tolerated_failure_percentage_takes_only_0_to_100(value, accepted):
    # GIVEN the parameter as declared (Distributed Map ToleratedFailurePercentage is 0-100)
    template = read_template(REPO_ROOT / "template.yaml")
    declaration = template["Parameters"]["BatchToleratedFailurePercentage"]
    assert declaration["Type"] == "Number"
    assert (float(declaration["MinValue"]), float(declaration["MaxValue"])) == (0.0, 100.0)
    # WHEN a value is given THEN CloudFormation's checks (as the local runtime applies them)
    # accept exactly the values from 0 to 100
    if accepted:
        values = check_parameters(template, {"BatchToleratedFailurePercentage": value})
        assert values["BatchToleratedFailurePercentage"] == value
    else:
        with pytest.raises(InvalidParameterValue):
            check_parameters(template, {"BatchToleratedFailurePercentage": value})


def iam_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: ``*`` any run of characters (``:`` and ``/`` included), ``?`` one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def batch_role_statements(app, resources) -> list[dict]:
    """The batch state machine role's policy statements as CloudFormation created them."""
    iam = boto3.client("iam", region_name="us-east-1")
    role = app.resources[f"{BATCH}Role"]
    statements = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):  # moto's CloudFormation keeps it as Python's repr
            document = ast.literal_eval(document)
        for statement in document.get("Statement", []):
            resource = statement["Resource"]
            actions = statement["Action"]
            statements.append({"Action": [actions] if isinstance(actions, str) else actions,
                               "Resource": resource if isinstance(resource, list) else [resource]})
    return statements


def allowed(statements: list[dict], action: str, arn: str) -> bool:
    return any(action in s["Action"] and any(iam_matches(r, arn) for r in s["Resource"])
               for s in statements)


def test_the_batch_role_covers_the_arns_aws_generates_for_its_children(app, resources):
    # GIVEN the ARNs Step Functions generates when the batch runs ("IAM policies for using
    # Distributed Map states"; "IAM policies for AWS Step Functions: StartExecution .sync"):
    # a Map Run child is execution:<batch state machine>/<map run label>:<uuid>, a per-image
    # child execution:<image state machine>:<uuid>, and .sync is completed through the managed
    # rule StepFunctionsGetEventsForStepFunctionsExecutionRule
    statements = batch_role_statements(app, resources)
    region, account = "us-east-1", "123456789012"
    batch_name = "scones-local-batch-classification"  # its Name: <stack>-batch-classification
    batch_machine = f"arn:aws:states:{region}:{account}:stateMachine:{batch_name}"
    image = app.state_machines[IMAGE]
    map_run_child = (f"arn:aws:states:{region}:{account}:execution:{batch_name}/"
                     "0b3c5d2e-6f1a-4c7b-9e8d-1a2b3c4d5e6f:5f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9")
    image_child = f"arn:aws:states:{region}:{account}:execution:{image.name}:{uuid.uuid4()}"
    rule = (f"arn:aws:events:{region}:{account}:"
            "rule/StepFunctionsGetEventsForStepFunctionsExecutionRule")
    required = [("states:StartExecution", batch_machine), ("states:StartExecution", image.arn),
                *[(action, child) for action in ("states:DescribeExecution",
                                                 "states:StopExecution")
                  for child in (map_run_child, image_child)],
                *[(action, rule) for action in ("events:PutTargets", "events:PutRule",
                                                "events:DescribeRule")]]
    # THEN the role allows each of them
    for action, arn in required:
        assert allowed(statements, action, arn), f"{action} on {arn} is not allowed"
    # AND nothing of another state machine whose name merely starts the same
    for arn in (f"arn:aws:states:{region}:{account}:execution:{batch_name}-other/l:x",
                f"arn:aws:states:{region}:{account}:execution:{image.name}-other:x",
                f"arn:aws:states:{region}:{account}:stateMachine:{batch_name}-other",
                f"arn:aws:events:{region}:{account}:rule/SomeOtherRule"):
        for action in ("states:StartExecution", "states:DescribeExecution",
                       "states:StopExecution", "events:PutRule"):
            assert not allowed(statements, action, arn), f"{action} on {arn} is allowed"
