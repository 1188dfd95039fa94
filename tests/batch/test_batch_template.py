"""Static checks of the issue-6 resources in the shipped template and batch ASL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scones.local.events import load_rules, template_resolver, transform_input
from scones.local.stack import load_local_app
from scones.local.template import definition_placeholders, load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
BATCH = "BatchClassificationStateMachine"
IMAGE = "ImageClassificationStateMachine"


@pytest.fixture(scope="module")
def app():
    return load_local_app()


@pytest.fixture(scope="module")
def rules(app):
    return {rule.logical_id: rule for rule in load_rules(app, template_resolver(app))}


@pytest.fixture(scope="module")
def resources():
    return load_template(REPO_ROOT / "template.yaml")["Resources"]


def status_event(app, machine: str, status: str, error: str | None) -> dict:
    arn = app.state_machines[machine].arn
    if machine == BATCH:  # named by its Name property: <stack>-batch-classification
        arn = arn.rsplit(":", 1)[0] + ":scones-local-batch-classification"
    return {"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
            "detail": {"stateMachineArn": arn, "status": status, "error": error,
                       "cause": "c", "input": "{}", "executionArn": arn + ":x"}}


def test_batch_placeholders_exactly_match_its_substitutions(resources):
    text = (REPO_ROOT / "statemachine/batch_classification.asl.json").read_text()
    substitutions = resources[BATCH]["Properties"]["DefinitionSubstitutions"]
    assert definition_placeholders(text) == set(substitutions)


def test_moto_parses_the_batch_definition(app):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    AmazonStateLanguageParser.parse(app.state_machines[BATCH].definition)


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
    task = state["ItemProcessor"]["States"]["ClassifyImage"]
    assert task["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert task["Parameters"]["StateMachineArn"] == app.state_machines[IMAGE].arn


def test_every_arn_in_the_template_is_partition_aware():
    text = (REPO_ROOT / "template.yaml").read_text()
    assert re.search(r"arn:aws:", text) is None


def test_the_upload_rule_maps_an_s3_event_to_the_workflow_input(app, rules):
    rule = rules["ImageUploadedRule"]
    event = {"source": "aws.s3", "detail-type": "Object Created",
             "detail": {"bucket": {"name": "scones-local-images"},
                        "object": {"key": app.parameters["UploadPrefix"] + "x.png"}}}
    assert rule.matches(event)
    (target,) = rule.targets
    assert target["Arn"] == app.state_machines[IMAGE].arn
    assert json.loads(transform_input(event, target["InputTransformer"])) == {
        "image_data": "", "s3_bucket": "scones-local-images",
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
])
def test_the_alert_rule_pages_on_failures_of_either_state_machine(app, rules, machine, status,
                                                                  error, alerts):
    assert rules["WorkflowFailedRule"].matches(status_event(app, machine, status, error)) is alerts


def test_the_alert_message_carries_error_cause_and_input(app, rules):
    rule = rules["WorkflowFailedRule"]
    event = status_event(app, IMAGE, "FAILED", "NotAnImage")
    event["detail"]["input"] = json.dumps({"s3_bucket": "b", "s3_key": "incoming/x.png"})
    (target,) = rule.targets
    message = json.loads(transform_input(event, target["InputTransformer"]))
    assert message["error"] == "NotAnImage" and message["cause"] == "c"
    assert json.loads(message["input"])["s3_key"] == "incoming/x.png"


def test_the_batch_role_may_run_only_the_per_image_workflow(resources):
    statements = [s for p in resources[BATCH]["Properties"]["Policies"]
                  if "Statement" in p for s in p["Statement"]]
    (start,) = [s for s in statements if s["Sid"] == "RunThePerImageWorkflow"]
    assert start["Action"] == "states:StartExecution"
    assert start["Resource"] == {"Ref": IMAGE}
    for statement in statements:
        if statement["Resource"] == "*":  # only log delivery and X-Ray take no resource
            assert all(a.startswith(("logs:", "xray:")) for a in statement["Action"])
