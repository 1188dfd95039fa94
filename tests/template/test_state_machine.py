"""Static checks of the shipped ASL against the template and the functions' code."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from scones_domain import errors

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_MACHINE_ID = "ImageClassificationStateMachine"
# Transient Lambda service errors AWS recommends retrying on every lambda:invoke task
# (Step Functions "Handle transient Lambda service exceptions"), timeouts of the invoke included.
LAMBDA_TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
}
LAMBDA_BUILTIN = LAMBDA_TRANSIENT | {"Lambda.Unknown"}
# errors of the Step Functions service integration (StartReview's startExecution)
INTEGRATION_BUILTIN = {"StepFunctions.SdkClientException",
                       "StepFunctions.AWSStepFunctionsException"}
WORKFLOW_ERRORS = {cls.__name__: cls for cls in errors.WorkflowError.__subclasses__()}
# a DefinitionSubstitutions placeholder; ${!Name} is a literal, not a placeholder
PLACEHOLDER = re.compile(r"\$\{([^}!]+)\}")


def raised_names() -> set[str]:
    """Names of error classes the functions' code raises or returns (AST, not text search)."""
    names: set[str] = set()
    sources = [*REPO_ROOT.glob("functions/*/app.py"), *REPO_ROOT.glob("functions/shared/**/*.py")]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            target = None
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc
            elif isinstance(node, ast.Return) and node.value is not None:
                target = node.value
            if isinstance(target, ast.Call) and isinstance(target.func, ast.Name):
                names.add(target.func.id)
    return names


def states(asl):
    return asl["States"]


def task_states(asl):
    return {name: s for name, s in states(asl).items() if s["Type"] == "Task"}


def retried_names(state) -> set[str]:
    return {name for retrier in state.get("Retry", []) for name in retrier["ErrorEquals"]}


def test_placeholders_exactly_match_definition_substitutions(asl_text, resources):
    # GIVEN the ASL as shipped and the template's DefinitionSubstitutions
    substitutions = resources[STATE_MACHINE_ID]["Properties"]["DefinitionSubstitutions"]
    # THEN every placeholder is substituted and every substitution is used
    assert set(PLACEHOLDER.findall(asl_text)) == set(substitutions)


def test_the_deployed_definition_is_the_shipped_one_with_every_placeholder_filled(
        asl_text, deployment):
    # GIVEN the state machine as the stack created it
    machine = deployment.state_machines[STATE_MACHINE_ID]
    # THEN each placeholder got its substitution's resolved value, and nothing else changed
    assert set(machine.substitutions) == set(PLACEHOLDER.findall(asl_text))
    assert "${" not in machine.definition
    filled = PLACEHOLDER.sub(lambda m: machine.substitutions[m.group(1)], asl_text)
    assert machine.definition_json == json.loads(filled)
    # AND a function ARN substitution is the deployed function's ARN
    assert machine.substitutions["ClassifyImageFunctionArn"] == deployment.functions[
        "ClassifyImageFunction"].arn


def test_function_arn_substitutions_point_at_the_same_named_function(resources):
    substitutions = resources[STATE_MACHINE_ID]["Properties"]["DefinitionSubstitutions"]
    function_arns = {k: v for k, v in substitutions.items() if k.endswith("FunctionArn")}
    # THEN there is one for each Lambda task of the per-image workflow
    assert len(function_arns) == 4, sorted(function_arns)
    for key, value in function_arns.items():
        # AND ${XFunctionArn} is !GetAtt XFunction.Arn
        assert value == {"Fn::GetAtt": [key.removesuffix("Arn"), "Arn"]}


