"""Every way a per-image execution can end becomes a batch outcome, never an item failure.

The batch's item processor runs ``states:startExecution.sync:2``: a child that does not succeed
fails the task with ``States.TaskFailed`` and its DescribeExecution output as the Cause. That
output has ``Error`` and ``Cause`` only when the child FAILED with them: a TIMED_OUT child, one
stopped without an error (ABORTED), or a Fail state without Error/Cause leave them out. Here the
shipped item processor (the batch ASL's own states, substituted as the stack substitutes them)
runs in moto against small child state machines that end each of those ways.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from scones.local.deploy import describe
from scones.local.moto_adapter import start_execution_task
from scones.local.stack import MOTO_CONFIG, TERMINAL

BATCH = "BatchClassificationStateMachine"
ROLE_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": "states.amazonaws.com"}}]}


def fail_state(**fields) -> dict:
    return {"StartAt": "End", "States": {"End": {"Type": "Fail", **fields}}}


CHILDREN = {
    "failed": fail_state(Error="NotAnImage", Cause="not a PNG or JPEG"),
    "failed_without_cause": fail_state(Error="NotAnImage"),
    "failed_without_error": fail_state(),
    # 1 s budget, 30 s of waiting: moto ends it TIMED_OUT, with neither Error nor Cause
    "timed_out": {"TimeoutSeconds": 1, "StartAt": "Wait",
                  "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}},
    # stopped by the test while it waits: ABORTED, with neither Error nor Cause
    "aborted": {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30,
                                                       "End": True}}},
}


@pytest.fixture(scope="module")
def item_processor() -> dict:
    """The shipped batch definition's ItemProcessor, as a state machine of its own."""
    definition = describe().state_machines[BATCH].definition_json
    (state,) = [s for s in definition["States"].values() if s["Type"] == "Map"]
    processor = state["ItemProcessor"]
    return {"StartAt": processor["StartAt"], "States": processor["States"]}


@pytest.fixture(scope="module")
def sfn():
    import boto3
    from moto import mock_aws

    with mock_aws(config=MOTO_CONFIG):
        patches = start_execution_task()
        for patch in patches:
            patch.start()
        try:
            yield boto3.client("stepfunctions", region_name="us-east-1")
        finally:
            for patch in reversed(patches):
                patch.stop()


def role_arn() -> str:
    import boto3

    iam = boto3.client("iam", region_name="us-east-1")
    name = f"item-processor-{uuid.uuid4().hex[:8]}"
    return iam.create_role(RoleName=name,
                           AssumeRolePolicyDocument=json.dumps(ROLE_TRUST))["Role"]["Arn"]


def wait(sfn, arn: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        description = sfn.describe_execution(executionArn=arn)
        if description["status"] in TERMINAL:
            return description
        time.sleep(0.05)
    raise AssertionError(f"{arn} did not end within {timeout} s")


def stop_children_when_running(sfn, child_arn: str, stop: threading.Event,
                               errors: list[str]) -> None:
    """Stop (without error or cause) every execution of ``child_arn`` once it runs; keep
    trying through errors (an execution moto has not finished starting), recording them."""
    while not stop.is_set():
        try:
            for execution in sfn.list_executions(stateMachineArn=child_arn,
                                                 statusFilter="RUNNING")["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"])
        except Exception as exc:  # noqa: BLE001 - retried; shown if the child is not stopped
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.05)


def run_item(sfn, item_processor: dict, child: str) -> tuple[dict, dict]:
    """Run the item processor for one image whose per-image execution ends as ``child``."""
    role = role_arn()
    child_arn = sfn.create_state_machine(name=f"child-{child}-{uuid.uuid4().hex[:6]}",
                                         definition=json.dumps(CHILDREN[child]),
                                         roleArn=role)["stateMachineArn"]
    definition = json.loads(json.dumps(item_processor))
    definition["States"]["RunImageClassification"]["Parameters"]["StateMachineArn"] = child_arn
    parent_arn = sfn.create_state_machine(name=f"item-{child}-{uuid.uuid4().hex[:6]}",
                                          definition=json.dumps(definition),
                                          roleArn=role)["stateMachineArn"]
    stop, stop_errors = threading.Event(), []
    stopper = threading.Thread(target=stop_children_when_running,
                               args=(sfn, child_arn, stop, stop_errors), daemon=True)
    if child == "aborted":
        stopper.start()
    try:
        arn = sfn.start_execution(stateMachineArn=parent_arn, name=str(uuid.uuid4()),
                                  input=json.dumps({"s3_bucket": "b",
                                                    "s3_key": "batches/x/a.png"}))["executionArn"]
        parent = wait(sfn, arn)
    finally:
        stop.set()
    (child_execution,) = sfn.list_executions(stateMachineArn=child_arn)["executions"]
    assert child != "aborted" or child_execution["status"] == "ABORTED", stop_errors
    return parent, child_execution


@pytest.mark.parametrize(("child", "status", "error", "cause"), [
    ("failed", "FAILED", "NotAnImage", "not a PNG or JPEG"),
    ("failed_without_cause", "FAILED", "NotAnImage", None),
    ("failed_without_error", "FAILED", "FAILED",
     "The per-image execution ended FAILED without an error or a cause."),
    ("timed_out", "TIMED_OUT", "TIMED_OUT",
     "The per-image execution ended TIMED_OUT without an error or a cause."),
    ("aborted", "ABORTED", "ABORTED",
     "The per-image execution ended ABORTED without an error or a cause."),
])
def test_a_per_image_execution_that_does_not_succeed_is_an_outcome(sfn, item_processor, child,
                                                                   status, error, cause):
    # GIVEN a per-image execution that ends `status` (with or without Error/Cause)
    # WHEN the shipped item processor runs it with startExecution.sync:2
    parent, child_execution = run_item(sfn, item_processor, child)
    # THEN the child really ended that way
    assert child_execution["status"] == status
    # AND the item succeeds with an outcome naming the image, the execution, its error, cause
    assert parent["status"] == "SUCCEEDED", (parent.get("error"), parent.get("cause"))
    assert json.loads(parent["output"]) == {
        "s3_key": "batches/x/a.png", "status": status,
        "execution_arn": child_execution["executionArn"], "label": None, "confidence": None,
        "error": error, "cause": cause}
