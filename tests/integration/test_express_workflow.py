"""The per-photo workflow as an Express workflow (WorkflowType=EXPRESS): the same ASL, the same
outcomes and named errors, and every side effect idempotent, because Express runs an execution
at least once. moto stores the type and runs Express as Standard (docs/scale.md), so a replay
is made here as AWS would make it: the same execution's tasks run again with the same input."""

from __future__ import annotations

import pytest

from scones.local.stack import LocalStack
from scones.workflow.runner import function_stdout_to, quiet_interpreter_logs
from scones_domain.monitoring.captures import DUPLICATE_INFERENCE, read_captures
from scones_domain.review import review_id

pytestmark = pytest.mark.integration


@pytest.fixture(params=["STANDARD", "EXPRESS"])
def typed_stack(request, endpoint, tmp_path):
    quiet_interpreter_logs()
    with function_stdout_to(tmp_path / "lambda.log"), LocalStack(
            endpoint.url, parameters={"WorkflowType": request.param}) as stack:
        yield request.param, stack


def reviews(stack) -> list[dict]:
    sfn = stack.client("stepfunctions")
    return sfn.list_executions(
        stateMachineArn=stack.state_machine_arns["ReviewStateMachine"])["executions"]


def test_both_types_deploy_from_one_template_with_the_same_outcomes(typed_stack,
                                                                     bright_and_dark):
    workflow_type, stack = typed_stack
    sfn = stack.client("stepfunctions")
    # GIVEN the stack deployed with the type
    described = sfn.describe_state_machine(stateMachineArn=stack.state_machine_arn)
    assert described["type"] == workflow_type
    # WHEN a confident and an unconfident photo run
    bright, dark = bright_and_dark
    confident = stack.run_image(bright, "photos/bright.png")
    unsure = stack.run_image(dark, "photos/dark.png")
    # THEN the outcomes and the named error are the same for both types, and the review runs
    # in its own Standard workflow
    assert confident.status == "SUCCEEDED" and confident.label == "bicycle"
    assert unsure.status == "FAILED" and unsure.error == "THRESHOLD_CONFIDENCE_NOT_MET"
    (review,) = reviews(stack)
    assert sfn.describe_state_machine(
        stateMachineArn=stack.state_machine_arns["ReviewStateMachine"])["type"] == "STANDARD"
    assert review["name"] == review_id(stack.bucket, "photos/dark.png")


def test_a_replayed_photo_is_recorded_reviewed_and_counted_once(endpoint, bright_and_dark,
                                                                 captures, tmp_path):
    quiet_interpreter_logs()
    bright, dark = bright_and_dark
    with function_stdout_to(tmp_path / "lambda.log"), LocalStack(
            endpoint.url, parameters={"WorkflowType": "EXPRESS"}) as stack:
        # GIVEN one execution of a confident photo, then its tasks run again as an
        # at-least-once replay does: the same input, the same execution
        result = stack.run_image(bright, "photos/bright.png")
        assert result.status == "SUCCEEDED"
        serialized = stack.invoke_function("SerializeImageDataFunction", result.input)[1]
        classified = stack.invoke_function(
            "ClassifyImageFunction", {**serialized, "execution_id": result.execution_arn})[1]
        final = stack.invoke_function("FilterLowConfidenceFunction", classified)[1]
        failed, _ = stack.invoke_function("RecordResultFunction", {
            "result": final, "execution_arn": result.execution_arn,
            "recorded_at": "2026-12-01T00:00:00Z"})
        assert not failed
        # AND an unconfident photo run twice by two executions (a duplicate delivery)
        first = stack.run_image(dark, "photos/dark.png")
        second = stack.run({"image_data": "", "s3_bucket": stack.bucket,
                            "s3_key": "photos/dark.png"})
        items = stack.client("dynamodb").scan(
            TableName=stack.deployment.resources["ResultsTable"])["Items"]
        review_runs = reviews(stack)
    # THEN the confident result is recorded once, by the first execution
    (item,) = items
    assert item["execution_arn"]["S"] == result.execution_arn
    # AND both unconfident runs fail as they should, but one review asks a person, once
    assert first.error == second.error == "THRESHOLD_CONFIDENCE_NOT_MET"
    assert len(review_runs) == 1
    # AND the endpoint captured the replayed inference twice under one InferenceId, which the
    # monitor counts once
    read = read_captures(str(captures))
    assert read.skipped[DUPLICATE_INFERENCE] == 1
    ids = [row.inference_id for row in read.rows]
    assert len(ids) == len(set(ids)) == 3 and None not in ids