def test_every_next_exists_and_every_state_is_reachable(asl):
    names = set(states(asl))
    assert asl["StartAt"] in names
    reachable, todo = set(), [asl["StartAt"]]
    while todo:
        name = todo.pop()
        if name in reachable:
            continue
        reachable.add(name)
        state = states(asl)[name]
        targets = [state.get("Next")] + [c["Next"] for c in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in names, f"{name} -> {target} does not exist"
            todo.append(target)
        # a state either moves on or ends the execution
        assert state.get("Next") or state.get("End") or state["Type"] in ("Fail", "Succeed")
    assert reachable == names


def test_the_happy_path_starts_serialize_classify_filter(asl):
    path, name = [], asl["StartAt"]
    while name:
        path.append(name)
        name = states(asl)[name].get("Next")
    assert path[:3] == ["SerializeImageData", "ClassifyImage", "FilterLowConfidence"]
    assert states(asl)[path[-1]].get("End") is True


def test_tasks_invoke_the_template_functions_and_pass_clean_json(asl, deployment):
    arns = {function.arn for function in deployment.functions.values()}
    for name, state in task_states(asl).items():
        if state["Resource"] != "arn:aws:states:::lambda:invoke":
            continue  # other service integrations (none in the per-image path today)
        assert state["Parameters"]["FunctionName"] in arns, name
        # THEN only the function's own JSON goes on (no StatusCode/ExecutedVersion wrapper)
        assert state["OutputPath"] == "$.Payload", name
    for name in ("SerializeImageData", "ClassifyImage", "FilterLowConfidence"):
        # AND the three steps hand the whole state input over as the payload
        assert states(asl)[name]["Resource"] == "arn:aws:states:::lambda:invoke", name
    for name in ("SerializeImageData", "FilterLowConfidence"):
        assert states(asl)[name]["Parameters"]["Payload.$"] == "$", name
    # (ClassifyImage's adds the execution's ARN: the next test)


def test_classify_image_gets_the_state_and_the_execution_id():
    # GIVEN ClassifyImage's payload expression, run by moto's interpreter in a Pass state
    import time

    import boto3
    from moto import mock_aws

    from scones.local.moto_adapter import MOTO_CONFIG

    asl = json.loads((REPO_ROOT / "statemachine" / "image_classification.asl.json").read_text())
    expression = asl["States"]["ClassifyImage"]["Parameters"]["Payload.$"]
    definition = {"StartAt": "P", "States": {"P": {
        "Type": "Pass", "Parameters": {"payload.$": expression}, "End": True}}}
    state = {"bucket": "b", "key": "k.png", "image_data": "", "transport": "s3"}
    with mock_aws(config=MOTO_CONFIG):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="payload", definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name="run-1",
                                  input=json.dumps(state))["executionArn"]
        deadline = time.monotonic() + 10
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    # THEN the payload is the state, unchanged, plus the execution's ARN
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"])["payload"] == {**state, "execution_id": arn}


def test_every_error_name_is_raised_by_the_code_or_built_in(asl):
    raised = raised_names()
    for name, state in states(asl).items():
        for handler in state.get("Retry", []) + state.get("Catch", []):
            for error in handler["ErrorEquals"]:
                if error.startswith("States.") or error in LAMBDA_BUILTIN | INTEGRATION_BUILTIN:
                    continue
                # THEN it is one of our named errors AND the code really raises it
                assert error in WORKFLOW_ERRORS, f"{name}: {error} is not defined in errors.py"
                assert error in raised, f"{name}: {error} is never raised by the functions"


def test_every_task_retries_transient_lambda_errors_with_full_jitter(asl):
    for name, state in task_states(asl).items():
        if ":lambda:invoke" in state["Resource"]:
            assert LAMBDA_TRANSIENT <= retried_names(state), name
        for retrier in state["Retry"]:
            assert retrier["JitterStrategy"] == "FULL", name
            assert retrier["BackoffRate"] > 1, name
            assert 1 <= retrier["MaxAttempts"] <= 5, name


def all_states(definition: dict, path: str = ""):
    """(path, state) of every state, those inside Map and Parallel states included."""
    for name, state in definition["States"].items():
        here = f"{path}{name}"
        yield here, state
        for inner in [state.get("ItemProcessor") or state.get("Iterator"),
                      *state.get("Branches", [])]:
            if inner:
                yield from all_states(inner, f"{here}/")


@pytest.mark.parametrize("machine", ["ImageClassificationStateMachine",
                                     "BatchClassificationStateMachine", "ReviewStateMachine",
                                     "RetrainingStateMachine"])
def test_every_lambda_task_of_both_workflows_retries_every_transient_lambda_error(
        deployment, machine):
    # GIVEN each state machine as Step Functions receives it
    definition = deployment.state_machines[machine].definition_json
    lambda_tasks = {name: state for name, state in all_states(definition)
                    if state["Type"] == "Task" and ":lambda:invoke" in state["Resource"]}
    assert lambda_tasks, machine
    # THEN every Lambda task retries all five transient Lambda errors, jittered
    for name, state in lambda_tasks.items():
        missing = LAMBDA_TRANSIENT - retried_names(state)
        assert not missing, f"{machine}/{name} does not retry {sorted(missing)}"
        (retrier,) = [r for r in state["Retry"] if LAMBDA_TRANSIENT <= set(r["ErrorEquals"])]
        assert retrier["JitterStrategy"] == "FULL" and retrier["MaxAttempts"] >= 2, name


def test_only_transient_errors_are_retried(asl):
    retryable = set(errors.RETRYABLE_ERRORS)
    # THEN the classifier retries exactly the retryable endpoint errors
    assert retried_names(states(asl)["ClassifyImage"]) - LAMBDA_TRANSIENT == retryable
    for name, state in states(asl).items():
        retried = retried_names(state)
        # AND nothing retries bad input or the threshold verdict
        assert "THRESHOLD_CONFIDENCE_NOT_MET" not in retried, name
        assert "States.ALL" not in retried, name
        assert not {e for e in retried if e in WORKFLOW_ERRORS} - retryable, name


@pytest.mark.parametrize(
    "name", ["EndpointThrottled", "EndpointModelNotReady", "EndpointUnavailable"]
)
def test_retryable_endpoint_errors_are_the_transient_ones(name):
    assert WORKFLOW_ERRORS[name].retryable


def test_low_confidence_fails_the_execution_with_the_exact_error_name(asl):
    catchers = states(asl)["FilterLowConfidence"]["Catch"]
    (catcher,) = [c for c in catchers if "THRESHOLD_CONFIDENCE_NOT_MET" in c["ErrorEquals"]]
    # AND the input survives the catch (the error goes beside it, not over it)
    assert catcher["ResultPath"] == "$.error"
    # THEN every way on from the catch ends in the Fail state with exactly that error name
    todo, seen, ends = [catcher["Next"]], set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states(asl)[name]
        nexts = [state.get("Next")] + [c["Next"] for c in state.get("Catch", [])]
        if state["Type"] == "Fail" or state.get("End"):
            ends.add(name)
        todo.extend(filter(None, nexts))
    assert ends == {"ConfidenceThresholdNotMet"}
    fail = states(asl)["ConfidenceThresholdNotMet"]
    assert fail["Type"] == "Fail"
    assert fail["Error"] == "THRESHOLD_CONFIDENCE_NOT_MET"
    # AND the cause names the image, the label and the confidence from the state's data
    for path in ("$.bucket", "$.key", "$.label", "$.confidence"):
        assert path in fail["CausePath"]
    # AND the Lambda raises an exception of exactly that class name
    assert "THRESHOLD_CONFIDENCE_NOT_MET" in WORKFLOW_ERRORS
    assert "THRESHOLD_CONFIDENCE_NOT_MET" in raised_names()


def test_the_threshold_in_the_cause_is_the_template_parameter(deployment, asl):
    cause = states(asl)["ConfidenceThresholdNotMet"]["CausePath"]
    assert deployment.parameters["ConfidenceThreshold"] in cause
    assert re.search(r"\$\{", cause) is None


def test_moto_interpreter_parses_every_state_of_the_definition(deployment, asl):
    # GIVEN moto 5.2.5's ASL parser (the interpreter the local runtime executes)
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    # WHEN it parses the substituted definition (it raises on a construct it does not know)
    definition = deployment.state_machines[STATE_MACHINE_ID].definition
    program, _ = AmazonStateLanguageParser.parse(definition)
    # THEN it starts where the ASL starts and holds every state, in order
    assert program.start_at.start_at_name == asl["StartAt"]
    assert list(program.states.states) == list(states(asl))
